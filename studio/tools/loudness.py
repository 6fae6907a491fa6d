"""Loudness normalisation to a target in LUFS (EBU R128 / ITU-R BS.1770) under a true-peak ceiling.

Only a constant gain is applied, never compression or limiting: when the ceiling would be crossed the
gain stops there, and the result is quieter than the target rather than distorted.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
import soxr

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.settings import Settings

TARGET_LUFS = -16.0  # spoken-word streaming; EBU R128 broadcast is -23
CEILING_DBTP = -1.0
OVERSAMPLE_SR = 192_000  # BS.1770-4 annex 2: true peak is read at >= 4x oversampling of 48 kHz


@dataclass(frozen=True)
class Normalized:
    audio: Audio
    input_lufs: float
    output_lufs: float
    gain_db: float
    true_peak_dbtp: float


def true_peak(audio: Audio) -> float:
    """Highest inter-sample peak in dBTP (dB true peak); -inf for digital silence."""
    rate = max(OVERSAMPLE_SR, 4 * audio.sr)
    peak = float(np.max(np.abs(soxr.resample(audio.samples, audio.sr, rate, quality="HQ"))))
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def normalize(audio: Audio, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP) -> Normalized:
    """Gain to `target_lufs`, lowered if needed so the true peak stays at or under `ceiling_dbtp`.

    Audio too short (under 0.4 s) or too quiet to measure keeps its level and only gets the ceiling.
    """
    if not -70.0 <= target_lufs <= 0.0:
        raise BadInput(f"Target loudness {target_lufs:g} LUFS is out of range (-70 to 0).", param="target_lufs")
    if not -20.0 <= ceiling_dbtp <= 0.0:
        raise BadInput(f"Peak ceiling {ceiling_dbtp:g} dBTP is out of range (-20 to 0).", param="ceiling_dbtp")
    measured = audio_io.loudness(audio)
    peak = true_peak(audio)
    gain = target_lufs - measured if math.isfinite(measured) else 0.0
    gain = min(gain, ceiling_dbtp - peak)
    out = audio.with_samples(audio.samples * np.float32(10.0 ** (gain / 20.0)))
    return Normalized(out, measured, audio_io.loudness(out), gain, peak + gain)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="input", required=True, help="audio file")
    parser.add_argument("--out", required=True, help="where to write the result (suffix = format)")
    parser.add_argument("--target-lufs", type=float, default=TARGET_LUFS, help="integrated loudness to reach")
    parser.add_argument("--ceiling-dbtp", type=float, default=CEILING_DBTP, help="highest true peak allowed")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    result = normalize(audio_io.read(args.input), args.target_lufs, args.ceiling_dbtp)
    audio_io.write(result.audio, args.out)
    return {
        "out": str(args.out),
        "input_lufs": round(result.input_lufs, 2),
        "output_lufs": round(result.output_lufs, 2),
        "gain_db": round(result.gain_db, 2),
        "true_peak_dbtp": round(result.true_peak_dbtp, 2),
    }
