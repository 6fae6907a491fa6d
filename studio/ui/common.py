"""What every page shares: the studio context, workspaces, guarded handlers, inputs and outputs.

Handlers take the workspace id and the UI language first, so the same functions serve the browser
and `gradio_client`. They raise StudioError subclasses; `guarded` turns those into readable toasts
(gr.Error) and anything unexpected into a short apology, never a stack trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import gradio as gr

from studio import audio as audio_io
from studio.audio import Audio
from studio.engine.pipeline import Engine, Take
from studio.errors import AudioInputError, BadInput, CheckpointError, StudioError, TooLarge
from studio.history import History, TakeRecord, new_workspace_id
from studio.settings import Settings
from studio.ui.i18n import say
from studio.ui.zerogpu import file_seconds
from studio.voices import VoiceStore

log = logging.getLogger(__name__)

MODEL_QUEUE = "model"  # one copy of the model: every model event waits here, one at a time
TOOLS_QUEUE = "tools"
ASR_QUEUE = "asr"
OUTPUT_FORMATS = ("wav", "flac", "mp3")
# Gradio hands each call its own progress channel through this default (it is context-bound).
PROGRESS = gr.Progress()
TAG = re.compile(r"\[[^\]]*\]")


@dataclass
class Preferences:
    """Per-workspace defaults from the Settings page; stored in the workspace manifest."""

    passes: int = 1
    intensity: float = 1.0
    seed: int | None = None
    max_input_seconds: float = 30.0
    keep_original_speaker: bool = False
    max_new_tokens: int | None = None
    asr_model: str = "auto"
    output_format: str = "wav"


class Studio:
    """The one engine, the settings and the stores behind every page."""

    def __init__(self, engine: Engine, settings: Settings, voices: VoiceStore | None) -> None:
        self.engine = engine
        self.settings = settings
        self.voices = voices
        self.export_dir = Path(tempfile.gettempdir()) / "step-audio-editx-studio" / "exports"
        self._transcribers: dict[str, object] = {}

    # --- workspaces --------------------------------------------------------------------------

    def history(self, workspace: str | None) -> History:
        """The workspace's history; an empty id starts a new workspace."""
        return History(self.settings.workspace_dir, (workspace or "").strip() or new_workspace_id())

    def preferences(self, history: History) -> Preferences:
        defaults = Preferences(max_input_seconds=self.settings.max_input_seconds, asr_model=self.settings.asr_model)
        stored = history.preferences()
        return replace(defaults, **{f.name: stored[f.name] for f in fields(Preferences) if f.name in stored})

    def save_preferences(self, history: History, prefs: Preferences) -> Preferences:
        """Ranges and choices are held by the page's own controls; what they cannot say is checked here."""
        if prefs.max_new_tokens is not None and prefs.max_new_tokens < 10:
            raise BadInput(
                "Max new tokens must be at least 10, or empty for the model's window.", param="max_new_tokens"
            )
        history.set_preferences(asdict(prefs))
        return prefs

    def input_seconds(self, workspace: str, source: str, upload: str | None) -> float:
        """Length of the audio a request will work on, read cheaply (for the GPU time budget)."""
        if source == "upload":
            return file_seconds(upload)
        current = self.history(workspace).current()
        return current.duration if current else 0.0

    # --- model -------------------------------------------------------------------------------

    def weights_present(self) -> bool:
        return any(self.engine.variants_on_disk().values())

    def require_weights(self, lang: str) -> None:
        if not self.weights_present():
            raise CheckpointError(say(lang, "msg.no_weights"))

    # --- audio in ----------------------------------------------------------------------------

    def read_upload(self, path: str | None, prefs: Preferences, lang: str, missing: str = "msg.no_audio") -> Audio:
        """Decode an uploaded/recorded file and hold it to this workspace's limits."""
        if not path:
            raise AudioInputError(say(lang, missing))
        size_mb = Path(path).stat().st_size / 1e6 if Path(path).is_file() else 0.0
        if size_mb > self.settings.max_upload_mb:
            raise TooLarge(say(lang, "msg.too_big", size=size_mb, limit=self.settings.max_upload_mb))
        return self.check_length(audio_io.read(path), prefs, lang)

    def check_length(self, clip: Audio, prefs: Preferences, lang: str) -> Audio:
        limit = min(prefs.max_input_seconds, self.settings.max_input_seconds)
        if clip.duration > limit:
            raise AudioInputError(say(lang, "msg.too_long", seconds=clip.duration, limit=limit))
        return audio_io.check(clip, min_seconds=self.settings.min_input_seconds, max_seconds=None)

    # --- speech recognition ------------------------------------------------------------------

    def transcriber(self, prefs: Preferences, lang: str = "en"):
        """The engine's transcriber for the server's ASR model; another model is loaded once on demand."""
        if prefs.asr_model == self.settings.asr_model and self.engine.transcriber is not None:
            return self.engine.transcriber
        if prefs.asr_model not in self._transcribers:
            try:
                from studio.asr import Transcriber
            except ImportError as err:
                raise BadInput(say(lang, "msg.asr_off", reason=err)) from err
            self._transcribers[prefs.asr_model] = Transcriber(self.settings, model=prefs.asr_model)
        return self._transcribers[prefs.asr_model]

    def transcribe(self, clip: Audio, prefs: Preferences, lang: str = "en") -> str:
        transcriber = self.transcriber(prefs, lang)
        if not transcriber.available():
            raise BadInput(say(lang, "msg.asr_off", reason=prefs.asr_model))
        return transcriber.transcribe(clip).text.strip()


def guarded(fn: Callable) -> Callable:
    """Show StudioErrors as readable toasts in the person's language; hide internals of real bugs."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except StudioError as err:
            lang = _lang_of(signature, args, kwargs)
            raise gr.Error(str(err), title=say(lang, "msg.error"), print_exception=False) from None
        except Exception as err:
            log.exception("unexpected error in %s", fn.__name__)
            lang = _lang_of(signature, args, kwargs)
            message = say(lang, "msg.unexpected", kind=type(err).__name__)
            raise gr.Error(message, title=say(lang, "msg.error"), print_exception=False) from None

    return wrapper


def _lang_of(signature: inspect.Signature, args: tuple, kwargs: dict) -> str:
    try:
        return signature.bind_partial(*args, **kwargs).arguments.get("lang") or "en"
    except TypeError:
        return "en"


def progress_bridge(progress: gr.Progress, lang: str) -> Callable[[str, float | None], None]:
    """Engine progress(message, fraction) -> Gradio's bar; a None fraction keeps the bar where it was."""
    from studio.ui.i18n import progress_text

    last = [0.0]

    def report(message: str, fraction: float | None = None) -> None:
        if fraction is not None:
            last[0] = fraction
        progress(last[0], desc=progress_text(lang, message))

    return report


def seed_value(seed: float | int | str | None) -> int | None:
    """Empty or negative: a fresh random seed each time."""
    if seed in (None, ""):
        return None
    try:
        value = int(float(seed))
    except (TypeError, ValueError) as err:
        raise BadInput(f"The seed must be a whole number (got {seed!r}).", param="seed") from err
    return value if value >= 0 else None


def spoken_text(text: str) -> str:
    """The words of a text without its tags: what speech recognition should hear."""
    return " ".join(TAG.sub(" ", text or "").split())


def take_audio(history: History, take: TakeRecord) -> bytes:
    """The take's WAV as bytes: Gradio caches them by content, and plays them unchanged (no peak
    normalisation, which would hide loudness differences between takes)."""
    return (history.root / take.file).read_bytes()


def take_json(history: History, take: TakeRecord) -> dict:
    return {"workspace": history.workspace, "current": (history.current() or take).id, **take.to_dict()}


def record_take(history: History, take: Take, operation: str, parent: str | None, params: dict) -> TakeRecord:
    """Store an engine take with everything needed to reproduce it."""
    summary = take.summary()
    params = {**params, "seed": take.seed, "variant": take.variant, "passes_run": summary["passes"]}
    params["tokens"] = summary["tokens"]
    return history.add(take.audio, operation, parent=parent, text=take.text, params=params, timings=take.timings)
