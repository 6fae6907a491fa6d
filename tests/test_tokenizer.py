"""The audio tokenizer on real recordings with the tiny random checkpoint: counts, framing, caching, errors."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio import audio as audio_io
from studio.__main__ import main
from studio.engine import features
from studio.engine import tokenizer as tok
from studio.engine.paraformer import PARAFORMER_DIR
from studio.engine.tokenizer import AudioTokenizer, PromptCache, interleave, token_string
from studio.errors import AudioInputError, CheckpointError
from studio.testing import tiny_tokenizer

STAGES = ("linguistic_codes", "semantic_codes", "speaker_embedding", "prompt_mel")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> AudioTokenizer:
    return AudioTokenizer.load(tiny_model_dir)


def fresh(tokenizer: AudioTokenizer, cache_dir: Path | None = None) -> AudioTokenizer:
    """The same loaded models behind an empty cache, so every encode really runs."""
    return AudioTokenizer(
        tokenizer.frontend,
        tokenizer.encoder,
        tokenizer.centroids,
        tokenizer.speech_tokenizer,
        tokenizer.campplus,
        cache=PromptCache(directory=cache_dir),
    )


def count_stage_calls(monkeypatch: pytest.MonkeyPatch, instance: AudioTokenizer) -> dict[str, int]:
    calls = dict.fromkeys(STAGES, 0)
    for stage in STAGES:
        original = getattr(instance, stage)

        def counted(*args, _stage=stage, _original=original):
            calls[_stage] += 1
            return _original(*args)

        monkeypatch.setattr(instance, stage, counted)
    return calls


def test_interleave_order_and_truncation() -> None:
    vq02 = np.array([1, 2, 3, 4, 5])  # the fifth code has no partner: dropped
    vq06 = np.array([10, 11, 12, 13, 14, 15, 16, 17])  # 16, 17 do not fill a group: dropped
    mixed = interleave(vq02, vq06)
    assert mixed == [1, 2, 1034, 1035, 1036, 3, 4, 1037, 1038, 1039]
    assert token_string(mixed[:3]) == "<audio_1><audio_2><audio_1034>"
    assert interleave(np.array([7, 8, 9, 10]), np.array([0, 1, 2])) == [7, 8, 1024, 1025, 1026]
    assert interleave(np.array([1]), np.array([1, 2, 3])) == []


@pytest.mark.parametrize("name", ["zero_shot_en_prompt", "en_happy_prompt", "fear_zh_female_prompt"])
def test_codes_follow_the_duration(tokenizer: AudioTokenizer, examples, name: str) -> None:
    audio = audio_io.read(examples[name].path)
    prompt = fresh(tokenizer).encode(audio)
    seconds = len(features.trim_silence(audio_io.peak_normalize(audio_io.resample(audio, 16_000).samples))) / 16_000
    assert abs(len(prompt.vq06) - 25 * seconds) <= 2
    assert abs(len(prompt.vq02) - seconds * 50 / 3) <= 2
    groups = min(len(prompt.vq02) // 2, len(prompt.vq06) // 3)
    assert len(prompt.mixed) == 5 * groups and prompt.ids[0] == 65536 + prompt.mixed[0]
    assert prompt.mixed[:5] == [*prompt.vq02[:2], *(prompt.vq06[:3] + 1024)]
    assert prompt.token_string == token_string(prompt.mixed)
    assert prompt.vq02.max() < 1024 and prompt.vq06.max() < 4096 and len(set(prompt.vq02.tolist())) > 10
    assert prompt.mel.dtype == np.float32 and prompt.mel.shape == (round(audio.duration * 24_000) // 480, 80)
    assert prompt.speaker.shape == (192,) and np.all(np.isfinite(prompt.speaker))
    assert prompt.duration == audio.duration
    assert set(prompt.timings) == {"preprocess", "vq02", "vq06", "speaker", "mel"}


def test_encoding_is_deterministic(tokenizer: AudioTokenizer, harvard) -> None:
    audio = audio_io.read(harvard.path)
    first, second = fresh(tokenizer).encode(audio), fresh(tokenizer).encode(audio)
    for field in ("vq02", "vq06", "mel", "speaker"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))


@pytest.mark.parametrize("name", ["whisper_prompt", "zero_shot_en_prompt"])
def test_same_codes_at_any_sample_rate(tokenizer: AudioTokenizer, examples, name: str) -> None:
    """A wideband recording given at 16, 24, 44.1 or 48 kHz yields the same tokens within 5 %.

    Each version reaches 16 kHz through one anti-aliased resampling, whose band edges differ a little;
    random tiny weights leave many frames near a code boundary, so a few codes may flip (measured 98-100 %).
    """
    original = audio_io.read(examples[name].path)
    assert original.sr >= 44_100
    encoder = fresh(tokenizer)
    reference = encoder.encode(audio_io.resample(original, 16_000))
    for sr in (24_000, 44_100, 48_000):
        prompt = encoder.encode(audio_io.resample(original, sr))
        assert (len(prompt.vq02), len(prompt.vq06)) == (len(reference.vq02), len(reference.vq06))
        assert np.mean(prompt.vq02 == reference.vq02) >= 0.95
        assert np.mean(prompt.vq06 == reference.vq06) >= 0.95
        cosine = prompt.speaker @ reference.speaker / np.linalg.norm(prompt.speaker) / np.linalg.norm(reference.speaker)
        assert cosine > 0.999


def test_8k_recordings_are_accepted(tokenizer: AudioTokenizer, speakers_8k) -> None:
    for path in speakers_8k[:2]:
        audio = audio_io.read(path)
        assert audio.sr == 8_000
        prompt = fresh(tokenizer).encode(audio)
        assert len(prompt.vq06) > 20 and len(prompt.mixed) == 5 * min(len(prompt.vq02) // 2, len(prompt.vq06) // 3)
        assert prompt.mel.shape == (round(audio.duration * 24_000) // 480, 80)


def test_cache_hit_returns_the_same_without_running(
    tokenizer: AudioTokenizer, examples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = audio_io.read(examples["speed_prompt"].path)
    first = fresh(tokenizer, tmp_path)
    calls = count_stage_calls(monkeypatch, first)
    encoded = first.encode(audio)
    assert calls == dict.fromkeys(STAGES, 1)
    again = first.encode(audio_io.read(examples["speed_prompt"].path))
    assert calls == dict.fromkeys(STAGES, 1) and set(again.timings) == {"cache"}
    assert len(list(tmp_path.glob("*.npz"))) == 1
    # A new process (new tokenizer, same folder) finds it on disk.
    second = fresh(tokenizer, tmp_path)
    second_calls = count_stage_calls(monkeypatch, second)
    from_disk = second.encode(audio)
    assert second_calls == dict.fromkeys(STAGES, 0)
    for hit in (again, from_disk):
        for field in ("vq02", "vq06", "mel", "speaker"):
            np.testing.assert_array_equal(getattr(hit, field), getattr(encoded, field))
        assert (hit.mixed, hit.token_string, hit.duration) == (encoded.mixed, encoded.token_string, encoded.duration)
    second.encode(audio.with_samples(audio.samples * 0.5))  # other content: encoded afresh
    assert second_calls["linguistic_codes"] == 1


def test_unreadable_cache_entry_is_encoded_again(tokenizer: AudioTokenizer, examples, tmp_path: Path) -> None:
    audio = audio_io.read(examples["speed_prompt"].path)
    encoded = fresh(tokenizer, tmp_path).encode(audio)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"PK\x03\x04 cut short")
    again = fresh(tokenizer, tmp_path).encode(audio)
    assert set(again.timings) != {"cache"}
    np.testing.assert_array_equal(again.vq02, encoded.vq02)


def test_cache_is_bounded_and_keyed_by_model_files() -> None:
    prompt = tok.make_prompt(np.arange(4), np.arange(6), np.zeros((2, 80), np.float32), np.zeros(192), 1.0, {})
    cache = PromptCache(max_items=2)
    for key in "abc":
        cache.put(key, prompt)
    assert cache.get("a") is None and cache.get("c") is prompt
    other_model = PromptCache(fingerprint="other")
    other_model.put("c", prompt)
    assert other_model._key("c") != cache._key("c")


def test_vq06_runs_in_30_s_pieces_and_drops_a_sliver(tokenizer: AudioTokenizer, examples) -> None:
    joined = np.concatenate([audio_io.read(r.path, sr=16_000).samples for r in examples.values()])
    piece = tok.VQ06_PIECE
    first = tokenizer.semantic_codes(joined[:piece])
    assert len(first) == 750
    np.testing.assert_array_equal(tokenizer.semantic_codes(joined[: piece + 240]), first)  # 15 ms left: dropped
    longer = tokenizer.semantic_codes(joined[: piece + 16_000])
    np.testing.assert_array_equal(longer[:750], first)
    assert len(longer) == 775


class _HundredHertz(torch.nn.Module):
    """A stand-in that emits one code per mel frame: the wrong model for a 25 Hz tokenizer."""

    def forward(self, feats: torch.Tensor, feats_length: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(feats.shape[2])[None, :] < feats_length[:, None]
        return (feats * mask[:, None, :]).argmax(1)[:, None, :]


def test_a_tokenizer_of_the_wrong_rate_is_named(tokenizer: AudioTokenizer, examples, tmp_path: Path) -> None:
    path = tmp_path / "speech_tokenizer_v1.onnx"
    tiny_tokenizer.export_speech_tokenizer(_HundredHertz(), path)
    wrong = fresh(tokenizer)
    wrong.speech_tokenizer = tok.onnx_session(path, "S3 speech tokenizer", "cpu", inputs=2)
    with pytest.raises(CheckpointError, match=r"speech_tokenizer_v1\.onnx gave \d+ codes .* not the Step-Audio 25 Hz"):
        wrong.encode(audio_io.read(examples["speed_prompt"].path))


def test_too_short_audio_is_refused(tokenizer: AudioTokenizer) -> None:
    with pytest.raises(AudioInputError, match="at least"):
        fresh(tokenizer).encode(audio_io.Audio(np.zeros(800, np.float32), 16_000))


def test_cuda_without_the_cuda_provider_warns_and_uses_the_cpu(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tiny_model_dir / tok.TOKENIZER_DIR / "speech_tokenizer_v1.onnx"
    if "CUDAExecutionProvider" in tok.ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with caplog.at_level(logging.WARNING):
        session = tok.onnx_session(path, "S3 speech tokenizer", "cuda", inputs=2)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "runs on the CPU" in caplog.text


@pytest.fixture
def broken(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tokenizer's files, to damage one at a time."""
    shutil.copytree(tiny_model_dir / tok.TOKENIZER_DIR, tmp_path / tok.TOKENIZER_DIR)
    shutil.copytree(tiny_model_dir / tok.CAMPPLUS_DIRS[0], tmp_path / tok.CAMPPLUS_DIRS[0])
    return tmp_path


def _paraformer(root: Path) -> Path:
    return root / tok.TOKENIZER_DIR / PARAFORMER_DIR


def _lfs_pointer(path: Path) -> None:
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 881000000\n")


def _bigger_model(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["encoder.after_norm.weight"] = torch.ones(65)
    torch.save(state, path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (_paraformer(r) / "model.pt").unlink(), r"Missing model file .*model\.pt"),
        (lambda r: _lfs_pointer(_paraformer(r) / "model.pt"), r"model\.pt .*Git-LFS pointer"),
        (lambda r: (_paraformer(r) / "model.pt").write_bytes(bytes(range(256)) * 8), r"model\.pt is not a readable"),
        (lambda r: _bigger_model(_paraformer(r) / "model.pt"), r"encoder\.after_norm\.weight has shape \(65,\)"),
        (lambda r: (_paraformer(r) / "config.yaml").write_text("encoder: Conformer\n"), r"config\.yaml: encoder"),
        (lambda r: (_paraformer(r) / "am.mvn").write_text("<Nnet>\n</Nnet>\n"), r"am\.mvn is not a Kaldi CMVN"),
        (
            lambda r: np.save(r / tok.TOKENIZER_DIR / "linguistic_tokenizer.npy", np.zeros((512, 64), np.float32)),
            r"linguistic_tokenizer\.npy has shape \(512, 64\)",
        ),
        (lambda r: _lfs_pointer(r / tok.TOKENIZER_DIR / "speech_tokenizer_v1.onnx"), r"tokenizer_v1\.onnx .*LFS"),
        (
            lambda r: (r / tok.TOKENIZER_DIR / "speech_tokenizer_v1.onnx").write_bytes(b"not onnx" * 100),
            r"speech_tokenizer_v1\.onnx \(S3 speech tokenizer\) is not a loadable ONNX model",
        ),
        (lambda r: (r / tok.CAMPPLUS_DIRS[0] / "campplus.onnx").unlink(), r"Missing model file .*campplus\.onnx"),
    ],
    ids=[
        "missing-model",
        "lfs-model",
        "garbage-model",
        "wrong-shape",
        "wrong-config",
        "bad-cmvn",
        "wrong-centroids",
        "lfs-onnx",
        "garbage-onnx",
        "missing-campplus",
    ],
)
def test_broken_files_are_named(broken: Path, damage, message: str) -> None:
    damage(broken)
    with pytest.raises(CheckpointError, match=message):
        AudioTokenizer.load(broken)


def test_cli_prints_counts_and_timings(tiny_model_dir: Path, examples, tmp_path: Path, capsys) -> None:
    path = examples["paralingustic_prompt"].path
    args = ["tokenize", "--audio", str(path), "--model-dir", str(tiny_model_dir), "--data-dir", str(tmp_path)]
    assert main([*args, "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["interleaved"] == 5 * min(report["vq02"] // 2, report["vq06"] // 3)
    assert report["first_tokens"].count("<audio_") == 10
    assert {"load", "vq02", "vq06", "speaker", "mel"} <= set(report["seconds"])
    assert main([*args, "--device", "cpu"]) == 0  # the second run is served from the disk cache
    assert set(json.loads(capsys.readouterr().out)["seconds"]) == {"load", "cache"}
