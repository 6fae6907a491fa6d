"""Fixtures that find the real recordings and build the tiny checkpoint once per run.

Locally a missing corpus skips the tests that need it; with CI=true it fails them, so a
broken install can never turn into a green run that tested nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.testing import corpora
from studio.testing.tiny_checkpoint import build

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(ok: bool, what: str) -> None:
    if ok:
        return
    message = f"test material missing: {what} (run `make test`, which installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def examples() -> dict[str, corpora.Recording]:
    found = corpora.upstream_examples()
    require(len(found) == 8, f"the 8 official example prompts in {corpora.UPSTREAM_EXAMPLES}")
    return found


@pytest.fixture(scope="session")
def asterisk() -> list[corpora.Recording]:
    found = corpora.asterisk_prompts()
    require(len(found) >= 50, "Debian package asterisk-core-sounds-en-g722")
    return found


@pytest.fixture(scope="session")
def harvard() -> corpora.Recording:
    require(corpora.HARVARD_16K.is_file(), "Debian package codec2-examples")
    return corpora.Recording(corpora.HARVARD_16K, corpora.HARVARD_TEXT)


@pytest.fixture(scope="session")
def speakers_8k() -> list[Path]:
    found = corpora.codec2_8k()
    require(len(found) >= 3, "8 kHz speakers from Debian package codec2-examples")
    return found


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny checkpoint tree in the official layout, built once per test run."""
    return build(tmp_path_factory.mktemp("tiny-model"), seed=0)
