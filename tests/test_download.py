"""The download command: fails fast offline with instructions, and verifies what it fetched."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from studio.__main__ import main
from studio.download import fetch_repo, verify
from studio.errors import CheckpointError


def sibling(data: bytes, *, lfs: bool = True) -> SimpleNamespace:
    record = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest(), size=len(data)) if lfs else None
    return SimpleNamespace(size=len(data), lfs=record)


def test_offline_fails_fast_with_instructions(tmp_path):
    # Port 9 on loopback refuses at once: the same answer a machine without network gets.
    with pytest.raises(CheckpointError, match=r"Cannot reach the model hub .*git lfs install.*--model-dir"):
        fetch_repo("stepfun-ai/Step-Audio-EditX", tmp_path / "Step-Audio-EditX", endpoint="http://127.0.0.1:9")


def test_cli_reports_the_error(tmp_path, capsys):
    code = main(["download", "--model-dir", str(tmp_path), "--endpoint", "http://127.0.0.1:9", "--no-presets"])
    assert code == 2
    assert "Cannot reach the model hub for stepfun-ai/Step-Audio-Tokenizer" in capsys.readouterr().err


def test_verify_accepts_a_complete_download(tmp_path):
    weights, config = b"\x00weights" * 1000, b'{"model_type": "step1"}'
    (tmp_path / "model.safetensors").write_bytes(weights)
    (tmp_path / "config.json").write_bytes(config)
    result = verify(tmp_path, {"model.safetensors": sibling(weights), "config.json": sibling(config, lfs=False)})
    assert (result.files, result.hashed, result.bytes) == (2, 1, len(weights) + len(config))


def test_verify_names_every_problem(tmp_path):
    weights = b"\x01" * 4096
    (tmp_path / "short.bin").write_bytes(weights[:100])
    (tmp_path / "pointer.bin").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 4096\n")
    (tmp_path / "changed.bin").write_bytes(b"\x02" * 4096)
    pointer = SimpleNamespace(size=None, lfs=SimpleNamespace(sha256="ab", size=4096))
    expected = {
        "short.bin": sibling(weights),
        "pointer.bin": pointer,
        "changed.bin": sibling(weights),
        "missing.bin": sibling(weights),
    }
    with pytest.raises(CheckpointError) as err:
        verify(tmp_path, expected)
    message = str(err.value)
    assert "short.bin: 100 bytes, expected 4096" in message
    assert "pointer.bin: a Git-LFS pointer" in message
    assert "changed.bin: SHA-256 differs" in message
    assert "missing.bin: missing" in message
