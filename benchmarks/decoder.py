"""Decoder speed and memory: flow + HiFT seconds for 10 s of speech after a 10 s prompt.

    python benchmarks/decoder.py             # every case, each in its own process
    python benchmarks/decoder.py --case full-cpu

Cases: the tiny checkpoint on CPU; the released sizes (random weights) on CPU in float32; on CUDA,
when there is a GPU, the released sizes in float32 and bfloat16. Each case reports decode seconds
(flow, vocoder), the time to the first streamed audio, peak memory and parameter counts.
Targets on an H100 in bfloat16: flow + HiFT <= 150 ms, first streamed audio <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from studio.engine.cosyvoice_yaml import read_config
from studio.engine.decoder import Decoder
from studio.engine.flow import CausalMaskedDiffWithXvec
from studio.engine.hift import HiFTGenerator
from studio.testing import tiny_decoder

GROUPS = 83  # 83 groups of 5 tokens = 249 steps = 9.96 s
CASES = {
    "tiny-cpu": ("tiny", "cpu", "float32"),
    "full-cpu": ("full", "cpu", "float32"),
    "full-cuda-fp32": ("full", "cuda", "float32"),
    "full-cuda-bf16": ("full", "cuda", "bfloat16"),
}


def build(size: str, device: str, dtype: str, workdir: Path) -> Decoder:
    if size == "tiny":
        tiny_decoder.write(workdir, seed=0)
        return Decoder.load(workdir / tiny_decoder.DECODER_DIR, device=device, dtype=dtype)
    path = workdir / "cosyvoice.yaml"
    path.write_text(tiny_decoder.yaml_text(tiny_decoder.OFFICIAL), encoding="utf-8")
    config = read_config(path)
    flow, hift = CausalMaskedDiffWithXvec(config.flow), HiFTGenerator(config.hift)
    tiny_decoder.randomize(flow, seed=0)
    tiny_decoder.randomize(hift, seed=1)
    return Decoder(config, flow, hift, device=device, dtype=dtype)


def inputs() -> dict:
    rng = np.random.default_rng(0)

    def codes() -> list[int]:
        return [int(c) for _ in range(GROUPS) for c in (*rng.integers(0, 1024, 2), *(1024 + rng.integers(0, 4096, 3)))]

    return {
        "tokens": codes(),
        "prompt_tokens": codes(),
        "prompt_mel": (rng.standard_normal((500, 80)) - 5).astype(np.float32),
        "speaker": rng.standard_normal(192).astype(np.float32),
    }


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_case(name: str) -> dict:
    size, device, dtype = CASES[name]
    with tempfile.TemporaryDirectory() as workdir:
        decoder = build(size, device, dtype, Path(workdir))
    args = inputs()
    if device == "cuda" or size == "tiny":  # warm-up: kernels, allocator, lazy initialisation
        decoder.decode(**args, seed=0)
        torch.cuda.reset_peak_memory_stats() if device == "cuda" else None
    result = decoder.decode(**args, seed=0)
    started = time.perf_counter()
    pieces = decoder.stream(**args, seed=0)
    first = next(pieces)
    sync(device)
    first_seconds = time.perf_counter() - started
    rest = sum(len(p.samples) for p in pieces)
    sync(device)
    stream_seconds = time.perf_counter() - started
    memory = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "case": name,
        "audio_seconds": round(len(result.audio.samples) / 24_000, 2),
        "flow_s": round(result.timings["flow"], 3),
        "vocoder_s": round(result.timings["vocoder"], 3),
        "first_stream_audio_s": round(first_seconds, 3),
        "first_stream_audio_len_s": round(len(first.samples) / 24_000, 2),
        "stream_total_s": round(stream_seconds, 3),
        "stream_matches_length": len(first.samples) + rest == len(result.audio.samples),
        "peak_memory_mib": round(memory),
        "memory_kind": "CUDA allocated" if device == "cuda" else "process RSS",
        "flow_params_m": round(sum(p.numel() for p in decoder.flow.parameters()) / 1e6, 2),
        "hift_params_m": round(sum(p.numel() for p in decoder.hift.parameters()) / 1e6, 2),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    for name, (_, device, _) in CASES.items():
        if device == "cuda" and not torch.cuda.is_available():
            print(f"{name}: skipped (no CUDA device)")
            continue
        done = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        report = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(report))
        if name == "full-cpu":
            params = report["flow_params_m"], report["hift_params_m"]
            print(f"  float32 state dicts: flow.pt ~{params[0] * 4:.0f} MB, hift.pt ~{params[1] * 4:.0f} MB")


if __name__ == "__main__":
    main()
