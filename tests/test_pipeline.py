"""The engine end to end on the tiny checkpoint with real recordings: clone, every edit mode, passes,
streaming, the model queue and recovery from a GPU out-of-memory error."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from studio import audio
from studio.engine.generate import audio_ids_only
from studio.engine.pipeline import CloneRequest, EditRequest, Engine
from studio.errors import AudioInputError, BadInput, Busy, ModelNotLoaded, OutOfMemory
from studio.settings import Settings

NEW_TOKENS = 40  # random weights never say stop: cap every request
SAMPLES_PER_STEP = 2 * 480  # one token step = two mel frames of 480 samples at 24 kHz


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory) -> Engine:
    settings = Settings(model_dir=tiny_model_dir, data_dir=tmp_path_factory.mktemp("data"), device="cpu")
    engine = Engine(settings)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def prompt(examples):
    rec = examples["zero_shot_en_prompt"]
    return audio.read(rec.path), rec.text


def clone(engine: Engine, prompt, **kw) -> object:
    clip, text = prompt
    fields = {"prompt_audio": clip, "prompt_text": text, "text": "The birch canoe slid on the smooth planks."}
    return engine.clone(CloneRequest(**{**fields, "seed": 7, "max_new_tokens": NEW_TOKENS, **kw}))


def edit(engine: Engine, rec, mode: str, **kw) -> object:
    fields = {"audio": audio.read(rec.path), "audio_text": rec.text, "mode": mode, "seed": 3}
    return engine.edit(EditRequest(**{**fields, "max_new_tokens": NEW_TOKENS, **kw}))


def expected_samples(audio_tokens: int) -> int:
    """Five mixed tokens make three token steps; a partial group is padded to a whole one."""
    return -(-audio_tokens // 5) * 3 * SAMPLES_PER_STEP


def assert_plausible(take) -> None:
    assert take.audio.sr == 24_000
    assert np.all(np.isfinite(take.audio.samples))
    assert take.audio.peak > 0
    assert len(take.audio.samples) == expected_samples(take.passes[-1].generated_tokens)


def test_clone_makes_24k_audio_of_the_generated_length(engine, prompt):
    take = clone(engine, prompt)
    assert_plausible(take)
    summary = take.summary()
    assert summary["mode"] == "clone" and summary["seed"] == 7 and summary["variant"] == "base"
    assert "speaker name: clone_" in summary["prompt"]
    assert summary["prompt"].endswith("The birch canoe slid on the smooth planks.<|EOT|><|BOT|>assistant\n")
    assert set(summary["timings"]) >= {"tokenize", "llm", "flow", "vocoder"}
    # The engine samples audio ids only, so nothing the model says is lost before the decoder.
    assert summary["tokens"]["dropped"] == [0]
    assert 5 <= summary["tokens"]["generated"][0] <= NEW_TOKENS


def test_audio_only_sampling_masks_text_ids():
    logits = torch.zeros(1, 74752)
    logits[0, 42] = 100.0  # a text id the model is sure about
    masked = audio_ids_only(logits, stop_id=3)
    allowed = torch.isfinite(masked[0]).nonzero().squeeze(1)
    assert allowed[0] == 3 and allowed[1] == 65536 and allowed[-1] == 65536 + 5119
    assert len(allowed) == 5121


def test_same_seed_same_take_other_seed_other_take(engine, prompt):
    first, again, other = clone(engine, prompt, seed=8), clone(engine, prompt, seed=8), clone(engine, prompt, seed=9)
    np.testing.assert_array_equal(first.audio.samples, again.audio.samples)
    assert first.passes[0].prompt == other.passes[0].prompt
    assert not np.array_equal(first.audio.samples[:1000], other.audio.samples[:1000])


@pytest.mark.parametrize(
    ("example", "mode", "extra"),
    [
        ("en_happy_prompt", "emotion", {"edit_info": "sad"}),
        ("whisper_prompt", "style", {"edit_info": "whisper"}),
        ("speed_prompt", "speed", {"edit_info": "more faster"}),
        ("denoise_prompt", "denoise", {}),
        ("vad_prompt", "vad", {}),
        (
            "paralingustic_prompt",
            "paralinguistic",
            {"text": "我觉得[Uhm]这个计划大概是可行的，不过还需要再仔细考虑一下。"},
        ),
    ],
)
def test_every_edit_mode(engine, examples, example, mode, extra):
    take = edit(engine, examples[example], mode, **extra)
    assert_plausible(take)
    assert take.mode == mode
    if mode == "paralinguistic":
        assert take.text == extra["text"]
        assert "the new text is : 我觉得[Uhm]" in take.passes[0].prompt


def test_passes_chain_on_the_previous_output(engine, examples):
    take = edit(engine, examples["en_happy_prompt"], "emotion", edit_info="angry", n_edit_iter=3)
    assert len(take.passes) == 3
    first, second = take.passes[0].prompt, take.passes[1].prompt
    assert first.split("\n<audio_")[0] == second.split("\n<audio_")[0]  # same instruction
    assert first != second  # but the second pass hears the first pass's output
    assert_plausible(take)


def test_keep_original_speaker_changes_the_flow_prompt(engine, examples):
    plain = edit(engine, examples["en_happy_prompt"], "emotion", edit_info="happy", n_edit_iter=2)
    kept = edit(
        engine, examples["en_happy_prompt"], "emotion", edit_info="happy", n_edit_iter=2, keep_original_speaker=True
    )
    # Pass one is identical; pass two is decoded against the original recording instead.
    assert [p.prompt for p in plain.passes] == [p.prompt for p in kept.passes]
    assert not np.array_equal(plain.audio.samples, kept.audio.samples)


def test_stream_gives_the_take_in_pieces(engine, prompt):
    clip, text = prompt
    request = CloneRequest(clip, text, "Glue the sheet to the dark blue background.", seed=5, max_new_tokens=NEW_TOKENS)
    pieces = list(engine.stream(request, chunk_tokens=10))
    assert len(pieces) >= 2 and all(p.sr == 24_000 for p in pieces)
    streamed = np.concatenate([p.samples for p in pieces])
    # Chunked flow attends over less future context than the whole take, so samples differ; the
    # length, the tokens behind it and finiteness do not.
    whole = engine.clone(request).audio.samples
    assert len(streamed) == len(whole)
    assert np.all(np.isfinite(streamed)) and np.abs(streamed).max() > 0


def test_specific_errors(engine, prompt, examples):
    clip, _ = prompt
    with pytest.raises(BadInput, match="needs its transcript"):
        engine.clone(CloneRequest(clip, "", "Hello."))
    with pytest.raises(BadInput, match="text to speak is empty"):
        engine.clone(CloneRequest(clip, "Some words.", "   "))
    long = audio.read(examples["denoise_prompt"].path)
    twice = long.with_samples(np.concatenate([long.samples, long.samples]))
    with pytest.raises(AudioInputError, match=r"limit is 30 s per model call"):
        engine.edit(EditRequest(twice, "words", "denoise"))
    with pytest.raises(BadInput, match="emotion edits need edit_info, one of: happy"):
        engine.edit(EditRequest(clip, "words", "emotion", edit_info="jolly"))
    with pytest.raises(BadInput, match="Unknown edit mode 'karaoke'"):
        engine.edit(EditRequest(clip, "words", "karaoke"))
    with pytest.raises(BadInput, match="n_edit_iter must be 1 to 4"):
        engine.edit(EditRequest(clip, "words", "denoise", n_edit_iter=5))
    with pytest.raises(BadInput, match=r"intensity must be 0\.5 to 3\.0"):
        engine.edit(EditRequest(clip, "words", "emotion", edit_info="sad", intensity=4))
    with pytest.raises(BadInput, match="paralinguistic tags is empty"):
        engine.edit(EditRequest(clip, "words", "paralinguistic"))


def test_out_of_memory_releases_and_recovers(engine, prompt, monkeypatch):
    decoder = engine._parts["decoder"]

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(decoder, "decode", exhausted)
    with pytest.raises(OutOfMemory, match="ran out of memory"):
        clone(engine, prompt)
    monkeypatch.undo()
    assert engine.status().queue_depth == 0
    assert_plausible(clone(engine, prompt))


def test_queue_limit_refuses_instead_of_piling_up(engine, prompt, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    decode = engine._parts["decoder"].decode

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return decode(*args, **kwargs)

    monkeypatch.setattr(engine._parts["decoder"], "decode", slow)
    monkeypatch.setattr(engine.settings, "queue_size", 2)
    results: list[object] = []
    workers = [threading.Thread(target=lambda: results.append(clone(engine, prompt))) for _ in range(2)]
    workers[0].start()
    assert started.wait(60)
    workers[1].start()
    deadline = time.monotonic() + 30
    while engine.status().queue_depth < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(Busy, match="queue is full"):
        clone(engine, prompt)
    release.set()
    for worker in workers:
        worker.join(60)
    assert len(results) == 2 and engine.status().queue_depth == 0


def test_status_and_unload(tiny_model_dir, tmp_path, prompt):
    engine = Engine(Settings(model_dir=tiny_model_dir, data_dir=tmp_path, device="cpu"))
    status = engine.status()
    assert not status.loaded and status.memory_bytes == 0
    assert status.variants_on_disk == {"base": True, "bnb": True, "awq": True}
    engine.load()
    assert engine.status().loaded and engine.status().memory_bytes > 1_000_000
    engine.unload()
    assert not engine.status().loaded
    with pytest.raises(ModelNotLoaded), engine._turn():
        pass


def test_missing_weights_say_how_to_get_them(tmp_path):
    engine = Engine(Settings(model_dir=tmp_path / "nowhere", data_dir=tmp_path, device="cpu"))
    assert engine.status().variants_on_disk == {"base": False, "bnb": False, "awq": False}
    with pytest.raises(Exception, match="python -m studio download"):
        engine.load()


def test_command_line_clone_and_edit(tiny_model_dir, tmp_path, examples, capsys):
    from studio.__main__ import main

    rec = examples["en_happy_prompt"]
    common = ["--model-dir", str(tiny_model_dir), "--data-dir", str(tmp_path), "--device", "cpu"]
    out = tmp_path / "edited.flac"
    args = ["edit", "--audio", str(rec.path), "--audio-text", rec.text, "--mode", "emotion", "--edit-info", "sad"]
    assert main([*args, "--n-edit-iter", "2", "--seed", "4", "--max-new-tokens", "30", "--out", str(out), *common]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["passes"] == 2 and summary["seed"] == 4 and "llm" in summary["timings"]
    assert audio.read(out).duration == pytest.approx(summary["duration"], abs=0.01)
    # No transcript: the packaged Whisper writes it, and the prompt shows what it heard.
    clone = ["clone", "--prompt-audio", str(rec.path), "--text", "Hi.", "--out", str(tmp_path / "c.wav"), *common]
    assert main([*clone, "--max-new-tokens", "30"]) == 0
    prompt = json.loads(capsys.readouterr().out)["prompt"].lower()
    assert "speaker prompt text: \n" in prompt and "big project" in prompt
