"""Where the real recordings used by tests and benchmarks live, with their transcripts.

- the official Step-Audio-EditX example prompts (`shared/upstream-examples/` beside the project),
- Debian `asterisk-core-sounds-en-g722` (Allison Smith prompts, 16 kHz G.722, with transcripts),
- Debian `codec2-examples` (Harvard sentences at 16 kHz and several speakers at 8 kHz).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_EXAMPLES = PROJECT_ROOT.parent / "shared" / "upstream-examples"
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
CODEC2 = Path("/usr/share/codec2")
HARVARD_16K = CODEC2 / "raw" / "speech_orig_16k.wav"
HARVARD_TEXT = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
    "It's easy to tell the depth of a well. Four hours of steady work faced us."
)


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str

    @property
    def name(self) -> str:
        return self.path.stem


def upstream_examples() -> dict[str, Recording]:
    """Official example prompts keyed by file stem (e.g. `en_happy_prompt`)."""
    listing = UPSTREAM_EXAMPLES / "text.txt"
    if not listing.is_file():
        return {}
    found = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        parts = re.split(r"\t+| {2,}|(?<=\.wav) ", line.strip(), maxsplit=1)
        if len(parts) == 2 and (UPSTREAM_EXAMPLES / parts[0]).is_file():
            found[Path(parts[0]).stem] = Recording(UPSTREAM_EXAMPLES / parts[0], parts[1].strip())
    return found


def asterisk_prompts() -> list[Recording]:
    """Spoken Asterisk prompts with their transcripts (tone/beep entries in brackets are skipped)."""
    if not ASTERISK_TRANSCRIPTS.is_file():
        return []
    prompts = []
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            key, sep, text = line.partition(":")
            text = text.strip()
            if not sep or key.startswith(";") or not text or text.startswith("["):
                continue
            path = ASTERISK_SOUNDS / f"{key.strip()}.g722"
            if path.is_file():
                prompts.append(Recording(path, text))
    return prompts


def codec2_8k() -> list[Path]:
    """8 kHz recordings of several real speakers."""
    return sorted(p for p in (CODEC2 / "wav").glob("*.wav") if p.stem in {"hts1a", "hts2a", "morig", "forig", "mmt1"})
