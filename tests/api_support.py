"""Set-up shared by the API tests: the real services over the tiny checkpoint, and real recordings."""

from __future__ import annotations

import base64
import shutil
from dataclasses import replace
from pathlib import Path

from studio.api.routes import Services
from studio.engine.pipeline import Engine, Request
from studio.server import build_services
from studio.settings import Settings
from studio.voices import PRESETS

# Random tiny weights never produce the stop id, so every request would run to the model's window.
MAX_NEW_TOKENS = 60


class ShortEngine(Engine):
    """The real engine with generation capped at MAX_NEW_TOKENS (random weights never say stop).
    It keeps the last request it was given."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.last_request: Request | None = None

    def _short(self, request: Request) -> Request:
        self.last_request = request
        return replace(request, max_new_tokens=min(request.max_new_tokens or MAX_NEW_TOKENS, MAX_NEW_TOKENS))

    def run(self, request, progress=None):  # type: ignore[override]
        return super().run(self._short(request), *([progress] if progress else []))

    def stream(self, request, progress=None):  # type: ignore[override]
        return super().stream(self._short(request), *([progress] if progress else []))


def install_presets(data_dir: Path, examples: dict) -> None:
    target = data_dir / "presets"
    target.mkdir(parents=True, exist_ok=True)
    for preset in PRESETS.values():
        shutil.copy(examples[Path(preset.file).stem].path, target / preset.file)


def make_services(data_dir: Path, model_dir: Path, examples: dict, **overrides: object) -> Services:
    install_presets(data_dir, examples)
    settings = Settings(data_dir=data_dir, model_dir=model_dir, device="cpu", **overrides)  # type: ignore[arg-type]
    return build_services(settings, engine_class=ShortEngine)


def b64(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()
