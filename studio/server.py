"""One process, one engine: the FastAPI app with the Gradio studio mounted at `/`."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from studio import __version__
from studio.settings import Settings
from studio.ui.layout import build_ui


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Step-Audio-EditX Studio API", version=__version__)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "version": __version__, "model_loaded": False}

    return gr.mount_gradio_app(app, build_ui(settings), path="/")
