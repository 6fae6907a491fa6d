"""One process, one engine: the FastAPI app with the API routes and the Gradio studio mounted at `/`.

    Transcriber -> Engine -> VoiceStore -> API routes -> UI

`build_services` makes the shared parts once; `create_app` serves the UI and the API on one port and
`create_api_app` (studio.api.routes) the API alone, e.g. on `--api-port`, over the same services.
"""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from studio.api.fetch import UrlFetcher
from studio.api.routes import Services, create_api_app
from studio.asr import Transcriber
from studio.engine.pipeline import Engine
from studio.settings import Settings
from studio.ui.layout import build_ui, mount_options
from studio.voices import VoiceStore


def build_services(settings: Settings, engine_class: type[Engine] = Engine) -> Services:
    transcriber = Transcriber(settings)
    return Services(
        settings=settings,
        engine=engine_class(settings, transcriber=transcriber),
        voices=VoiceStore(settings),
        fetcher=UrlFetcher(settings),
        transcriber=transcriber,
    )


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or build_services(settings)
    app = create_api_app(services)
    ui = build_ui(services.engine, settings, services.voices)
    return gr.mount_gradio_app(app, ui, path="/", **mount_options())
