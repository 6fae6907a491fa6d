"""Write a complete random-weight checkpoint tree in the official layout, with tiny dimensions.

    python -m studio.testing.tiny_checkpoint OUT_DIR [--seed N]

Every file has its official format (safetensors, .pt, .npy, .onnx, yaml, SentencePiece), so the
engine's real loading and inference code runs on it. Each engine part contributes a writer in its
own module (`tiny_step1`, `tiny_tokenizer`, `tiny_decoder`); this module only puts them together.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

# Module names of the part writers; each exposes `write(root: Path, seed: int) -> None`.
PARTS = ("tiny_step1", "tiny_tokenizer", "tiny_decoder")

TOKENIZER_DIR = "Step-Audio-Tokenizer"
EDITX_DIR = "Step-Audio-EditX"
AWQ_DIR = "Step-Audio-EditX-AWQ-4bit"
DECODER_DIR = "CosyVoice-300M-25Hz"


def build(root: Path, seed: int = 0) -> Path:
    root = Path(root)
    (root / TOKENIZER_DIR).mkdir(parents=True, exist_ok=True)
    (root / EDITX_DIR / DECODER_DIR).mkdir(parents=True, exist_ok=True)
    for name in PARTS:
        importlib.import_module(f"studio.testing.{name}").write(root, seed)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build(args.out_dir, args.seed))


if __name__ == "__main__":
    main()
