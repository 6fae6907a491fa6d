"""The vq02 encoder: the batched chunk computation against a chunk-by-chunk streaming reference and FunASR."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from studio import audio as audio_io
from studio.engine import paraformer
from studio.engine.paraformer import CHUNK_SIZE, LOOK_BACK, chunk_plan, chunk_stride, load_encoder
from studio.engine.tokenizer import TOKENIZER_DIR
from studio.errors import CheckpointError

STRIDE = chunk_stride()


@pytest.fixture(scope="module")
def paraformer_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir / TOKENIZER_DIR / paraformer.PARAFORMER_DIR


@pytest.fixture(scope="module")
def loaded(paraformer_dir: Path):
    return load_encoder(paraformer_dir)


@pytest.fixture(scope="module")
def speech(examples) -> np.ndarray:
    return audio_io.read(examples["en_happy_prompt"].path, sr=16_000).samples


@pytest.mark.parametrize(
    ("samples", "sizes"),
    [
        (879, []),  # too short for one LFR window: dropped
        (880, [1]),
        (3600, [4]),  # shorter than one chunk: flushed as the final chunk
        (STRIDE, [4]),
        (STRIDE + 240, [4]),  # the tail brings too few fbank frames: dropped
        (STRIDE + 960, [4, 1]),
        (2 * STRIDE, [4, 4]),
        (2 * STRIDE + 3600, [4, 4, 4]),  # the final chunk flushes the padded last frame
    ],
)
def test_chunk_plan_follows_the_streaming_front_end(loaded, samples: int, sizes: list[int]) -> None:
    frontend, _ = loaded
    chunks = chunk_plan(samples, frontend.config)
    assert [len(c) for c in chunks] == sizes
    assert [c.start for c in chunks] == [4 * i for i in range(len(sizes))]


def test_config_keys_left_out_take_funasr_defaults(paraformer_dir: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load((paraformer_dir / "config.yaml").read_text())
    for key in ("fs", "window", "frame_length"):
        del raw["frontend_conf"][key]
    del raw["encoder_conf"]["sanm_shfit"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    assert paraformer.ParaformerConfig.load(tmp_path / "config.yaml") == paraformer.ParaformerConfig.load(
        paraformer_dir / "config.yaml"
    )
    del raw["encoder_conf"]["input_layer"]  # FunASR would build a conv2d front: not this model
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CheckpointError, match="input_layer is 'conv2d'"):
        paraformer.ParaformerConfig.load(tmp_path / "config.yaml")


def reference_stream(encoder: paraformer.SanmEncoder, feats: torch.Tensor, chunks: list[range]) -> torch.Tensor:
    """The official streaming computation, one chunk at a time with explicit caches (FunASR's forward_chunk)."""
    context, stride = CHUNK_SIZE[2], CHUNK_SIZE[1]
    depth = feats.shape[1]
    carried = torch.zeros(1, context, depth)
    caches: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * (1 + len(encoder.encoders))
    outputs = []
    for chunk in chunks:
        positions = torch.arange(1, chunk.stop + 1, dtype=torch.float32)[chunk.start :]
        increment = math.log(10000.0) / (depth / 2 - 1)
        inv = torch.exp(torch.arange(depth // 2, dtype=torch.float32) * -increment)
        angles = positions[:, None] * inv[None, :]
        x = feats[chunk.start : chunk.stop][None] * encoder.config.output_size**0.5
        x = x + torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)[None]
        window = torch.cat([carried, x], dim=1)
        carried = window[:, -context:]
        for i, layer in enumerate([*encoder.encoders0, *encoder.encoders]):
            attn = layer.self_attn
            q, k, v = attn.linear_q_k_v(layer.norm1(window)).split(attn.size, dim=-1)
            qh, kh, vh = (t.unflatten(-1, (attn.heads, -1)).transpose(1, 2) for t in (q, k, v))
            if caches[i] is None:
                keys, values = kh, vh
                caches[i] = (kh[:, :, :-context], vh[:, :, :-context])
            else:
                old_k, old_v = caches[i]
                keys, values = torch.cat([old_k, kh], dim=2), torch.cat([old_v, vh], dim=2)
                keep = LOOK_BACK * stride
                caches[i] = (
                    torch.cat([old_k, kh[:, :, :-context]], dim=2)[:, :, -keep:],
                    torch.cat([old_v, vh[:, :, :-context]], dim=2)[:, :, -keep:],
                )
            memory = attn.fsmn_block(F.pad(v.transpose(1, 2), attn.padding)).transpose(1, 2) + v
            scores = (qh * qh.shape[-1] ** -0.5) @ keys.transpose(-1, -2)
            mixed = (torch.softmax(scores, dim=-1) @ values).transpose(1, 2).flatten(2)
            attended = attn.linear_out(mixed) + memory
            window = window + attended if layer.residual else attended
            window = window + layer.feed_forward(layer.norm2(window))
        outputs.append(encoder.after_norm(window)[0, -len(chunk) :])
    return torch.cat(outputs)


def _codes(hidden: torch.Tensor, centroids: torch.Tensor) -> np.ndarray:
    return torch.cdist(hidden, centroids).argmin(dim=1).numpy()


@pytest.mark.parametrize("length", [3600, STRIDE + 960, 3 * STRIDE, 5 * STRIDE + 3600, 30 * STRIDE + 2400])
def test_batched_chunks_equal_chunk_by_chunk(loaded, speech: np.ndarray, length: int) -> None:
    frontend, encoder = loaded
    feats, chunks = frontend(speech[:length])
    feats_t = torch.from_numpy(feats)
    with torch.inference_mode():
        expected = reference_stream(encoder, feats_t, chunks)
    batched = encoder(feats_t, chunks)
    assert batched.shape == expected.shape == (len(feats), encoder.config.output_size)
    torch.testing.assert_close(batched, expected, atol=2e-5, rtol=1e-5)
    centroids = torch.randn(1024, encoder.config.output_size, generator=torch.Generator().manual_seed(1))
    assert np.array_equal(_codes(batched, centroids), _codes(expected, centroids))


def test_encoder_depends_on_the_look_back_window(loaded, speech: np.ndarray) -> None:
    """Changing audio more than LOOK_BACK chunks before a chunk leaves its output alone; nearer changes do not."""
    frontend, encoder = loaded
    clip = speech[: 12 * STRIDE].copy()
    feats, chunks = frontend(clip)
    base = encoder(torch.from_numpy(feats), chunks)
    changed = feats.copy()
    changed[:4] += 1.0  # chunk 0
    out = encoder(torch.from_numpy(changed), chunks)
    last = slice(chunks[-1].start, chunks[-1].stop)
    near = slice(chunks[1].start, chunks[1].stop)
    torch.testing.assert_close(out[last], base[last])
    assert not torch.allclose(out[near], base[near])


def test_matches_funasr_streaming_encoder(loaded, paraformer_dir: Path, speech: np.ndarray) -> None:
    """FunASR's own WavFrontendOnline and SANMEncoderChunkOpt, driven chunk by chunk as the official tokenizer
    drives them, give the same features and codes. Runs only where funasr and torchaudio are installed.

    The official tokenizer runs a vendored FunASR fork that drops a final piece too short for one LFR window;
    current FunASR flushes it. Lengths here avoid that case, which the chunk-plan table above covers.
    """
    pytest.importorskip("torchaudio")
    pytest.importorskip("funasr")
    from funasr.frontends.wav_frontend import WavFrontendOnline
    from funasr.models.scama.encoder import SANMEncoderChunkOpt
    from funasr.utils.load_utils import extract_fbank

    frontend, encoder = loaded
    config = paraformer.ParaformerConfig.load(paraformer_dir / "config.yaml")
    fe, enc = config.frontend, config.encoder
    their_frontend = WavFrontendOnline(
        cmvn_file=str(paraformer_dir / "am.mvn"), dither=0.0, **{k: getattr(fe, k) for k in fe.__dataclass_fields__}
    )
    their_encoder = SANMEncoderChunkOpt(
        input_size=enc.input_size,
        output_size=enc.output_size,
        attention_heads=enc.attention_heads,
        linear_units=enc.linear_units,
        num_blocks=enc.num_blocks,
        input_layer="pe_online",
        kernel_size=enc.kernel_size,
        sanm_shfit=enc.sanm_shfit,
    ).eval()
    their_encoder.load_state_dict(encoder.state_dict())
    centroids = torch.randn(1024, enc.output_size, generator=torch.Generator().manual_seed(2))
    for length in (STRIDE * 5, STRIDE * 5 + 1200, STRIDE * 7 + 3600, 3000, 30 * STRIDE + 2400):
        ours_feats, chunks = frontend(speech[:length])
        ours = encoder(torch.from_numpy(ours_feats), chunks)
        theirs_feats, theirs = _funasr_stream(their_frontend, their_encoder, extract_fbank, speech[:length], enc)
        np.testing.assert_allclose(ours_feats, theirs_feats, atol=2e-3, rtol=1e-4)
        torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3)
        assert np.array_equal(_codes(ours, centroids), _codes(theirs, centroids))


def _funasr_stream(frontend, encoder, extract_fbank, samples: np.ndarray, enc) -> tuple[np.ndarray, torch.Tensor]:
    """The official `infer_encoder` loop: 3840-sample chunks, the last one final, caches carried between them."""
    cache = {
        "start_idx": 0,
        "chunk_size": list(CHUNK_SIZE),
        "encoder_chunk_look_back": LOOK_BACK,
        "last_chunk": False,
        "opt": None,
        "feats": torch.zeros(1, CHUNK_SIZE[0] + CHUNK_SIZE[2], enc.input_size),
        "tail_chunk": False,
    }
    frontend_cache: dict = {}
    audio = torch.from_numpy(samples)
    count = len(audio) // STRIDE + 1
    feats, outputs = [], []
    with torch.inference_mode():
        for i in range(count):
            piece = audio[i * STRIDE : (i + 1) * STRIDE]
            final = i == count - 1
            if final and len(piece) == 0:
                break
            try:
                speech, lengths = extract_fbank([piece], frontend=frontend, cache=frontend_cache, is_final=final)
            except RuntimeError:
                if final and len(piece) < 480:
                    break  # the official loop skips a final piece it cannot featurise
                raise
            if len(speech) == 0:
                break  # only a final piece can bring no frames
            feats.append(speech[0].clone())
            out, _, _ = encoder.forward_chunk(speech, lengths, cache=cache, is_final=final)
            outputs.append(out[0, -int(lengths[0]) :])
    return torch.cat(feats).numpy(), torch.cat(outputs)
