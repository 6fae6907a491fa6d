"""Step-Audio-EditX Studio: `python app.py [--model-dir DIR] [--host H] [--port P]`.

Serves the Gradio studio and the OpenAI-compatible API from one process on one port.
Every option also comes from a `STUDIO_*` environment variable (see `--help`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# Gradio's usage analytics would make network calls at start-up; off unless the user turns them on.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from studio.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m studio serve` takes the settings flags only."""


def run(args: argparse.Namespace, settings: Settings) -> None:
    serve(settings)


def serve(settings: Settings) -> None:
    import uvicorn

    from studio.server import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    serve(Settings.load(sys.argv[1:]))
