"""Settings come from flags, then STUDIO_* variables, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.settings import Settings


def test_defaults_live_under_the_user_cache():
    s = Settings.load([], {"HOME": "/home/ada"})
    assert s.data_dir == Path("/home/ada/.cache/step-audio-editx-studio")
    assert s.model_dir == s.data_dir / "models"
    assert (s.host, s.port, s.max_input_seconds) == ("127.0.0.1", 7860, 30.0)


def test_environment_then_flags():
    env = {"HOME": "/h", "STUDIO_MODEL_DIR": "/models", "STUDIO_PORT": "9000", "STUDIO_LOAD_ON_START": "yes"}
    s = Settings.load([], env)
    assert (s.model_dir, s.port, s.load_on_start) == (Path("/models"), 9000, True)
    s = Settings.load(["--port", "8003", "--model-dir", "/other", "--no-load-on-start"], env)
    assert (s.model_dir, s.port, s.load_on_start) == (Path("/other"), 8003, False)


def test_xdg_cache_and_lists():
    s = Settings.load([], {"XDG_CACHE_HOME": "/xdg", "STUDIO_URL_ALLOWLIST": "10.0.0.0/8, files.local"})
    assert s.data_dir == Path("/xdg/step-audio-editx-studio")
    assert s.url_allowlist == ("10.0.0.0/8", "files.local")


def test_bad_values_say_which_setting():
    with pytest.raises(ValueError, match="STUDIO_LOAD_ON_START"):
        Settings.load([], {"STUDIO_LOAD_ON_START": "maybe"})
    with pytest.raises(ValueError, match="port"):
        Settings.load([], {"STUDIO_PORT": "seventy"})
