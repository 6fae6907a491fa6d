"""Whole-engine speed: per-stage seconds and peak memory for a 10 s edit and a clone with a 10 s prompt.

    python benchmarks/pipeline.py                 # tiny checkpoint on CPU, and full size on CUDA if present
    python benchmarks/pipeline.py --case tiny-cpu

Random weights never say stop, so every take generates a fixed number of tokens: 417, the length
of 10 s of speech (41.7 tokens per second). The full-size case puts random weights of the released
shapes (Step1 3.5B in bf16, the 50-block Paraformer, the S3 tokenizer stand-in, the flow and HiFT) on
the GPU behind the real Engine. Targets on an H100 in bf16: 10 s edit <= 1.5 s, flow + HiFT <= 150 ms,
first streamed audio <= 300 ms, peak GPU memory <= 10 GB (base).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from studio import audio
from studio.engine.pipeline import EDITX_DIR, CloneRequest, EditRequest, Engine
from studio.engine.text import TextTokenizer
from studio.settings import Settings
from studio.testing import corpora
from studio.testing.tiny_checkpoint import build

NEW_TOKENS = 417  # 10 s of speech at 41.7 tokens per second


def speech_10s() -> tuple[audio.Audio, str]:
    clip = audio.trim(audio.read(corpora.HARVARD_16K), 0.0, 10.0)
    return clip, corpora.HARVARD_TEXT


def tiny_engine(root: Path) -> Engine:
    build(root / "models")
    engine = Engine(Settings(model_dir=root / "models", data_dir=root / "data", device="cpu"))
    engine.load()
    return engine


def full_engine(root: Path) -> Engine:
    """The released shapes with random weights, on the GPU, behind the real Engine."""
    import decoder as decoder_bench
    import llm as llm_bench
    import tokenizer as tokenizer_bench

    build(root / "models")  # the text tokenizer and folder layout; the weights are replaced below
    engine = Engine(Settings(model_dir=root / "models", data_dir=root / "data", device="cuda"))
    engine._parts = {
        "tokenizer": tokenizer_bench.full_size(root / "tokenizer", "cuda"),
        "text": TextTokenizer.load(root / "models" / EDITX_DIR),
        "llm": llm_bench.random_model(llm_bench.config(32, **llm_bench.FULL), "cuda", torch.bfloat16),
        "decoder": decoder_bench.build("full", "cuda", "bfloat16", root / "decoder"),
    }
    return engine


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, take, seconds: float, device: str) -> None:
    stages = take.timings
    print(
        f"{label:<24} total {seconds:7.2f} s | "
        + " | ".join(f"{k} {v:6.3f}" for k, v in stages.items())
        + f" | out {take.audio.duration:5.2f} s | peak {peak_memory_mb(device):8.0f} MB"
    )


def first_audio(engine: Engine, request) -> float:
    started = time.perf_counter()
    pieces = engine.stream(request, chunk_tokens=25)
    next(pieces)
    elapsed = time.perf_counter() - started
    pieces.close()
    return elapsed


def run_case(name: str, engine: Engine, device: str) -> None:
    clip, text = speech_10s()
    edit = EditRequest(clip, text, "emotion", "happy", seed=0, max_new_tokens=NEW_TOKENS)
    prompt = audio.trim(clip, 0.0, 9.99)  # other samples than the edit's, so its tokens are not cached
    clone = CloneRequest(prompt, text, "Four hours of steady work faced us.", seed=0, max_new_tokens=NEW_TOKENS)
    # Warm-up on other audio: kernels and allocator get ready, the token cache stays cold for the runs.
    engine.run(EditRequest(audio.trim(clip, 0.0, 9.0), text, "emotion", "happy", seed=0, max_new_tokens=50))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for label, request in (("10 s edit", edit), ("clone, 10 s prompt", clone)):
        started = time.perf_counter()
        take = engine.run(request)
        report(f"{name}: {label}", take, time.perf_counter() - started, device)
    print(f"{name}: first streamed audio of the clone after {first_audio(engine, clone):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("tiny-cpu", "full-cuda"), action="append")
    cases = parser.parse_args().case or ["tiny-cpu", "full-cuda"]
    if not corpora.HARVARD_16K.is_file():
        sys.exit("needs Debian's codec2-examples (make test installs it)")
    print(f"Engine benchmark: {NEW_TOKENS} generated tokens per take, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if "tiny-cpu" in cases:
            run_case("tiny-cpu", tiny_engine(Path(tmp) / "tiny"), "cpu")
        if "full-cuda" in cases:
            if not torch.cuda.is_available():
                print("full-cuda: CUDA not available, skipped")
            else:
                run_case("full-cuda", full_engine(Path(tmp) / "full"), "cuda")


if __name__ == "__main__":
    main()
