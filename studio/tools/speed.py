"""Pitch-preserving speed change: Rubber Band's R3 ("finer") engine, or sox's WSOLA `tempo` as the fast fallback.

R3 keeps the voice most intact (highest round-trip PESQ and speaker similarity in our measurements);
sox is what runs when the Rubber Band library is missing, or on request.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

import numpy as np

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.settings import Settings
from studio.tools import ToolUnavailable

MIN_RATE = 0.5
MAX_RATE = 2.0
ENGINES = ("auto", "rubberband", "sox")
# R3 can overshoot full scale (seen at 1.5x); a uniform gain keeps it below instead of clipping.
CEILING = 0.999
BLOCK = 1 << 16  # samples handed to Rubber Band per call


def change_speed(audio: Audio, rate: float, *, engine: str = "auto") -> Audio:
    """Play `rate` times faster (0.5 = half speed) at the same pitch; the length becomes len / rate."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInput(f"Speed {rate:g}x is out of range; choose {MIN_RATE:g}x to {MAX_RATE:g}x.", param="rate")
    if rate == 1.0:
        return audio
    stretch = {"rubberband": _rubberband, "sox": _sox}[pick_engine(engine)]
    samples = _fit(stretch(audio, rate), round(len(audio.samples) / rate))
    return audio.with_samples(audio_io.peak_limit(samples, CEILING))


def pick_engine(engine: str = "auto") -> str:
    if engine not in ENGINES:
        raise BadInput(f"Unknown speed engine {engine!r}; choose one of {', '.join(ENGINES)}.", param="engine")
    has_rubberband = _has_pylibrb()
    if engine == "auto":
        engine = "rubberband" if has_rubberband else "sox"
    if engine == "rubberband" and not has_rubberband:
        raise ToolUnavailable("Rubber Band is not installed (Python package pylibrb); use the sox engine.")
    if engine == "sox" and shutil.which("sox") is None:
        raise ToolUnavailable("Neither pylibrb nor the sox program is installed; speed change is unavailable.")
    return engine


def _has_pylibrb() -> bool:
    try:
        import pylibrb  # noqa: F401
    except ImportError:
        return False
    return True


def _rubberband(audio: Audio, rate: float) -> np.ndarray:
    from pylibrb import Option, RubberBandStretcher

    stretcher = RubberBandStretcher(
        sample_rate=audio.sr,
        channels=1,
        options=Option.PROCESS_OFFLINE | Option.ENGINE_FINER,
        initial_time_ratio=1.0 / rate,
    )
    samples = audio.samples[None, :]
    # The library takes at most get_process_size_limit() samples per call (about 11 s at 48 kHz).
    starts = range(0, samples.shape[1], BLOCK)
    stretcher.set_max_process_size(min(BLOCK, samples.shape[1]))
    # Offline mode: study the whole take first, so the stretch is planned over all of it.
    for start in starts:
        stretcher.study(samples[:, start : start + BLOCK], final=start + BLOCK >= samples.shape[1])
    out = []
    for start in starts:
        stretcher.process(samples[:, start : start + BLOCK], final=start + BLOCK >= samples.shape[1])
        out.append(stretcher.retrieve_available()[0])
    return np.concatenate(out)


def _sox(audio: Audio, rate: float) -> np.ndarray:
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(audio.sr)]
    # -s tunes WSOLA's segment sizes for speech.
    cmd = ["sox", "-V1", *raw, "-", *raw, "-", "tempo", "-s", f"{rate:.6f}"]
    done = subprocess.run(cmd, input=audio.samples.astype("<f4").tobytes(), capture_output=True, check=False)
    if done.returncode != 0:
        raise ToolUnavailable(f"sox failed: {done.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(done.stdout, dtype="<f4")


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """Exactly `length` samples: engines may be a few samples off the requested ratio."""
    if len(samples) >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - len(samples), dtype=samples.dtype)])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="input", required=True, help="audio file to change")
    parser.add_argument("--out", required=True, help="where to write the result (suffix = format)")
    parser.add_argument("--rate", type=float, required=True, help=f"speed factor, {MIN_RATE:g} to {MAX_RATE:g}")
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="rubberband (R3) or sox (fast)")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    source = audio_io.read(args.input)
    result = change_speed(source, args.rate, engine=args.engine)
    audio_io.write(result, args.out)
    return {
        "out": str(args.out),
        "engine": pick_engine(args.engine),
        "rate": args.rate,
        "input_seconds": round(source.duration, 3),
        "output_seconds": round(result.duration, 3),
    }
