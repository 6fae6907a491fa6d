"""Step1: the released layout loads as it is, the head stays untied, and the fast attention computes the
same numbers as a plain float64 implementation of the model written here."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from studio.engine.llm import load_llm
from studio.engine.step1 import Step1ForCausalLM, alibi_slopes
from studio.engine.text import TextTokenizer
from studio.errors import BadInput, CheckpointError
from studio.testing import tiny_step1

EDITX = "Step-Audio-EditX"
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 7060000000\n"


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The released key names and shapes (spec section 2)."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    head_dim = hidden // config["num_attention_heads"]
    kv = config["num_attention_groups"] * head_dim
    shapes = {
        "model.embed_tokens.weight": (vocab, hidden),
        "model.norm.weight": (hidden,),
        "lm_head.weight": (vocab, hidden),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (hidden, hidden),
            p + "self_attn.k_proj.weight": (kv, hidden),
            p + "self_attn.v_proj.weight": (kv, hidden),
            p + "self_attn.o_proj.weight": (hidden, hidden),
            p + "mlp.gate_proj.weight": (inter, hidden),
            p + "mlp.up_proj.weight": (inter, hidden),
            p + "mlp.down_proj.weight": (hidden, inter),
            p + "input_layernorm.weight": (hidden,),
            p + "post_attention_layernorm.weight": (hidden,),
        }
    return shapes


@pytest.fixture
def editx_copy(tiny_model_dir, tmp_path):
    """A private copy of the tiny Step-Audio-EditX folder that a test may break."""
    shutil.copytree(tiny_model_dir / EDITX, tmp_path / EDITX)
    return tmp_path


def test_release_layout_loads_without_remote_code(tiny_model_dir):
    folder = tiny_model_dir / EDITX
    config = json.loads((folder / "config.json").read_text())
    assert "auto_map" in config and "tie_word_embeddings" not in config
    with safe_open(str(folder / tiny_step1.SHARD), "pt") as shard:
        on_disk = {k: (tuple(shard.get_slice(k).get_shape()), shard.get_slice(k).get_dtype()) for k in shard.keys()}  # noqa: SIM118
    assert on_disk == {k: (shape, "BF16") for k, shape in expected_shapes(config).items()}

    model, info = Step1ForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert all(not problems for problems in info.values()), info
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(config)
    assert type(AutoModelForCausalLM.from_pretrained(folder)) is Step1ForCausalLM

    base = load_llm(tiny_model_dir, "base", device="cpu")
    assert not base.training and {p.dtype for p in base.parameters()} == {torch.float32}
    bf16 = load_llm(tiny_model_dir, "base", device="cpu", dtype="bfloat16")
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}


def test_head_stays_untied_even_when_the_config_asks(editx_copy, tmp_path):
    folder = editx_copy / EDITX
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    model = Step1ForCausalLM.from_pretrained(folder)
    head, embed = model.lm_head.weight, model.model.embed_tokens.weight
    assert head.data_ptr() != embed.data_ptr() and not torch.equal(head, embed)
    model.save_pretrained(tmp_path / "saved")
    again = Step1ForCausalLM.from_pretrained(tmp_path / "saved")
    assert torch.equal(again.lm_head.weight, head) and torch.equal(again.model.embed_tokens.weight, embed)
    with safe_open(str(tmp_path / "saved" / "model.safetensors"), "pt") as saved:
        assert {"lm_head.weight", "model.embed_tokens.weight"} <= set(saved.keys())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / tiny_step1.SHARD).write_text(LFS_POINTER), r"model-00001.safetensors .*Git-LFS pointer"),
        (lambda d: (d / tiny_step1.SHARD).unlink(), r"Missing model file .*model-00001.safetensors"),
        (lambda d: (d / "config.json").unlink(), r"Missing model file .*config.json"),
        (lambda d: (d / "config.json").write_text('{"model_type": "llama"}'), r"'llama' model, not Step1"),
        (
            lambda d: (d / "config.json").write_text('{"model_type": "step1", "hidden_size": 100}'),
            "not describe a usable",
        ),
        (
            lambda d: (d / tiny_step1.SHARD).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + b"0" * 2000),
            "Could not load",
        ),
    ],
)
def test_broken_downloads_are_named(editx_copy, damage, message):
    damage(editx_copy / EDITX)
    with pytest.raises(CheckpointError, match=message):
        load_llm(editx_copy, "base", device="cpu")


def test_tokenizer_and_variant_problems_are_named(editx_copy, tmp_path):
    (editx_copy / EDITX / "tokenizer.model").write_text(LFS_POINTER)
    with pytest.raises(CheckpointError, match=r"tokenizer.model .*Git-LFS pointer"):
        TextTokenizer.load(editx_copy / EDITX)
    (editx_copy / EDITX / "tokenizer.model").unlink()
    with pytest.raises(CheckpointError, match=r"Missing model file .*tokenizer.model"):
        TextTokenizer.load(editx_copy / EDITX)
    with pytest.raises(CheckpointError, match="No Step-Audio-EditX-AWQ-4bit folder"):
        load_llm(editx_copy, "awq", device="cpu")
    with pytest.raises(BadInput, match="Unknown model variant 'gguf'"):
        load_llm(editx_copy, "gguf")
    with pytest.raises(BadInput, match="bnb_bits must be 4 or 8"):
        load_llm(editx_copy, "bnb", device="cpu", bnb_bits=3)
    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="no usable CUDA GPU"):
            load_llm(editx_copy, "base", device="cuda")


def test_slopes_for_48_heads():
    spec = [2 ** (-8 * (k + 1) / 32) for k in range(32)] + [(2 ** (-4 / 32)) ** p for p in range(1, 32, 2)]
    assert alibi_slopes(48).tolist() == pytest.approx(spec, rel=1e-6)


# --- numerics ---------------------------------------------------------------------------------


def reference_logits(model: Step1ForCausalLM, ids: list[int]) -> torch.Tensor:
    """Step1 written out plainly in float64, one head at a time (spec section 2)."""
    cfg, w = model.config, {k: v.double() for k, v in model.state_dict().items()}
    heads, groups, dim = cfg.num_attention_heads, cfg.num_attention_groups, cfg.hidden_size // cfg.num_attention_heads
    n = 2 ** math.floor(math.log2(heads))
    slopes = [2 ** (-8 * (k + 1) / n) for k in range(n)] + [(2 ** (-4 / n)) ** p for p in range(1, 2 * (heads - n), 2)]

    def rms(x, weight):
        return weight * x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg.rms_norm_eps)

    length = len(ids)
    i, j = torch.arange(length)[:, None].double(), torch.arange(length)[None, :].double()
    x = w["model.embed_tokens.weight"][ids]
    for layer in range(cfg.num_hidden_layers):
        p = f"model.layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(length, heads, dim)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(length, groups, dim)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(length, groups, dim)
        outs = []
        for head in range(heads):
            g = head // (heads // groups)
            scores = q[:, head] @ k[:, g].T / math.sqrt(dim) - slopes[head] * torch.sqrt((i - j).clamp(min=0))
            scores = scores.masked_fill(j > i, float("-inf"))
            outs.append(scores.softmax(-1) @ v[:, g])
        x = x + torch.cat(outs, dim=-1) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


@pytest.fixture(scope="module")
def lively() -> Step1ForCausalLM:
    """The tiny shape with weights large enough that attention is far from uniform."""
    model = tiny_step1.random_model(seed=3, vocab_size=512)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            scale = 0.1 if "norm" in name else 0.3
            noise = torch.randn(param.shape, generator=generator) * scale
            param.copy_(1 + noise if "norm" in name else noise)
    return model


def prompt(seed: int, length: int, vocab: int = 512) -> list[int]:
    return torch.randint(0, vocab, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_logits_match_float64_reference(lively, backend):
    lively.set_attention_backend(backend)
    ids = prompt(0, 37)
    with torch.no_grad():
        ours = lively(torch.tensor([ids])).logits[0].double()
    expected = reference_logits(lively, ids)
    assert (ours - expected).abs().max() < 1e-4 * expected.abs().max()
    lively.set_attention_backend("sdpa")


@pytest.mark.parametrize("static", [False, True])
def test_cached_decoding_equals_full_recomputation(lively, static):
    ids = prompt(1, 280)
    with torch.no_grad():
        full = lively(torch.tensor([ids])).logits[0]
        cache = lively.new_cache(1, capacity=len(ids) if static else None)
        steps = [lively(torch.tensor([ids[:100]]), past_key_values=cache).logits[0]]
        steps += [lively(torch.tensor([ids[100:250]]), past_key_values=cache).logits[0]]  # grows past 256
        steps += [lively(torch.tensor([[t]]), past_key_values=cache).logits[0] for t in ids[250:]]
    assert cache.length == len(ids) and cache.static == static
    assert torch.allclose(torch.cat(steps), full, atol=1e-4, rtol=1e-4)


def test_static_cache_refuses_overflow(lively):
    cache = lively.new_cache(1, capacity=8)
    with pytest.raises(ValueError, match="holds 8 positions"), torch.no_grad():
        lively(torch.tensor([prompt(2, 9)]), past_key_values=cache)


def test_left_padded_batch_equals_each_prompt_alone(lively):
    prompts = [prompt(3, 40), prompt(4, 17), prompt(5, 3)]
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    nxt = torch.tensor([[11], [12], [13]])
    with torch.no_grad():
        cache = lively.new_cache(3)
        batch = lively(ids, attention_mask=mask, past_key_values=cache).logits
        step = lively(
            nxt, attention_mask=torch.cat([mask, torch.ones(3, 1, dtype=torch.long)], 1), past_key_values=cache
        )
        for row, p in enumerate(prompts):
            alone = lively(torch.tensor([[*p, 11 + row]])).logits[0]
            assert torch.allclose(batch[row, width - len(p) :], alone[:-1], atol=1e-4, rtol=1e-4)
            assert torch.allclose(step.logits[row, 0], alone[-1], atol=1e-4, rtol=1e-4)
    assert torch.isfinite(batch).all()


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_bfloat16_follows_the_reference(lively, backend):
    """bf16 activations cost a few percent; the attention bias must not add a gross error on top."""
    half = copy.deepcopy(lively).to(torch.bfloat16)
    half.set_attention_backend(backend)
    ids = prompt(6, 200)
    with torch.no_grad():
        ours = half(torch.tensor([ids])).logits[0].double()
    expected = reference_logits(half, ids)
    assert (ours - expected).abs().mean() < 0.05 * expected.abs().mean()
