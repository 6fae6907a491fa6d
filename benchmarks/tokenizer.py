"""Audio tokenizer speed per stage (vq02, vq06, CAM++, prompt mel) on 10 s and 30 s of real speech.

    python benchmarks/tokenizer.py [--runs 3]

Rows: the tiny test checkpoint on CPU; full-size random weights on CPU; the same on CUDA when there is
a GPU. Full size means the real Paraformer encoder shape (50 SANM blocks, 512 wide, 4 heads, FFN 2048,
kernel 11) built in memory, 1024 x 512 centroids, and ONNX stand-ins of the real sizes: the S3 tokenizer
as a 6-block, 1280-wide, 20-head whisper-style encoder with two stride-2 convolutions and a 4096-entry
codebook (~130 M parameters, like the 523 MB original), CAM++ as a 4-layer, 512-channel TDNN (~4 M
parameters; the original's 7 M use a different layout). Each figure is the median of --runs encodes
after one warm-up, with the cache bypassed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from studio import audio as audio_io
from studio.engine.paraformer import EncoderConfig, Frontend, FrontendConfig, SanmEncoder
from studio.engine.tokenizer import AudioTokenizer, PromptCache, onnx_session
from studio.testing import corpora, tiny_tokenizer

STAGES = ("preprocess", "vq02", "vq06", "speaker", "mel")
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


def measure(tokenizer: AudioTokenizer, audio: audio_io.Audio, runs: int) -> dict[str, float]:
    """Median milliseconds per stage, each encode behind an empty cache."""
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for run in range(runs + 1):
        tokenizer.cache = PromptCache()
        timings = tokenizer.encode(audio).timings
        if run:  # the first run pays one-off costs (kernel selection, allocations)
            for stage in STAGES:
                samples[stage].append(timings[stage] * 1000)
    medians = {stage: statistics.median(values) for stage, values in samples.items()}
    medians["total"] = sum(medians.values())
    return medians


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
    print()
    print(f"{'model':6} {'device':6} {'clip':5} " + " ".join(f"{s:>10}" for s in (*STAGES, "total")) + "   (ms)")
    for row in rows:
        figures = " ".join(f"{row[s]:10.1f}" for s in (*STAGES, "total"))
        print(f"{row['model']:6} {row['device']:6} {row['clip']:5} {figures}")


if __name__ == "__main__":
    main()
