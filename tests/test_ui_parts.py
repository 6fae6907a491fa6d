"""The studio's parts that need no server: both languages, GPU time on a Space, take pictures."""

from __future__ import annotations

import re

import pytest

from studio import audio as audio_io
from studio.engine import prompts
from studio.ui import i18n, plots, zerogpu


def test_every_text_exists_in_both_languages_with_the_same_placeholders():
    for key, (en, zh) in i18n.STRINGS.items():
        assert en.strip() and zh.strip(), key
        assert set(re.findall(r"{(\w+)", en)) == set(re.findall(r"{(\w+)", zh)), key
    for key in ("page.clone", "page.history", "msg.no_take", "status.missing"):
        assert i18n.say("zh", key, dir="d") != i18n.say("en", key, dir="d")


def test_every_official_tag_has_a_readable_label_and_keeps_its_exact_value():
    for kind, values in (("emotion", prompts.EMOTIONS), ("style", prompts.STYLES), ("speed", prompts.SPEEDS)):
        assert [value for _, value in i18n.choices(kind)] == list(values)
    for tag in prompts.PARALINGUISTIC_TAGS:
        en, zh = i18n.STRINGS[f"sound.{tag}"]
        assert en.startswith(tag) and zh.startswith(tag) and re.search(r"[\u4e00-\u9fff]", zh)
    assert i18n.STRINGS["emotion.happy"] == ("Happy", "开心 · Happy")
    assert i18n.STRINGS["style.act_coy"] == ("Coy · act_coy", "撒娇 · act_coy")
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


def test_engine_progress_reads_in_chinese():
    assert i18n.progress_text("zh", "pass 2/3: generating (50 tokens)") == "第 2/3 遍: 生成（50 个 token）"
    assert i18n.progress_text("zh", "loading language model (bnb)") == "加载语言模型 (bnb)"
    assert i18n.progress_text("en", "pass 2/3: decoding") == "pass 2/3: decoding"


def test_gpu_time_grows_with_input_length_and_passes_within_limits():
    assert zerogpu.gpu_seconds(0) == zerogpu.MIN_SECONDS
    assert zerogpu.gpu_seconds(10, 1) < zerogpu.gpu_seconds(10, 2) < zerogpu.gpu_seconds(20, 2)
    assert zerogpu.gpu_seconds(30, 4) == zerogpu.MAX_SECONDS
    assert zerogpu.speech_seconds("你好" * 9) > zerogpu.speech_seconds("hello " * 3)


def test_gpu_time_is_computed_from_the_handlers_own_arguments(harvard, tmp_path):
    def clone(workspace, lang, prompt_audio, text, passes=1, progress=None):
        raise AssertionError("only the duration is asked for")

    def estimate(args: dict) -> float:
        return zerogpu.gpu_seconds(zerogpu.file_seconds(args["prompt_audio"]) + zerogpu.speech_seconds(args["text"]))

    duration = zerogpu.duration_for(clone, estimate)
    expected = zerogpu.gpu_seconds(10.8 + zerogpu.speech_seconds("Hello."))
    assert duration("ws", "en", str(harvard.path), "Hello.") == pytest.approx(expected, abs=1)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF")
    assert duration("ws", "en", str(broken), "") == zerogpu.gpu_seconds(zerogpu.FALLBACK_INPUT_SECONDS)
    assert duration("ws", "en", None, "", passes=2) == zerogpu.MIN_SECONDS
    # Without the `spaces` package (not on a Space) the handler is left as it is.
    assert zerogpu.on_gpu(estimate)(clone) is clone


def test_take_pictures_share_one_scale(harvard):
    speech = audio_io.read(harvard.path)
    picture = plots.take_image(speech, "t1 · upload")
    assert picture.size == (640, 320)
    half = audio_io.trim(speech, 0, speech.duration / 2)
    both = plots.compare_image(speech, half, "A", "B")
    assert both.size == (1000, 560)
    db = plots.spectrogram_db(speech)
    assert db.shape[0] == plots.WINDOW // 2 + 1 and db.min() >= plots.FLOOR_DB and db.max() <= 0
