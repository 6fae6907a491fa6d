"""DeepFilterNet3 on real speech mixed with real music and real babble, and on a real noisy prompt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require
from scipy import signal
from tools_support import decode_many

from studio import audio as audio_io
from studio import metrics
from studio.audio import Audio
from studio.errors import BadInput
from studio.testing import corpora
from studio.tools import denoise

MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")
FRENCH = Path("/usr/share/asterisk/sounds/fr_CA_f_June")
SR = 16_000


@pytest.fixture(scope="module")
def clean(harvard) -> Audio:
    return audio_io.read(harvard.path, sr=SR)


def _music(length: int) -> np.ndarray:
    require(MUSIC.is_file(), "Debian package asterisk-moh-opsound-wav")
    return audio_io.read(MUSIC, sr=SR).samples[SR * 30 : SR * 30 + length]  # past the intro


def _babble(length: int, allison: list[corpora.Recording]) -> np.ndarray:
    """Eight other talkers at once: four streams each of two real voices (Allison en, June fr), 20 prompts each."""
    french = sorted(FRENCH.glob("*.g722"))[:20] if FRENCH.is_dir() else []
    require(len(french) >= 20, "Debian package asterisk-core-sounds-fr-g722")
    mix = np.zeros(length, dtype=np.float32)
    for prompts in (french, [p.path for p in allison[:20]]):
        voice = np.concatenate([clip.samples for clip in decode_many(prompts, SR)])
        voice = np.tile(voice, length // len(voice) + 2)
        for i in range(4):  # the same voice at four points of its prompts: four talkers
            stream = voice[i * len(voice) // 8 :][:length]
            mix += stream / (np.std(stream) + 1e-9)
    return mix


def _at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = noise * (np.std(speech) / np.std(noise)) * 10 ** (-snr_db / 20)
    mixed = speech + noise
    return (mixed / max(1.0, np.max(np.abs(mixed)) / 0.99)).astype(np.float32)


def _pesq(reference: Audio, degraded: Audio) -> float:
    from pesq import pesq

    return float(pesq(SR, reference.samples, degraded.samples, "wb"))


def _ovrl(clip: Audio) -> float:
    return metrics.dnsmos(clip)["dnsmos_ovrl"].value


def _lag(output: np.ndarray, reference: np.ndarray) -> int:
    corr = signal.correlate(output, reference, mode="full", method="fft")
    return int(np.argmax(corr)) - (len(reference) - 1)


# Babble is speech itself, the hardest case for a speech enhancer: PESQ rises less than with music.
@pytest.mark.parametrize(("noise", "pesq_gain"), [("music", 0.5), ("babble", 0.05)])
def test_denoising_real_noise_at_5db_improves_pesq_and_dnsmos(clean, asterisk, noise, pesq_gain):
    n = len(clean.samples)
    background = _music(n) if noise == "music" else _babble(n, asterisk)
    noisy = clean.with_samples(_at_snr(clean.samples, background, 5.0))

    out = denoise.denoise(noisy)

    assert out.sr == noisy.sr and len(out.samples) == len(noisy.samples)
    assert abs(_lag(out.samples, clean.samples)) < SR // 1000  # under 1 ms
    assert _pesq(clean, out) > _pesq(clean, noisy) + pesq_gain
    assert _ovrl(out) > _ovrl(noisy) + 0.3


def test_real_noisy_prompt_gets_better_dnsmos(examples):
    noisy = audio_io.read(examples["denoise_prompt"].path)

    out = denoise.denoise(noisy)

    assert out.sr == noisy.sr and len(out.samples) == len(noisy.samples)
    assert abs(_lag(out.samples, noisy.samples)) < noisy.sr // 1000
    assert _ovrl(out) > _ovrl(noisy) + 0.2


def test_attenuation_limit_caps_how_much_noise_is_removed(clean):
    music = clean.with_samples(_music(SR * 4) * 0.3)

    def level(clip: Audio) -> float:
        return 20 * np.log10(np.sqrt(np.mean(clip.samples[SR:] ** 2)))

    capped = denoise.denoise(music, attenuation_db=6.0)
    full = denoise.denoise(music)
    assert level(capped) >= level(music) - 6.0 - 1.0
    assert level(full) < level(capped) - 6.0
    assert denoise.denoise(music, attenuation_db=0.0) is music


def test_other_sample_rates_and_short_clips_keep_their_shape(speakers_8k):
    clip = audio_io.read(speakers_8k[0])
    short = audio_io.trim(clip, 0.0, 0.35)

    for source in (clip, short):
        out = denoise.denoise(source)
        assert out.sr == source.sr and len(out.samples) == len(source.samples)
        assert np.all(np.isfinite(out.samples)) and out.peak <= 1.0


def test_parallel_chunks_match_one_pass(clean):
    """Cutting a take into chunks for the CPU cores must not leave seams."""
    clip = audio_io.trim(clean, 0.0, 2 * denoise.MIN_CHUNK / denoise.MODEL_SR + 0.5)
    one = denoise.denoise(clip, workers=1).samples
    two = denoise.denoise(clip, workers=2).samples
    error = 10 * np.log10(np.sum(one**2) / np.sum((one - two) ** 2))
    assert error > 25.0  # dB: the chunks differ only where the model's memory of the warm-up fades


@pytest.mark.parametrize("limit", [-1.0, 100.5])
def test_attenuation_out_of_range_is_refused(clean, limit):
    with pytest.raises(BadInput, match="Attenuation"):
        denoise.denoise(clean, attenuation_db=limit)
