"""Speech detection with Silero VAD (weights ship in silero-vad) and pause shortening built on it.

Pauses are cut in their middle, so the breath and decay next to the words stay; short fades at each
cut keep the joins click-free. Times are seconds in the input's timeline.
"""

from __future__ import annotations

import argparse
import itertools
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.settings import Settings
from studio.tools import ToolUnavailable

VAD_SR = 16_000
FADE = 0.005  # seconds of fade on each side of a cut

Segment = tuple[float, float]

_LOCK = threading.Lock()  # the model keeps recurrent state between windows


@dataclass(frozen=True)
class PauseOptions:
    min_pause: float = 0.3  # silences shorter than this are not pauses and stay as they are
    padding: float = 0.1  # audio kept before and after each stretch of speech
    max_pause: float = 0.4  # longer pauses are cut down to this (0: keep only the padding)
    threshold: float = 0.5  # speech probability above which a 32 ms window counts as speech

    def check(self) -> PauseOptions:
        for name, value in asdict(self).items():
            if value < 0:
                raise BadInput(f"{name} must not be negative (got {value:g}).", param=name)
        if not 0.0 < self.threshold < 1.0:
            raise BadInput(f"threshold must be between 0 and 1 (got {self.threshold:g}).", param="threshold")
        return self


@dataclass(frozen=True)
class PauseEdit:
    audio: Audio
    speech: list[Segment]  # speech found in the input
    removed: float  # seconds cut out


@lru_cache(maxsize=1)
def _silero():
    """The model and silero's segmenter, imported once."""
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError as err:
        raise ToolUnavailable("Speech detection needs the Python package silero-vad, which is not installed.") from err
    # Importing silero_vad sets torch to one thread for the whole process; give the rest of the studio its threads.
    torch.set_num_threads(threads)
    return silero_vad.load_silero_vad(onnx=True), silero_vad.get_speech_timestamps


def speech_segments(
    audio: Audio, *, threshold: float = 0.5, min_pause: float = 0.1, min_speech: float = 0.25
) -> list[Segment]:
    """Stretches of speech; silences shorter than `min_pause` do not split them."""
    import torch

    model, get_speech_timestamps = _silero()
    samples = torch.from_numpy(audio_io.resample(audio, VAD_SR).samples)
    with _LOCK:
        found = get_speech_timestamps(
            samples,
            model,
            threshold=threshold,
            sampling_rate=VAD_SR,
            min_speech_duration_ms=int(min_speech * 1000),
            min_silence_duration_ms=int(min_pause * 1000),
            speech_pad_ms=0,
        )
    return [(s["start"] / VAD_SR, min(s["end"] / VAD_SR, audio.duration)) for s in found]


def speech_ratio(audio: Audio) -> float:
    """Share of the take that is speech, 0 to 1."""
    return sum(end - start for start, end in speech_segments(audio)) / audio.duration


def remove_pauses(audio: Audio, options: PauseOptions | None = None) -> PauseEdit:
    """Trim leading and trailing silence to the padding and shorten long pauses to `max_pause`."""
    options = (options or PauseOptions()).check()
    speech = speech_segments(audio, threshold=options.threshold, min_pause=options.min_pause)
    if not speech:
        return PauseEdit(audio, [], 0.0)
    keep = _kept_spans(speech, audio.duration, options)
    pieces = [_faded(audio.samples[round(a * audio.sr) : round(b * audio.sr)], audio.sr) for a, b in keep]
    samples = np.concatenate(pieces)
    return PauseEdit(audio.with_samples(samples), speech, (len(audio.samples) - len(samples)) / audio.sr)


def _kept_spans(speech: list[Segment], duration: float, options: PauseOptions) -> list[Segment]:
    """Each stretch of speech plus half of what is left of the pauses on either side, merged where they touch."""
    edges = [min(options.padding, speech[0][0])]
    for (_, end), (start, _) in itertools.pairwise(speech):
        gap = start - end
        left = max(min(gap, options.max_pause), min(gap, 2 * options.padding))
        edges.append(left / 2)
    edges.append(min(options.padding, duration - speech[-1][1]))
    spans: list[Segment] = []
    for i, (start, end) in enumerate(speech):
        span = (start - edges[i], end + edges[i + 1])
        if spans and span[0] <= spans[-1][1] + 1e-9:
            spans[-1] = (spans[-1][0], span[1])
        else:
            spans.append(span)
    return spans


def _faded(piece: np.ndarray, sr: int) -> np.ndarray:
    n = min(int(FADE * sr), len(piece) // 2)
    if n == 0:
        return piece
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    piece = piece.copy()
    piece[:n] *= ramp
    piece[-n:] *= ramp[::-1]
    return piece


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = PauseOptions()
    parser.add_argument("--in", dest="input", required=True, help="audio file")
    parser.add_argument("--out", required=True, help="where to write the result (suffix = format)")
    parser.add_argument("--min-pause", type=float, default=defaults.min_pause, help="shorter silences are kept (s)")
    parser.add_argument("--padding", type=float, default=defaults.padding, help="audio kept around speech (s)")
    parser.add_argument("--max-pause", type=float, default=defaults.max_pause, help="longest pause left (s)")
    parser.add_argument("--threshold", type=float, default=defaults.threshold, help="speech probability, 0-1")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    options = PauseOptions(args.min_pause, args.padding, args.max_pause, args.threshold)
    source = audio_io.read(args.input)
    edit = remove_pauses(source, options)
    audio_io.write(edit.audio, args.out)
    return {
        "out": str(args.out),
        "input_seconds": round(source.duration, 3),
        "output_seconds": round(edit.audio.duration, 3),
        "removed_seconds": round(edit.removed, 3),
        "speech": [[round(a, 3), round(b, 3)] for a, b in edit.speech],
    }
