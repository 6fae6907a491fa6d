"""Audio tokens -> 24 kHz speech: the official CosyVoice-300M-25Hz decoder (flow matching + HiFT).

    decoder = Decoder.load(model_dir / "Step-Audio-EditX" / "CosyVoice-300M-25Hz", device="cuda")
    result = decoder.decode(tokens, prompt_tokens=..., prompt_mel=..., speaker=..., seed=7)
    for chunk in decoder.stream(tokens, prompt_tokens=..., prompt_mel=..., speaker=..., seed=7): ...

`tokens` / `prompt_tokens` are K values (audio id - 65536). The prompt (tokens, its 24 kHz mel at
50 frames/s, its CAM++ speaker embedding) conditions the flow; only the frames after the prompt are
returned. Noise is seeded: a seed gives the same take on any run and any device.

`stream` decodes the flow chunk by chunk as the official streaming mode does (each chunk attends to
the prompt, the last ~2 s and itself), so the first audio comes long before the take is done. With
one chunk covering the take it equals `decode` (to float rounding); with smaller chunks it is the
model's streaming approximation, not bit-identical to `decode`. Vocoding of the chunks is exact:
the chunks of audio join sample-exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.audio import Audio
from studio.engine.cosyvoice_yaml import DecoderConfig, read_config
from studio.engine.files import require_file
from studio.engine.flow import GROUP, CausalMaskedDiffWithXvec, dual_codebook_steps
from studio.engine.hift import HiFTGenerator, VocoderStream
from studio.errors import BadInput, CheckpointError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CODES = 5120  # K values: 1024 vq02 + 4096 vq06
MAX_FRAMES = 50 * 600  # the reference's noise buffer caps a take (prompt included) at 600 s
STREAM_WINDOW = 96  # frames of earlier output a streamed chunk attends to, besides the prompt (official value)
STREAM_GROWTH = 4  # chunks double in size up to this many times the first one
# 10 groups = 30 steps = 1.2 s of mel; the vocoder holds back 24 frames of context, so the first piece is 0.72 s.
DEFAULT_CHUNK_TOKENS = 50
SPEAKER_DIM = 192


@dataclass(frozen=True)
class DecodeResult:
    audio: Audio  # 24 kHz mono float32
    timings: dict[str, float]  # seconds: "flow", "vocoder"


class SeededNoise:
    """Standard normal rows that are a pure function of (seed, purpose, row index).

    Rows come from fixed blocks, each drawn from its own seeded generator, so any slice is the same
    whether drawn at once or piece by piece: a chunked decode uses exactly the full decode's noise.
    """

    def __init__(self, seed: int, purpose: int, width: int, block: int, device: torch.device) -> None:
        self.seed, self.purpose, self.width, self.block, self.device = seed, purpose, width, block, device

    def _block(self, index: int) -> np.ndarray:
        generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, self.purpose, index])))
        return generator.standard_normal((self.block, self.width), dtype=np.float32)

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        first, last = start // self.block, (stop - 1) // self.block
        rows = np.concatenate([self._block(i) for i in range(first, last + 1)])
        return torch.from_numpy(rows[start - first * self.block : stop - first * self.block]).to(self.device)


@dataclass(frozen=True)
class _Take:
    steps: torch.Tensor  # (1, prompt + new steps, 2) embedding ids
    prompt_mel: torch.Tensor  # (1, 80, prompt frames)
    speaker: torch.Tensor  # (1, 192)
    prompt_frames: int
    frames: int  # prompt + new
    seed: int


class Decoder:
    def __init__(
        self, config: DecoderConfig, flow: CausalMaskedDiffWithXvec, hift: HiFTGenerator, *, device: str, dtype: str
    ) -> None:
        if dtype not in DTYPES:
            raise BadInput(f"Unknown decoder dtype {dtype!r}; use one of {', '.join(DTYPES)}.")
        try:
            self.device = torch.device(device)
        except RuntimeError as err:
            raise BadInput(f"Unknown device {device!r}.") from err
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BadInput("CUDA was requested for the decoder but no GPU is available.")
        self.config = config
        self.dtype = DTYPES[dtype]
        # HiFT stays float32: it costs little next to the flow and keeps the waveform path at full precision.
        self.flow = flow.to(self.device, self.dtype).eval()
        self.hift = hift.to(self.device).eval()

    @property
    def sample_rate(self) -> int:
        return self.config.hift.sampling_rate

    @classmethod
    def load(cls, decoder_dir: Path, *, device: str = "cpu", dtype: str = "float32") -> Decoder:
        """Build the decoder from `cosyvoice.yaml`, `flow.pt` and `hift.pt` (strict: every key must match)."""
        decoder_dir = Path(decoder_dir)
        config = read_config(decoder_dir / "cosyvoice.yaml")
        flow = CausalMaskedDiffWithXvec(config.flow)
        load_state(flow, decoder_dir / "flow.pt", "flow-matching decoder weights")
        hift = HiFTGenerator(config.hift)
        load_state(hift, decoder_dir / "hift.pt", "HiFT vocoder weights")
        return cls(config, flow, hift, device=device, dtype=dtype)

    # --- public API ---------------------------------------------------------------------------

    def decode(
        self,
        tokens: Sequence[int],
        *,
        prompt_tokens: Sequence[int],
        prompt_mel: np.ndarray,
        speaker: np.ndarray,
        seed: int = 0,
    ) -> DecodeResult:
        take = self._prepare(tokens, prompt_tokens, prompt_mel, speaker, seed)
        with torch.inference_mode():
            started = time.perf_counter()
            inputs = self.flow.condition(take.steps, take.prompt_mel, take.speaker)
            noise = self._flow_noise(take)(0, take.frames)
            mel = self.flow.decoder(inputs.mu, inputs.spks, inputs.cond, noise)[..., take.prompt_frames :]
            self._sync()
            flow_done = time.perf_counter()
            audio = self.hift.inference(mel, self._vocoder_noise(take))
            self._sync()
            finished = time.perf_counter()
        return DecodeResult(
            Audio(audio.cpu().numpy(), self.sample_rate),
            {"flow": flow_done - started, "vocoder": finished - flow_done},
        )

    def stream(
        self,
        tokens: Sequence[int],
        *,
        prompt_tokens: Sequence[int],
        prompt_mel: np.ndarray,
        speaker: np.ndarray,
        seed: int = 0,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    ) -> Iterator[Audio]:
        """Consecutive 24 kHz pieces of the take; their concatenation is the take.

        `chunk_tokens` (mixed tokens, rounded down to whole groups of 5) sizes the first flow chunk;
        later chunks double up to 4x. Inputs are checked here, before the first piece is asked for.
        """
        if isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, int) or chunk_tokens < GROUP:
            raise BadInput(f"chunk_tokens must be an integer of at least {GROUP}, got {chunk_tokens!r}.")
        take = self._prepare(tokens, prompt_tokens, prompt_mel, speaker, seed)
        return self._stream(take, chunk_tokens)

    # --- internals ----------------------------------------------------------------------------

    @torch.inference_mode()
    def _stream(self, take: _Take, chunk_tokens: int) -> Iterator[Audio]:
        inputs = self.flow.condition(take.steps, take.prompt_mel, take.speaker)
        ends = chunk_ends(take.prompt_frames, take.frames, 2 * 3 * (chunk_tokens // GROUP))
        vocoder = VocoderStream(self.hift, self._vocoder_noise(take))
        chunks = self.flow.decoder.stream(
            inputs.mu,
            inputs.spks,
            inputs.cond,
            self._flow_noise(take),
            ends,
            pinned=take.prompt_frames,
            window=STREAM_WINDOW,
        )
        start = 0
        for end, mel in zip(ends, chunks, strict=True):
            new = mel[..., max(0, take.prompt_frames - start) :]
            audio = vocoder.push(new, final=end == take.frames)
            start = end
            if len(audio):
                yield Audio(audio.cpu().numpy(), self.sample_rate)

    def _prepare(
        self,
        tokens: Sequence[int],
        prompt_tokens: Sequence[int],
        prompt_mel: np.ndarray,
        speaker: np.ndarray,
        seed: int,
    ) -> _Take:
        new = dual_codebook_steps(_codes(tokens, "tokens"))
        prompt = dual_codebook_steps(_codes(prompt_tokens, "prompt_tokens"))
        mel = np.asarray(prompt_mel)
        mels = self.config.flow.output_size
        if mel.ndim != 2 or mel.shape[1] != mels or mel.shape[0] == 0 or not np.all(np.isfinite(mel)):
            raise BadInput(f"prompt_mel must be a finite (frames, {mels}) array, got shape {mel.shape}.")
        vector = np.asarray(speaker)
        if vector.shape != (SPEAKER_DIM,) or not np.all(np.isfinite(vector)) or not np.any(vector):
            raise BadInput(f"speaker must be a finite, non-zero ({SPEAKER_DIM},) embedding, got shape {vector.shape}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise BadInput(f"seed must be a non-negative integer, got {seed!r}.")
        steps = torch.cat([prompt, new])
        frames = 2 * len(steps)
        if frames > MAX_FRAMES:
            raise BadInput(f"The take is too long to decode ({frames / 50:.0f} s with its prompt; at most 600 s).")
        # The prompt mel is resized to exactly two frames per prompt step. It and the speaker embedding
        # pass through bfloat16 because the reference hands them to the decoder in that precision.
        resized = F.interpolate(torch.from_numpy(mel.astype(np.float32)).T[None], size=2 * len(prompt), mode="nearest")
        return _Take(
            steps=steps[None].to(self.device),
            prompt_mel=resized.to(torch.bfloat16).to(self.device, self.dtype),
            speaker=torch.from_numpy(vector.astype(np.float32))[None].to(torch.bfloat16).to(self.device, self.dtype),
            prompt_frames=2 * len(prompt),
            frames=frames,
            seed=int(seed),
        )

    def _flow_noise(self, take: _Take):
        rows = SeededNoise(take.seed, 0, self.config.flow.output_size, 256, self.device)
        return lambda start, stop: rows(start, stop).T[None]

    def _vocoder_noise(self, take: _Take) -> SeededNoise:
        width = self.config.hift.nb_harmonics + 1
        return SeededNoise(take.seed, 1, width, self.config.hift.sampling_rate, self.device)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def chunk_ends(prompt_frames: int, frames: int, first: int) -> list[int]:
    """Frame index where each streamed chunk ends: the first holds the prompt plus `first` frames,
    then sizes double up to STREAM_GROWTH x `first`; the last ends at `frames`."""
    ends, size, end = [], first, prompt_frames
    while end < frames:
        end = min(frames, end + size)
        ends.append(end)
        size = min(2 * size, STREAM_GROWTH * first)
    return ends


def _codes(values: Sequence[int], name: str) -> list[int]:
    codes = [int(v) for v in values]
    if not codes:
        raise BadInput(f"{name} is empty: there is nothing to decode.")
    bad = next((v for v in codes if not 0 <= v < CODES), None)
    if bad is not None:
        raise BadInput(f"{name} holds {bad}, outside the audio codes 0..{CODES - 1} (ids minus 65536).")
    return codes


def load_state(module: nn.Module, path: Path, what: str) -> None:
    """Load a `torch.save`d state dict without unpickling code; any key or shape mismatch names the file and keys."""
    require_file(path, what)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip, EOF and runtime errors for a bad file
        raise CheckpointError(f"{path} ({what}) cannot be read as a PyTorch checkpoint: {err}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} ({what}) does not hold a state dict of tensors.")
    expected = module.state_dict()
    problems = []
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    shapes = [
        f"{key} {tuple(state[key].shape)} (expected {tuple(expected[key].shape)})"
        for key in sorted(expected.keys() & state.keys())
        if state[key].shape != expected[key].shape
    ]
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes)):
        if items:
            shown = ", ".join(items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "")
            problems.append(f"{len(items)} {label}: {shown}")
    if problems:
        raise CheckpointError(
            f"{path} ({what}) does not match cosyvoice.yaml: " + "; ".join(problems) + ". The files come from "
            "different releases or were modified; download CosyVoice-300M-25Hz again."
        )
    module.load_state_dict(state, strict=True)
