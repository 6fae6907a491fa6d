"""The audio decoder (flow matching + HiFT) on the tiny checkpoint in the official file layout.

Tolerances: `stream` with one chunk equals `decode` to 1e-5; chunked flow decoding equals the same
attention pattern computed in one masked pass to 1e-5; vocoding in pieces equals one pass to 1e-5.
Smaller chunks are the model's streaming approximation, so they are compared against that masked
reference, not against `decode`.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from studio import audio
from studio.engine import features
from studio.engine.decoder import Decoder, SeededNoise, chunk_ends
from studio.engine.flow import CausalConditionalCFM, dual_codebook_steps
from studio.engine.hift import VocoderStream
from studio.errors import BadInput, CheckpointError
from studio.testing.tiny_decoder import DECODER_DIR

SPF = 480  # samples per mel frame at 24 kHz


def mixed_codes(groups: int, seed: int) -> list[int]:
    """Mixed K values as the tokenizer interleaves them: 2 vq02 codes, then 3 vq06 codes + 1024, per group."""
    rng = np.random.default_rng(seed)
    codes = []
    for _ in range(groups):
        codes += [*rng.integers(0, 1024, 2).tolist(), *(1024 + rng.integers(0, 4096, 3)).tolist()]
    return codes


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and idle-spinning threads stall a busy CI box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def decoder_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir / DECODER_DIR


@pytest.fixture(scope="module")
def decoder(decoder_dir: Path) -> Decoder:
    return Decoder.load(decoder_dir)


@pytest.fixture(scope="module")
def prompt(harvard) -> dict:
    """A real prompt: 2.4 s of codes and the Harvard-sentence recording's 24 kHz prompt mel."""
    at24 = audio.read(harvard.path, sr=24_000).samples[: 24_000 * 3]
    mel = features.prompt_mel(torch.from_numpy(at24)).numpy()
    speaker = np.random.default_rng(5).standard_normal(192).astype(np.float32)
    return {"prompt_tokens": mixed_codes(20, seed=1), "prompt_mel": mel, "speaker": speaker}


@pytest.fixture(scope="module")
def take(decoder: Decoder, prompt: dict):
    tokens = mixed_codes(12, seed=2)
    return tokens, decoder.decode(tokens, **prompt, seed=3)


# --- loading --------------------------------------------------------------------------------------


def test_tiny_checkpoint_loads_strictly_with_official_keys(decoder: Decoder, decoder_dir: Path):
    flow_keys = set(torch.load(decoder_dir / "flow.pt", weights_only=True))
    hift_keys = set(torch.load(decoder_dir / "hift.pt", weights_only=True))
    assert flow_keys == set(decoder.flow.state_dict())
    assert hift_keys == set(decoder.hift.state_dict())
    assert {
        "input_embedding.embedding.weight",
        "spk_embed_affine_layer.weight",
        "encoder.embed.out.1.weight",
        "encoder.encoders.0.self_attn.pos_bias_u",
        "encoder.pre_lookahead_layer.conv1.weight",
        "encoder.up_layer.conv.weight",
        "encoder.up_encoders.0.feed_forward.w_2.bias",
        "decoder.estimator.t_embedder.mlp.2.weight",
        "decoder.estimator.blocks.1.attn.q_norm.weight",
        "decoder.estimator.blocks.1.conv.block.6.weight",
        "decoder.estimator.blocks.1.adaLN_modulation.1.weight",
        "decoder.estimator.final_layer.linear.bias",
    } <= flow_keys
    assert {
        "conv_pre.parametrizations.weight.original0",
        "ups.2.parametrizations.weight.original1",
        "source_downs.0.weight",
        "resblocks.8.activations2.2.alpha",
        "f0_predictor.condnet.8.parametrizations.weight.original1",
        "m_source.l_linear.weight",
    } <= hift_keys
    table = decoder.flow.input_embedding.embedding.weight
    assert tuple(table.shape) == (5121, 16)  # one shared table, half of the 32-wide input per stream
    assert decoder.sample_rate == 24_000 and decoder.config.hift.samples_per_frame == SPF


@pytest.fixture
def decoder_copy(decoder_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(decoder_dir, tmp_path / "CosyVoice-300M-25Hz"))


def test_renamed_key_names_the_file_and_both_keys(decoder_copy: Path):
    state = torch.load(decoder_copy / "flow.pt", weights_only=True)
    state["decoder.estimator.blocks.0.attn.to_q.weight_renamed"] = state.pop(
        "decoder.estimator.blocks.0.attn.to_q.weight"
    )
    torch.save(state, decoder_copy / "flow.pt")
    with pytest.raises(CheckpointError) as err:
        Decoder.load(decoder_copy)
    message = str(err.value)
    assert "flow.pt" in message
    assert "missing keys: decoder.estimator.blocks.0.attn.to_q.weight" in message
    assert "unexpected keys: decoder.estimator.blocks.0.attn.to_q.weight_renamed" in message


def test_wrong_shape_is_named(decoder_copy: Path):
    state = torch.load(decoder_copy / "hift.pt", weights_only=True)
    state["m_source.l_linear.weight"] = torch.zeros(1, 3)
    torch.save(state, decoder_copy / "hift.pt")
    with pytest.raises(CheckpointError, match=r"hift\.pt.*m_source\.l_linear\.weight \(1, 3\) \(expected \(1, 9\)\)"):
        Decoder.load(decoder_copy)


def test_pointer_missing_and_corrupt_files_are_named(decoder_copy: Path):
    (decoder_copy / "hift.pt").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 83000000\n")
    with pytest.raises(CheckpointError, match=r"hift\.pt.*Git-LFS pointer"):
        Decoder.load(decoder_copy)
    (decoder_copy / "flow.pt").unlink()
    with pytest.raises(CheckpointError, match=r"Missing model file .*flow\.pt"):
        Decoder.load(decoder_copy)
    (decoder_copy / "flow.pt").write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match=r"flow\.pt .*cannot be read as a PyTorch checkpoint"):
        Decoder.load(decoder_copy)


def test_pickled_code_in_a_checkpoint_is_not_run(decoder_copy: Path, tmp_path: Path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"x": Payload()}, decoder_copy / "flow.pt")
    with pytest.raises(CheckpointError, match=r"flow\.pt"):
        Decoder.load(decoder_copy)
    assert not marker.exists()


# --- token reshaping ------------------------------------------------------------------------------


def test_dual_codebook_steps_golden():
    codes = [3, 7, 1024 + 5, 1024 + 9, 5119, 11, 12, 2000, 2001, 2002, 13]
    steps = dual_codebook_steps(codes)
    assert steps.tolist() == [
        [3, 1030],  # vq02 codes pair with vq06 codes + 1 (1025..5120)
        [7, 1034],
        [1024, 5120],  # third step of a group: the vq02 pad
        [11, 2001],
        [12, 2002],
        [1024, 2003],
        [13, 1025],  # partial group: missing vq02 slot -> 0, missing vq06 slots -> 1024 (+1)
        [0, 1025],
        [1024, 1025],
    ]
    for tail, expected in ((2, [[1, 1025], [2, 1025], [1024, 1025]]), (4, [[1, 3001], [2, 4001], [1024, 1025]])):
        assert dual_codebook_steps([1, 2, 3000, 4000][:tail]).tolist() == expected


# --- flow matching maths --------------------------------------------------------------------------


class ToyVelocity(nn.Module):
    """A velocity field that depends on every input, to check the solver against a hand-written loop."""

    def forward(self, x, mu, t, spks, cond, cache=None, attn_mask=None):
        return torch.tanh(x) * 0.5 + mu * (1 + t[:, None, None]) - spks[:, :, None] + 0.3 * cond * x


def test_cfm_is_euler_on_a_cosine_grid_with_guidance():
    generator = torch.Generator().manual_seed(0)
    mu, cond, noise = (torch.randn(1, 80, 9, generator=generator) for _ in range(3))
    spks = torch.randn(1, 80, generator=generator)
    toy = ToyVelocity()
    x = noise.clone()
    times = [1 - math.cos(math.pi / 2 * k / 10) for k in range(11)]
    for k in range(10):
        t = torch.tensor([times[k]])
        conditioned = toy(x, mu, t, spks, cond)
        unconditioned = toy(x, torch.zeros_like(mu), t, torch.zeros_like(spks), torch.zeros_like(cond))
        x = x + (times[k + 1] - times[k]) * (1.7 * conditioned - 0.7 * unconditioned)
    solved = CausalConditionalCFM(toy, inference_cfg_rate=0.7)(mu, spks, cond, noise)
    torch.testing.assert_close(solved, x, atol=1e-5, rtol=1e-5)


def chunk_mask(ends: list[int], pinned: int, window: int) -> torch.Tensor:
    """Which frames each frame attends to in streaming: its own and earlier chunks, minus frames that are
    neither the prompt nor among the newest `window` before its chunk."""
    allowed = torch.zeros(ends[-1], ends[-1], dtype=torch.bool)
    start = 0
    for end in ends:
        allowed[start:end, :end] = True
        allowed[start:end, pinned : max(pinned, start - window)] = False
        start = end
    return allowed


def test_chunked_flow_equals_one_masked_pass(decoder: Decoder):
    generator = torch.Generator().manual_seed(1)
    mu, cond, noise = (torch.randn(1, 80, 70, generator=generator) for _ in range(3))
    spks = torch.randn(1, 80, generator=generator)
    ends, pinned, window = [24, 30, 41, 58, 70], 12, 10
    cfm = decoder.flow.decoder
    with torch.inference_mode():
        chunks = list(cfm.stream(mu, spks, cond, lambda a, b: noise[..., a:b], ends, pinned=pinned, window=window))
        reference = cfm(mu, spks, cond, noise, attn_mask=chunk_mask(ends, pinned, window))
        # The window matters: without trimming the later chunks see more and come out differently.
        wide = torch.cat(list(cfm.stream(mu, spks, cond, lambda a, b: noise[..., a:b], ends, pinned=0, window=70)), 2)
    assert [c.shape[2] for c in chunks] == [24, 6, 11, 17, 12]
    torch.testing.assert_close(torch.cat(chunks, dim=2), reference, atol=1e-5, rtol=1e-5)
    assert (wide[..., 41:] - reference[..., 41:]).abs().max() > 1e-3


# --- vocoder ------------------------------------------------------------------------------------


def test_vocoder_pieces_join_exactly(decoder: Decoder, prompt: dict):
    mel = torch.from_numpy(prompt["prompt_mel"]).T[None][..., :130]
    noise = SeededNoise(9, 1, 9, 24_000, torch.device("cpu"))
    with torch.inference_mode():
        whole = decoder.hift.inference(mel, noise)
        stream = VocoderStream(decoder.hift, noise)
        bounds = [0, 3, 40, 41, 97, 130]
        pieces = [stream.push(mel[..., a:b], final=b == 130) for a, b in itertools.pairwise(bounds)]
    assert len(whole) == 130 * SPF
    assert [len(p) for p in pieces] == [0, 16 * SPF, 1 * SPF, 56 * SPF, 57 * SPF]  # 24 frames wait for context
    np.testing.assert_allclose(torch.cat(pieces).numpy(), whole.numpy(), atol=1e-5)
    assert 0.001 < whole.abs().max() <= 0.99


def test_source_phase_follows_the_reference_interpolation(decoder: Decoder):
    """The harmonic source equals upstream's recipe: nearest up-sampling of F0, per-sample phase increments
    linearly down-sampled to frames, cumulated, linearly up-sampled back (done here in float64)."""
    hift = decoder.hift
    source = hift.m_source
    frames, harmonics = 40, torch.arange(1, 10, dtype=torch.float64)
    f0 = torch.linspace(80, 260, frames)
    f0[10:14] = 0  # an unvoiced stretch
    f0_samples = f0.double().repeat_interleave(SPF)[None, :, None] * harmonics
    rad = ((f0_samples / 24_000) % 1).transpose(1, 2)
    down = torch.nn.functional.interpolate(rad, scale_factor=1 / SPF, mode="linear")
    phase = torch.cumsum(down, dim=2) * 2 * math.pi
    up = torch.nn.functional.interpolate(phase * SPF, scale_factor=SPF, mode="linear").transpose(1, 2)[0]
    voiced = (f0 > 10).double().repeat_interleave(SPF)[:, None]
    expected = torch.tanh(source.l_linear((torch.sin(up) * 0.1 * voiced).float()))
    with torch.inference_mode():
        got, _ = source(f0, torch.zeros(frames * SPF, 9), 0, torch.zeros(9, dtype=torch.float64))
    torch.testing.assert_close(got[0, 0], expected[:, 0], atol=1e-4, rtol=0)


# --- decoding -----------------------------------------------------------------------------------


def test_output_is_480_samples_per_generated_frame(decoder: Decoder, prompt: dict, take):
    tokens, result = take
    assert result.audio.sr == 24_000 and result.audio.samples.dtype == np.float32
    assert len(result.audio.samples) == 2 * 3 * (len(tokens) // 5) * SPF  # 12 groups -> 36 steps -> 72 frames
    assert set(result.timings) == {"flow", "vocoder"} and all(v > 0 for v in result.timings.values())
    assert np.all(np.isfinite(result.audio.samples)) and result.audio.peak > 1e-3
    partial = decoder.decode(tokens[:7], **prompt, seed=3)  # a partial group is padded to a whole one
    assert len(partial.audio.samples) == 2 * 3 * 2 * SPF


def test_prompt_frames_are_conditioning_not_output(decoder: Decoder, prompt: dict, take):
    tokens, result = take
    longer = {**prompt, "prompt_tokens": prompt["prompt_tokens"] + mixed_codes(10, seed=4)}
    other = decoder.decode(tokens, **longer, seed=3)
    assert len(other.audio.samples) == len(result.audio.samples)
    assert not np.allclose(other.audio.samples, result.audio.samples, atol=1e-3)  # the prompt conditions the take
    quiet = {**prompt, "prompt_mel": prompt["prompt_mel"] - 3.0}
    assert not np.allclose(decoder.decode(tokens, **quiet, seed=3).audio.samples, result.audio.samples, atol=1e-3)


def test_seed_repeats_and_another_seed_differs(decoder: Decoder, prompt: dict, take):
    tokens, result = take
    np.testing.assert_array_equal(decoder.decode(tokens, **prompt, seed=3).audio.samples, result.audio.samples)
    other = decoder.decode(tokens, **prompt, seed=4).audio.samples
    assert np.sqrt(np.mean((other - result.audio.samples) ** 2)) > 1e-3


def test_stream_with_one_chunk_equals_decode(decoder: Decoder, prompt: dict, take):
    tokens, result = take
    pieces = list(decoder.stream(tokens, **prompt, seed=3, chunk_tokens=10_000))
    assert len(pieces) == 1 and pieces[0].sr == 24_000
    np.testing.assert_allclose(pieces[0].samples, result.audio.samples, atol=1e-5)


def test_stream_yields_consecutive_pieces(decoder: Decoder, prompt: dict, take):
    tokens, result = take
    pieces = list(decoder.stream(tokens, **prompt, seed=3, chunk_tokens=5))
    # Flow chunks of 6, 12, 24, 24, 6 frames; the vocoder holds back 24 frames of context until the end.
    assert chunk_ends(120, 120 + 72, 6) == [126, 138, 162, 186, 192]
    assert [len(p.samples) // SPF for p in pieces] == [18, 24, 30]
    streamed = np.concatenate([p.samples for p in pieces])
    assert len(streamed) == len(result.audio.samples) and np.all(np.isfinite(streamed))
    again = np.concatenate([p.samples for p in decoder.stream(tokens, **prompt, seed=3, chunk_tokens=5)])
    np.testing.assert_array_equal(again, streamed)


def test_reduced_precision_decodes(decoder_dir: Path, prompt: dict, take):
    tokens, result = take
    half = Decoder.load(decoder_dir, dtype="bfloat16")
    assert half.flow.encoder_proj.weight.dtype == torch.bfloat16
    assert half.hift.conv_pre.bias.dtype == torch.float32
    samples = half.decode(tokens, **prompt, seed=3).audio.samples
    assert len(samples) == len(result.audio.samples) and np.all(np.isfinite(samples))
    with pytest.raises(BadInput, match="dtype"):
        Decoder.load(decoder_dir, dtype="float8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": []}, "tokens is empty"),
        ({"tokens": [1, 2, 5120]}, "outside the audio codes"),
        ({"prompt_tokens": [-1]}, "outside the audio codes"),
        ({"prompt_mel": np.zeros((10, 40), np.float32)}, "prompt_mel"),
        ({"prompt_mel": np.full((10, 80), np.nan, np.float32)}, "prompt_mel"),
        ({"speaker": np.zeros(192, np.float32)}, "speaker"),
        ({"speaker": np.ones(80, np.float32)}, "speaker"),
        ({"seed": -1}, "seed"),
        ({"chunk_tokens": 4}, "chunk_tokens"),
    ],
)
def test_bad_input_is_refused_before_any_work(decoder: Decoder, prompt: dict, change: dict, message: str):
    call = {"tokens": mixed_codes(2, seed=0), **prompt, "seed": 0, "chunk_tokens": 25, **change}
    with pytest.raises(BadInput, match=message):
        decoder.stream(**call)  # validation happens at the call, not at the first piece
    if "chunk_tokens" not in change:
        del call["chunk_tokens"]
        with pytest.raises(BadInput, match=message):
            decoder.decode(**call)
