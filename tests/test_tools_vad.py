"""Speech detection and pause removal on real prompts joined with known silences."""

from __future__ import annotations

import numpy as np
import pytest
from tools_support import decode_many

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.tools import vad

SR = 16_000
GAPS = (1.5, 0.8, 2.0)  # seconds of silence put between the prompts
LEAD, TAIL = 0.6, 0.9


def _speech_only(clip: Audio) -> np.ndarray:
    """The prompt without its own leading and trailing near-silence (20 ms frames under -45 dB of its peak)."""
    frames = clip.samples[: len(clip.samples) // 320 * 320].reshape(-1, 320)
    level = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(level > level.max() * 10 ** (-45 / 20))
    return clip.samples[loud[0] * 320 : (loud[-1] + 1) * 320]


@pytest.fixture(scope="module")
def joined(asterisk) -> tuple[Audio, list[tuple[float, float]]]:
    """Four real prompts with known silences around them, and where their speech is."""
    names = ("vm-review", "conf-leaderhasleft", "demo-thanks", "vm-goodbye")
    by_name = {p.name: p.path for p in asterisk}
    prompts = [_speech_only(clip) for clip in decode_many([by_name[n] for n in names], SR)]
    pieces, truth, t = [np.zeros(round(LEAD * SR), np.float32)], [], LEAD
    for prompt, gap in zip(prompts, (*GAPS, TAIL), strict=True):
        truth.append((t, t + len(prompt) / SR))
        pieces += [prompt, np.zeros(round(gap * SR), np.float32)]
        t += len(prompt) / SR + gap
    return Audio(np.concatenate(pieces), SR), truth


def test_segments_match_the_known_speech_within_100_ms(joined):
    clip, truth = joined

    found = vad.speech_segments(clip, min_pause=0.3)

    assert len(found) == len(truth)
    for (start, end), (true_start, true_end) in zip(found, truth, strict=True):
        assert abs(start - true_start) < 0.1
        assert abs(end - true_end) < 0.1


def test_pauses_are_shortened_by_the_expected_amount(joined):
    clip, truth = joined
    options = vad.PauseOptions(min_pause=0.3, padding=0.1, max_pause=0.4)

    edit = vad.remove_pauses(clip, options)

    expected_cut = (LEAD - options.padding) + (TAIL - options.padding) + sum(g - options.max_pause for g in GAPS)
    assert edit.removed == pytest.approx(len(clip.samples) / SR - edit.audio.duration)
    assert abs(edit.removed - expected_cut) < 0.25
    assert len(edit.speech) == len(truth)
    # Every stretch of speech survives whole: the kept audio still holds as much speech as before.
    kept_speech = sum(end - start for start, end in vad.speech_segments(edit.audio, min_pause=0.3))
    assert kept_speech == pytest.approx(sum(end - start for start, end in truth), abs=0.3)


def test_max_pause_zero_leaves_only_the_padding(joined):
    clip, _ = joined
    edit = vad.remove_pauses(clip, vad.PauseOptions(min_pause=0.3, padding=0.05, max_pause=0.0))

    speech = sum(end - start for start, end in edit.speech)
    assert edit.audio.duration == pytest.approx(speech + 2 * 0.05 * len(edit.speech), abs=0.02)


def test_short_pauses_inside_sentences_are_kept(harvard):
    clip = audio_io.read(harvard.path)
    edit = vad.remove_pauses(clip, vad.PauseOptions(min_pause=1.0, padding=0.1, max_pause=0.2))

    assert len(edit.speech) == 1
    assert edit.removed < 0.1  # only the short lead-in before the first word


def test_cut_points_do_not_click(joined):
    clip, _ = joined
    out = vad.remove_pauses(clip).audio.samples
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(clip.samples))) + 1e-6


def test_silence_is_left_alone():
    silence = Audio(np.zeros(SR * 2, np.float32), SR)
    edit = vad.remove_pauses(silence)
    assert edit.speech == [] and edit.removed == 0.0 and edit.audio is silence
    assert vad.speech_ratio(silence) == 0.0


def test_speech_ratio_of_the_joined_prompts(joined):
    clip, truth = joined
    true_ratio = sum(end - start for start, end in truth) / clip.duration
    assert vad.speech_ratio(clip) == pytest.approx(true_ratio, abs=0.05)


def test_other_sample_rates_use_their_own_timeline(speakers_8k):
    clip = audio_io.read(speakers_8k[0])
    at16 = audio_io.resample(clip, SR)
    assert clip.sr == 8_000
    for (a, b), (c, d) in zip(vad.speech_segments(clip), vad.speech_segments(at16), strict=True):
        assert a == pytest.approx(c, abs=0.05) and b == pytest.approx(d, abs=0.05)


@pytest.mark.parametrize(
    "options",
    [vad.PauseOptions(min_pause=-1), vad.PauseOptions(padding=-0.1), vad.PauseOptions(threshold=1.5)],
)
def test_bad_options_are_refused(joined, options):
    with pytest.raises(BadInput):
        vad.remove_pauses(joined[0], options)


def test_loading_the_detector_keeps_torch_threads():
    import torch

    before = torch.get_num_threads()
    vad._silero.cache_clear()
    vad._silero()
    assert torch.get_num_threads() == before
