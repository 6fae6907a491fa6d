"""The studio served for UI tests: the real engine on the tiny checkpoint, on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import gradio as gr
import uvicorn
from fastapi import FastAPI
from gradio_client.exceptions import AppError

from studio.engine.pipeline import Engine
from studio.settings import Settings
from studio.ui.layout import build_ui, mount_options
from studio.voices import PRESETS, VoiceStore

# Random tiny weights never emit the stop id: every model request is capped through the workspace's
# "Max new tokens" setting. Most of what they emit is not audio: for some seeds none of the capped
# tokens is, which the engine rightly reports as an error, so model calls try a few seeds.
MAX_NEW_TOKENS = 60
SEEDS = range(8)
NO_AUDIO = "The model produced no"
# Tiny takes are ~0.1-0.3 s long; the real minimum (0.5 s) would refuse to edit them.
MIN_INPUT_SECONDS = 0.1
T = TypeVar("T")


def studio_settings(data_dir: Path, model_dir: Path | None, examples: dict) -> Settings:
    presets = data_dir / "presets"
    presets.mkdir(parents=True, exist_ok=True)
    for preset in PRESETS.values():
        shutil.copy(examples[Path(preset.file).stem].path, presets / preset.file)
    return Settings(
        data_dir=data_dir,
        model_dir=model_dir or data_dir / "no-weights",
        device="cpu",
        min_input_seconds=MIN_INPUT_SECONDS,
        asr_model="tiny.en",
    )


def first_success(call: Callable[[int], T]) -> T:
    """`call(seed)` for the first seed with which the tiny model produces some audio."""
    for seed in SEEDS:
        try:
            return call(seed)
        except AppError as err:
            if NO_AUDIO not in str(err):
                raise
    raise AssertionError(f"no seed in {SEEDS} gave audio")


@contextlib.contextmanager
def serve_studio(settings: Settings) -> Iterator[tuple[str, Engine]]:
    """The studio mounted the way the server mounts it, run by uvicorn in a thread.

    The engine gets no transcriber, so a missing transcript is an error rather than ASR's guess;
    the Transcribe buttons still use Whisper tiny.en (shipped in a wheel).
    """
    engine = Engine(settings)
    app = gr.mount_gradio_app(FastAPI(), build_ui(engine, settings, VoiceStore(settings)), path="/", **mount_options())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", engine
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        engine.unload()
