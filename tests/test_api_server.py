"""The served process: uvicorn on 127.0.0.1 with the studio UI and the API (plus the API-only port),
driven by the official OpenAI SDK, under concurrent load and with the model failing mid-request."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gc
import io
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import psutil
import pytest
import soundfile as sf
import uvicorn
from api_support import make_services

from studio import audio as audio_io
from studio.api.routes import Services, create_api_app
from studio.server import create_app
from studio.testing.corpora import PROJECT_ROOT

pytestmark = pytest.mark.slow

HANG_LIMIT_S = 180  # a request still unanswered after this long counts as hung
RSS_MARGIN_MB = 200


def serve(app, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread


def bound_socket() -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off only on sockets that say TCP (a bare
    # socket says 0), and with Nagle on every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, examples) -> Services:
    return make_services(tmp_path_factory.mktemp("served"), tiny_model_dir, examples, queue_size=2)


@pytest.fixture(scope="module")
def urls(services: Services) -> Iterator[tuple[str, str]]:
    """The studio (UI + API) and the API-only port, one process, one engine."""
    running = []
    for app in (create_app(services.settings, services), create_api_app(services)):
        sock = bound_socket()
        running.append((*serve(app, sock), f"http://127.0.0.1:{sock.getsockname()[1]}"))
    yield running[0][2], running[1][2]
    for server, thread, _ in running:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def sdk(urls) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{urls[0]}/v1", api_key="any key works without one configured", max_retries=0)


@pytest.fixture(scope="module")
def clip(asterisk) -> tuple[str, str]:
    recording = next(r for r in asterisk if 2.0 < audio_io.read(r.path).duration < 5.0)
    return base64.b64encode(audio_io.encode(audio_io.read(recording.path), "wav")).decode(), recording.text


def test_one_process_serves_the_studio_and_the_api(urls, services: Services) -> None:
    studio, api_only = urls
    page = httpx.get(f"{studio}/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert httpx.get(f"{api_only}/", timeout=30).status_code == 404  # the API port has no UI
    for base in urls:
        assert httpx.get(f"{base}/healthz", timeout=30).json()["status"] == "ok"
        assert httpx.get(f"{base}/docs", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("mode", "edit_info", "text"),
    [
        ("clone", None, "Speak this sentence, please."),
        ("emotion", "surprised", ""),
        ("style", "older", ""),
        ("paralinguistic", None, "Please [Breathing] say your name."),
        ("speed", "slower", ""),
        ("denoise", None, ""),
        ("vad", None, ""),
    ],
)
def test_sdk_speech_for_every_mode(sdk: openai.OpenAI, clip, mode: str, edit_info: str | None, text: str) -> None:
    data, transcript = clip
    step: dict = {"mode": mode, "seed": 5}
    if mode != "clone":
        step.update(input_audio_base64=data, audio_text=transcript, edit_info=edit_info)
    audio = sdk.audio.speech.create(
        model="step-audio-editx", voice="happy_en", input=text, response_format="flac", extra_body={"step_audio": step}
    )
    samples, sr = sf.read(io.BytesIO(audio.content))
    assert sr == 24000 and len(samples) > 0


def test_sdk_streaming_response(sdk: openai.OpenAI, services: Services) -> None:
    with sdk.audio.speech.with_streaming_response.create(
        model="step-audio-editx",
        voice="fear_female",
        input="我们开始吧。",
        response_format="wav",
        extra_body={"stream": True, "step_audio": {"seed": 9}},
    ) as response:
        assert response.headers["x-stepaudio-seed"] == "9"
        chunks = list(response.iter_bytes())
    data = b"".join(chunks)
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF  # open-ended stream header
    samples = np.frombuffer(data[44:], dtype="<i2")
    assert len(samples) > 0 and np.abs(samples).max() > 0
    with sdk.audio.speech.with_streaming_response.create(
        model="step-audio-editx",
        voice="fear_female",
        input="我们开始吧。",
        response_format="pcm",
        extra_body={"stream": True, "step_audio": {"seed": 9}},
    ) as response:
        pcm = response.read()
    assert pcm == data[44:]  # same seed: the same samples, with or without the WAV header
    assert services.engine.status().queue_depth == 0


def test_sdk_errors(sdk: openai.OpenAI, urls) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        sdk.audio.speech.create(model="step-audio-editx", voice="alloy", input="x")
    assert err.value.body["param"] == "voice" and "fear_female" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        sdk.audio.speech.create(
            model="step-audio-editx", voice="alloy", input="x", extra_body={"step_audio": {"mode": "emotion"}}
        )
    assert err.value.body["param"] == "step_audio.edit_info"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o-mini-tts")
    assert [m.id for m in sdk.models.list()] == ["step-audio-editx"]


def test_sdk_transcriptions_and_voices(sdk: openai.OpenAI, services: Services, harvard, urls) -> None:
    if not services.asr_available():
        with pytest.raises(openai.InternalServerError) as err, harvard.path.open("rb") as f:
            sdk.audio.transcriptions.create(model="whisper-1", file=f)
        assert err.value.status_code == 503
        return
    with harvard.path.open("rb") as f:
        result = sdk.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert "canoe" in result.text.lower() and result.duration == pytest.approx(10.8, abs=0.2)
    assert result.segments and result.words and result.words[0].start < result.words[-1].end
    with harvard.path.open("rb") as f:
        srt = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    with harvard.path.open("rb") as f:
        voice = sdk.audio.voices.create(name="Harvard reader", audio_sample=f, consent="not used")
    assert voice.id.startswith("voice_") and voice.name == "Harvard reader"
    listed = httpx.get(f"{urls[1]}/v1/audio/voices/{voice.id}", timeout=30).json()  # the other port sees it
    assert "canoe" in listed["text"].lower()
    audio = sdk.audio.speech.create(model="step-audio-editx", voice={"id": voice.id}, input="A new line.")
    assert audio_io.read(audio.content).duration > 0
    sdk.audio.voices.delete(voice.id)
    assert httpx.get(f"{urls[0]}/v1/audio/voices/{voice.id}", timeout=30).status_code == 404


# --- load ---------------------------------------------------------------------------------------


def rss_mb() -> float:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # hand freed heap pages back, so RSS shows what is held
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss / 2**20


def mixed_requests(base: str, clip: tuple[str, str], count: int) -> list[tuple[str, httpx.Response]]:
    data, transcript = clip
    edit = {"input_audio_base64": data, "audio_text": transcript}
    bodies = [
        ("clone", {"voice": "happy_en", "input": "Load test line."}),
        ("emotion", {"step_audio": {"mode": "emotion", "edit_info": "angry", **edit}}),
        ("stream", {"voice": "fear_female", "input": "流式。", "stream": True, "response_format": "pcm"}),
        ("style", {"step_audio": {"mode": "style", "edit_info": "whisper", "n_edit_iter": 2, **edit}}),
        ("bad", {"step_audio": {"mode": "emotion", "edit_info": "nope", **edit}}),
    ]

    def send(i: int) -> tuple[str, httpx.Response]:
        name, body = bodies[i % len(bodies)]
        with httpx.Client(timeout=HANG_LIMIT_S) as client:
            return name, client.post(f"{base}/v1/audio/speech", json={"model": "step-audio-editx", **body})

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def test_concurrent_load(urls, services: Services, clip) -> None:
    base = urls[0]
    mixed_requests(base, clip, 10)  # warm up: caches, allocator pools, thread pools
    baseline = rss_mb()
    health: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                health.append(client.get(f"{base}/healthz").status_code)
                time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = mixed_requests(base, clip, 40) + mixed_requests(urls[1], clip, 10)
    finally:
        stop.set()
        watcher.join()
    statuses = {}
    for name, response in results:
        statuses.setdefault(name, []).append(response.status_code)
        if name == "bad":
            assert response.status_code == 400, response.text  # refused before the queue is consulted
        elif response.status_code != 200:
            assert response.status_code in (429, 503), response.text
            assert int(response.headers["retry-after"]) > 0
            assert response.json()["error"]["code"] in ("queue_full", "model_not_loaded")
    every = [status for codes in statuses.values() for status in codes]
    assert 200 in every and 429 in every  # some ran, some were turned away
    assert health and set(health) == {200}
    assert services.engine.status().queue_depth == 0
    grown = rss_mb() - baseline
    assert grown < RSS_MARGIN_MB, f"RSS grew {grown:.0f} MB over {len(results)} requests"


def test_app_serves_both_ports_and_stops_on_ctrl_c(tiny_model_dir: Path, tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        with bound_socket() as sock:
            ports.append(sock.getsockname()[1])
    command = [sys.executable, "app.py", "--model-dir", str(tiny_model_dir), "--data-dir", str(tmp_path)]
    command += ["--port", str(ports[0]), "--api-port", str(ports[1]), "--host", "127.0.0.1"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HANG_LIMIT_S
        up: set[int] = set()
        while up != set(ports) and time.monotonic() < deadline and process.poll() is None:
            for port in set(ports) - up:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                        up.add(port)
            time.sleep(0.5)
        assert up == set(ports), process.stdout.read().decode() if process.poll() is not None else "not up in time"
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
