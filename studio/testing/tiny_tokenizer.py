"""Random stand-ins for the audio tokenizer's files, in the official formats and layout.

    Step-Audio-Tokenizer/
        linguistic_tokenizer.npy                 (1024, d) float32 centroids
        speech_tokenizer_v1.onnx                 feats [1, 128, T] float32, feats_length [1] int32
                                                 -> indices [1, 1, T/4] int64
        dengcunqin/speech_paraformer-...-online/ config.yaml, am.mvn (Kaldi nnet text), model.pt (FunASR keys)
    Step-Audio-EditX/CosyVoice-300M-25Hz/
        campplus.onnx                            input [1, T, 80] float32 -> output [1, 192]

The Paraformer checkpoint lists its keys here by hand, following FunASR's module names, so that a
loader whose names drift from the official layout fails on these files too. It also holds a few
decoder and predictor tensors, as the real file does. The ONNX graphs only need the official
interfaces and frame rates; `speech_tokenizer_module` and `campplus_module` also serve the benchmark
at full size.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from studio.engine.paraformer import PARAFORMER_DIR
from studio.engine.tokenizer import CAMPPLUS_DIRS, TOKENIZER_DIR, VQ02_CODES

CAMPPLUS_DIR = CAMPPLUS_DIRS[0]
N_MELS = 80
LFR_M = 7
LFR_N = 6
VQ06_CODES = 4096
SPEAKER_DIMS = 192


@dataclass(frozen=True)
class ParaformerDims:
    output_size: int = 64
    attention_heads: int = 4
    linear_units: int = 128
    num_blocks: int = 3
    kernel_size: int = 11
    vocab_size: int = 50


def write(root: Path, seed: int) -> None:
    root = Path(root)
    generator = torch.Generator().manual_seed(seed)
    tokenizer = root / TOKENIZER_DIR
    dims = ParaformerDims()
    write_paraformer(tokenizer / PARAFORMER_DIR, dims, generator)
    centroids = torch.randn(VQ02_CODES, dims.output_size, generator=generator).numpy()
    np.save(tokenizer / "linguistic_tokenizer.npy", centroids.astype(np.float32))
    export_speech_tokenizer(speech_tokenizer_module(64, 1, 4, generator), tokenizer / "speech_tokenizer_v1.onnx")
    (root / CAMPPLUS_DIR).mkdir(parents=True, exist_ok=True)
    export_campplus(campplus_module(32, 2, generator), root / CAMPPLUS_DIR / "campplus.onnx")


def write_paraformer(folder: Path, dims: ParaformerDims, generator: torch.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(paraformer_config(dims), sort_keys=False), encoding="utf-8")
    shift = -(10.0 + torch.rand(N_MELS * LFR_M, generator=generator) * 4.0)
    scale = 0.2 + torch.rand(N_MELS * LFR_M, generator=generator) * 0.1
    (folder / "am.mvn").write_text(kaldi_cmvn_text(shift.numpy(), scale.numpy()), encoding="utf-8")
    torch.save(paraformer_state(dims, generator), folder / "model.pt")


def paraformer_config(dims: ParaformerDims) -> dict:
    """The structure of FunASR's streaming Paraformer `config.yaml`, with small sizes."""
    return {
        "model": "ParaformerStreaming",
        "model_conf": {
            "ctc_weight": 0.0,
            "lsm_weight": 0.1,
            "length_normalized_loss": True,
            "predictor_weight": 1.0,
            "predictor_bias": 1,
            "sampling_ratio": 0.75,
        },
        "encoder": "SANMEncoderChunkOpt",
        "encoder_conf": {
            "output_size": dims.output_size,
            "attention_heads": dims.attention_heads,
            "linear_units": dims.linear_units,
            "num_blocks": dims.num_blocks,
            "dropout_rate": 0.1,
            "positional_dropout_rate": 0.1,
            "attention_dropout_rate": 0.1,
            "input_layer": "pe_online",
            "pos_enc_class": "SinusoidalPositionEncoder",
            "normalize_before": True,
            "kernel_size": dims.kernel_size,
            "sanm_shfit": 0,
            "selfattention_layer_type": "sanm",
            "chunk_size": [12, 15],
            "stride": [8, 10],
            "pad_left": [0, 0],
            "encoder_att_look_back_factor": [4, 4],
            "decoder_att_look_back_factor": [1, 1],
        },
        "decoder": "ParaformerSANMDecoder",
        "decoder_conf": {
            "attention_heads": dims.attention_heads,
            "linear_units": dims.linear_units,
            "num_blocks": 1,
            "dropout_rate": 0.1,
            "positional_dropout_rate": 0.1,
            "self_attention_dropout_rate": 0.1,
            "src_attention_dropout_rate": 0.1,
            "att_layer_num": 1,
            "kernel_size": dims.kernel_size,
            "sanm_shfit": 5,
        },
        "predictor": "CifPredictorV2",
        "predictor_conf": {
            "idim": dims.output_size,
            "threshold": 1.0,
            "l_order": 1,
            "r_order": 1,
            "tail_threshold": 0.45,
        },
        "frontend": "WavFrontendOnline",
        "frontend_conf": {
            "fs": 16000,
            "window": "hamming",
            "n_mels": N_MELS,
            "frame_length": 25,
            "frame_shift": 10,
            "lfr_m": LFR_M,
            "lfr_n": LFR_N,
        },
        "specaug": "SpecAugLFR",
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
        "normalize": None,
    }


def kaldi_cmvn_text(shift: np.ndarray, scale: np.ndarray) -> str:
    """`am.mvn` as FunASR ships it: a Kaldi nnet with <AddShift> (minus the means) and <Rescale> (1 / std)."""
    dim = len(shift)

    def vector(values: np.ndarray) -> str:
        return "[ " + " ".join(f"{v:.6f}" for v in values) + " ]"

    return "\n".join(
        [
            "<Nnet>",
            f"<Splice> {dim} {dim}",
            "[ 0 ]",
            f"<AddShift> {dim} {dim}",
            f"<LearnRateCoef> 0 {vector(shift)}",
            f"<Rescale> {dim} {dim}",
            f"<LearnRateCoef> 0 {vector(scale)}",
            "</Nnet>",
            "",
        ]
    )


def paraformer_state(dims: ParaformerDims, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """FunASR Paraformer keys: encoder (encoders0 widens the LFR features), then some decoder/predictor tensors."""
    d, units, k = dims.output_size, dims.linear_units, dims.kernel_size
    input_size = N_MELS * LFR_M

    def linear(out: int, into: int) -> torch.Tensor:
        return torch.randn(out, into, generator=generator) / into**0.5

    def small(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.02

    def layer(prefix: str, width: int) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.self_attn.linear_out.weight": linear(d, d),
            f"{prefix}.self_attn.linear_out.bias": small(d),
            f"{prefix}.self_attn.linear_q_k_v.weight": linear(3 * d, width),
            f"{prefix}.self_attn.linear_q_k_v.bias": small(3 * d),
            f"{prefix}.self_attn.fsmn_block.weight": torch.randn(d, 1, k, generator=generator) * 0.1,
            f"{prefix}.feed_forward.w_1.weight": linear(units, d),
            f"{prefix}.feed_forward.w_1.bias": small(units),
            f"{prefix}.feed_forward.w_2.weight": linear(d, units),
            f"{prefix}.feed_forward.w_2.bias": small(d),
            f"{prefix}.norm1.weight": 1.0 + small(width),
            f"{prefix}.norm1.bias": small(width),
            f"{prefix}.norm2.weight": 1.0 + small(d),
            f"{prefix}.norm2.bias": small(d),
        }

    state = layer("encoder.encoders0.0", input_size)
    for i in range(dims.num_blocks - 1):
        state.update(layer(f"encoder.encoders.{i}", d))
    state["encoder.after_norm.weight"] = 1.0 + small(d)
    state["encoder.after_norm.bias"] = small(d)
    state.update(
        {
            "decoder.embed.0.weight": small(dims.vocab_size, d),
            "decoder.decoders.0.self_attn.fsmn_block.weight": small(d, 1, k),
            "decoder.decoders.0.src_attn.linear_q.weight": linear(d, d),
            "decoder.output_layer.weight": linear(dims.vocab_size, d),
            "predictor.cif_conv1d.weight": small(d, d, 3),
            "predictor.cif_output.weight": small(1, d),
            "predictor.cif_output.bias": small(1),
        }
    )
    return state


class _Block(nn.Module):
    """Pre-norm transformer block (attention + GELU MLP), the shape of the S3 tokenizer's encoder blocks."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_ln = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp_ln = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.attn_ln(x)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        x = x + self.out((weights @ v).transpose(1, 2).flatten(2))
        return x + self.mlp(self.mlp_ln(x))


class SpeechTokenizerStandIn(nn.Module):
    """Whisper-style 25 Hz encoder (two stride-2 convolutions) and a 4096-entry cosine codebook."""

    def __init__(self, dim: int, layers: int, heads: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(128, dim, 3, stride=2, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([_Block(dim, heads) for _ in range(layers)])
        self.codebook = nn.Parameter(F.normalize(torch.randn(VQ06_CODES, dim), dim=-1))

    def forward(self, feats: torch.Tensor, feats_length: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(feats.shape[2])[None, :] < feats_length[:, None]
        x = F.gelu(self.conv1(feats * mask[:, None, :].to(feats.dtype)))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return (F.normalize(x, dim=-1) @ self.codebook.T).argmax(-1)[:, None, :]


class CampplusStandIn(nn.Module):
    """TDNN-like stack with mean+std pooling to a 192-d embedding."""

    def __init__(self, channels: int, layers: int) -> None:
        super().__init__()
        widths = [N_MELS] + [channels] * layers
        self.convs = nn.ModuleList([nn.Conv1d(a, b, 5, padding=2) for a, b in itertools.pairwise(widths)])
        self.embedding = nn.Linear(2 * channels, SPEAKER_DIMS)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.transpose(1, 2)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.embedding(torch.cat([x.mean(-1), x.std(-1)], dim=-1))


def _randomise(module: nn.Module, generator: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) / max(1, param.shape[-1]) ** 0.5)
    return module.eval()


def speech_tokenizer_module(dim: int, layers: int, heads: int, generator: torch.Generator) -> nn.Module:
    return _randomise(SpeechTokenizerStandIn(dim, layers, heads), generator)


def campplus_module(channels: int, layers: int, generator: torch.Generator) -> nn.Module:
    return _randomise(CampplusStandIn(channels, layers), generator)


def export_speech_tokenizer(module: nn.Module, path: Path) -> None:
    example = (torch.zeros(1, 128, 200), torch.tensor([200], dtype=torch.int32))
    _export(module, example, path, ["feats", "feats_length"], ["indices"], {"feats": {2: "T"}, "indices": {2: "T4"}})


def export_campplus(module: nn.Module, path: Path) -> None:
    _export(module, (torch.zeros(1, 100, N_MELS),), path, ["input"], ["output"], {"input": {1: "T"}})


def _export(module: nn.Module, example: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter needs no extra packages; its deprecation notice is not ours to act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, example, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes, dynamo=False
        )
