"""Checks on downloaded model files, shared by every loader: a message that names the file and the fix."""

from __future__ import annotations

from pathlib import Path

from studio.errors import CheckpointError

LFS_MAGIC = b"version https://git-lfs"


def is_lfs_pointer(path: Path) -> bool:
    """A Git-LFS pointer is a few hundred bytes of text standing where the weights should be."""
    if path.stat().st_size > 1024:
        return False
    with path.open("rb") as handle:
        return handle.read(len(LFS_MAGIC)) == LFS_MAGIC


def require_file(path: Path, what: str) -> Path:
    """Return `path` if it is a real file; otherwise explain what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"Missing model file {path} ({what}). Download the weights with `python -m studio download` "
            "or point --model-dir at a complete copy."
        )
    if is_lfs_pointer(path):
        raise CheckpointError(
            f"{path} ({what}) is a Git-LFS pointer, not the real file: the repository was cloned without "
            "git-lfs. Run `git lfs pull` in that folder or re-download with `python -m studio download`."
        )
    return path
