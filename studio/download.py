"""`python -m studio download`: fetch the official weights into the layout the engine loads.

    <model-dir>/Step-Audio-Tokenizer/        stepfun-ai/Step-Audio-Tokenizer
    <model-dir>/Step-Audio-EditX/            stepfun-ai/Step-Audio-EditX
    <model-dir>/Step-Audio-EditX-AWQ-4bit/   stepfun-ai/Step-Audio-EditX-AWQ-4bit   (--variant awq)
    <data-dir>/presets/                      the official example prompts (preset voices)

Downloads resume where they stopped (huggingface_hub keeps partial files), show progress, and are
verified afterwards: every file's size and, for weight files, its SHA-256 against the Hub's record.
Offline, the first request fails within seconds and the error says how to copy the weights by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from studio.engine.files import is_lfs_pointer
from studio.errors import BadInput, CheckpointError
from studio.settings import Settings

log = logging.getLogger(__name__)

REPOS = {
    "Step-Audio-Tokenizer": "stepfun-ai/Step-Audio-Tokenizer",
    "Step-Audio-EditX": "stepfun-ai/Step-Audio-EditX",
    "Step-Audio-EditX-AWQ-4bit": "stepfun-ai/Step-Audio-EditX-AWQ-4bit",
}
# base and bnb quantise the same bf16 weights at load time; awq has its own repo.
VARIANT_REPOS = {
    "base": ("Step-Audio-Tokenizer", "Step-Audio-EditX"),
    "bnb": ("Step-Audio-Tokenizer", "Step-Audio-EditX"),
    "awq": ("Step-Audio-Tokenizer", "Step-Audio-EditX", "Step-Audio-EditX-AWQ-4bit"),
}
EXAMPLES_URL = "https://raw.githubusercontent.com/stepfun-ai/Step-Audio-EditX/main/examples/{name}"
OFFLINE_HELP = (
    "Copy the weights from a machine that can reach the Hub instead: `git lfs install`, then "
    "`git clone https://huggingface.co/{repo}` into {target}, and start the studio with --model-dir {root}. "
    "Behind a mirror, pass --endpoint (for example https://hf-mirror.com)."
)


@dataclass(frozen=True)
class Verified:
    files: int
    bytes: int
    hashed: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", choices=sorted(REPOS), action="append", help="fetch just this folder")
    parser.add_argument("--endpoint", help="Hub address or mirror (default: huggingface_hub's)")
    parser.add_argument("--no-presets", action="store_true", help="skip the preset voice recordings")
    parser.add_argument("--skip-hash", action="store_true", help="check sizes only, not SHA-256")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    folders = tuple(args.only) if args.only else VARIANT_REPOS.get(settings.variant)
    if folders is None:
        raise BadInput(f"Unknown variant {settings.variant!r}; choose one of {', '.join(VARIANT_REPOS)}.")
    root = Path(settings.model_dir)  # type: ignore[arg-type]
    report = {}
    for folder in folders:
        verified = fetch_repo(REPOS[folder], root / folder, endpoint=args.endpoint, hash_files=not args.skip_hash)
        report[folder] = vars(verified)
    if not args.no_presets:
        report["presets"] = fetch_presets(settings.data_dir / "presets")  # type: ignore[operator]
    return {"model_dir": str(root), "downloaded": report}


def fetch_repo(repo: str, target: Path, *, endpoint: str | None = None, hash_files: bool = True) -> Verified:
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi(endpoint=endpoint)
    try:
        info = api.model_info(repo, timeout=10, files_metadata=True)
    except Exception as err:  # any network or Hub failure means the same thing to the user
        raise CheckpointError(
            f"Cannot reach the model hub for {repo} ({type(err).__name__}: {_short(err)}). "
            + OFFLINE_HELP.format(repo=repo, target=target, root=target.parent)
        ) from err
    log.info("downloading %s into %s", repo, target)
    snapshot_download(repo, revision=info.sha, local_dir=target, endpoint=endpoint)
    return verify(target, {s.rfilename: s for s in info.siblings or []}, hash_files=hash_files)


def verify(target: Path, expected: dict, *, hash_files: bool = True) -> Verified:
    """Sizes of all files, SHA-256 of the LFS ones (the weights), and no pointer files left behind."""
    problems, total, hashed = [], 0, 0
    for name, sibling in sorted(expected.items()):
        path = target / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        if sibling.size is not None and path.stat().st_size != sibling.size:
            problems.append(f"{name}: {path.stat().st_size} bytes, expected {sibling.size}")
            continue
        if is_lfs_pointer(path) and sibling.lfs is not None:
            problems.append(f"{name}: a Git-LFS pointer instead of the file")
            continue
        lfs_hash = getattr(sibling.lfs, "sha256", None) if sibling.lfs is not None else None
        if hash_files and lfs_hash:
            if _sha256(path) != lfs_hash:
                problems.append(f"{name}: SHA-256 differs from the Hub's; delete it and run download again")
                continue
            hashed += 1
        total += path.stat().st_size
    if problems:
        raise CheckpointError(f"Download of {target.name} is incomplete: " + "; ".join(problems))
    return Verified(files=len(expected), bytes=total, hashed=hashed)


def fetch_presets(target: Path) -> list[str]:
    """The official example prompts behind the preset voices, with their transcripts beside them."""
    import httpx

    from studio.voices import PRESETS

    target.mkdir(parents=True, exist_ok=True)
    fetched = []
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        for preset in PRESETS.values():
            path = target / preset.file
            if not path.is_file():
                try:
                    response = client.get(EXAMPLES_URL.format(name=preset.file))
                    response.raise_for_status()
                except httpx.HTTPError as err:
                    raise CheckpointError(f"Cannot fetch the preset recording {preset.file}: {_short(err)}") from err
                partial = path.with_name(path.name + ".part")
                partial.write_bytes(response.content)
                partial.replace(path)
            fetched.append(preset.file)
    return fetched


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else ""
