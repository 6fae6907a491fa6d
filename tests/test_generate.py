"""Sampling: the official rules (repetition ban, stop and strip, length limit), seeds, streaming,
batches, caches, and the quantized variants generating on CPU."""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from studio.engine.generate import (
    SamplingOptions,
    ban_repeats,
    filter_logits,
    generate,
    generate_batch,
    stream,
)
from studio.engine.llm import load_llm
from studio.engine.step1 import Step1ForCausalLM
from studio.errors import BadInput

PROMPT = list(range(100, 140))


class Scripted(torch.nn.Module):
    """A stand-in model whose next-token logits come from `script(history)`: the loop's rules can be
    checked on exact, known distributions."""

    def __init__(self, script, vocab: int = 256) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, 1)
        self.script, self.vocab, self.history = script, vocab, []

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def new_cache(self, batch_size: int, capacity: int | None = None) -> SimpleNamespace:
        self.history = []
        return SimpleNamespace(capacity=capacity)

    def forward(self, input_ids, attention_mask=None, past_key_values=None, logits_to_keep=0):
        self.history += input_ids[0].tolist()
        logits = torch.zeros(input_ids.shape[0], 1, self.vocab)
        for token, value in self.script(self.history).items():
            logits[:, 0, token] = value
        return SimpleNamespace(logits=logits)


def test_repetition_ban_on_windows():
    logits = torch.zeros(4, 8)
    recent = torch.tensor(
        [
            [1, 2, 3, 4, 5, 6, 7, 1, 2, 5],  # newest 5 seen before: banned
            [1, 2, 3, 4, 5, 6, 7, 1, 2, 3],  # newest 3 seen before: banned
            [0, 1, 2, 3, 4, 5, 6, 7, 1, 2],  # newest 2 seen before at index 2: banned
            [-1, -1, -1, 4, 4, 4, 4, 4, 4, 4],  # window not full yet: untouched, as upstream
        ]
    )
    banned = ban_repeats(logits.clone(), recent)
    assert banned[0, 5] == banned[1, 3] == banned[2, 2] == float("-inf")
    assert torch.isfinite(banned[3]).all() and (banned.isinf().sum(dim=1) == torch.tensor([1, 1, 1, 0])).all()
    single = ban_repeats(logits.clone(), torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]))
    assert torch.isfinite(single).all()


def test_generation_never_repeats_a_banned_id():
    model = Scripted(lambda history: {7: 30.0})  # 7 is the only likely id, so only the ban stops it
    out = generate(model, PROMPT, SamplingOptions(seed=0, max_new_tokens=60, stop_id=None))
    sequence = PROMPT + out
    for t in range(len(PROMPT), len(sequence)):
        window = sequence[t - 10 : t]
        if window.count(window[-1]) > 1:
            assert sequence[t] != window[-1]
    assert out[:2] == [7, 7] and out[2] != 7 and out.count(7) >= 25


def test_filter_keeps_top_k_and_top_p():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    kept = filter_logits(logits, SamplingOptions(top_k=3)).isfinite()
    assert kept.tolist() == [[True, True, True, False, False, False]]
    probs = logits.softmax(-1)[0]
    nucleus = filter_logits(logits, SamplingOptions(top_k=0, top_p=float(probs[:2].sum()) - 1e-4, temperature=1.0))
    assert nucleus.isfinite().tolist() == [[True, True, False, False, False, False]]
    warmer = filter_logits(logits, SamplingOptions(top_k=0, temperature=0.7))
    assert torch.allclose(warmer, logits / 0.7)


def test_stop_id_ends_and_is_stripped():
    model = Scripted(lambda history: {3: 50.0} if len(history) >= len(PROMPT) + 5 else {9 + len(history) % 2: 50.0})
    seen = []
    out = generate(model, PROMPT, SamplingOptions(seed=1), on_token=seen.append)
    assert len(out) == 5 and 3 not in out and seen == out
    assert list(stream(model, PROMPT, SamplingOptions(seed=1))) == out


def test_length_limits_keep_the_last_id():
    always_three_later = Scripted(lambda history: {3: 50.0} if len(history) > 60 else {11: 50.0, 12: 50.0})
    capped = generate(always_three_later, PROMPT, SamplingOptions(seed=2, max_new_tokens=4))
    assert len(capped) == 4 and capped[-1] in (11, 12)
    window = generate(always_three_later, PROMPT, SamplingOptions(seed=2, max_length=len(PROMPT) + 6))
    assert len(window) == 6
    with pytest.raises(BadInput, match="window is 40"):
        generate(always_three_later, PROMPT, SamplingOptions(max_length=40))
    with pytest.raises(BadInput, match="max_new_tokens"):
        SamplingOptions(max_new_tokens=0)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_llm(tiny_model_dir, "base", device="cpu")


def test_seed_repeats_and_differs(tiny):
    options = SamplingOptions(seed=5, max_new_tokens=6, stop_id=None)
    first = generate(tiny, PROMPT, options)
    assert first == generate(tiny, PROMPT, options)
    assert first != generate(tiny, PROMPT, SamplingOptions(seed=6, max_new_tokens=6, stop_id=None))
    assert len(first) == 6 and all(0 <= i < tiny.config.vocab_size for i in first)


@pytest.fixture(scope="module")
def peaked(tiny):
    """The tiny model with a sharp head: greedy choices that rounding cannot flip."""
    model = copy.deepcopy(tiny)
    with torch.no_grad():
        model.lm_head.weight.mul_(400)
    return model


def test_static_cache_and_chunked_prefill_give_the_same_ids(peaked):
    base = SamplingOptions(top_k=1, max_new_tokens=6, stop_id=None)
    expected = generate(peaked, PROMPT, base)
    assert len(set(expected)) > 1
    assert generate(peaked, PROMPT, replace(base, static_cache=True)) == expected
    assert generate(peaked, PROMPT, replace(base, prefill_chunk=7)) == expected


def test_batch_with_left_padding_equals_single_runs(peaked):
    prompts = [PROMPT, [*PROMPT[:23], 5, 6, 7], [900, 901, 902, 903, 904, 905, 906, 907, 908, 909, 910, 911]]
    options = SamplingOptions(top_k=1, max_new_tokens=5, stop_id=None)
    assert generate_batch(peaked, prompts, options) == [generate(peaked, p, options) for p in prompts]


@pytest.mark.parametrize("bits", [4, 8])
def test_bnb_variants_load_and_generate_on_cpu(tiny_model_dir, tiny, bits):
    import bitsandbytes as bnb

    model = load_llm(tiny_model_dir, "bnb", device="cpu", bnb_bits=bits)
    kind = bnb.nn.Linear4bit if bits == 4 else bnb.nn.Linear8bitLt
    assert isinstance(model.model.layers[0].mlp.up_proj, kind)
    assert type(model.lm_head) is torch.nn.Linear  # the head stays exact, as upstream
    out = generate(model, PROMPT, SamplingOptions(seed=0, max_new_tokens=6, stop_id=None))
    assert len(out) == 6
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        quantized, exact = model(ids).logits[0, -1], tiny(ids).logits[0, -1]
    assert torch.corrcoef(torch.stack([quantized, exact]))[0, 1] > 0.9


def test_awq_variant_stays_packed_and_matches_compressed_tensors(tiny_model_dir, tiny):
    from transformers import CompressedTensorsConfig

    from studio.engine.awq import PackedW4Linear

    model = load_llm(tiny_model_dir, "awq", device="cpu")
    layer = model.model.layers[0].mlp.up_proj
    assert isinstance(layer, PackedW4Linear) and layer.weight_packed.dtype == torch.int32
    assert type(model.lm_head) is torch.nn.Linear  # left unquantized by the recipe
    # The compressed-tensors library's own reading of the same files, expanded to dense weights.
    dense = Step1ForCausalLM.from_pretrained(
        tiny_model_dir / "Step-Audio-EditX-AWQ-4bit",
        quantization_config=CompressedTensorsConfig(dequantize=True),
        dtype=torch.float32,
    )
    reference = dense.model.layers[0].mlp.up_proj.weight  # expanded there in bfloat16, the scales' dtype
    assert torch.allclose(layer.weight(torch.float32), reference, rtol=2**-8, atol=0)
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        packed, expanded, exact = model(ids).logits[0, -1], dense(ids).logits[0, -1], tiny(ids).logits[0, -1]
    assert torch.allclose(packed, expanded, atol=1e-2 * expanded.abs().max().item())
    assert torch.corrcoef(torch.stack([packed, exact]))[0, 1] > 0.9  # 4-bit error only
    stored = sum(b.numel() * b.element_size() for b in layer.buffers())
    assert stored < 0.3 * layer.in_features * layer.out_features * 4
    assert len(generate(model, PROMPT, SamplingOptions(seed=0, max_new_tokens=4, stop_id=None))) == 4


def test_int4_unpacking_reads_the_compressed_tensors_layout():
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    from studio.engine.awq import unpack_int4

    values = torch.randint(-8, 8, (5, 37), generator=torch.Generator().manual_seed(0), dtype=torch.int8)
    assert torch.equal(unpack_int4(pack_to_int32(values, 4), 37), values)
    columns = pack_to_int32(values, 4, packed_dim=0)  # how zero points are stored
    assert torch.equal(unpack_int4(columns.t(), 5).t(), values)
