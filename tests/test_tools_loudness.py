"""Loudness normalisation of real speech to a LUFS target under a true-peak ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.tools import loudness


@pytest.fixture(scope="module")
def quiet_harvard(harvard) -> Audio:
    clip = audio_io.read(harvard.path)
    return clip.with_samples(clip.samples * 0.1)  # -20 dB: about -39.5 LUFS


def test_reaches_the_target_when_the_peaks_allow(quiet_harvard):
    result = loudness.normalize(quiet_harvard, target_lufs=-23.0, ceiling_dbtp=-1.0)

    assert result.output_lufs == pytest.approx(-23.0, abs=0.1)
    assert audio_io.loudness(result.audio) == pytest.approx(result.output_lufs)
    assert loudness.true_peak(result.audio) <= -1.0 + 0.01
    assert result.gain_db == pytest.approx(-23.0 - result.input_lufs, abs=0.01)


def test_ceiling_wins_over_the_target(quiet_harvard):
    result = loudness.normalize(quiet_harvard, target_lufs=-10.0, ceiling_dbtp=-1.0)

    assert loudness.true_peak(result.audio) == pytest.approx(-1.0, abs=0.05)
    assert result.true_peak_dbtp == pytest.approx(-1.0, abs=0.01)
    assert result.output_lufs < -10.0  # quieter than asked, never clipped or squashed


def test_true_peak_sees_between_the_samples():
    """A tone at a quarter of the sample rate, sampled off its crests: samples read 0.707, the wave reaches 1."""
    sr = 16_000
    t = np.arange(sr) / sr
    tone = Audio(np.sin(2 * np.pi * (sr / 4) * t + np.pi / 4).astype(np.float32), sr)
    assert 20 * np.log10(tone.peak) == pytest.approx(-3.0, abs=0.1)
    assert loudness.true_peak(tone) == pytest.approx(0.0, abs=0.2)


def test_silence_keeps_its_level():
    silence = Audio(np.zeros(16_000, np.float32), 16_000)
    result = loudness.normalize(silence)
    assert result.gain_db == 0.0 and not np.any(result.audio.samples)


@pytest.mark.parametrize(("target", "ceiling"), [(-80.0, -1.0), (3.0, -1.0), (-16.0, 1.0), (-16.0, -30.0)])
def test_out_of_range_settings_are_refused(quiet_harvard, target, ceiling):
    with pytest.raises(BadInput, match="out of range"):
        loudness.normalize(quiet_harvard, target, ceiling)
