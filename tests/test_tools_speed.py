"""Speed change on real speech: exact length, same voice, same pitch, no clipping."""

from __future__ import annotations

import numpy as np
import pytest

from studio import audio as audio_io
from studio import metrics
from studio.errors import BadInput
from studio.tools import speed


@pytest.fixture(scope="module")
def harvard_audio(harvard):
    return audio_io.read(harvard.path)


@pytest.mark.parametrize("rate", [0.7, 1.5])
def test_rubberband_keeps_length_voice_and_pitch(harvard_audio, rate):
    out = speed.change_speed(harvard_audio, rate, engine="rubberband")

    expected = harvard_audio.duration / rate
    assert abs(out.duration - expected) / expected < 0.01
    assert out.sr == harvard_audio.sr
    assert out.peak <= speed.CEILING  # R3 overshoots full scale at 1.5x on this clip; it must be scaled, not clipped
    assert metrics.speaker_similarity(out, harvard_audio).value >= 0.9
    before, after = metrics.pitch(harvard_audio)["f0_mean"].value, metrics.pitch(out)["f0_mean"].value
    assert abs(after / before - 1) < 0.06


def test_long_takes_are_fed_in_blocks(harvard_audio):
    """Rubber Band takes at most 2^19 samples per call; a 43 s take at 16 kHz has 691,200."""
    long = harvard_audio.with_samples(np.tile(harvard_audio.samples, 4))

    out = speed.change_speed(long, 1.25)

    assert len(out.samples) == round(len(long.samples) / 1.25)
    last = out.with_samples(out.samples[-round(len(harvard_audio.samples) / 1.25) :])
    assert metrics.speaker_similarity(last, harvard_audio).value >= 0.9


@pytest.mark.parametrize("rate", [0.5, 2.0])
def test_sox_fallback_at_the_extremes(harvard_audio, rate):
    out = speed.change_speed(harvard_audio, rate, engine="sox")

    assert len(out.samples) == round(len(harvard_audio.samples) / rate)
    assert metrics.speaker_similarity(out, harvard_audio).value >= 0.85


def test_auto_prefers_rubberband_and_falls_back_to_sox(monkeypatch):
    assert speed.pick_engine("auto") == "rubberband"
    monkeypatch.setattr(speed, "_has_pylibrb", lambda: False)
    assert speed.pick_engine("auto") == "sox"
    with pytest.raises(speed.ToolUnavailable, match="pylibrb"):
        speed.pick_engine("rubberband")


def test_rate_one_is_untouched(harvard_audio):
    assert speed.change_speed(harvard_audio, 1.0) is harvard_audio


@pytest.mark.parametrize("rate", [0.49, 2.01, 0.0, -1.0])
def test_rates_out_of_range_are_refused(harvard_audio, rate):
    with pytest.raises(BadInput, match="out of range"):
        speed.change_speed(harvard_audio, rate)


def test_unknown_engine_is_refused(harvard_audio):
    with pytest.raises(BadInput, match="engine"):
        speed.change_speed(harvard_audio, 1.2, engine="magic")


def test_words_survive_speeding_up(asterisk):
    """The fast tool never changes words: a 1.5x take transcribes to the same text."""
    from studio.asr import Transcriber
    from studio.settings import Settings

    prompt = next(p for p in asterisk if p.name == "vm-review")
    clip = audio_io.read(prompt.path)
    transcriber = Transcriber(Settings(), model="tiny.en")
    original = transcriber.transcribe(clip).text
    faster = transcriber.transcribe(speed.change_speed(clip, 1.5)).text
    assert metrics.wer(original, faster).value == 0.0
