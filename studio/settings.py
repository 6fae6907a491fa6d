"""Every option of the studio in one dataclass, read from flags, then `STUDIO_*` variables, then defaults.

This is the only module that reads the environment; everything else receives a Settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "STUDIO_"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    cache = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".cache")
    return Path(cache) / "step-audio-editx-studio"


@dataclass
class Settings:
    """Flag `--model-dir` <-> variable `STUDIO_MODEL_DIR` <-> field `model_dir`, and so on for each field."""

    model_dir: Path | None = field(default=None, metadata={"help": "checkpoint root (default: DATA_DIR/models)"})
    data_dir: Path | None = field(default=None, metadata={"help": "weights, caches and workspaces"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to bind (0.0.0.0 to serve the network)"})
    port: int = field(default=7860, metadata={"help": "port of the studio and its API"})
    api_port: int | None = field(default=None, metadata={"help": "also serve the API alone on this port"})
    api_key: str | None = field(default=None, metadata={"help": "require `Authorization: Bearer KEY` on the API"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    variant: str = field(default="base", metadata={"help": "LLM variant: base, bnb or awq"})
    dtype: str = field(default="auto", metadata={"help": "auto, bfloat16, float16 or float32"})
    load_on_start: bool = field(default=False, metadata={"help": "load the model at start-up, not on first use"})
    min_input_seconds: float = field(default=0.5, metadata={"help": "shortest audio accepted"})
    max_input_seconds: float = field(default=30.0, metadata={"help": "longest audio per model call"})
    max_upload_mb: float = field(default=25.0, metadata={"help": "largest upload or base64 payload"})
    max_text_chars: int = field(default=1000, metadata={"help": "longest target text"})
    queue_size: int = field(default=16, metadata={"help": "model requests allowed to wait at once"})
    asr_model: str = field(default="auto", metadata={"help": "Whisper model name or local checkpoint path"})
    url_allowlist: tuple[str, ...] = field(
        default=(), metadata={"help": "hosts/CIDRs that audio URLs may reach despite being private"}
    )
    log_level: str = field(default="INFO", metadata={"help": "logging level"})

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self.data_dir = default_data_dir(os.environ)
        self.data_dir = Path(self.data_dir).expanduser()
        self.model_dir = Path(self.model_dir).expanduser() if self.model_dir else self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"  # type: ignore[operator]

    @property
    def workspace_dir(self) -> Path:
        return self.data_dir / "workspaces"  # type: ignore[operator]

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "voices"  # type: ignore[operator]

    @classmethod
    def load(cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Flags win over `STUDIO_*` variables, which win over defaults."""
        return cls.from_args(cls.parser().parse_args(argv), environ)

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from parsed flags (None = not given) over the environment."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {"data_dir": default_data_dir(environ)}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw not in (None, ""):
                values[f.name] = _convert(f, raw)
            flag = getattr(args, f.name, None)
            if flag is not None:
                values[f.name] = flag
        return cls(**values)

    @classmethod
    def parser(cls, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
        parser = parser or argparse.ArgumentParser(description="Step-Audio-EditX Studio")
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            env = ENV_PREFIX + f.name.upper()
            help_text = f"{f.metadata.get('help', '')} [{env}]"
            if _base_type(f) is bool:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                parser.add_argument(flag, type=lambda s, f=f: _convert(f, s), default=None, help=help_text)
        return parser


def _base_type(f: dataclasses.Field) -> type:
    hint = typing.get_type_hints(Settings)[f.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _convert(f: dataclasses.Field, raw: str) -> object:
    kind = _base_type(f)
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: expected true/false, got {raw!r}")
    if kind is tuple:
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    try:
        return kind(raw)
    except ValueError as err:
        raise ValueError(f"{f.name}: cannot read {raw!r} as {kind.__name__}") from err
