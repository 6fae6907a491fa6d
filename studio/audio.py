"""Audio in and out for every part of the studio: decode, mono-mix, resample, guard, encode, measure.

All waveforms inside the studio are `Audio`: float32 mono samples in [-1, 1] plus a sample rate.
Anything a user uploads goes through `read` (and usually `check`), which turns every kind of bad
input into an `AudioInputError` with a message saying what is wrong, never into a crash.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import soxr

from studio.errors import AudioInputError, BadInput

MIN_RATE = 8_000
MAX_RATE = 192_000
SILENCE_PEAK = 1e-4  # -80 dBFS: below this nothing audible is left
OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)

# MIME types for the formats `encode` writes (the API's response_format values).
CONTENT_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "pcm": "audio/pcm",
}


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, shape (n,)
    sr: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0

    def with_samples(self, samples: np.ndarray) -> Audio:
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), self.sr)


Source = Union[str, Path, bytes, bytearray, np.ndarray, tuple, Audio]  # noqa: UP007 (runtime alias on 3.10)


def read(source: Source, *, sr: int | None = None, source_sr: int | None = None) -> Audio:
    """Decode a path, encoded bytes, an `(sr, array)` pair (Gradio's numpy form) or an array.

    The result is mono (channels averaged) and, when `sr` is given, resampled to it.
    A bare array needs `source_sr`. Integer arrays are scaled to [-1, 1].
    """
    if isinstance(source, Audio):
        audio = source
    elif isinstance(source, tuple):
        rate, array = source
        audio = _from_array(np.asarray(array), int(rate))
    elif isinstance(source, np.ndarray):
        if source_sr is None:
            raise BadInput("A raw sample array needs its sample rate.")
        audio = _from_array(source, source_sr)
    elif isinstance(source, (bytes, bytearray)):
        audio = _decode(bytes(source), "the uploaded audio")
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioInputError(f"Audio file not found: {path.name}")
        audio = _decode(path.read_bytes(), path.name, path)
    return resample(audio, sr) if sr else audio


def _decode(data: bytes, name: str, path: Path | None = None) -> Audio:
    if not data:
        raise AudioInputError(f"{name} is empty (0 bytes).")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        if shutil.which("ffmpeg") is None:
            raise AudioInputError(
                f"{name} is not audio in a format this machine can read ({_first_line(err)}). "
                "Use wav, flac, mp3 or ogg/opus, or install ffmpeg for other formats."
            ) from err
        samples, rate = _ffmpeg_decode(data, name, path)
    return _from_array(samples, rate, name)


def _ffmpeg_decode(data: bytes, name: str, path: Path | None) -> tuple[np.ndarray, int]:
    """ffmpeg as the fallback decoder; float WAV out, so soundfile reads the rate and channels.

    A file is given to ffmpeg by path: raw streams such as G.722 are recognised by their suffix only.
    """
    source = f"file:{path.resolve()}" if path else "pipe:0"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-f", "wav", "-c:a", "pcm_f32le", "pipe:1"]
    try:
        done = subprocess.run(cmd, input=None if path else data, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as err:
        raise AudioInputError(f"{name} took too long to decode.") from err
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1] if reason else "no audio stream"
        raise AudioInputError(f"{name} is not audio or is corrupt ({detail}).")
    # A piped WAV has no length in its header; libsndfile then reads to the end of the data.
    try:
        samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioInputError(f"{name} is not audio or is corrupt.") from err
    return samples, rate


def _from_array(array: np.ndarray, rate: int, name: str = "the audio") -> Audio:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError(
            f"{name} has a sample rate of {rate} Hz; rates from {MIN_RATE} to {MAX_RATE} Hz are supported."
        )
    samples = _to_float(array)
    if samples.ndim == 2:
        # Gradio gives (n, channels); accept (channels, n) too when it is clearly that way round.
        if samples.shape[0] < samples.shape[1] and samples.shape[0] <= 8:
            samples = samples.T
        samples = samples.mean(axis=1)
    elif samples.ndim != 1:
        raise AudioInputError(f"{name} has an unexpected shape {array.shape}.")
    if samples.size == 0:
        raise AudioInputError(f"{name} contains no samples (zero length).")
    if not np.all(np.isfinite(samples)):
        raise AudioInputError(f"{name} contains NaN or infinite samples; the file is corrupt.")
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate))


def _to_float(array: np.ndarray) -> np.ndarray:
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    if array.dtype == np.uint8:
        return (array.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(array.dtype, np.signedinteger):
        return array.astype(np.float32) / float(np.iinfo(array.dtype).max + 1)
    raise AudioInputError(f"Unsupported sample type {array.dtype}.")


def check(
    audio: Audio, *, min_seconds: float = 0.5, max_seconds: float | None = 30.0, allow_silent: bool = False
) -> Audio:
    """Refuse audio the model cannot use, with a message that says why and what to do."""
    if audio.duration < min_seconds:
        raise AudioInputError(
            f"The audio is {audio.duration:.2f} s long; at least {min_seconds:g} s of speech is needed."
        )
    if max_seconds is not None and audio.duration > max_seconds:
        raise AudioInputError(
            f"The audio is {audio.duration:.1f} s long; the limit is {max_seconds:g} s per model call. "
            "Trim it or split it into shorter parts."
        )
    if not allow_silent and audio.peak < SILENCE_PEAK:
        raise AudioInputError("The audio is silent (no sample above -80 dBFS).")
    return audio


def resample(audio: Audio, sr: int) -> Audio:
    if audio.sr == sr:
        return audio
    return Audio(soxr.resample(audio.samples, audio.sr, sr, quality="VHQ").astype(np.float32), sr)


def encode(audio: Audio, fmt: str = "wav", *, subtype: str | None = None) -> bytes:
    """Encode to wav (PCM_16 default, FLOAT on request), flac, mp3, opus or raw 16-bit pcm."""
    fmt = fmt.lower()
    if fmt not in CONTENT_TYPES:
        raise BadInput(f"Unknown audio format {fmt!r}; choose one of {', '.join(CONTENT_TYPES)}.")
    samples = audio.samples
    if subtype != "FLOAT":
        samples = np.clip(samples, -1.0, 1.0)
    if fmt == "pcm":
        return (samples * 32767.0).round().astype("<i2").tobytes()
    if fmt == "opus" and audio.sr not in OPUS_RATES:
        audio = resample(audio.with_samples(samples), 48_000)
        samples = audio.samples
    container, default_subtype = {
        "wav": ("WAV", "PCM_16"),
        "flac": ("FLAC", "PCM_16"),
        "mp3": ("MP3", "MPEG_LAYER_III"),
        "opus": ("OGG", "OPUS"),
    }[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, samples, audio.sr, format=container, subtype=subtype or default_subtype)
    return buffer.getvalue()


def write(audio: Audio, path: str | Path, *, subtype: str | None = None) -> Path:
    """Write to a file whose suffix names the format (.wav, .flac, .mp3, .opus/.ogg, .pcm)."""
    path = Path(path)
    fmt = {"ogg": "opus"}.get(path.suffix.lower().lstrip("."), path.suffix.lower().lstrip("."))
    data = encode(audio, fmt, subtype=subtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def peak_limit(samples: np.ndarray, limit: float = 0.6) -> np.ndarray:
    """Scale down so the peak is at most `limit`; quieter audio is left alone."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return samples * (limit / peak) if peak > limit else samples


def peak_normalize(samples: np.ndarray, peak: float = 0.999, floor: float = 0.01) -> np.ndarray:
    """Scale to `peak`; the floor keeps near-silent audio from being blown up into noise."""
    current = max(float(np.max(np.abs(samples))) if samples.size else 0.0, floor)
    return samples * (peak / current)


def loudness(audio: Audio) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4); -inf for audio too short or too quiet to gate."""
    import pyloudnorm

    meter = pyloudnorm.Meter(audio.sr)
    if audio.duration < meter.block_size:
        return float("-inf")
    return float(meter.integrated_loudness(audio.samples.astype(np.float64)))


def trim(audio: Audio, start: float = 0.0, end: float | None = None) -> Audio:
    """Cut to [start, end) seconds."""
    first = max(0, round(start * audio.sr))
    last = len(audio.samples) if end is None else min(len(audio.samples), round(end * audio.sr))
    if last <= first:
        raise BadInput(f"Empty selection: {start:.2f} s to {end if end is not None else audio.duration:.2f} s.")
    return audio.with_samples(audio.samples[first:last])


def content_hash(audio: Audio) -> str:
    """Stable key for caches: the same samples at the same rate give the same hash."""
    digest = hashlib.sha256()
    digest.update(str(audio.sr).encode())
    digest.update(np.ascontiguousarray(audio.samples, dtype="<f4").tobytes())
    return digest.hexdigest()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
