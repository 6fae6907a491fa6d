"""Audio tokenizer speed per stage (vq02, vq06, CAM++, prompt mel) on 10 s and 30 s of real speech.

    python benchmarks/tokenizer.py [--runs 3]

Rows: the tiny test checkpoint on CPU; full-size random weights on CPU; the same on CUDA when there is
a GPU. Full size means the real Paraformer encoder shape (50 SANM blocks, 512 wide, 4 heads, FFN 2048,
kernel 11) built in memory, 1024 x 512 centroids, and ONNX stand-ins of the real sizes: the S3 tokenizer
as a 6-block, 1280-wide, 20-head whisper-style encoder with two stride-2 convolutions and a 4096-entry
codebook (~130 M parameters, like the 523 MB original), CAM++ as a 4-layer, 512-channel TDNN (~4 M
parameters; the original's 7 M use a different layout). Each figure is the median of --runs encodes
after one warm-up, with the cache bypassed; `*_cpu` columns are the CPU time of the stage (all threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from studio import audio as audio_io
from studio.engine.paraformer import EncoderConfig, Frontend, FrontendConfig, SanmEncoder
from studio.engine.tokenizer import AudioTokenizer, PromptCache, onnx_session
from studio.testing import corpora, tiny_tokenizer

STAGES = ("preprocess", "vq02", "vq06", "speaker", "mel")
METHODS = {"linguistic_codes": "vq02", "semantic_codes": "vq06", "speaker_embedding": "speaker", "prompt_mel": "mel"}
FULL_ENCODER = EncoderConfig(
    input_size=560, output_size=512, attention_heads=4, linear_units=2048, num_blocks=50, kernel_size=11, sanm_shfit=0
)
FRONTEND = FrontendConfig(fs=16_000, window="hamming", n_mels=80, frame_length=25, frame_shift=10, lfr_m=7, lfr_n=6)


def speech(seconds: float) -> audio_io.Audio:
    """Real speech at 16 kHz: the official example prompts one after another, cut to `seconds`."""
    recordings = sorted(corpora.upstream_examples().values(), key=lambda r: r.name)
    if not recordings:
        raise SystemExit("the official example prompts are missing (see studio/testing/corpora.py)")
    pieces = [audio_io.read(r.path, sr=16_000).samples for r in recordings]
    joined = np.concatenate(pieces)
    return audio_io.Audio(joined[: int(seconds * 16_000)], 16_000)


def full_size(folder: Path, device: str) -> AudioTokenizer:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    encoder = SanmEncoder(FULL_ENCODER).eval().to(device)
    shift = -(10.0 + 4.0 * np.random.default_rng(0).random(560, dtype=np.float32))
    frontend = Frontend(FRONTEND, shift, np.full(560, 0.25, np.float32))
    centroids = torch.randn(1024, 512, generator=generator).to(device)
    speech_path, campplus_path = folder / "speech_tokenizer_v1.onnx", folder / "campplus.onnx"
    if not speech_path.exists():
        s3 = tiny_tokenizer.speech_tokenizer_module(1280, 6, 20, generator)
        tiny_tokenizer.export_speech_tokenizer(s3, speech_path)
        tiny_tokenizer.export_campplus(tiny_tokenizer.campplus_module(512, 4, generator), campplus_path)
    return AudioTokenizer(
        frontend,
        encoder,
        centroids,
        onnx_session(speech_path, "S3 speech tokenizer", device, inputs=2),
        onnx_session(campplus_path, "CAM++ speaker model", device, inputs=1),
        device=device,
    )


def count_cpu_time(tokenizer: AudioTokenizer) -> dict[str, float]:
    """Wrap the model stages to add up the CPU seconds they use: on a shared machine, wall time also counts
    the time other processes hold the cores, CPU time does not."""
    used = dict.fromkeys(METHODS.values(), 0.0)

    def wrap(run, stage: str):
        def timed(*args):
            started = time.process_time()
            result = run(*args)
            used[stage] += time.process_time() - started
            return result

        return timed

    for method, stage in METHODS.items():
        setattr(tokenizer, method, wrap(getattr(tokenizer, method), stage))
    return used


def measure(tokenizer: AudioTokenizer, audio: audio_io.Audio, runs: int) -> dict[str, float]:
    """Median wall and CPU milliseconds per stage, each encode behind an empty cache."""
    walls: dict[str, list[float]] = {stage: [] for stage in STAGES}
    cpus: dict[str, list[float]] = {stage: [] for stage in METHODS.values()}
    used = count_cpu_time(tokenizer)
    for run in range(runs + 1):
        tokenizer.cache = PromptCache()
        used.update(dict.fromkeys(used, 0.0))
        timings = tokenizer.encode(audio).timings
        if run:  # the first run pays one-off costs (kernel selection, allocations)
            for stage in STAGES:
                walls[stage].append(timings[stage] * 1000)
            for stage, seconds in used.items():
                cpus[stage].append(seconds * 1000)
    row = {stage: statistics.median(values) for stage, values in walls.items()}
    row["total"] = sum(row.values())
    row.update({f"{stage}_cpu": statistics.median(values) for stage, values in cpus.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, load average before start {os.getloadavg()[0]:.1f}")
    clips = {"10s": speech(10.0), "30s": speech(30.0)}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tiny_tokenizer.write(root / "tiny", seed=0)
        setups = [("tiny", "cpu", lambda: AudioTokenizer.load(root / "tiny")), ("full", "cpu", None)]
        if torch.cuda.is_available():
            setups.append(("full", "cuda", None))
        else:
            print("CUDA: no GPU here, the GPU rows are skipped")
        for size, device, make in setups:
            tokenizer = make() if make else full_size(root, device)
            for clip, audio in clips.items():
                row = {"model": size, "device": device, "clip": clip, **measure(tokenizer, audio, args.runs)}
                rows.append(row)
                print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))
    columns = (*STAGES, "total", *(f"{stage}_cpu" for stage in METHODS.values()))
    print(f"\n{'model':6} {'device':6} {'clip':5} " + " ".join(f"{c:>10}" for c in columns) + "   (ms)")
    for row in rows:
        figures = " ".join(f"{row[c]:10.1f}" for c in columns)
        print(f"{row['model']:6} {row['device']:6} {row['clip']:5} {figures}")


if __name__ == "__main__":
    main()
