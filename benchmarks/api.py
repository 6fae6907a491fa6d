"""API overhead and behaviour under load, on the tiny checkpoint (the model itself is trivial here,
so the figures are what the server adds around it).

    python benchmarks/api.py [--requests 40] [--queue-size 16]

Reports: /healthz and a refused request (400) latency; clones through HTTP, with the API's own cost
(decoding, validation, encoding, the thread hop, HTTP) taken per request as wall time less the model
stages the server reports in its timing headers; stream time to first byte; bursts of concurrent
clones (how many ran, how many were turned away with 429, completed requests per second, /healthz
latency during the burst) and RSS after each. The model runs on CPU; the tiny model does not
exercise a GPU, so no GPU case is run.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tests' set-up: real engine, audio-only tiny LLM

import httpx  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
import uvicorn  # noqa: E402
from api_support import make_services  # noqa: E402

from studio.api.routes import create_api_app  # noqa: E402
from studio.engine.pipeline import CloneRequest  # noqa: E402
from studio.testing import corpora  # noqa: E402
from studio.testing.tiny_checkpoint import build  # noqa: E402

MODEL_STAGES = ("tokenize", "llm", "flow", "vocoder")  # the engine's own timings, sent back as headers
CLONE = {"model": "step-audio-editx", "voice": "happy_en", "input": "Benchmarking the speech API.", "step_audio": {}}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def in_thread(fn):
    """Run `fn` in a fresh thread, as the server does: torch's CPU thread pool behaves differently
    in the main thread, so a main-thread figure would not be comparable."""

    def run() -> None:
        worker = threading.Thread(target=fn)
        worker.start()
        worker.join()

    return run


def rss_mb() -> float:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # return freed heap pages, so RSS shows what is held
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def serve(app) -> tuple[uvicorn.Server, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP, so asyncio sets NODELAY
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def burst(base: str, count: int) -> dict:
    latencies: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get(f"{base}/healthz")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

    def send(i: int) -> int:
        body = {**CLONE, "step_audio": {"seed": i}}
        with httpx.Client(timeout=600) as client:
            return client.post(f"{base}/v1/audio/speech", json=body).status_code

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        codes = list(pool.map(send, range(count)))
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    return {
        "requests": count,
        "ok": codes.count(200),
        "queue_full_429": codes.count(429),
        "other": len(codes) - codes.count(200) - codes.count(429),
        "seconds": round(elapsed, 2),
        "completed_per_s": round(codes.count(200) / elapsed, 2),
        "healthz_during_burst": percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--queue-size", type=int, default=16)
    args = parser.parse_args()
    examples = corpora.upstream_examples()
    if len(examples) < 8:
        sys.exit(f"the official example prompts are missing from {corpora.UPSTREAM_EXAMPLES}")
    work = Path(tempfile.mkdtemp(prefix="api-bench-"))
    services = make_services(work / "data", build(work / "model", seed=0), examples, queue_size=args.queue_size)
    services.engine.ensure_loaded()
    server, base = serve(create_api_app(services))
    report: dict = {"device": "cpu", "cuda_available": torch.cuda.is_available(), "rss_start_mb": rss_mb()}
    with httpx.Client(timeout=600) as client:
        report["healthz"] = percentiles(timed(lambda: client.get(f"{base}/healthz"), 200))
        bad = {**CLONE, "step_audio": {"mode": "emotion", "edit_info": "nope"}}
        report["refused_400"] = percentiles(timed(lambda: client.post(f"{base}/v1/audio/speech", json=bad), 200))
        voice = services.voices.get("happy_en")
        prompt = voice.load()
        request = CloneRequest(prompt, voice.text, CLONE["input"], seed=1)
        engine = percentiles(timed(in_thread(lambda: services.engine.run(request)), 10))
        walls, overheads = [], []
        for _ in range(10):
            started = time.perf_counter()
            response = client.post(f"{base}/v1/audio/speech", json={**CLONE, "step_audio": {"seed": 1}})
            walls.append(time.perf_counter() - started)
            model = sum(float(response.headers[f"x-stepaudio-timing-{s}"]) for s in MODEL_STAGES)
            overheads.append(walls[-1] - model)
        report["clone"] = {
            "engine_direct": engine,
            "http_wav": percentiles(walls),
            "api_overhead": percentiles(overheads),
        }
        first, total = [], []
        for i in range(10):
            started = time.perf_counter()
            streamed = {**CLONE, "stream": True, "response_format": "pcm", "step_audio": {"seed": i}}
            with client.stream("POST", f"{base}/v1/audio/speech", json=streamed) as response:
                for n, _ in enumerate(response.iter_bytes()):
                    if n == 0:
                        first.append(time.perf_counter() - started)
            total.append(time.perf_counter() - started)
        report["stream_pcm"] = {"first_byte": percentiles(first), "complete": percentiles(total)}
    report["rss_after_single_mb"] = rss_mb()
    for i in range(1, 5):
        report[f"burst_{i}"] = burst(base, args.requests)
        report[f"rss_after_burst_{i}_mb"] = rss_mb()
    server.should_exit = True
    if torch.cuda.is_available():
        report["gpu"] = "skipped: the tiny model does not exercise the GPU; see benchmarks/llm.py and decoder.py"
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
