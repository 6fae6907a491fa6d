"""The audio tokenizer: one recording -> the model's audio tokens, prompt mel and speaker embedding.

    audio -> mono, peak-limit 0.6
      ├─ 16 kHz, peak-normalise 0.999, trim silence ─┬─ Paraformer encoder -> nearest centroid   vq02, 16.7 Hz
      │                                              └─ whisper log-mel -> S3 tokenizer (ONNX)   vq06, 25 Hz
      ├─ 16 kHz kaldi fbank, mean removed -> CAM++ (ONNX) -> 192-d speaker embedding
      └─ 24 kHz log-mel (80 bins, 50 frames/s)              -> the flow decoder's prompt mel
    interleave: 2 vq02 codes, then 3 vq06 codes + 1024, per 120 ms; tails dropped.

`python -m studio tokenize --audio X.wav` runs it on one file and prints counts and timings.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from studio import audio as audio_io
from studio.audio import Audio
from studio.engine import features
from studio.engine.files import require_file
from studio.engine.paraformer import PARAFORMER_DIR, Frontend, SanmEncoder, load_encoder
from studio.errors import AudioInputError, CheckpointError
from studio.settings import Settings

log = logging.getLogger(__name__)

AUDIO_OFFSET = 65536  # id of <audio_0>
VQ02_CODES = 1024  # vq06 code k is audio token VQ02_CODES + k
TOKENIZER_DIR = "Step-Audio-Tokenizer"
CAMPPLUS_DIRS = ("Step-Audio-EditX/CosyVoice-300M-25Hz", "Step-Audio-EditX-AWQ-4bit/CosyVoice-300M-25Hz")
TOKEN_SR = 16_000
PEAK_LIMIT = 0.6
VQ06_PIECE = 30 * TOKEN_SR  # the S3 tokenizer sees at most 30 s at a time
VQ06_MIN_PIECE = 480  # shorter trailing pieces are dropped, as upstream does
VQ06_RATE = 25
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class SpeechPrompt:
    """Everything the engine needs from one recording (input to edit or voice prompt)."""

    vq02: np.ndarray  # int64 (n02,) linguistic codes 0..1023
    vq06: np.ndarray  # int64 (n06,) semantic codes 0..4095
    mixed: list[int]  # interleaved token values K (token id - 65536)
    token_string: str  # "<audio_K>..." for the LLM prompt
    mel: np.ndarray  # float32 (frames, 80) 24 kHz prompt mel, 50 frames/s
    speaker: np.ndarray  # float32 (192,) CAM++ embedding
    duration: float  # seconds of the input audio
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def ids(self) -> list[int]:
        return [AUDIO_OFFSET + k for k in self.mixed]


def interleave(vq02: np.ndarray, vq06: np.ndarray) -> list[int]:
    """2 vq02 codes then 3 (vq06 + 1024) codes per group; codes that do not fill a group are dropped."""
    groups = min(len(vq02) // 2, len(vq06) // 3)
    pairs = np.asarray(vq02[: 2 * groups], dtype=np.int64).reshape(groups, 2)
    triples = np.asarray(vq06[: 3 * groups], dtype=np.int64).reshape(groups, 3) + VQ02_CODES
    return np.concatenate([pairs, triples], axis=1).ravel().tolist()


def token_string(mixed: list[int]) -> str:
    return "".join(f"<audio_{k}>" for k in mixed)


def make_prompt(
    vq02: np.ndarray, vq06: np.ndarray, mel: np.ndarray, speaker: np.ndarray, duration: float, timings: dict
) -> SpeechPrompt:
    mixed = interleave(vq02, vq06)
    return SpeechPrompt(vq02, vq06, mixed, token_string(mixed), mel, speaker, duration, timings)


class AudioTokenizer:
    """Load once, then `encode(audio)` per input or prompt recording; results are cached by content."""

    def __init__(
        self,
        frontend: Frontend,
        encoder: SanmEncoder,
        centroids: torch.Tensor,
        speech_tokenizer: ort.InferenceSession,
        campplus: ort.InferenceSession,
        *,
        device: str = "cpu",
        cache: PromptCache | None = None,
    ) -> None:
        self.frontend = frontend
        self.encoder = encoder
        self.centroids = centroids
        self.speech_tokenizer = speech_tokenizer
        self.campplus = campplus
        self.device = device
        self.cache = cache or PromptCache()

    @classmethod
    def load(cls, model_dir: Path, *, device: str = "cpu", cache_dir: Path | None = None) -> AudioTokenizer:
        model_dir = Path(model_dir)
        root = model_dir / TOKENIZER_DIR
        frontend, encoder = load_encoder(root / PARAFORMER_DIR, device)
        centroids = torch.from_numpy(load_centroids(root / "linguistic_tokenizer.npy", encoder.config.output_size))
        speech_tokenizer = onnx_session(root / "speech_tokenizer_v1.onnx", "S3 speech tokenizer", device, inputs=2)
        campplus_path = find_campplus(model_dir)
        # Upstream keeps CAM++ on the CPU; beside a GPU that would cost more than every other stage together.
        campplus = onnx_session(campplus_path, "CAM++ speaker model", device, inputs=1)
        files = [root / PARAFORMER_DIR / "model.pt", root / "linguistic_tokenizer.npy"]
        files += [root / "speech_tokenizer_v1.onnx", campplus_path]
        cache = PromptCache(directory=cache_dir, fingerprint=fingerprint(files))
        return cls(frontend, encoder, centroids.to(device), speech_tokenizer, campplus, device=device, cache=cache)

    def encode(self, audio: Audio) -> SpeechPrompt:
        started = time.perf_counter()
        key = audio_io.content_hash(audio)
        cached = self.cache.get(key)
        if cached is not None:
            return replace(cached, timings={"cache": time.perf_counter() - started})
        prompt = self._encode(audio)
        self.cache.put(key, prompt)
        return prompt

    def _encode(self, audio: Audio) -> SpeechPrompt:
        if audio.duration < MIN_SECONDS:
            raise AudioInputError(f"The audio is {audio.duration:.3f} s long; at least {MIN_SECONDS} s is needed.")
        timings: dict[str, float] = {}
        with _timed(timings, "preprocess"):
            limited = audio.with_samples(audio_io.peak_limit(audio.samples, PEAK_LIMIT))
            at16 = audio_io.resample(limited, TOKEN_SR).samples
            speech = features.trim_silence(audio_io.peak_normalize(at16, 0.999, 0.01), TOKEN_SR)
        with _timed(timings, "vq02"):
            vq02 = self.linguistic_codes(speech)
        with _timed(timings, "vq06"):
            vq06 = self.semantic_codes(speech)
        with _timed(timings, "speaker"):
            speaker = self.speaker_embedding(at16)
        with _timed(timings, "mel"):
            mel = self.prompt_mel(limited)
        return make_prompt(vq02, vq06, mel, speaker, audio.duration, timings)

    def linguistic_codes(self, speech: np.ndarray) -> np.ndarray:
        """vq02: streamed Paraformer encoder output, each frame mapped to its nearest k-means centroid."""
        feats, chunks = self.frontend(speech)
        if not chunks:
            return np.zeros(0, dtype=np.int64)
        hidden = self.encoder(torch.from_numpy(feats).to(self.device), chunks)
        return torch.cdist(hidden, self.centroids).argmin(dim=1).cpu().numpy().astype(np.int64)

    def semantic_codes(self, speech: np.ndarray) -> np.ndarray:
        """vq06: the S3 tokenizer on whisper log-mels of 30 s pieces, codes concatenated."""
        codes = []
        for start in range(0, len(speech), VQ06_PIECE):
            piece = speech[start : start + VQ06_PIECE]
            if len(piece) < VQ06_MIN_PIECE:
                continue
            mel = features.whisper_log_mel(torch.from_numpy(piece).to(self.device)).cpu().numpy()[None]
            names = self._input_names(self.speech_tokenizer)
            feeds = dict(zip(names, (mel, np.array([mel.shape[2]], np.int32)), strict=True))
            piece_codes = np.asarray(self.speech_tokenizer.run(None, feeds)[0]).reshape(-1).astype(np.int64)
            expected = round(len(piece) / TOKEN_SR, 2) * VQ06_RATE
            if abs(len(piece_codes) - expected) > 2:
                raise CheckpointError(
                    f"speech_tokenizer_v1.onnx gave {len(piece_codes)} codes for {len(piece) / TOKEN_SR:.2f} s "
                    f"of audio (expected about {expected:.0f} at 25 Hz): it is not the Step-Audio 25 Hz tokenizer."
                )
            codes.append(piece_codes)
        return np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)

    def speaker_embedding(self, at16: np.ndarray) -> np.ndarray:
        """CAM++ on 80-bin kaldi fbank (povey window, unscaled samples) with the utterance mean removed."""
        fbank = features.kaldi_fbank(at16, n_mels=80, window="povey", sr=TOKEN_SR)
        fbank = fbank - fbank.mean(axis=0, keepdims=True)
        name = self._input_names(self.campplus)[0]
        return np.asarray(self.campplus.run(None, {name: fbank[None]})[0], dtype=np.float32).reshape(-1)

    def prompt_mel(self, limited: Audio) -> np.ndarray:
        options = features.MelOptions()
        at24 = audio_io.resample(limited, options.sr).samples
        return features.prompt_mel(torch.from_numpy(at24).to(self.device), options).cpu().numpy()

    @staticmethod
    def _input_names(session: ort.InferenceSession) -> list[str]:
        return [node.name for node in session.get_inputs()]


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - started


def load_centroids(path: Path, dim: int) -> np.ndarray:
    require_file(path, "vq02 k-means centroids")
    try:
        centroids = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CheckpointError(f"{path} is not a NumPy array file ({err}).") from err
    if centroids.ndim != 2 or centroids.shape != (VQ02_CODES, dim):
        raise CheckpointError(
            f"{path} has shape {centroids.shape}; expected ({VQ02_CODES}, {dim}) to match the Paraformer encoder."
        )
    return np.ascontiguousarray(centroids, dtype=np.float32)


def find_campplus(model_dir: Path) -> Path:
    """campplus.onnx sits in the decoder folder of the base model, or of the AWQ model when only that one is here."""
    candidates = [model_dir / folder / "campplus.onnx" for folder in CAMPPLUS_DIRS]
    return next((path for path in candidates if path.exists()), candidates[0])


def onnx_session(path: Path, what: str, device: str, *, inputs: int) -> ort.InferenceSession:
    """An ONNX Runtime session on the CUDA provider for a CUDA device (CPU otherwise), logged and checked."""
    require_file(path, what)
    providers: list = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            index = int(device.partition(":")[2] or 0)
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        else:
            log.warning(
                "%s runs on the CPU: this onnxruntime has no CUDAExecutionProvider "
                "(install onnxruntime-gpu matching the CUDA version, and not onnxruntime beside it).",
                what,
            )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle ONNX Runtime threads otherwise busy-wait and starve the torch stages that run in between.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types for unreadable models
        raise CheckpointError(f"{path} ({what}) is not a loadable ONNX model: {err}") from err
    if len(session.get_inputs()) != inputs:
        raise CheckpointError(f"{path} ({what}) has {len(session.get_inputs())} inputs; expected {inputs}.")
    active = session.get_providers()
    if device.startswith("cuda") and "CUDAExecutionProvider" not in active:
        log.warning("%s fell back to the CPU (providers %s).", what, active)
    log.info("%s: %s on %s", what, path.name, active[0])
    return session


def fingerprint(paths: list[Path]) -> str:
    """Changes when any model file is replaced, so cached tokens never outlive the weights that made them."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


class PromptCache:
    """Encoded recordings by content hash: a bounded in-memory LRU, backed by .npz files when given a folder."""

    def __init__(self, *, max_items: int = 64, directory: Path | None = None, fingerprint: str = "") -> None:
        self.max_items = max_items
        self.directory = Path(directory) if directory else None
        self.fingerprint = fingerprint
        self._items: OrderedDict[str, SpeechPrompt] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, content: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}:{content}".encode()).hexdigest()

    def get(self, content: str) -> SpeechPrompt | None:
        key = self._key(content)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        prompt = self._read(key)
        if prompt is not None:
            self._remember(key, prompt)
        return prompt

    def put(self, content: str, prompt: SpeechPrompt) -> None:
        key = self._key(content)
        self._remember(key, prompt)
        self._write(key, prompt)

    def _remember(self, key: str, prompt: SpeechPrompt) -> None:
        with self._lock:
            self._items[key] = prompt
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.npz" if self.directory else None

    def _read(self, key: str) -> SpeechPrompt | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in ("vq02", "vq06", "mel", "speaker", "duration")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("ignoring unreadable token cache entry %s: %s", path.name, err)
            return None
        return make_prompt(
            arrays["vq02"], arrays["vq06"], arrays["mel"], arrays["speaker"], float(arrays["duration"]), {}
        )

    def _write(self, key: str, prompt: SpeechPrompt) -> None:
        path = self._path(key)
        if path is None:
            return
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with part.open("wb") as handle:
                np.savez(
                    handle,
                    vq02=prompt.vq02,
                    vq06=prompt.vq06,
                    mel=prompt.mel,
                    speaker=prompt.speaker,
                    duration=np.float64(prompt.duration),
                )
            part.replace(path)
        except OSError as err:
            log.warning("token cache not written (%s): %s", path.parent, err)
            part.unlink(missing_ok=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audio", type=Path, required=True, help="recording to encode (any format ffmpeg reads)")
    parser.add_argument("--show", type=int, default=10, help="how many leading tokens to print")
    parser.add_argument("--no-cache", action="store_true", help="encode even if the recording was seen before")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    from studio.engine.llm import resolve_device

    device = str(resolve_device(settings.device))
    started = time.perf_counter()
    cache_dir = None if args.no_cache else settings.cache_dir / "tokens"
    tokenizer = AudioTokenizer.load(settings.model_dir, device=device, cache_dir=cache_dir)  # type: ignore[arg-type]
    load_seconds = time.perf_counter() - started
    prompt = tokenizer.encode(audio_io.read(args.audio))
    return {
        "audio": str(args.audio),
        "device": device,
        "duration": round(prompt.duration, 3),
        "vq02": len(prompt.vq02),
        "vq06": len(prompt.vq06),
        "interleaved": len(prompt.mixed),
        "mel_frames": len(prompt.mel),
        "speaker_dims": len(prompt.speaker),
        "first_tokens": token_string(prompt.mixed[: args.show]),
        "seconds": {"load": round(load_seconds, 4), **{k: round(v, 4) for k, v in prompt.timings.items()}},
    }
