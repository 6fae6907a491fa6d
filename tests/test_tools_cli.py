"""`python -m studio speed|denoise|trim-silence|loudness|transcribe|measure` end to end on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from studio import audio as audio_io
from studio.__main__ import main
from studio.testing import corpora


def _run(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_speed(capsys, harvard, tmp_path):
    out = tmp_path / "fast.wav"
    result = _run(capsys, "speed", "--in", str(harvard.path), "--rate", "1.5", "--out", str(out))
    assert result["engine"] == "rubberband" and result["output_seconds"] == pytest.approx(7.2)
    assert audio_io.read(out).duration == pytest.approx(7.2, abs=0.001)


def test_denoise(capsys, examples, tmp_path):
    out = tmp_path / "clean.flac"
    result = _run(capsys, "denoise", "--in", str(examples["denoise_prompt"].path), "--out", str(out))
    source = audio_io.read(examples["denoise_prompt"].path)
    assert result["model"] == "DeepFilterNet3"
    assert len(audio_io.read(out).samples) == len(source.samples)


def test_trim_silence(capsys, examples, tmp_path):
    out = tmp_path / "tight.wav"
    argv = ["trim-silence", "--in", str(examples["vad_prompt"].path), "--out", str(out), "--max-pause", "0.2"]
    result = _run(capsys, *argv)
    assert result["speech"] and result["output_seconds"] < result["input_seconds"]
    assert audio_io.read(out).duration == pytest.approx(result["output_seconds"], abs=0.001)


def test_loudness(capsys, harvard, tmp_path):
    out = tmp_path / "loud.wav"
    argv = ["loudness", "--in", str(harvard.path), "--out", str(out), "--target-lufs", "-23"]
    result = _run(capsys, *argv)
    assert result["output_lufs"] == pytest.approx(-23.0, abs=0.1)


def test_transcribe_with_words(capsys, harvard):
    result = _run(capsys, "transcribe", "--in", str(harvard.path), "--model", "tiny.en", "--words")
    assert result["text"].startswith("The birch canoe") and result["model"] == "tiny.en"
    assert result["segments"][0][0] == 0.0 and result["words"][0][2] == "The"


def test_measure(capsys, harvard, asterisk):
    reference = next(p for p in asterisk if p.name == "vm-review").path
    argv = ["measure", "--in", str(harvard.path), "--ref", str(reference), "--text", corpora.HARVARD_TEXT]
    result = _run(capsys, *argv, "--asr-model", "tiny.en")
    assert result["wer"]["value"] == 0.0 and result["wer"]["unit"] == "%" and result["wer"]["better"] == "lower"
    assert result["speaker_similarity"]["unit"] == "cosine"


def test_bad_input_is_an_error_message_not_a_traceback(tmp_path, harvard):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "speed",
            "--in",
            str(harvard.path),
            "--rate",
            "3",
            "--out",
            str(tmp_path / "x.wav"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "out of range" in done.stderr and "Traceback" not in done.stderr
