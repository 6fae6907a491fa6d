"""Objective measures shown to reviewers beside each take, each with its unit and which way is better.

DNSMOS (speechmos ships Microsoft's ONNX models) predicts listener ratings without a reference;
speaker similarity is the cosine of resemblyzer's GE2E voice embeddings; WER/CER compare a transcript
with the intended text after Whisper's text normalisers; F0 comes from a YIN pitch tracker.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import AudioInputError
from studio.settings import Settings

MOS_SR = 16_000
# Characters of scripts written without spaces between words: their error rate is counted in characters.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")

_ENCODER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Measure:
    value: float
    unit: str
    better: str | None  # "higher", "lower", or None when neither is better
    label: str

    def to_dict(self) -> dict:
        """JSON-safe: a value that cannot be measured (e.g. the loudness of silence) becomes None."""
        fields = asdict(self)
        fields["value"] = self.value if math.isfinite(self.value) else None
        return fields


def duration(audio: Audio) -> Measure:
    return Measure(round(audio.duration, 3), "s", None, "Duration")


def loudness(audio: Audio) -> Measure:
    return Measure(round(audio_io.loudness(audio), 2), "LUFS", None, "Integrated loudness")


def peak(audio: Audio) -> Measure:
    value = 20.0 * math.log10(audio.peak) if audio.peak > 0 else float("-inf")
    return Measure(round(value, 2), "dBFS", None, "Sample peak")


def speech_ratio(audio: Audio) -> Measure:
    from studio.tools import vad

    return Measure(round(100.0 * vad.speech_ratio(audio), 1), "%", None, "Speech share of the take")


def dnsmos(audio: Audio) -> dict[str, Measure]:
    """DNSMOS P.835 (overall, signal, background) and P.808 scores on the 1-5 MOS scale."""
    from speechmos import dnsmos as model

    samples = np.clip(audio_io.resample(audio, MOS_SR).samples, -1.0, 1.0)
    scores = model.run(samples, MOS_SR)
    return {
        "dnsmos_ovrl": Measure(round(float(scores["ovrl_mos"]), 3), "MOS", "higher", "DNSMOS overall quality"),
        "dnsmos_sig": Measure(round(float(scores["sig_mos"]), 3), "MOS", "higher", "DNSMOS speech signal"),
        "dnsmos_bak": Measure(round(float(scores["bak_mos"]), 3), "MOS", "higher", "DNSMOS background"),
        "dnsmos_p808": Measure(round(float(scores["p808_mos"]), 3), "MOS", "higher", "DNSMOS P.808 overall"),
    }


@lru_cache(maxsize=1)
def _voice_encoder():
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def voice_embedding(audio: Audio) -> np.ndarray:
    """Unit-length 256-d GE2E embedding of the voice (silences trimmed first)."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(audio.samples, source_sr=audio.sr) if audio.peak >= audio_io.SILENCE_PEAK else []
    if len(wav) < MOS_SR // 2:
        raise AudioInputError("Too little speech to compare voices (less than 0.5 s after removing silence).")
    with _ENCODER_LOCK:
        return _voice_encoder().embed_utterance(wav)


def speaker_similarity(audio: Audio, reference: Audio) -> Measure:
    """Cosine similarity of the two voices: about 0.85-0.95 for the same speaker, 0.4-0.6 for others."""
    value = float(np.dot(voice_embedding(audio), voice_embedding(reference)))
    return Measure(round(value, 4), "cosine", "higher", "Speaker similarity to the reference")


def normalize_text(text: str) -> str:
    """Whisper's normalisers: case, punctuation, and for English spelled-out numbers and spellings."""
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    normalizer = BasicTextNormalizer() if _CJK.search(text) else EnglishTextNormalizer()
    # A token without a letter or digit is punctuation the normaliser kept (e.g. a detached full stop).
    return " ".join(w for w in normalizer(text).split() if any(c.isalnum() for c in w))


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def wer(text: str, transcript: str) -> Measure:
    import jiwer

    reference, hypothesis = normalize_text(text), normalize_text(transcript)
    value = _rate(jiwer.wer, reference, hypothesis)
    return Measure(round(100.0 * value, 2), "%", "lower", "Word error rate against the intended text")


def cer(text: str, transcript: str) -> Measure:
    import jiwer

    reference = normalize_text(text).replace(" ", "")
    hypothesis = normalize_text(transcript).replace(" ", "")
    value = _rate(jiwer.cer, reference, hypothesis)
    return Measure(round(100.0 * value, 2), "%", "lower", "Character error rate against the intended text")


def _rate(rate, reference: str, hypothesis: str) -> float:
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return float(rate(reference, hypothesis))


def error_rate(text: str, transcript: str) -> tuple[str, Measure]:
    """("cer", ...) for Chinese, Japanese and Korean text, ("wer", ...) otherwise."""
    return ("cer", cer(text, transcript)) if is_cjk(text) else ("wer", wer(text, transcript))


def f0_track(audio: Audio, *, fmin: float = 60.0, fmax: float = 500.0, threshold: float = 0.15) -> np.ndarray:
    """F0 in Hz every 10 ms, NaN where unvoiced (YIN, de Cheveigne & Kawahara 2002, numpy only)."""
    samples = audio_io.resample(audio, MOS_SR).samples.astype(np.float64)
    hop, window = MOS_SR // 100, MOS_SR * 25 // 1000  # 10 ms hop, 25 ms integration window
    lag_min, lag_max = int(MOS_SR / fmax), math.ceil(MOS_SR / fmin)
    span = window + lag_max + 1
    if len(samples) < span:
        return np.full(0, np.nan)
    frames = np.lib.stride_tricks.sliding_window_view(samples, span)[::hop]
    diff = _difference(frames, window, lag_max)
    # Cumulative-mean-normalised difference: 1 at lag 0, dips towards 0 at the period.
    cmnd = np.ones_like(diff)
    lags = np.arange(1, lag_max + 1)
    cmnd[:, 1:] = diff[:, 1:] * lags / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    inner = cmnd[:, lag_min : lag_max - 1]
    local_min = (inner < cmnd[:, lag_min - 1 : lag_max - 2]) & (inner <= cmnd[:, lag_min + 1 : lag_max])
    dips = local_min & (inner < threshold)
    voiced = dips.any(axis=1)
    energy = np.sqrt(np.mean(frames[:, :window] ** 2, axis=1))
    voiced &= energy > energy.max() * 10 ** (-40 / 20)  # quieter frames are background
    lag = lag_min + np.argmax(dips, axis=1)
    rows = np.arange(len(frames))
    before, at, after = cmnd[rows, lag - 1], cmnd[rows, lag], cmnd[rows, lag + 1]
    curve = before - 2 * at + after
    shift = np.where(curve > 0, (before - after) / (2 * np.where(curve > 0, curve, 1)), 0.0)
    return np.where(voiced, MOS_SR / (lag + shift), np.nan)


def _difference(frames: np.ndarray, window: int, lag_max: int) -> np.ndarray:
    """YIN's squared difference d(lag) = e(0) + e(lag) - 2 r(lag), the correlation done by FFT."""
    size = 1 << (frames.shape[1] + window - 1).bit_length()
    spectrum = np.fft.rfft(frames, size)
    head = np.fft.rfft(frames[:, :window], size)
    corr = np.fft.irfft(np.conj(head) * spectrum, size)[:, : lag_max + 1]
    power = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(lag_max + 1)
    energy = power[:, lags + window] - power[:, lags]
    return np.maximum(power[:, [window]] + energy - 2 * corr, 0.0)


def pitch(audio: Audio) -> dict[str, Measure]:
    """Mean F0 and its spread (5th to 95th percentile, in semitones); empty without enough voiced speech."""
    f0 = f0_track(audio)
    voiced = f0[np.isfinite(f0)]
    if len(voiced) < 10:
        return {}
    low, high = np.percentile(voiced, [5, 95])
    return {
        "f0_mean": Measure(round(float(np.mean(voiced)), 1), "Hz", None, "Mean pitch (F0)"),
        "f0_range": Measure(round(float(12 * np.log2(high / low)), 2), "semitones", None, "Pitch range (F0 5-95 %)"),
    }


def measure(
    audio: Audio,
    *,
    reference: Audio | None = None,
    text: str | None = None,
    transcript: str | None = None,
    transcriber=None,
) -> dict[str, Measure]:
    """Every measure that applies: speaker similarity needs `reference`; WER/CER need `text` and either
    `transcript` or Whisper weights (the `transcriber`, or one for the default settings)."""
    results = {"duration": duration(audio), "loudness": loudness(audio), "peak": peak(audio)}
    if audio.peak < audio_io.SILENCE_PEAK:
        return results  # nothing is spoken, so the speech measures have nothing to say
    results["speech_ratio"] = speech_ratio(audio)
    results.update(dnsmos(audio))
    results.update(pitch(audio))
    if reference is not None:
        # Under 0.5 s of speech on one side there is no voice to compare; the other measures still stand.
        with contextlib.suppress(AudioInputError):
            results["speaker_similarity"] = speaker_similarity(audio, reference)
    if text:
        if transcript is None:
            transcript = _transcribe(audio, transcriber)
        if transcript is not None:
            name, value = error_rate(text, transcript)
            results[name] = value
    return results


def _transcribe(audio: Audio, transcriber) -> str | None:
    from studio.asr import Transcriber

    transcriber = transcriber or Transcriber(Settings())
    if not transcriber.available():
        return None  # no Whisper weights here: the error rate is left out rather than guessed
    return transcriber.transcribe(audio).text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="input", required=True, help="the take to measure")
    parser.add_argument("--ref", default=None, help="reference recording of the voice, for speaker similarity")
    parser.add_argument("--text", default=None, help="the intended text, for WER/CER")
    parser.add_argument("--transcript", default=None, help="the take's transcript (default: Whisper)")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    from studio.asr import Transcriber

    reference = audio_io.read(args.ref) if args.ref else None
    results = measure(
        audio_io.read(args.input),
        reference=reference,
        text=args.text,
        transcript=args.transcript,
        transcriber=Transcriber(settings),
    )
    return {name: m.to_dict() for name, m in results.items()}
