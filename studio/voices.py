"""Voices: the read-only presets (official example prompts) and voices saved by users.

A voice is a prompt recording plus the exact transcript of what is said in it; cloning needs both.
Saved voices live under `settings.voices_dir` as `<id>.wav` + `<id>.json` (the JSON is written last
and removed first, so a voice is listed only when both files are complete). The UI and the API share
one store per process.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput, CheckpointError, NotFound
from studio.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    id: str
    file: str  # file name of the official example prompt
    text: str  # its exact transcript
    language: str
    description: str


# The official Step-Audio-EditX example prompts (examples/*.wav and examples/text.txt; StepFun, Apache-2.0).
PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset(
            "fear_female",
            "fear_zh_female_prompt.wav",
            "我总觉得，有人在跟着我，我能听到奇怪的脚步声。",
            "zh",
            "Female voice, fearful and tense (Mandarin).",
        ),
        Preset(
            "happy_en",
            "en_happy_prompt.wav",
            "You know, I just finished that big project and feel so relieved. "
            "Everything seems easier and more colorful, what a wonderful feeling!",
            "en",
            "Female voice, happy and relieved (English).",
        ),
        Preset(
            "whisper_cn",
            "whisper_prompt.wav",
            "比如在工作间隙，做一些简单的伸展运动，放松一下身体，这样，会让你更有精力.",
            "zh",
            "Whispered speech (Mandarin).",
        ),
        Preset(
            "story_teller",
            "paralingustic_prompt.wav",
            "我觉得这个计划大概是可行的，不过还需要再仔细考虑一下。",
            "zh",
            "Calm, thoughtful narration (Mandarin).",
        ),
    )
}
DEFAULT_VOICE = "fear_female"
PRESETS_DIR = "presets"

SAVED_ID = re.compile(r"voice_[0-9a-f]{16}")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
MAX_NAME_CHARS = 64


class PresetMissing(CheckpointError):
    """A preset's recording is not installed (it comes with `python -m studio download`)."""

    code = "preset_missing"


class PresetReadOnly(BadInput):
    code = "preset_read_only"


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    text: str  # transcript of the recording
    kind: str  # "preset" or "saved"
    language: str | None = None
    description: str = ""
    created_at: int = 0  # unix seconds; 0 for presets
    path: Path | None = None  # None: a preset whose recording is not installed
    missing: str | None = None  # why the recording is unavailable

    @property
    def available(self) -> bool:
        return self.path is not None

    def load(self) -> Audio:
        if self.path is None:
            raise PresetMissing(self.missing or f"The recording of voice {self.id!r} is missing.")
        return audio_io.read(self.path)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("path")
        out["available"] = self.available
        return out


class VoiceStore:
    """Presets first, then saved voices in creation order; safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.voices_dir)
        self.preset_dirs = (Path(settings.model_dir) / PRESETS_DIR, Path(settings.data_dir) / PRESETS_DIR)  # type: ignore[arg-type]
        self._lock = threading.Lock()

    # --- reading ----------------------------------------------------------------------------

    def list(self) -> list[Voice]:
        saved = [v for v in (self._read_meta(p) for p in sorted(self.root.glob("voice_*.json"))) if v is not None]
        saved.sort(key=lambda v: (v.created_at, v.id))
        return [self._preset(p) for p in PRESETS.values()] + saved

    def get(self, voice_id: str) -> Voice:
        if voice_id in PRESETS:
            return self._preset(PRESETS[voice_id])
        voice = self._read_meta(self._meta_path(voice_id)) if SAVED_ID.fullmatch(voice_id or "") else None
        if voice is None:
            known = ", ".join(v.id for v in self.list())
            raise NotFound(f"Unknown voice {voice_id!r}. Known voices: {known}.", param="voice")
        return voice

    def _preset(self, preset: Preset) -> Voice:
        found = next((d / preset.file for d in self.preset_dirs if (d / preset.file).is_file()), None)
        missing = None
        if found is None:
            places = " or ".join(str(d) for d in self.preset_dirs)
            missing = (
                f"The preset voice {preset.id!r} needs its recording {preset.file} in {places}. "
                "Run `python -m studio download` (it fetches the presets), or use a saved voice or your own prompt."
            )
        return Voice(
            id=preset.id,
            name=preset.id,
            text=preset.text,
            kind="preset",
            language=preset.language,
            description=preset.description,
            path=found,
            missing=missing,
        )

    def _read_meta(self, meta: Path) -> Voice | None:
        wav = meta.with_suffix(".wav")
        if not (meta.is_file() and wav.is_file()):
            return None
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            return Voice(
                id=data["id"],
                name=data["name"],
                text=data["text"],
                kind="saved",
                language=data.get("language"),
                description=data.get("description", ""),
                created_at=int(data.get("created_at", 0)),
                path=wav,
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("skipping unreadable voice file %s: %s", meta.name, err)
            return None

    def _meta_path(self, voice_id: str) -> Path:
        return self.root / f"{voice_id}.json"

    # --- writing ----------------------------------------------------------------------------

    def create(
        self, name: str, audio: Audio, text: str, *, language: str | None = None, description: str = ""
    ) -> Voice:
        name = self._check_name(name)
        text = self._check_text(text)
        language = _check_language(language)
        audio = self._check_audio(audio)
        with self._lock:
            self._refuse_duplicate(name)
            voice = Voice(
                id=f"voice_{secrets.token_hex(8)}",
                name=name,
                text=text,
                kind="saved",
                language=language,
                description=description.strip()[:200],
                created_at=int(time.time()),
                path=None,
            )
            self.root.mkdir(parents=True, exist_ok=True)
            wav = audio_io.write(audio, self.root / f"{voice.id}.wav")
            self._write_meta(voice)
        return replace(voice, path=wav)

    def rename(self, voice_id: str, name: str) -> Voice:
        name = self._check_name(name)
        with self._lock:
            voice = self._writable(voice_id)
            self._refuse_duplicate(name, besides=voice.id)
            renamed = replace(voice, name=name)
            self._write_meta(renamed)
        return renamed

    def delete(self, voice_id: str) -> Voice:
        with self._lock:
            voice = self._writable(voice_id)
            self._meta_path(voice.id).unlink(missing_ok=True)
            self._meta_path(voice.id).with_suffix(".wav").unlink(missing_ok=True)
        return voice

    def _writable(self, voice_id: str) -> Voice:
        if voice_id in PRESETS:
            raise PresetReadOnly(
                f"{voice_id!r} is a preset voice; presets cannot be changed or deleted.", param="voice"
            )
        return self.get(voice_id)

    def _write_meta(self, voice: Voice) -> None:
        data = asdict(voice)
        for key in ("path", "missing", "kind"):
            data.pop(key)
        target = self._meta_path(voice.id)
        part = target.with_name(target.name + ".part")
        part.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        part.replace(target)

    # --- validation -------------------------------------------------------------------------

    def _refuse_duplicate(self, name: str, besides: str | None = None) -> None:
        for voice in self.list():
            if voice.name.casefold() == name.casefold() and voice.id != besides:
                raise BadInput(f"A voice named {name!r} already exists ({voice.id}); pick another name.", param="name")

    def _check_name(self, name: str | None) -> str:
        name = " ".join((name or "").split())
        if not name:
            raise BadInput("The voice needs a name.", param="name")
        if len(name) > MAX_NAME_CHARS:
            raise BadInput(f"The voice name is {len(name)} characters; the limit is {MAX_NAME_CHARS}.", param="name")
        if not name.isprintable():
            raise BadInput("The voice name contains control characters.", param="name")
        return name

    def _check_text(self, text: str | None) -> str:
        text = (text or "").strip()
        if not text:
            raise BadInput("The voice needs the exact transcript of its recording.", param="text")
        if len(text) > self.settings.max_text_chars:
            raise BadInput(
                f"The transcript is {len(text)} characters; the limit is {self.settings.max_text_chars}.", param="text"
            )
        return text

    def _check_audio(self, audio: Audio) -> Audio:
        try:
            return audio_io.check(
                audio, min_seconds=self.settings.min_input_seconds, max_seconds=self.settings.max_input_seconds
            )
        except BadInput as err:
            raise type(err)(f"The voice recording: {err}", param="audio") from err


def _check_language(language: str | None) -> str | None:
    if language in (None, ""):
        return None
    if not LANGUAGE.fullmatch(language):
        raise BadInput(f"Language {language!r} is not a language code such as 'en', 'zh' or 'pt-BR'.", param="language")
    return language
