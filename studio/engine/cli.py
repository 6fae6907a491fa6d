"""`python -m studio clone ...` and `python -m studio edit ...`: the engine from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio import audio
from studio.engine import prompts
from studio.engine.pipeline import CloneRequest, EditRequest, Engine
from studio.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.get_default("command") == "clone":
        parser.add_argument("--prompt-audio", type=Path, required=True, help="recording of the voice to clone")
        parser.add_argument("--prompt-text", default="", help="exact transcript of the prompt audio")
        parser.add_argument("--text", required=True, help="what the cloned voice should say")
    else:
        parser.add_argument("--audio", type=Path, required=True, help="recording to edit")
        parser.add_argument("--audio-text", default="", help="exact transcript of that recording")
        parser.add_argument("--mode", required=True, choices=prompts.EDIT_MODES)
        parser.add_argument("--edit-info", help="emotion, style or speed value (see `python -m studio prompt`)")
        parser.add_argument("--text", help="new text with paralinguistic tags (paralinguistic mode)")
        parser.add_argument("--n-edit-iter", type=int, default=1, help="passes, 1-4: the main strength control")
        parser.add_argument("--intensity", type=float, default=1.0, help="0.5-3.0; 1.0 is the trained prompt")
        parser.add_argument("--keep-original-speaker", action="store_true", help="condition every pass on the input")
    parser.add_argument("--out", type=Path, required=True, help="output file (.wav, .flac, .mp3, .ogg)")
    parser.add_argument("--seed", type=int, help="same seed, same take")
    parser.add_argument("--max-new-tokens", type=int, help="cap on generated tokens (default: the model window)")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    engine = Engine(settings, transcriber=_transcriber(settings))
    if args.command == "clone":
        request = CloneRequest(
            prompt_audio=audio.read(args.prompt_audio),
            prompt_text=args.prompt_text,
            text=args.text,
            seed=args.seed,
            max_new_tokens=args.max_new_tokens,
        )
    else:
        request = EditRequest(
            audio=audio.read(args.audio),
            audio_text=args.audio_text,
            mode=args.mode,
            edit_info=args.edit_info,
            text=args.text,
            n_edit_iter=args.n_edit_iter,
            intensity=args.intensity,
            seed=args.seed,
            keep_original_speaker=args.keep_original_speaker,
            max_new_tokens=args.max_new_tokens,
        )
    take = engine.run(request)
    audio.write(take.audio, args.out)
    return {"out": str(args.out), **take.summary()}


def _transcriber(settings: Settings) -> object | None:
    """Whisper fills in a missing transcript when its weights are on this machine."""
    from studio.asr import Transcriber

    transcriber = Transcriber(settings)
    return transcriber if transcriber.available() else None
