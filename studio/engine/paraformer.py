"""The vq02 encoder: FunASR's streaming Paraformer front end and SANM encoder (SANMEncoderChunkOpt).

The official tokenizer feeds the 16 kHz audio to the model in 240 ms chunks (`chunk_size [0, 4, 5]`,
encoder look-back 4): every chunk adds 4 low-frame-rate (LFR) frames, is encoded together with the 5
frames before it, and attends to keys/values kept from the previous 4 chunks. Chunk c therefore depends
on earlier chunks only through keys and values of the same layer, so all chunks are computed at once,
layer by layer, with the cached keys gathered from the neighbouring windows. The front end is computed
over the whole signal; only the frame count reproduces the streaming edge cases.

Names of modules match the checkpoint keys under `encoder.`; the decoder and CIF predictor that
`model.pt` also holds are not part of the tokenizer and are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from studio.engine.features import kaldi_fbank
from studio.engine.files import require_file
from studio.errors import CheckpointError

PARAFORMER_DIR = "dengcunqin/speech_paraformer-large_asr_nat-zh-cantonese-en-16k-vocab8501-online"
CHUNK_SIZE = (0, 4, 5)  # left context, chunk, context carried into the next chunk (in LFR frames)
LOOK_BACK = 4  # chunks whose keys and values each chunk attends to
SAMPLES_PER_CHUNK_UNIT = 960  # FunASR's chunk stride unit: samples per LFR frame at 16 kHz
INT16_SCALE = 32768.0  # the front end works on int16-scaled samples
# What FunASR's WavFrontendOnline and SANMEncoderChunkOpt use for a key the config leaves out.
DEFAULTS = {
    "frontend_conf.fs": 16000,
    "frontend_conf.window": "hamming",
    "frontend_conf.n_mels": 80,
    "frontend_conf.frame_length": 25,
    "frontend_conf.frame_shift": 10,
    "frontend_conf.lfr_m": 1,
    "frontend_conf.lfr_n": 1,
    "encoder_conf.output_size": 256,
    "encoder_conf.attention_heads": 4,
    "encoder_conf.linear_units": 2048,
    "encoder_conf.num_blocks": 6,
    "encoder_conf.kernel_size": 11,
    "encoder_conf.sanm_shfit": 0,
    "encoder_conf.input_layer": "conv2d",
    "encoder_conf.selfattention_layer_type": "sanm",
    "encoder_conf.normalize_before": True,
}


@dataclass(frozen=True)
class FrontendConfig:
    fs: int
    window: str
    n_mels: int
    frame_length: int  # ms
    frame_shift: int  # ms
    lfr_m: int
    lfr_n: int

    @property
    def frame_samples(self) -> int:
        return int(self.fs * self.frame_length / 1000)

    @property
    def shift_samples(self) -> int:
        return int(self.fs * self.frame_shift / 1000)

    @property
    def output_size(self) -> int:
        return self.n_mels * self.lfr_m


@dataclass(frozen=True)
class EncoderConfig:
    input_size: int
    output_size: int
    attention_heads: int
    linear_units: int
    num_blocks: int
    kernel_size: int
    sanm_shfit: int  # sic: the key is spelled so in FunASR configs


@dataclass(frozen=True)
class ParaformerConfig:
    frontend: FrontendConfig
    encoder: EncoderConfig

    @classmethod
    def load(cls, path: Path) -> ParaformerConfig:
        """Read the model's `config.yaml` (plain YAML, never executed) and refuse layouts we do not implement."""
        try:
            raw = yaml.safe_load(require_file(path, "Paraformer config").read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise CheckpointError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(raw, dict):
            raise CheckpointError(f"{path} is not a FunASR model config (expected a mapping at the top).")
        expected = {
            "encoder": "SANMEncoderChunkOpt",
            "frontend": "WavFrontendOnline",
            "encoder_conf.input_layer": "pe_online",
            "encoder_conf.selfattention_layer_type": "sanm",
            "encoder_conf.normalize_before": True,
        }
        for key, value in expected.items():
            found = _lookup(raw, key, path)
            if found != value:
                raise CheckpointError(f"{path}: {key} is {found!r}; the tokenizer needs {value!r}.")
        frontend = FrontendConfig(
            **{name: _lookup(raw, f"frontend_conf.{name}", path) for name in FrontendConfig.__dataclass_fields__}
        )
        encoder_keys = [name for name in EncoderConfig.__dataclass_fields__ if name != "input_size"]
        values = {name: _lookup(raw, f"encoder_conf.{name}", path) for name in encoder_keys}
        encoder = EncoderConfig(input_size=frontend.output_size, **values)
        config = cls(frontend, encoder)
        config.check_streaming(path)
        return config

    def check_streaming(self, path: Path) -> None:
        """The batched chunk computation needs every full chunk to add exactly CHUNK_SIZE[1] LFR frames."""
        fe = self.frontend
        if fe.fs != 16_000 or fe.lfr_n * fe.shift_samples != SAMPLES_PER_CHUNK_UNIT or fe.lfr_m < fe.lfr_n:
            raise CheckpointError(
                f"{path}: front end fs={fe.fs}, frame_shift={fe.frame_shift} ms, lfr_m={fe.lfr_m}, lfr_n={fe.lfr_n} "
                "does not give whole LFR frames per 240 ms chunk, as the tokenizer's streaming settings require."
            )
        if [len(c) for c in chunk_plan(2 * chunk_stride(), fe)] != [CHUNK_SIZE[1]] * 2:
            raise CheckpointError(f"{path}: front end frames do not fill the 240 ms chunks evenly.")


def _lookup(raw: dict, dotted: str, path: Path) -> object:
    node: object = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if dotted in DEFAULTS and isinstance(node, dict):
                return DEFAULTS[dotted]
            raise CheckpointError(f"{path} has no `{dotted}`: it is not a FunASR streaming Paraformer config.")
        node = node[part]
    return node


def load_cmvn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """`am.mvn` (Kaldi nnet text): the <AddShift> and <Rescale> vectors applied as (x + shift) * scale."""
    lines = require_file(path, "Paraformer CMVN statistics").read_text(encoding="utf-8", errors="replace").splitlines()
    found: dict[str, np.ndarray] = {}
    for i, line in enumerate(lines[:-1]):
        tag = line.split()[:1]
        following = lines[i + 1].split()
        if tag and tag[0] in ("<AddShift>", "<Rescale>") and following[:1] == ["<LearnRateCoef>"]:
            try:
                found[tag[0]] = np.array(following[3:-1], dtype=np.float32)
            except ValueError as err:
                raise CheckpointError(f"{path}: unreadable {tag[0]} values ({err}).") from err
    if set(found) != {"<AddShift>", "<Rescale>"} or found["<AddShift>"].shape != found["<Rescale>"].shape:
        raise CheckpointError(f"{path} is not a Kaldi CMVN file with matching <AddShift> and <Rescale> vectors.")
    return found["<AddShift>"], found["<Rescale>"]


def chunk_stride() -> int:
    return CHUNK_SIZE[1] * SAMPLES_PER_CHUNK_UNIT


def _fbank_frames(num_samples: int, fe: FrontendConfig) -> int:
    if num_samples < fe.frame_samples:
        return 0
    return (num_samples - fe.frame_samples) // fe.shift_samples + 1


def _complete_lfr_frames(fbank_frames: int, fe: FrontendConfig) -> int:
    """LFR frames whose whole window of lfr_m fbank frames exists (the first is left-padded)."""
    available = fbank_frames + (fe.lfr_m - 1) // 2
    return 0 if available < fe.lfr_m else (available - fe.lfr_m) // fe.lfr_n + 1


def chunk_plan(num_samples: int, fe: FrontendConfig) -> list[range]:
    """The LFR frames each streamed chunk emits, as the official streaming front end produces them.

    Full chunks emit the frames that became complete. The final partial chunk flushes the rest (padding
    with the last fbank frame) only when it brings at least one fbank frame and enough frames for one
    LFR window; otherwise the tail is dropped, as upstream does.
    """
    full = num_samples // chunk_stride()
    emitted = [_complete_lfr_frames(_fbank_frames(k * chunk_stride(), fe), fe) for k in range(full + 1)]
    chunks = [range(emitted[k], emitted[k + 1]) for k in range(full)]
    left = (fe.lfr_m - 1) // 2
    fbank_full = _fbank_frames(full * chunk_stride(), fe)
    new = _fbank_frames(num_samples, fe) - fbank_full
    # fbank frames waiting for their LFR window; the first chunk starts with `left` copies of frame 0
    cached = fbank_full + left - fe.lfr_n * emitted[full] if full else left
    if num_samples % chunk_stride() and (new or full) and (new == 0 or cached + new >= fe.lfr_m):
        extra = max(0, math.ceil((cached + new - left) / fe.lfr_n))
        chunks.append(range(emitted[full], emitted[full] + extra))
    return [c for c in chunks if len(c)]


class Frontend:
    """fbank (hamming, 25/10 ms, no dither) -> LFR (lfr_m frames every lfr_n) -> CMVN, for 16 kHz audio."""

    def __init__(self, config: FrontendConfig, shift: np.ndarray, scale: np.ndarray) -> None:
        if shift.shape != (config.output_size,):
            raise CheckpointError(
                f"am.mvn has {shift.shape[0]} dimensions; the front end makes {config.output_size} "
                f"({config.n_mels} mels x lfr_m {config.lfr_m})."
            )
        self.config = config
        self.shift = shift
        self.scale = scale

    def __call__(self, samples: np.ndarray) -> tuple[np.ndarray, list[range]]:
        """Features (frames, n_mels * lfr_m) and the frames of each streamed chunk."""
        fe = self.config
        chunks = chunk_plan(len(samples), fe)
        if not chunks:
            return np.zeros((0, fe.output_size), np.float32), chunks
        count = chunks[-1].stop
        fbank = kaldi_fbank(samples * INT16_SCALE, n_mels=fe.n_mels, window=fe.window, sr=fe.fs)
        padded = np.concatenate([np.repeat(fbank[:1], (fe.lfr_m - 1) // 2, axis=0), fbank])
        rows = fe.lfr_n * np.arange(count)[:, None] + np.arange(fe.lfr_m)[None, :]
        lfr = padded[np.minimum(rows, len(padded) - 1)].reshape(count, fe.output_size)
        return (lfr + self.shift) * self.scale, chunks


class SanmAttention(nn.Module):
    """Multi-head self-attention plus an FSMN memory (a depthwise convolution over the values)."""

    def __init__(self, in_size: int, size: int, heads: int, kernel_size: int, sanm_shfit: int) -> None:
        super().__init__()
        self.heads = heads
        self.size = size
        self.linear_q_k_v = nn.Linear(in_size, 3 * size)
        self.linear_out = nn.Linear(size, size)
        self.fsmn_block = nn.Conv1d(size, size, kernel_size, groups=size, bias=False)
        left = (kernel_size - 1) // 2 + sanm_shfit
        self.padding = (left, kernel_size - 1 - left)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (windows, heads, time, head_dim)

    def fsmn(self, v: torch.Tensor) -> torch.Tensor:
        memory = self.fsmn_block(F.pad(v.transpose(1, 2), self.padding)).transpose(1, 2)
        return memory + v

    def forward(self, x: torch.Tensor, valid: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x: (windows, time, in_size), valid: (windows, time) bool. Window c attends to its own valid frames
        and to the first CHUNK_SIZE[1] frames of windows c-LOOK_BACK .. c-1, as the streaming cache holds them;
        `key_mask` (windows, 1, 1, cached + time) says which of those keys exist.
        """
        q, k, v = self.linear_q_k_v(x).split(self.size, dim=-1)
        v = v * valid[..., None]  # frames past the end are zeros for the convolution, as in a shorter window
        q, k_own, v_own = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        k_all = torch.cat([_look_back(k_own), k_own], dim=2)
        v_all = torch.cat([_look_back(v_own), v_own], dim=2)
        q = q * (q.shape[-1] ** -0.5)
        att = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=key_mask, scale=1.0)
        return self.linear_out(att.transpose(1, 2).flatten(2)) + self.fsmn(v)


def _look_back(x: torch.Tensor) -> torch.Tensor:
    """(windows, heads, time, d) -> what each window's cache holds: the first CHUNK_SIZE[1] frames of each of
    the LOOK_BACK windows before it, oldest first (zeros before the first window)."""
    stride = x[:, :, : CHUNK_SIZE[1]]
    padded = torch.cat([stride.new_zeros((LOOK_BACK, *stride.shape[1:])), stride])
    older = [padded[j : j + len(x)] for j in range(LOOK_BACK)]  # oldest first, as the cache is kept
    return torch.cat(older, dim=2)


def _look_back_valid(windows: int, device: torch.device) -> torch.Tensor:
    index = torch.arange(windows, device=device)[:, None] - LOOK_BACK + torch.arange(LOOK_BACK, device=device)
    return (index >= 0).repeat_interleave(CHUNK_SIZE[1], dim=1)


class FeedForward(nn.Module):
    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.w_1 = nn.Linear(size, hidden)
        self.w_2 = nn.Linear(hidden, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(torch.relu(self.w_1(x)))


class EncoderLayer(nn.Module):
    """Pre-norm block; the first block changes width (LFR features -> model size) and has no attention residual."""

    def __init__(self, in_size: int, config: EncoderConfig) -> None:
        super().__init__()
        size = config.output_size
        self.residual = in_size == size
        self.self_attn = SanmAttention(in_size, size, config.attention_heads, config.kernel_size, config.sanm_shfit)
        self.feed_forward = FeedForward(size, config.linear_units)
        self.norm1 = nn.LayerNorm(in_size, eps=1e-12)
        self.norm2 = nn.LayerNorm(size, eps=1e-12)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        attended = self.self_attn(self.norm1(x), valid, key_mask)
        x = x + attended if self.residual else attended
        return x + self.feed_forward(self.norm2(x))


class SanmEncoder(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoders0 = nn.ModuleList([EncoderLayer(config.input_size, config)])
        self.encoders = nn.ModuleList([EncoderLayer(config.output_size, config) for _ in range(config.num_blocks - 1)])
        self.after_norm = nn.LayerNorm(config.output_size, eps=1e-12)

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """Scale by sqrt(model size) and add the sinusoidal position of each frame (1-based, whole utterance)."""
        depth = feats.shape[-1]
        positions = torch.arange(1, len(feats) + 1, device=feats.device, dtype=torch.float32)
        step = torch.log(torch.tensor([10000.0], device=feats.device)) / (depth / 2 - 1)
        inv_timescales = torch.exp(torch.arange(depth // 2, device=feats.device, dtype=torch.float32) * -step)
        angles = positions[:, None] * inv_timescales[None, :]
        return feats * self.config.output_size**0.5 + torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    @torch.inference_mode()
    def forward(self, feats: torch.Tensor, chunks: list[range]) -> torch.Tensor:
        """feats: (frames, input_size) CMVN-normalised LFR features; returns (frames, output_size)."""
        context = CHUNK_SIZE[2]
        lengths = torch.tensor([len(c) for c in chunks], device=feats.device)
        width = context + int(lengths.max())
        starts = torch.tensor([c.start for c in chunks], device=feats.device)
        # Window c holds the `context` frames before chunk c (zeros before the start) and the chunk itself.
        sequence = F.pad(self.embed(feats), (0, 0, context, width))
        index = starts[:, None] + torch.arange(width, device=feats.device)[None, :]
        x = sequence[index]
        valid = torch.arange(width, device=feats.device)[None, :] < (context + lengths)[:, None]
        key_mask = torch.cat([_look_back_valid(len(x), x.device), valid], dim=1)[:, None, None, :]
        for layer in [*self.encoders0, *self.encoders]:
            x = layer(x, valid, key_mask)
        x = self.after_norm(x)
        keep = valid & (torch.arange(width, device=feats.device)[None, :] >= context)
        return x[keep]


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A FunASR `model.pt` state dict, read without executing pickled code."""
    require_file(path, "Paraformer weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err}).") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_encoder(model_dir: Path, device: str = "cpu") -> tuple[Frontend, SanmEncoder]:
    """The front end and encoder of the Paraformer folder; decoder and predictor weights are left out."""
    config = ParaformerConfig.load(model_dir / "config.yaml")
    frontend = Frontend(config.frontend, *load_cmvn(model_dir / "am.mvn"))
    path = model_dir / "model.pt"
    state = {k.removeprefix("encoder."): v for k, v in read_checkpoint(path).items() if k.startswith("encoder.")}
    encoder = SanmEncoder(config.encoder)
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise CheckpointError(
            f"{path} lacks {len(missing)} encoder weights (first: encoder.{missing[0]}); "
            f"config.yaml describes {config.encoder.num_blocks} blocks of size {config.encoder.output_size}."
        )
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise CheckpointError(
                f"{path}: encoder.{key} has shape {tuple(state[key].shape)}, config.yaml implies {tuple(tensor.shape)}."
            )
    encoder.load_state_dict({k: state[k].float() for k in expected})
    return frontend, encoder.to(device).eval()
