"""Step-Audio-EditX Studio: `python app.py [--model-dir DIR] [--host H] [--port P] [--api-port P2]`.

Serves the Gradio studio and the OpenAI-compatible API from one process on one port, with one copy
of the model; `--api-port` also serves the API alone on a second port, sharing that model.
Every option also comes from a `STUDIO_*` environment variable (see `--help`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading

# Gradio's usage analytics would make network calls at start-up; off unless the user turns them on.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from studio.settings import Settings

log = logging.getLogger("studio")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m studio serve` takes the settings flags only."""


def run(args: argparse.Namespace, settings: Settings) -> None:
    serve(settings)


def serve(settings: Settings) -> None:
    import uvicorn

    from studio.api.auth import warn_if_exposed
    from studio.api.routes import create_api_app
    from studio.server import build_services, create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    warn_if_exposed(settings)
    services = build_services(settings)
    apps = [(create_app(settings, services), settings.port)]
    if settings.api_port:
        apps.append((create_api_app(services), settings.api_port))
    if settings.load_on_start:
        threading.Thread(target=_load, args=(services.engine,), name="model-load", daemon=True).start()
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=settings.host, port=port, log_level=settings.log_level.lower()))
        for app, port in apps
    ]
    for port in (p for _, p in apps):
        log.info("serving on http://%s:%d", settings.host, port)
    with contextlib.suppress(KeyboardInterrupt):  # the servers re-raise Ctrl-C once they have stopped
        asyncio.run(_serve_all(servers))


async def _serve_all(servers: list) -> None:
    # Each server stops on Ctrl-C and passes the signal on, so all of them shut down together.
    await asyncio.gather(*(s.serve() for s in servers))


def _load(engine) -> None:
    try:
        engine.load()
    except Exception as err:  # shown in the studio and in /healthz; the server keeps running
        log.error("loading the model at start-up failed: %s", err)


if __name__ == "__main__":
    serve(Settings.load(sys.argv[1:]))
