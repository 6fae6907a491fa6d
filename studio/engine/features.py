"""Signal front ends of the audio tokenizer and the decoder prompt, each matching the official recipe.

- `whisper_log_mel`: openai-whisper's 128-bin log-mel (input of the vq06 speech tokenizer),
- `kaldi_fbank`: Kaldi filter banks (Paraformer front end, CAM++ speaker embedding),
- `prompt_mel`: the Matcha/CosyVoice 24 kHz log-mel that conditions the flow decoder,
- `trim_silence`: the tokenizer's silence trim (librosa-style RMS gate, then fixed margins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import kaldi_native_fbank as knf
import numpy as np
import torch

WHISPER_N_FFT = 400
WHISPER_HOP = 160


def slaney_mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters on the Slaney mel scale with area normalisation (librosa's defaults), float32."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_points = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    hz_points = _mel_to_hz(mel_points)
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[:, None]
    return weights.astype(np.float32)


_F_SP = 200.0 / 3  # Slaney scale: linear below 1 kHz, logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def _hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    hz = np.asanyarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    high = hz >= _MIN_LOG_HZ
    return np.where(high, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = _F_SP * mel
    high = mel >= _MIN_LOG_MEL
    return np.where(high, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL)), hz)


@lru_cache(maxsize=8)
def _filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    return torch.from_numpy(slaney_mel_filters(sr, n_fft, n_mels, fmin, fmax))


@lru_cache(maxsize=8)
def _hann(length: int, device: str) -> torch.Tensor:
    return torch.hann_window(length, device=device)


def whisper_log_mel(samples: torch.Tensor, n_mels: int = 128) -> torch.Tensor:
    """Whisper's log-mel of 16 kHz audio: (n_mels, len // 160), float32, on the samples' device."""
    window = _hann(WHISPER_N_FFT, str(samples.device))
    spec = torch.stft(samples, WHISPER_N_FFT, WHISPER_HOP, window=window, return_complex=True)
    power = spec[..., :-1].abs() ** 2  # whisper drops the last frame
    mel = _filters(16_000, WHISPER_N_FFT, n_mels, 0.0, None).to(samples.device) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


@dataclass(frozen=True)
class MelOptions:
    """The flow decoder's prompt mel (CosyVoice `mel_conf`)."""

    sr: int = 24_000
    n_fft: int = 1920
    win_size: int = 1920
    hop: int = 480
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0


def prompt_mel(samples: torch.Tensor, options: MelOptions = MelOptions()) -> torch.Tensor:
    """Matcha-style log-mel: reflect padding, uncentred STFT magnitude, Slaney mel, natural log floored at 1e-5.

    `samples` are at `options.sr`; the result is (frames, n_mels) float32 at sr / hop frames per second.
    """
    pad = (options.n_fft - options.hop) // 2
    padded = torch.nn.functional.pad(samples[None, None], (pad, pad), mode="reflect")[0, 0]
    window = _hann(options.win_size, str(samples.device))
    spec = torch.stft(
        padded, options.n_fft, options.hop, options.win_size, window=window, center=False, return_complex=True
    )
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    filters = _filters(options.sr, options.n_fft, options.n_mels, options.fmin, options.fmax).to(samples.device)
    return torch.log(torch.clamp(filters @ magnitude, min=1e-5)).T.contiguous()


def kaldi_fbank(samples: np.ndarray, *, n_mels: int = 80, window: str = "povey", sr: int = 16_000) -> np.ndarray:
    """Kaldi log mel filter banks (25 ms frames, 10 ms shift, no dither, edges snipped): (frames, n_mels).

    Samples are used at the scale given: the Paraformer front end passes them times 32768, CAM++ as they are.
    """
    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0
    options.frame_opts.samp_freq = sr
    options.frame_opts.window_type = window
    options.mel_opts.num_bins = n_mels
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(sr, np.ascontiguousarray(samples, dtype=np.float32))
    fbank.input_finished()
    frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.asarray(frames, dtype=np.float32).reshape(len(frames), n_mels)


def trim_silence(
    samples: np.ndarray, sr: int = 16_000, keep_before: float = 0.05, keep_after: float = 0.22
) -> np.ndarray:
    """The tokenizer's trim: find speech like `librosa.effects.trim(top_db=20, frame 512, hop 128)`, then keep
    `keep_before` s ahead of it and make the length a whole number of 240-sample hops plus both margins.
    """
    start, end = _speech_bounds(samples, top_db=20.0, frame_length=512, hop_length=128)
    hop = 240
    hops = math.ceil((end - start) / hop)
    first = start - int(keep_before * sr)
    out = samples[first:] if first > 0 else np.pad(samples, (-first, 0))
    length = int(hops * hop + (keep_before + keep_after) * sr)
    out = out[:length] if length < len(out) else np.pad(out, (0, length - len(out)))
    return np.ascontiguousarray(out, dtype=np.float32)


def _speech_bounds(samples: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> tuple[int, int]:
    """First and last sample of the frames whose power is within `top_db` of the loudest (librosa's trim)."""
    padded = np.pad(samples, frame_length // 2)  # centred frames, zero padded
    count = 1 + (len(padded) - frame_length) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length][:count]
    power = np.mean(np.abs(frames) ** 2, axis=-1)
    # librosa takes the RMS in the input's precision, then squares it back
    power = np.sqrt(power).astype(samples.dtype, copy=False) ** 2
    db = 10.0 * np.log10(np.maximum(1e-10, power)) - 10.0 * np.log10(np.maximum(1e-10, power.max()))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * hop_length), min(len(samples), int((loud[-1] + 1) * hop_length))
