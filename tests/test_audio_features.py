"""Signal front ends of the tokenizer against independent references, on real recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio import audio as audio_io
from studio.engine import features


@pytest.fixture(scope="module")
def speech16(examples) -> np.ndarray:
    return audio_io.read(examples["zero_shot_en_prompt"].path, sr=16_000).samples


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmax"), [(16_000, 400, 128, None), (24_000, 1920, 80, 8000.0), (22_050, 1024, 80, None)]
)
def test_slaney_filters_match_librosa(sr: int, n_fft: int, n_mels: int, fmax: float | None) -> None:
    import librosa

    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=fmax)
    np.testing.assert_allclose(features.slaney_mel_filters(sr, n_fft, n_mels, 0.0, fmax), expected, atol=1e-8)


def test_whisper_log_mel_matches_openai_whisper(speech16: np.ndarray) -> None:
    whisper = pytest.importorskip("whisper")
    samples = torch.from_numpy(speech16)
    expected = whisper.log_mel_spectrogram(samples, n_mels=128)
    ours = features.whisper_log_mel(samples)
    assert ours.shape == expected.shape == (128, len(speech16) // 160)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def kaldi_fbank_reference(samples: np.ndarray, window: str, n_mels: int = 80, sr: int = 16_000) -> np.ndarray:
    """Kaldi's fbank written out in float64: DC removal, pre-emphasis, window, |FFT|^2, mel triangles, log."""
    x = samples.astype(np.float64)
    length, shift, n_fft = 400, 160, 512
    count = 1 + (len(x) - length) // shift
    frames = np.stack([x[i * shift : i * shift + length] for i in range(count)])
    frames -= frames.mean(axis=1, keepdims=True)
    frames = np.concatenate([frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    cosine = np.cos(2 * np.pi * np.arange(length) / (length - 1))
    weights = {"hamming": 0.54 - 0.46 * cosine, "povey": (0.5 - 0.5 * cosine) ** 0.85}[window]
    power = np.abs(np.fft.rfft(frames * weights, n_fft)) ** 2
    mel_of = lambda hz: 1127.0 * np.log(1.0 + hz / 700.0)  # noqa: E731
    low, high = mel_of(20.0), mel_of(sr / 2)
    step = (high - low) / (n_mels + 1)
    bins = mel_of(np.arange(n_fft // 2) * sr / n_fft)
    left = low + step * np.arange(n_mels)[:, None]
    rising = (bins - left) / step
    falling = (left + 2 * step - bins) / step
    banks = np.where((bins > left) & (bins < left + 2 * step), np.minimum(rising, falling), 0.0)
    energies = power[:, : n_fft // 2] @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


@pytest.mark.parametrize(("window", "scale"), [("hamming", 32768.0), ("povey", 1.0)])
def test_kaldi_fbank_matches_float64_reference(speech16: np.ndarray, window: str, scale: float) -> None:
    clip = speech16[: 3 * 16_000] * scale
    ours = features.kaldi_fbank(clip, window=window)
    expected = kaldi_fbank_reference(clip, window)
    assert ours.shape == expected.shape == ((len(clip) - 400) // 160 + 1, 80)
    np.testing.assert_allclose(ours, expected, atol=2e-3, rtol=0)


def test_prompt_mel_matches_float64_reference(examples) -> None:
    import librosa

    samples = audio_io.read(examples["en_happy_prompt"].path, sr=24_000).samples[: 4 * 24_000]
    ours = features.prompt_mel(torch.from_numpy(samples)).numpy()
    padded = np.pad(samples.astype(np.float64), 720, mode="reflect")
    count = 1 + (len(padded) - 1920) // 480
    frames = np.stack([padded[i * 480 : i * 480 + 1920] for i in range(count)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1920) / 1920)  # periodic, as torch.hann_window
    spectrum = np.fft.rfft(frames * hann, 1920)
    magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + 1e-9)
    filters = librosa.filters.mel(sr=24_000, n_fft=1920, n_mels=80, fmin=0, fmax=8000).astype(np.float64)
    expected = np.log(np.maximum(magnitude @ filters.T, 1e-5))
    assert ours.shape == expected.shape == (len(samples) // 480, 80)
    np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("name", ["zero_shot_en_prompt", "vad_prompt", "whisper_prompt"])
def test_trim_finds_what_librosa_finds(examples, name: str) -> None:
    import librosa

    samples = audio_io.peak_normalize(audio_io.read(examples[name].path, sr=16_000).samples)
    _, (start, end) = librosa.effects.trim(samples, top_db=20, frame_length=512, hop_length=128)
    assert features._speech_bounds(samples, 20.0, 512, 128) == (start, end)
    trimmed = features.trim_silence(samples)
    assert len(trimmed) == -(-(end - start) // 240) * 240 + 4320  # whole hops plus 0.05 s + 0.22 s
    before = start - 800  # 0.05 s of what precedes the speech is kept
    head = trimmed[:1600]
    expected = samples[before : before + 1600] if before > 0 else np.pad(samples, (-before, 0))[:1600]
    np.testing.assert_array_equal(head, expected)


def test_trim_pads_when_speech_starts_at_once(speech16: np.ndarray) -> None:
    loud = speech16[np.argmax(np.abs(speech16)) :]  # starts on the loudest sample
    trimmed = features.trim_silence(loud)
    assert np.all(trimmed[:800] == 0) and trimmed[800] == loud[0]
