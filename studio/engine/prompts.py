"""The model's trained interface: modes, tag vocabularies, prompt strings and the prompt builder.

The vocabularies and prompt strings are data taken from the official Step-Audio-EditX release
(config/edit_config.py, config/prompts.py; Copyright StepFun, Apache-2.0). They must stay
byte-exact: the released weights were trained on them.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.engine.text import AUDIO_CODES, BOS, BOT, EOT, TextTokenizer
from studio.errors import BadInput

MODES = ("clone", "emotion", "style", "paralinguistic", "speed", "denoise", "vad")
EDIT_MODES = MODES[1:]

EMOTIONS = (
    "happy", "angry", "sad", "humour", "confusion", "disgusted", "empathy", "embarrass", "fear",
    "surprised", "excited", "depressed", "coldness", "admiration", "remove",
)  # fmt: skip
STYLES = (
    "serious", "arrogant", "child", "older", "girl", "pure", "sister", "sweet", "ethereal", "whisper",
    "gentle", "recite", "generous", "act_coy", "warm", "shy", "comfort", "authority", "chat", "radio",
    "soulful", "story", "vivid", "program", "news", "advertising", "roar", "murmur", "shout", "deeply",
    "loudly", "remove", "exaggerated",
)  # fmt: skip
SPEEDS = ("faster", "slower", "more faster", "more slower")
PARALINGUISTIC_TAGS = (
    "[Breathing]", "[Laughter]", "[Surprise-oh]", "[Confirmation-en]", "[Uhm]", "[Surprise-ah]",
    "[Surprise-wa]", "[Sigh]", "[Question-ei]", "[Dissatisfaction-hnn]",
)  # fmt: skip
LANGUAGE_PREFIXES = ("[Sichuanese]", "[Cantonese]", "[Japanese]", "[Korean]")

# mode -> the edit_info values it accepts (an empty tuple: the mode takes no edit_info).
EDIT_INFO: dict[str, tuple[str, ...]] = {
    "clone": (),
    "emotion": EMOTIONS,
    "style": STYLES,
    "paralinguistic": (),
    "speed": SPEEDS,
    "denoise": (),
    "vad": (),
}

# --- prompt strings (data from config/prompts.py and tts.py of the official release) -----------

CLONE_SYSTEM_TEMPLATE = (
    "Generate audio with the following timbre, prosody and speaking style\n\n[speaker_start]\n"
    "speaker name: {speaker}\nspeaker prompt text: \n{prompt_text}\nspeaker audio tokens: \n"
    "{prompt_wav_tokens}\n[speaker_end]\n"
)
EDIT_SYSTEM_PROMPT = (
    "As a highly skilled audio editing and tuning specialist, you excel in interpreting user instructions and "
    "applying precise adjustments to meet their needs. Your expertise spans a wide range of enhancement "
    "capabilities, including but not limited to:\n# Emotional Enhancement\n# Speaking Style Transfer\n"
    "# Non-linguistic Adjustments\n# Audio Tuning & Editing\nNote: You will receive instructions in natural "
    "language and are expected to accurately interpret and execute the most suitable audio edits and "
    "enhancements.\n"
)
MORE_INSTRUCTION = "Make the following audio more {info}. The text corresponding to the audio is: {text}\n"
MORE_STYLE_INSTRUCTION = "Make the following audio more {info} style. The text corresponding to the audio is: {text}\n"
REMOVE_EMOTION_INSTRUCTION = "Remove any emotion in the following audio and the reference text is: {text}\n"
REMOVE_STYLE_INSTRUCTION = "Remove any speaking styles in the following audio and the reference text is: {text}\n"
DENOISE_INSTRUCTION = (
    "Remove any noise from the given audio while preserving the voice content clearly. Ensure that the speech "
    "quality remains intact with minimal distortion, and eliminate all noise from the audio.\n"
)
VAD_INSTRUCTION = (
    "Remove any silent portions from the given audio while preserving the voice content clearly. Ensure that the "
    "speech quality remains intact with minimal distortion, and eliminate all silence from the audio.\n"
)
PARALINGUISTIC_INSTRUCTION = (
    "Add some non-verbal sounds to make the audio more natural, the new text is : {new_text}\n"
    "  The text corresponding to the audio is: {text}\n"
)

# --- the prompt builder ---------------------------------------------------------------------------

EDITX_DIR = "Step-Audio-EditX"
INTENSITY_RANGE = (0.5, 3.0)
# (upper bound, adverb, bound included): the first row whose bound admits the intensity wins.
_ADVERBS = (
    (0.75, "slightly", False),
    (1.0, "gently", False),
    (1.5, "noticeably", True),
    (2.0, "strongly", True),
    (2.5, "vigorously", True),
    (3.0, "dramatically", True),
)
_AUDIO_TOKENS = re.compile(r"(?:<audio_(\d+)>)*")
_SPEAKER_SAMPLES = 1000  # the label hashes this many samples from each end of the prompt


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


def intensity_adverb(intensity: float) -> str | None:
    """The adverb that scales an edit, or None at 1.0 (the trained wording, unchanged).

    The model was trained on the plain "Make the following audio more X." instruction only, so any
    adverb is out of its training distribution: it may strengthen or soften the edit, or do nothing.
    Repeating the edit (n_edit_iter passes) is the strength control the release was tuned for.
    The adverb goes right before "more" ("Make the following audio slightly more happy."), the one
    place where every adverb reads as a degree of the change.
    """
    low, high = INTENSITY_RANGE
    if not low <= intensity <= high:
        raise BadInput(f"intensity must be {low} to {high} (got {intensity}).", param="intensity")
    if intensity == 1.0:
        return None
    for bound, adverb, inclusive in _ADVERBS:
        if intensity < bound or (inclusive and intensity == bound):
            return adverb
    raise AssertionError("unreachable: the last bound is the top of the range")


def edit_instruction(
    *, mode: str, edit_info: str | None, audio_text: str, new_text: str | None = None, intensity: float = 1.0
) -> str:
    """The human turn's instruction line for an edit (without the audio tokens)."""
    check_edit(mode, edit_info, new_text)
    text = (audio_text or "").strip()
    adverb = intensity_adverb(intensity)
    if mode in ("emotion", "speed", "style") and edit_info != "remove":
        template = MORE_STYLE_INSTRUCTION if mode == "style" else MORE_INSTRUCTION
        if adverb:
            template = template.replace(" more ", f" {adverb} more ", 1)
        return template.format(info=edit_info, text=text)
    if adverb:
        raise BadInput(
            f"intensity applies to emotion, style and speed edits that add something; {_describe(mode, edit_info)} "
            "has no strength to scale (use 1.0).",
            param="intensity",
        )
    if mode == "style":
        return REMOVE_STYLE_INSTRUCTION.format(text=text)
    if mode in ("emotion", "speed"):
        return REMOVE_EMOTION_INSTRUCTION.format(text=text)
    if mode == "paralinguistic":
        return PARALINGUISTIC_INSTRUCTION.format(new_text=new_text, text=text)
    return DENOISE_INSTRUCTION if mode == "denoise" else VAD_INSTRUCTION


def check_edit(mode: str, edit_info: str | None, new_text: str | None = None) -> None:
    """Refuse a mode/edit_info pair the model was not trained on."""
    if mode not in EDIT_MODES:
        hint = " (clone is not an edit: build it with clone_prompt_ids)" if mode == "clone" else ""
        raise BadInput(f"Unknown edit mode {mode!r}{hint}; choose one of {', '.join(EDIT_MODES)}.", param="mode")
    allowed = EDIT_INFO[mode]
    if allowed and edit_info not in allowed:
        raise BadInput(
            f"{mode} edits need edit_info, one of: {', '.join(allowed)} (got {edit_info!r}).", param="edit_info"
        )
    if not allowed and edit_info:
        raise BadInput(f"{mode} edits take no edit_info (got {edit_info!r}).", param="edit_info")
    if mode == "paralinguistic" and not (new_text or "").strip():
        raise BadInput(
            "paralinguistic edits need the new text with inline tags, e.g. 'Hello [Laughter] there'.", param="text"
        )


def _describe(mode: str, edit_info: str | None) -> str:
    return f"{mode} {edit_info}" if edit_info else mode


def check_audio_tokens(audio_tokens: str, what: str = "audio tokens") -> str:
    """`audio_tokens` if it is a run of `<audio_K>` with K a valid code (surrounding whitespace allowed)."""
    match = _AUDIO_TOKENS.fullmatch(audio_tokens.strip())
    if match is None:
        raise BadInput(f"The {what} must be a run of <audio_K> tokens, e.g. '<audio_12><audio_1030>'.")
    for code in re.findall(r"<audio_(\d+)>", audio_tokens):
        if int(code) >= AUDIO_CODES:
            raise BadInput(f"The {what} hold <audio_{code}>; codes run from 0 to {AUDIO_CODES - 1}.")
    return audio_tokens


def speaker_label(prompt_text: str, samples: np.ndarray) -> str:
    """The clone prompt's speaker name: "clone_" + 16 hex digits of SHA-256 over the transcript's UTF-8
    bytes and the float32 bytes of the first and last 1000 samples (all samples when there are <= 2000)."""
    flat = np.asarray(samples, dtype=np.float32).reshape(-1)
    if flat.size > 2 * _SPEAKER_SAMPLES:
        flat = np.concatenate([flat[:_SPEAKER_SAMPLES], flat[-_SPEAKER_SAMPLES:]])
    digest = hashlib.sha256(prompt_text.encode("utf-8") + flat.tobytes()).hexdigest()
    return f"clone_{digest[:16]}"


def clone_system_prompt(*, speaker: str, prompt_text: str, prompt_audio_tokens: str) -> str:
    check_audio_tokens(prompt_audio_tokens, "prompt audio tokens")
    return CLONE_SYSTEM_TEMPLATE.format(speaker=speaker, prompt_text=prompt_text, prompt_wav_tokens=prompt_audio_tokens)


def edit_user_turn(
    *,
    mode: str,
    edit_info: str | None,
    audio_text: str,
    audio_tokens: str,
    new_text: str | None = None,
    intensity: float = 1.0,
) -> str:
    instruction = edit_instruction(
        mode=mode, edit_info=edit_info, audio_text=audio_text, new_text=new_text, intensity=intensity
    )
    return f"{instruction}\n{check_audio_tokens(audio_tokens).strip()}\n"


def _render(system: str, user: str) -> str:
    """The prompt as text: `<s>`, `<|BOT|>` and `<|EOT|>` stand for the literal ids 1, 4 and 3."""
    return f"<s><|BOT|>system\n{system}<|EOT|><|BOT|>human\n{user}<|EOT|><|BOT|>assistant\n"


def _chat_ids(tokenizer: Tokenizer, system: str, user_ids: list[int]) -> list[int]:
    """[<s>, <|BOT|>] system [<|EOT|>, <|BOT|>] human [<|EOT|>, <|BOT|>] assistant, each segment encoded
    on its own and none of them with a <s> of its own."""
    system_ids = tokenizer.encode(f"system\n{system}")
    human, assistant = tokenizer.encode("human\n"), tokenizer.encode("assistant\n")
    return [BOS, BOT, *system_ids, EOT, BOT, *human, *user_ids, EOT, BOT, *assistant]


def render_clone_prompt(*, speaker: str, prompt_text: str, prompt_audio_tokens: str, target_text: str) -> str:
    system = clone_system_prompt(speaker=speaker, prompt_text=prompt_text, prompt_audio_tokens=prompt_audio_tokens)
    return _render(system, target_text)


def clone_prompt_ids(
    tokenizer: Tokenizer, *, speaker: str, prompt_text: str, prompt_audio_tokens: str, target_text: str
) -> list[int]:
    system = clone_system_prompt(speaker=speaker, prompt_text=prompt_text, prompt_audio_tokens=prompt_audio_tokens)
    # Encoded after a newline that is then cut off, so the text does not start with the word-start
    # marker SentencePiece puts at the beginning of every string.
    target_ids = tokenizer.encode("\n" + target_text)[len(tokenizer.encode("\n")) :]
    return _chat_ids(tokenizer, system, target_ids)


def render_edit_prompt(**fields: Any) -> str:
    """The edit prompt as text; `fields` are the keyword arguments of `edit_user_turn`."""
    return _render(EDIT_SYSTEM_PROMPT, edit_user_turn(**fields))


def edit_prompt_ids(tokenizer: Tokenizer, **fields: Any) -> list[int]:
    """The edit prompt as ids; `fields` are the keyword arguments of `edit_user_turn`."""
    return _chat_ids(tokenizer, EDIT_SYSTEM_PROMPT, tokenizer.encode(edit_user_turn(**fields)))


# --- `python -m studio prompt` ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", required=True, help=f"one of {', '.join(MODES)}")
    parser.add_argument("--edit-info", help="emotion, style or speed tag")
    parser.add_argument("--audio-text", default="", help="transcript of the audio to edit")
    parser.add_argument("--text", help="clone: the text to speak; paralinguistic: the new text with tags")
    parser.add_argument("--prompt-text", default="", help="clone: transcript of the prompt audio")
    parser.add_argument("--speaker", help="clone: speaker label (default: the label of the prompt text alone)")
    parser.add_argument("--audio-tokens", default="", help='the audio as "<audio_K>..." tokens')
    parser.add_argument("--intensity", type=float, default=1.0, help="edit strength, 0.5 to 3.0")


def run(args: argparse.Namespace, settings: object) -> dict:
    """The rendered prompt, and its ids when the model folder has the text tokenizer."""
    if args.mode not in MODES:
        raise BadInput(f"Unknown mode {args.mode!r}; choose one of {', '.join(MODES)}.", param="mode")
    if args.mode == "clone":
        if args.edit_info:
            raise BadInput(f"clone takes no edit_info (got {args.edit_info!r}).", param="edit_info")
        fields = {
            "speaker": args.speaker or speaker_label(args.prompt_text, np.zeros(0, dtype=np.float32)),
            "prompt_text": args.prompt_text,
            "prompt_audio_tokens": args.audio_tokens,
            "target_text": args.text or "",
        }
        text, build = render_clone_prompt(**fields), clone_prompt_ids
    else:
        fields = {
            "mode": args.mode,
            "edit_info": args.edit_info,
            "audio_text": args.audio_text,
            "audio_tokens": args.audio_tokens,
            "new_text": args.text,
            "intensity": args.intensity,
        }
        text, build = render_edit_prompt(**fields), edit_prompt_ids
    result: dict = {"mode": args.mode, "prompt": text, "ids": None}
    tokenizer_path = Path(settings.model_dir) / EDITX_DIR / "tokenizer.model"  # type: ignore[attr-defined]
    if tokenizer_path.exists():
        ids = build(TextTokenizer.load(tokenizer_path.parent), **fields)
        result.update(ids=ids, tokens=len(ids))
    return result
