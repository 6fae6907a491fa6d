"""Objective measures on real recordings: units, directions, and that they rank real differences right."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require

from studio import audio as audio_io
from studio import metrics
from studio.audio import Audio
from studio.testing import corpora

MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")


@pytest.fixture(scope="module")
def clip(harvard) -> Audio:
    return audio_io.read(harvard.path)


@pytest.fixture(scope="module")
def allison(asterisk) -> dict[str, Audio]:
    by_name = {p.name: p.path for p in asterisk}
    return {n: audio_io.read(by_name[n]) for n in ("vm-review", "demo-thanks", "conf-leaderhasleft")}


def test_every_measure_states_its_unit_and_direction(clip, allison, harvard):
    results = metrics.measure(clip, reference=allison["vm-review"], text=harvard.text, transcript=harvard.text)

    expected = {
        "duration", "loudness", "peak", "speech_ratio", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak",
        "dnsmos_p808", "f0_mean", "f0_range", "speaker_similarity", "wer",
    }  # fmt: skip
    assert set(results) == expected
    for m in results.values():
        assert m.unit and m.label and m.better in ("higher", "lower", None)
    assert results["wer"].better == "lower" and results["dnsmos_ovrl"].better == "higher"
    assert results["speaker_similarity"].better == "higher" and results["duration"].better is None
    assert results["duration"].value == pytest.approx(10.8)
    assert results["wer"].value == 0.0
    assert 1.0 <= results["dnsmos_ovrl"].value <= 5.0
    json.dumps({k: m.to_dict() for k, m in results.items()}, allow_nan=False)


def test_a_voice_is_closer_to_itself_than_to_other_speakers(allison, clip, speakers_8k):
    itself = metrics.speaker_similarity(allison["vm-review"], allison["demo-thanks"]).value
    others = [metrics.speaker_similarity(allison["vm-review"], audio_io.read(p)).value for p in speakers_8k[:3]]
    others.append(metrics.speaker_similarity(allison["vm-review"], clip).value)
    assert itself > 0.8
    assert itself > max(others) + 0.15


def test_error_rates():
    text = "The birch canoe slid on the smooth planks."
    assert metrics.wer(text, "the birch canoe slid on the smooth planks").value == 0.0
    assert metrics.wer(text, "The birch canoe slid on the smooth banks.").value == pytest.approx(100 / 8, abs=0.01)
    assert metrics.wer("Press 4 to exit.", "press four to exit").value == 0.0  # numbers are normalised
    name, value = metrics.error_rate("你好，世界！", "你好世界")
    assert name == "cer" and value.value == 0.0
    assert metrics.error_rate("我们今天去公园", "我们明天去公园")[1].value == pytest.approx(100 / 7, abs=0.01)
    assert metrics.wer("", "").value == 0.0 and metrics.wer("", "words").value == 100.0


def test_wer_is_measured_from_whisper_when_no_transcript_is_given(allison):
    results = metrics.measure(allison["conf-leaderhasleft"], text="The leader has left the conference.")
    assert results["wer"].value == 0.0


def test_pitch_follows_a_known_shift(allison):
    """Three semitones up with Rubber Band (formants kept) must raise mean F0 by 2^(3/12)."""
    from pylibrb import Option, RubberBandStretcher

    voice = allison["vm-review"]
    shifter = RubberBandStretcher(
        sample_rate=voice.sr,
        channels=1,
        options=Option.PROCESS_OFFLINE | Option.ENGINE_FINER | Option.FORMANT_PRESERVED,
        initial_pitch_scale=2 ** (3 / 12),
    )
    block = voice.samples[None, :]
    shifter.set_max_process_size(block.shape[1])
    shifter.study(block, final=True)
    shifter.process(block, final=True)
    shifted = voice.with_samples(shifter.retrieve_available()[0])

    before, after = metrics.pitch(voice), metrics.pitch(shifted)
    assert after["f0_mean"].value / before["f0_mean"].value == pytest.approx(2 ** (3 / 12), rel=0.03)
    assert after["f0_range"].value == pytest.approx(before["f0_range"].value, abs=1.5)


def test_pitch_tells_a_male_from_a_female_voice():
    male, female = (audio_io.read(corpora.CODEC2 / "wav" / f"{n}.wav") for n in ("morig", "forig"))
    assert metrics.pitch(male)["f0_mean"].value < 150 < metrics.pitch(female)["f0_mean"].value


def test_dnsmos_ranks_clean_above_music_covered_speech(clip):
    require(MUSIC.is_file(), "Debian package asterisk-moh-opsound-wav")
    music = audio_io.read(MUSIC, sr=clip.sr).samples[: len(clip.samples)]
    noisy = clip.samples + music * (np.std(clip.samples) / np.std(music))
    noisy_clip = clip.with_samples(noisy / np.max(np.abs(noisy)))
    assert metrics.dnsmos(clip)["dnsmos_ovrl"].value > metrics.dnsmos(noisy_clip)["dnsmos_ovrl"].value + 0.5


def test_silence_gets_only_the_level_measures():
    silence = Audio(np.zeros(16_000, np.float32), 16_000)
    results = metrics.measure(silence, text="hello")
    assert set(results) == {"duration", "loudness", "peak"}
    assert results["loudness"].to_dict()["value"] is None
    assert metrics.pitch(silence) == {}


def test_too_little_speech_to_compare_voices_is_refused(clip):
    from studio.errors import AudioInputError

    silence = Audio(np.zeros(32_000, np.float32), 16_000)
    with pytest.raises(AudioInputError, match="Too little speech"):
        metrics.speaker_similarity(silence, clip)


def test_a_take_too_short_to_compare_voices_keeps_its_other_measures(clip):
    short = audio_io.trim(clip, 1.0, 1.3)  # 0.3 s of real speech
    results = metrics.measure(short, reference=clip)
    assert "speaker_similarity" not in results
    assert {"duration", "loudness", "dnsmos_ovrl"} <= set(results)
    assert "speaker_similarity" in metrics.measure(clip, reference=clip)
