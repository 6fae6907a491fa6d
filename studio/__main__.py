"""`python -m studio COMMAND ...`: the studio's command line.

Each command lives in the module that does the work; that module exposes
`add_arguments(parser)` and `run(args, settings) -> dict`, and the dict is printed as JSON.
`parser.get_default("command")` / `args.command` name the command being run.
Modules are imported only when their command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from studio.errors import StudioError
from studio.settings import Settings

# command -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("app", "serve the studio and the API (same as `python app.py`)"),
    "speed": ("studio.tools.speed", "change the speed of a recording, keeping its pitch (Rubber Band R3)"),
    "denoise": ("studio.tools.denoise", "remove background noise (DeepFilterNet3)"),
    "trim-silence": ("studio.tools.vad", "trim silence and shorten long pauses (Silero VAD)"),
    "loudness": ("studio.tools.loudness", "normalise loudness to a LUFS target under a true-peak ceiling"),
    "transcribe": ("studio.asr", "speech to text with Whisper, as JSON with segments"),
    "measure": ("studio.metrics", "objective measures of a take (DNSMOS, similarity, WER, F0, ...) as JSON"),
    "download": ("studio.download", "fetch the official weights and preset voices into --model-dir"),
    "tokenize": ("studio.engine.tokenizer", "encode a recording into the model's audio tokens, with timings"),
    "prompt": ("studio.engine.prompts", "show the model prompt (text and ids) of a clone or edit request"),
    "clone": ("studio.engine.cli", "speak new text in the voice of a prompt recording"),
    "edit": ("studio.engine.cli", "edit a recording: emotion, style, paralinguistic, speed, denoise, vad"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m studio", description="Step-Audio-EditX Studio tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help or the "invalid choice" error and exits
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    command = argparse.ArgumentParser(prog=f"python -m studio {name}", description=COMMANDS[name][1])
    command.set_defaults(command=name)  # a module serving several commands reads it with get_default
    module.add_arguments(command)
    Settings.parser(command.add_argument_group("studio settings"))
    args = command.parse_args(rest)
    settings = Settings.from_args(args)
    try:
        result = module.run(args, settings)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
