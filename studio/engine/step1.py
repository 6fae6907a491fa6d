"""Step1, the language model of Step-Audio-EditX, as a transformers model (no remote code).

A pre-norm decoder: x + Attn(RMSNorm(x)), then x + MLP(RMSNorm(x)) with a SwiGLU MLP; grouped-query
attention; no rotary positions: every attention logit gets `-slope[h] * sqrt(i - j)` (a square-root ALiBi).
Module names match the keys of the released safetensors, so `Step1ForCausalLM.from_pretrained(dir)`
loads them as they are, and `lm_head` stays a weight of its own (the release does not tie it to the
embedding; tying it makes the model emit silence).

Attention computes only the bias rows of the query positions, once per forward for all layers, and
reads keys and values from a `KVCache`. Padding is on the left: the distance between two real tokens
is the same as without padding, so a padded batch gives each prompt the logits it gets alone.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

ATTENTION_BACKENDS = ("sdpa", "eager")


class Step1Config(PreTrainedConfig):
    """The fields of the released `config.json`; the defaults are its values."""

    model_type = "step1"

    vocab_size: int = 74752
    hidden_size: int = 3072
    intermediate_size: int = 8192
    num_hidden_layers: int = 32
    num_attention_heads: int = 48
    num_attention_groups: int = 4
    max_seq_len: int = 32768
    rms_norm_eps: float = 1e-5
    bos_token_id: int | None = 1
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 3
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    head_dim: int | None = None  # derived: hidden_size // num_attention_heads

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # The released head is its own matrix whatever a config or library default says.
        self.tie_word_embeddings = False
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.head_dim * self.num_attention_heads != self.hidden_size:
            raise ValueError(f"hidden_size {self.hidden_size} is not num_attention_heads x head_dim {self.head_dim}")


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Per-head slopes: n = the largest power of two <= num_heads; 2^(-8k/n) for k = 1..n, then
    (2^(-4/n)) to the odd powers 1, 3, ... for the remaining heads."""
    n = 2 ** math.floor(math.log2(num_heads))
    slopes = [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]
    slopes += [2.0 ** (-4.0 * p / n) for p in range(1, 2 * (num_heads - n), 2)]
    return torch.tensor(slopes, dtype=torch.float32)


@functools.cache
def _slopes_on(num_heads: int, device: torch.device) -> torch.Tensor:
    return alibi_slopes(num_heads).to(device)


def attention_bias(
    slopes: torch.Tensor,
    query_positions: torch.Tensor,
    key_length: int,
    key_mask: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The bias rows of the queries, computed in float32: (batch or 1, heads, queries, keys).

    `query_positions` are the queries' indices in the cache; `key_mask` (batch, keys) is False at padding.
    A padded query may still see itself, so no row is all -inf (that would turn the softmax into NaN).
    """
    keys = torch.arange(key_length, device=query_positions.device)
    distance = query_positions[:, None] - keys[None, :]
    allowed = distance >= 0
    if key_mask is not None:
        allowed = allowed & (key_mask.bool()[:, None, :] | (distance == 0))
    # Masked before the per-head product, so the one heads-sized tensor is the result itself.
    root = distance.clamp(min=0).float().sqrt().masked_fill(~allowed, float("inf"))
    bias = -slopes[:, None, None] * root.unsqueeze(-3)
    return (bias if bias.dim() == 4 else bias[None]).to(dtype)


class KVCache:
    """Keys and values of every layer, each (batch, groups, capacity, head_dim), filled up to `length`.

    Static (`capacity` given): allocated once, never moved. Dynamic: grows by doubling, so appending a
    token is amortised O(1) instead of re-concatenating the whole history every step.
    """

    def __init__(
        self,
        config: Step1Config,
        batch_size: int,
        *,
        dtype: torch.dtype,
        device: torch.device | str,
        capacity: int | None = None,
    ) -> None:
        self.static = capacity is not None
        self.length = 0
        shape = (batch_size, config.num_attention_groups, capacity or 256, config.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def reserve(self, new_tokens: int) -> None:
        needed = self.length + new_tokens
        if needed <= self.capacity:
            return
        if self.static:
            raise ValueError(f"static KV cache holds {self.capacity} positions; {needed} needed")
        size = max(needed, 2 * self.capacity)
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                grown = old.new_zeros((*old.shape[:2], size, old.shape[3]))
                grown[:, :, : self.length] = old[:, :, : self.length]
                store[i] = grown

    def update(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's keys/values for one layer; return everything up to and including them."""
        end = self.length + keys.shape[2]
        self.keys[layer][:, :, self.length : end] = keys
        self.values[layer][:, :, self.length : end] = values
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, scale: float) -> torch.Tensor:
    # The fused kernels take the bias in the activation dtype, as the official SDPA fallback does.
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=scale)


def _eager(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, scale: float) -> torch.Tensor:
    """Reference path: logits, bias and softmax in float32 whatever the weights' dtype."""
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale + bias
    return torch.matmul(scores.softmax(dim=-1), v.float()).to(q.dtype)


_ATTENTION = {"sdpa": _sdpa, "eager": _eager}


class Step1RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class Step1Attention(nn.Module):
    def __init__(self, config: Step1Config, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_groups = config.num_attention_groups
        self.head_dim = config.head_dim
        self.scale = self.head_dim**-0.5
        self.backend = "sdpa"
        width = self.num_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, width, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_groups * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_groups * self.head_dim, bias=False)
        self.o_proj = nn.Linear(width, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        batch, length, _ = x.shape
        k = self.k_proj(x).view(batch, length, self.num_groups, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.num_groups, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        # Query head h reads group h // per_group. Folding each group's heads into the query axis lets
        # every kernel read the grouped keys as they are, without repeating them per head; causality
        # lives in the bias, so the folded rows need no causal flag.
        per_group = self.num_heads // self.num_groups
        q = self.q_proj(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        q = q.reshape(batch, self.num_groups, per_group * length, self.head_dim)
        folded_bias = bias.reshape(bias.shape[0], self.num_groups, per_group * length, bias.shape[-1])
        out = _ATTENTION[self.backend](q, k, v, folded_bias, self.scale)
        out = out.view(batch, self.num_heads, length, self.head_dim).transpose(1, 2)
        return self.o_proj(out.reshape(batch, length, self.num_heads * self.head_dim))


class Step1MLP(nn.Module):
    def __init__(self, config: Step1Config) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Step1DecoderLayer(nn.Module):
    def __init__(self, config: Step1Config, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = Step1Attention(config, layer_idx)
        self.mlp = Step1MLP(config)
        self.input_layernorm = Step1RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = Step1RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), bias, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Step1PreTrainedModel(PreTrainedModel):
    config_class = Step1Config
    config: Step1Config
    base_model_prefix = "model"
    _no_split_modules = ["Step1DecoderLayer"]  # noqa: RUF012 (transformers reads it as a class attribute)


class Step1Model(Step1PreTrainedModel):
    def __init__(self, config: Step1Config) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Step1DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = Step1RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Hidden states of `input_ids` (batch, length); `attention_mask` (batch, past + length) is 0 at padding."""
        past = cache.length if cache is not None else 0
        length = input_ids.shape[1]
        if cache is not None:
            cache.reserve(length)
        positions = torch.arange(past, past + length, device=input_ids.device)
        x = self.embed_tokens(input_ids)
        slopes = _slopes_on(self.config.num_attention_heads, input_ids.device)
        # Built once for all layers, in the dtype the attention kernels read it in.
        exact = self.layers[0].self_attn.backend == "eager"
        bias = attention_bias(slopes, positions, past + length, attention_mask, torch.float32 if exact else x.dtype)
        for layer in self.layers:
            x = layer(x, bias, cache)
        if cache is not None:
            cache.length += length
        return self.norm(x)


class Step1ForCausalLM(Step1PreTrainedModel):
    def __init__(self, config: Step1Config) -> None:
        super().__init__(config)
        self.model = Step1Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_attention_backend(self, name: str) -> None:
        """`sdpa` (fused kernels, the default) or `eager` (plain float32 maths, the reference)."""
        if name not in ATTENTION_BACKENDS:
            raise ValueError(f"attention backend must be one of {ATTENTION_BACKENDS}, not {name!r}")
        for layer in self.model.layers:
            layer.self_attn.backend = name

    def new_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        """An empty KV cache on the model's device; static when `capacity` is given."""
        embed = self.model.embed_tokens.weight
        return KVCache(self.config, batch_size, dtype=embed.dtype, device=embed.device, capacity=capacity)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: KVCache | None = None,
        logits_to_keep: int = 0,
        **_: object,
    ) -> CausalLMOutputWithPast:
        """Logits of the last `logits_to_keep` positions (all when 0), in float32."""
        hidden = self.model(input_ids, attention_mask, past_key_values)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden).float()
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values)


AutoConfig.register("step1", Step1Config, exist_ok=True)
AutoModelForCausalLM.register(Step1Config, Step1ForCausalLM, exist_ok=True)
