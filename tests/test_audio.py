"""Audio I/O on real recordings: every format we read and write, and every guard on bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from studio import audio
from studio.errors import AudioInputError, BadInput


@pytest.fixture(scope="module")
def speech(examples) -> audio.Audio:
    """Real English speech, 44.1 kHz 16-bit."""
    return audio.read(examples["zero_shot_en_prompt"].path)


def test_reads_every_official_example(examples):
    for rec in examples.values():
        clip = audio.read(rec.path)
        assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
        assert clip.sr == sf.info(rec.path).samplerate
        assert 3.0 < clip.duration < 17.0
        assert 0.01 < clip.peak <= 1.0


def test_48k_24bit_file_keeps_its_resolution(examples):
    path = examples["whisper_prompt"].path
    assert sf.info(path).subtype == "PCM_24"
    clip = audio.read(path)
    assert clip.sr == 48_000
    # 24-bit data has values between the 16-bit steps.
    steps = clip.samples * 32768.0
    assert np.mean(np.abs(steps - np.round(steps)) > 1e-3) > 0.5


def test_8k_speakers_are_read_and_resampled(speakers_8k):
    for path in speakers_8k:
        clip = audio.read(path)
        assert clip.sr == 8_000
        up = audio.read(path, sr=16_000)
        assert up.sr == 16_000
        assert abs(up.duration - clip.duration) < 1e-3


def test_stereo_is_mixed_to_mono(examples, speech):
    other = audio.read(examples["en_happy_prompt"].path, sr=speech.sr).samples
    n = min(len(other), len(speech.samples))
    stereo = np.stack([speech.samples[:n], other[:n]], axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, speech.sr, format="WAV", subtype="FLOAT")
    mixed = audio.read(buffer.getvalue())
    np.testing.assert_allclose(mixed.samples, stereo.mean(axis=1), atol=1e-6)


def test_more_than_two_channels_are_mixed(speech):
    four = np.stack([speech.samples * g for g in (1.0, 0.5, 0.25, 0.0)], axis=1)
    mixed = audio.read((speech.sr, four))
    np.testing.assert_allclose(mixed.samples, speech.samples * 0.4375, atol=1e-6)


def test_gradio_int16_tuple(speech):
    pcm = (speech.samples * 32767).astype(np.int16)
    clip = audio.read((speech.sr, pcm))
    np.testing.assert_allclose(clip.samples, speech.samples, atol=1 / 16384)


@pytest.mark.parametrize(
    ("fmt", "subtype", "tolerance"),
    [("wav", None, 1 / 16384), ("wav", "FLOAT", 1e-7), ("flac", None, 1 / 16384), ("pcm", None, 1 / 16384)],
)
def test_lossless_round_trip(speech, fmt, subtype, tolerance):
    data = audio.encode(speech, fmt, subtype=subtype)
    back = audio.read((speech.sr, np.frombuffer(data, "<i2")) if fmt == "pcm" else data)
    assert back.sr == speech.sr
    np.testing.assert_allclose(back.samples, speech.samples, atol=tolerance)


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_lossy_round_trip_keeps_the_speech(speech, fmt):
    back = audio.read(audio.encode(speech, fmt), sr=speech.sr)
    assert abs(back.duration - speech.duration) < 0.1  # encoder padding only
    # Lossy codecs shift samples by their delay; compare loudness, not samples.
    assert abs(audio.loudness(back) - audio.loudness(speech)) < 1.0


def test_ffmpeg_decodes_what_libsndfile_cannot(asterisk):
    """Asterisk prompts are G.722, which only ffmpeg reads."""
    clip = audio.read(asterisk[0].path)
    assert clip.sr == 16_000
    assert clip.duration > 0.3 and clip.peak > 0.05


def test_write_picks_format_from_suffix(speech, tmp_path):
    for suffix in (".wav", ".flac", ".mp3", ".ogg"):
        path = audio.write(speech, tmp_path / f"take{suffix}")
        assert abs(audio.read(path).duration - speech.duration) < 0.1
    assert not list(tmp_path.glob("*.part"))


def test_encode_clips_integer_formats(speech):
    loud = speech.with_samples(speech.samples * 10)
    back = audio.read(audio.encode(loud, "wav"))
    assert back.peak <= 1.0


def test_unknown_output_format(speech):
    with pytest.raises(BadInput, match="Unknown audio format 'aac'"):
        audio.encode(speech, "aac")


# --- guards -----------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        audio.read(path)


def test_not_audio():
    with pytest.raises(AudioInputError, match="not audio"):
        audio.read(b"%PDF-1.7 this is a document, not a recording" * 20)


def test_corrupt_wav(examples):
    """A real recording whose data after the header was overwritten with garbage."""
    data = bytearray(examples["speed_prompt"].path.read_bytes())
    data[12:60] = b"\xff" * 48  # destroys the fmt chunk
    with pytest.raises(AudioInputError):
        audio.read(bytes(data))


def test_truncated_header_only(examples):
    with pytest.raises(AudioInputError):
        audio.read(examples["speed_prompt"].path.read_bytes()[:44])


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="not found"):
        audio.read(tmp_path / "nope.wav")


def test_nan_samples(speech):
    bad = speech.samples.copy()
    bad[100] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        audio.read((speech.sr, bad))
    buffer = io.BytesIO()
    sf.write(buffer, bad, speech.sr, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN"):
        audio.read(buffer.getvalue())


@pytest.mark.parametrize("rate", [100, 4_000, 400_000])
def test_absurd_sample_rates(speech, rate):
    with pytest.raises(AudioInputError, match=f"{rate} Hz"):
        audio.read((rate, speech.samples))


def test_raw_array_needs_a_rate(speech):
    with pytest.raises(BadInput, match="sample rate"):
        audio.read(speech.samples)


def test_zero_length():
    with pytest.raises(AudioInputError, match="zero length"):
        audio.read((16_000, np.zeros(0, np.float32)))


def test_too_short(speech):
    with pytest.raises(AudioInputError, match=r"0\.30 s long; at least 0\.5 s"):
        audio.check(audio.trim(speech, 1.0, 1.3))


def test_too_long_is_configurable(examples):
    long = audio.read(examples["denoise_prompt"].path)  # 16 s
    with pytest.raises(AudioInputError, match="limit is 10 s per model call"):
        audio.check(long, max_seconds=10)
    assert audio.check(long, max_seconds=30) is long


def test_all_silent(speech):
    with pytest.raises(AudioInputError, match="silent"):
        audio.check(speech.with_samples(np.zeros_like(speech.samples)))
    assert audio.check(speech.with_samples(np.zeros_like(speech.samples)), allow_silent=True)


# --- helpers ----------------------------------------------------------------------------------


def test_peak_limit_only_scales_down(speech):
    loud = speech.samples / speech.peak * 0.9
    assert np.max(np.abs(audio.peak_limit(loud, 0.6))) == pytest.approx(0.6, rel=1e-6)
    quiet = speech.samples / speech.peak * 0.3
    assert audio.peak_limit(quiet, 0.6) is quiet


def test_peak_normalize_has_a_floor(speech):
    assert np.max(np.abs(audio.peak_normalize(speech.samples))) == pytest.approx(0.999, rel=1e-6)
    whisper_quiet = speech.samples / speech.peak * 0.001
    assert np.max(np.abs(audio.peak_normalize(whisper_quiet))) == pytest.approx(0.0999, rel=1e-3)


def test_loudness_tracks_gain(speech):
    base = audio.loudness(speech)
    assert -40 < base < -5
    assert audio.loudness(speech.with_samples(speech.samples * 0.5)) == pytest.approx(base - 6.02, abs=0.05)
    assert audio.loudness(audio.trim(speech, 0, 0.2)) == float("-inf")


def test_trim_and_duration(speech):
    part = audio.trim(speech, 1.0, 2.5)
    assert part.duration == pytest.approx(1.5, abs=1 / speech.sr)
    with pytest.raises(BadInput, match="Empty selection"):
        audio.trim(speech, 3.0, 2.0)


def test_resample_preserves_content(speech):
    at16 = audio.resample(speech, 16_000)
    assert at16.sr == 16_000 and at16.duration == pytest.approx(speech.duration, abs=1e-3)
    back = audio.resample(at16, speech.sr)
    # Below 8 kHz nothing is lost by the round trip (speech energy lives there).
    n = min(len(back.samples), len(speech.samples))
    spectrum = np.abs(np.fft.rfft(speech.samples[:n]))
    lost = np.abs(np.fft.rfft(back.samples[:n]) - np.fft.rfft(speech.samples[:n]))
    band = np.fft.rfftfreq(n, 1 / speech.sr) < 7_000
    assert lost[band].sum() / spectrum[band].sum() < 0.01


def test_content_hash(speech):
    assert audio.content_hash(speech) == audio.content_hash(audio.Audio(speech.samples.copy(), speech.sr))
    changed = speech.samples.copy()
    changed[0] += 1e-4
    assert audio.content_hash(speech) != audio.content_hash(speech.with_samples(changed))
    assert audio.content_hash(speech) != audio.content_hash(audio.Audio(speech.samples, 16_000))
