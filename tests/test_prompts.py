"""The prompt builder: byte-exact strings for every mode, exact ids, and clear refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from studio.__main__ import main
from studio.engine import prompts
from studio.engine.text import TextTokenizer, audio_token_string
from studio.errors import BadInput
from studio.testing import tiny_step1

# Golden copies typed from the release's config/prompts.py and tts.py (Apache-2.0, StepFun).
EDIT_SYSTEM = (
    "As a highly skilled audio editing and tuning specialist, you excel in interpreting user instructions and "
    "applying precise adjustments to meet their needs. Your expertise spans a wide range of enhancement "
    "capabilities, including but not limited to:\n"
    "# Emotional Enhancement\n"
    "# Speaking Style Transfer\n"
    "# Non-linguistic Adjustments\n"
    "# Audio Tuning & Editing\n"
    "Note: You will receive instructions in natural language and are expected to accurately interpret and execute "
    "the most suitable audio edits and enhancements.\n"
)
TOKENS = "<audio_7><audio_1000><audio_1024><audio_3000><audio_5119>"

GOLDEN_INSTRUCTIONS = [
    ("emotion", "happy", " hello world ", None,
     "Make the following audio more happy. The text corresponding to the audio is: hello world\n"),
    ("emotion", "remove", "hello", None,
     "Remove any emotion in the following audio and the reference text is: hello\n"),
    ("speed", "more faster", "hello", None,
     "Make the following audio more more faster. The text corresponding to the audio is: hello\n"),
    ("style", "act_coy", "hello", None,
     "Make the following audio more act_coy style. The text corresponding to the audio is: hello\n"),
    ("style", "remove", "hello", None,
     "Remove any speaking styles in the following audio and the reference text is: hello\n"),
    ("denoise", None, "ignored", None,
     "Remove any noise from the given audio while preserving the voice content clearly. Ensure that the speech "
     "quality remains intact with minimal distortion, and eliminate all noise from the audio.\n"),
    ("vad", None, "", None,
     "Remove any silent portions from the given audio while preserving the voice content clearly. Ensure that the "
     "speech quality remains intact with minimal distortion, and eliminate all silence from the audio.\n"),
    ("paralinguistic", None, "I see", "[Uhm] I see [Laughter]",
     "Add some non-verbal sounds to make the audio more natural, the new text is : [Uhm] I see [Laughter]\n"
     "  The text corresponding to the audio is: I see\n"),
    ("emotion", "sad", "", None,
     "Make the following audio more sad. The text corresponding to the audio is: \n"),
    ("emotion", "surprised", "你好，世界！ ", None,
     "Make the following audio more surprised. The text corresponding to the audio is: 你好，世界！\n"),
]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("editx")
    tiny_step1.write_tokenizer(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_file) -> TextTokenizer:
    return TextTokenizer.load(tokenizer_file)


@pytest.fixture(scope="module")
def raw(tokenizer_file) -> spm.SentencePieceProcessor:
    """The same SentencePiece model driven directly: the reference encoder."""
    return spm.SentencePieceProcessor(model_file=f"{tokenizer_file}/tokenizer.model")


@pytest.mark.parametrize(("mode", "info", "audio_text", "new_text", "instruction"), GOLDEN_INSTRUCTIONS)
def test_edit_prompt_golden_strings(mode, info, audio_text, new_text, instruction):
    rendered = prompts.render_edit_prompt(
        mode=mode, edit_info=info, audio_text=audio_text, audio_tokens=f"  {TOKENS}\n", new_text=new_text
    )
    expected = f"<s><|BOT|>system\n{EDIT_SYSTEM}<|EOT|><|BOT|>human\n{instruction}\n{TOKENS}\n<|EOT|><|BOT|>assistant\n"
    assert rendered == expected


def test_clone_prompt_golden_string():
    rendered = prompts.render_clone_prompt(
        speaker="clone_0123456789abcdef",
        prompt_text="Prompt words.  ",
        prompt_audio_tokens=TOKENS,
        target_text="[Japanese]こんにちは [Laughter] ",
    )
    system = (
        "Generate audio with the following timbre, prosody and speaking style\n\n[speaker_start]\n"
        "speaker name: clone_0123456789abcdef\nspeaker prompt text: \nPrompt words.  \n"
        f"speaker audio tokens: \n{TOKENS}\n[speaker_end]\n"
    )
    assert rendered == (
        f"<s><|BOT|>system\n{system}<|EOT|><|BOT|>human\n[Japanese]こんにちは [Laughter] <|EOT|><|BOT|>assistant\n"
    )


def test_edit_ids_follow_the_segment_rule(tokenizer, raw):
    audio_text = "The birch canoe slid on the smooth planks. 今天天气很好"
    ids = prompts.edit_prompt_ids(
        tokenizer, mode="emotion", edit_info="happy", audio_text=audio_text, audio_tokens=TOKENS + " "
    )
    instruction = f"Make the following audio more happy. The text corresponding to the audio is: {audio_text}\n"
    system, human, user = raw.encode(f"system\n{EDIT_SYSTEM}"), raw.encode("human\n"), f"{instruction}\n{TOKENS}\n"
    expected = [1, 4, *system, 3, 4, *human, *raw.encode(user), 3, 4, *raw.encode("assistant\n")]
    assert ids == expected
    assert ids.count(1) == 1 and ids[0] == 1  # one <s>, whatever add_bos_token says
    audio = [i for i in ids if i >= 65536]
    assert audio == [65536 + 7, 65536 + 1000, 65536 + 1024, 65536 + 3000, 65536 + 5119]
    assert all(i < 65536 for i in raw.encode(EDIT_SYSTEM))


def test_clone_ids_cut_the_leading_newline(tokenizer, raw):
    target = "Glue the sheet to the dark blue background."
    ids = prompts.clone_prompt_ids(
        tokenizer, speaker="clone_x", prompt_text="hello", prompt_audio_tokens=TOKENS, target_text=target
    )
    system = prompts.CLONE_SYSTEM_TEMPLATE.format(speaker="clone_x", prompt_text="hello", prompt_wav_tokens=TOKENS)
    target_ids = raw.encode("\n" + target)[len(raw.encode("\n")) :]
    assert target_ids != raw.encode(target)  # the rule matters: the plain encoding starts a word
    expected = [1, 4, *raw.encode(f"system\n{system}"), 3, 4, *raw.encode("human\n"), *target_ids, 3, 4]
    assert ids == expected + raw.encode("assistant\n")


def test_tokenizer_config_asking_for_bos_is_ignored(tokenizer_file, tokenizer):
    config = json.loads(Path(tokenizer_file, "tokenizer_config.json").read_text())
    assert config["add_bos_token"] is True
    assert tokenizer.encode("human\n")[0] != 1
    assert tokenizer.encode("<s>") != [1] and tokenizer.encode("<|EOT|>") != [3]  # markers in text stay text


def test_speaker_label_hashes_text_and_the_ends_of_the_waveform():
    long = np.linspace(-1, 1, 5000, dtype=np.float64)
    edge = np.concatenate([long[:1000], long[-1000:]]).astype(np.float32)
    expected = "clone_" + hashlib.sha256("说 hi".encode() + edge.tobytes()).hexdigest()[:16]
    assert prompts.speaker_label("说 hi", long) == expected
    short = np.ones(2000, dtype=np.float32)
    assert prompts.speaker_label("", short) == "clone_" + hashlib.sha256(short.tobytes()).hexdigest()[:16]
    assert prompts.speaker_label("a", long) != prompts.speaker_label("a", long[::-1].copy())


@pytest.mark.parametrize(
    ("intensity", "adverb"),
    [(0.5, "slightly"), (0.74, "slightly"), (0.75, "gently"), (0.99, "gently"), (1.0, None), (1.01, "noticeably"),
     (1.5, "noticeably"), (1.51, "strongly"), (2.0, "strongly"), (2.5, "vigorously"), (2.51, "dramatically"),
     (3.0, "dramatically")],
)  # fmt: skip
def test_intensity_adverbs(intensity, adverb):
    assert prompts.intensity_adverb(intensity) == adverb
    line = prompts.edit_instruction(mode="style", edit_info="whisper", audio_text="hi", intensity=intensity)
    more = f"{adverb} more" if adverb else "more"
    assert line == f"Make the following audio {more} whisper style. The text corresponding to the audio is: hi\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sing", "edit_info": None}, "Unknown edit mode 'sing'"),
        ({"mode": "clone", "edit_info": None}, "clone is not an edit"),
        ({"mode": "emotion", "edit_info": "joyful"}, "emotion edits need edit_info, one of: happy"),
        ({"mode": "speed", "edit_info": None}, "speed edits need edit_info"),
        ({"mode": "denoise", "edit_info": "happy"}, "denoise edits take no edit_info"),
        ({"mode": "paralinguistic", "edit_info": None, "new_text": "  "}, "need the new text"),
        ({"mode": "emotion", "edit_info": "happy", "intensity": 3.5}, "intensity must be 0.5 to 3.0"),
        ({"mode": "emotion", "edit_info": "happy", "intensity": 0.2}, "intensity must be 0.5 to 3.0"),
        ({"mode": "emotion", "edit_info": "remove", "intensity": 2.0}, "emotion remove has no strength"),
        ({"mode": "vad", "edit_info": None, "intensity": 0.5}, "vad has no strength"),
    ],
)
def test_refusals(kwargs, message):
    with pytest.raises(BadInput, match=message):
        prompts.render_edit_prompt(audio_text="hi", audio_tokens=TOKENS, **kwargs)


@pytest.mark.parametrize("tokens", ["hello", "<audio_5120>", "<audio_1> <audio_2>", "<audio_-1>", "<audio_1"])
def test_bad_audio_tokens(tokens):
    with pytest.raises(BadInput, match="audio tokens"):
        prompts.render_edit_prompt(mode="denoise", edit_info=None, audio_text="", audio_tokens=tokens)


def test_audio_token_string():
    assert audio_token_string([0, 1023, 1024, 5119]) == "<audio_0><audio_1023><audio_1024><audio_5119>"
    with pytest.raises(ValueError, match="5120"):
        audio_token_string([5120])


def test_cli_prints_prompt_and_ids(tmp_path, capsys, tokenizer_file, tokenizer):
    editx = tmp_path / "Step-Audio-EditX"
    editx.mkdir()
    (editx / "tokenizer.model").write_bytes(Path(tokenizer_file, "tokenizer.model").read_bytes())
    args = ["--mode", "emotion", "--edit-info", "angry", "--audio-text", "hi", "--audio-tokens", "<audio_5>"]
    assert main(["prompt", *args, "--model-dir", str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = prompts.edit_prompt_ids(
        tokenizer, mode="emotion", edit_info="angry", audio_text="hi", audio_tokens="<audio_5>"
    )
    assert shown["prompt"].startswith("<s><|BOT|>system\nAs a highly") and shown["ids"] == expected
    assert shown["tokens"] == len(expected)


def test_cli_without_tokenizer_and_with_a_bad_mode(tmp_path, capsys):
    clone = ["prompt", "--mode", "clone", "--text", "Hi.", "--prompt-text", "Yo.", "--audio-tokens", "<audio_1>"]
    assert main([*clone, "--model-dir", str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ids"] is None and "speaker name: clone_" in shown["prompt"]
    assert main(["prompt", "--mode", "karaoke", "--model-dir", str(tmp_path)]) == 2
    assert "Unknown mode 'karaoke'" in capsys.readouterr().err
