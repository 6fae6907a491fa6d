"""Waveform and spectrogram pictures of takes (matplotlib, Agg: no display needed).

Every take is drawn on the same scales (16 kHz analysis, 0-8 kHz, -80..0 dB) so two pictures can
be compared by eye; the A/B figure shares one time axis between the two takes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from studio import audio as audio_io
from studio.audio import Audio

ANALYSIS_SR = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FLOOR_DB = -80.0
WAVE_COLOR = "#4f46e5"
COLORS = ("#4f46e5", "#db2777")  # A, B


def spectrogram_db(clip: Audio) -> np.ndarray:
    """Magnitude STFT in dB relative to full scale, shape (frequencies, frames)."""
    samples = audio_io.resample(clip, ANALYSIS_SR).samples
    if len(samples) < WINDOW:
        samples = np.pad(samples, (0, WINDOW - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WINDOW), axis=1)) / (WINDOW / 4)
    return np.maximum(20 * np.log10(spectrum.T + 1e-10), FLOOR_DB)


def _envelope(clip: Audio, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per bucket: draws minutes of audio as fast as a second, without losing peaks."""
    samples = clip.samples
    buckets = max(1, min(points, len(samples)))
    edges = np.linspace(0, len(samples), buckets + 1).astype(int)
    lows = np.minimum.reduceat(samples, edges[:-1])
    highs = np.maximum.reduceat(samples, edges[:-1])
    return edges[:-1] / clip.sr, lows, highs


def _draw_wave(ax, clip: Audio, color: str, seconds: float) -> None:
    times, lows, highs = _envelope(clip)
    ax.fill_between(times, lows, highs, color=color, linewidth=0.6)
    ax.set_xlim(0, seconds)
    ax.set_ylim(-1, 1)
    ax.set_yticks([-1, 0, 1])
    ax.grid(alpha=0.25)


def _draw_spectrogram(ax, clip: Audio, seconds: float) -> None:
    db = spectrogram_db(clip)
    extent = (0, db.shape[1] * HOP / ANALYSIS_SR, 0, ANALYSIS_SR / 2000)
    ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=FLOOR_DB, vmax=0)
    ax.set_xlim(0, seconds)
    ax.set_ylabel("kHz")


def _to_image(fig: Figure) -> Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def take_image(clip: Audio, title: str) -> Image.Image:
    """Waveform above spectrogram for one take."""
    fig, (wave, spec) = plt.subplots(2, 1, figsize=(6.4, 3.2), dpi=100, sharex=True, height_ratios=(1, 2))
    seconds = max(clip.duration, 0.1)
    _draw_wave(wave, clip, WAVE_COLOR, seconds)
    wave.set_title(title, fontsize=9, loc="left")
    _draw_spectrogram(spec, clip, seconds)
    spec.set_xlabel("s")
    fig.tight_layout(pad=0.4)
    return _to_image(fig)


def compare_image(a: Audio, b: Audio, label_a: str, label_b: str) -> Image.Image:
    """A and B on one time axis: waveforms overlaid on top, the two spectrograms below."""
    seconds = max(a.duration, b.duration, 0.1)
    fig, axes = plt.subplots(
        3, 1, figsize=(10, 5.6), dpi=100, sharex=True, height_ratios=(1.2, 1.5, 1.5), layout="constrained"
    )
    for clip, color, label in ((a, COLORS[0], label_a), (b, COLORS[1], label_b)):
        times, lows, highs = _envelope(clip)
        axes[0].fill_between(times, lows, highs, color=color, alpha=0.55, linewidth=0.5, label=label)
    axes[0].set_xlim(0, seconds)
    axes[0].set_ylim(-1, 1)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].grid(alpha=0.25)
    for ax, clip, label in ((axes[1], a, label_a), (axes[2], b, label_b)):
        _draw_spectrogram(ax, clip, seconds)
        ax.set_title(label, fontsize=9, loc="left")
    axes[2].set_xlabel("s")
    return _to_image(fig)
