"""The model's trained interface: modes, tag vocabularies and (below) the prompt builder.

The vocabularies and prompt strings are data taken from the official Step-Audio-EditX release
(config/edit_config.py, config/prompts.py; Copyright StepFun, Apache-2.0). They must stay
byte-exact: the released weights were trained on them.
"""

from __future__ import annotations

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
