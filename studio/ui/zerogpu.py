"""GPU time on a Hugging Face ZeroGPU Space: declared per call, from the input's length and passes.

The `spaces` package lends a GPU to each decorated call for the seconds it declares; a shorter
declaration gets a better place in the Space's queue, one too short is cut off. Outside a Space
(`spaces` not installed) the handlers run unchanged.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import TypeVar

import soundfile as sf

F = TypeVar("F", bound=Callable)
log = logging.getLogger(__name__)

FIXED_SECONDS = 15.0  # moving the weights onto the lent GPU, tokenizer and decoder set-up
SECONDS_PER_AUDIO_SECOND = 2.5  # per pass: encode, ~42 audio tokens per second to generate, decode
MIN_SECONDS = 20
MAX_SECONDS = 300
FALLBACK_INPUT_SECONDS = 30.0  # the model's input limit: what to assume when the length is unknown
LATIN_CHARS_PER_SECOND = 14.0
CJK_CHARS_PER_SECOND = 4.5


def gpu_seconds(audio_seconds: float, passes: int = 1) -> int:
    """Seconds to ask for: a fixed part plus a share per second of audio and per pass, within limits."""
    work = FIXED_SECONDS + SECONDS_PER_AUDIO_SECOND * max(audio_seconds, 1.0) * max(int(passes), 1)
    return int(min(MAX_SECONDS, max(MIN_SECONDS, math.ceil(work))))


def speech_seconds(text: str) -> float:
    """How long `text` takes to say: Chinese/Japanese/Korean characters are slower than letters."""
    cjk = sum(1 for ch in text or "" if ord(ch) >= 0x2E80)
    latin = len(text or "") - cjk
    return latin / LATIN_CHARS_PER_SECOND + cjk / CJK_CHARS_PER_SECOND


def file_seconds(path: str | None) -> float:
    """Length of an uploaded file from its header; the model's limit when it cannot be told cheaply."""
    if not path:
        return 0.0
    try:
        return float(sf.info(path).duration)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return FALLBACK_INPUT_SECONDS


def duration_for(fn: Callable, estimate: Callable[[dict], float]) -> Callable[..., int]:
    """A `spaces.GPU(duration=...)` callable: it gets the handler's own arguments, by name.

    An estimate that fails (a bad upload, a vanished take) must not fail the call: the handler
    then reports the real problem, so the budget falls back to the longest input allowed.
    """
    signature = inspect.signature(fn)

    def duration(*args, **kwargs) -> int:
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        try:
            return int(estimate(bound.arguments))
        except Exception as err:
            log.warning("GPU time estimate failed (%s); asking for the maximum input's", err)
            return gpu_seconds(FALLBACK_INPUT_SECONDS)

    return duration


def on_gpu(estimate: Callable[[dict], float]) -> Callable[[F], F]:
    try:
        import spaces
    except ImportError:
        return lambda fn: fn

    def decorate(fn: F) -> F:
        return spaces.GPU(duration=duration_for(fn, estimate))(fn)

    return decorate
