"""Audio tokens -> 80-bin mel at 50 frames/s: the flow half of the official CosyVoice-300M-25Hz decoder.

    mixed K values -> dual-codebook steps (25 Hz) -> embedding -> up-sampling conformer encoder (50 Hz)
                   -> mu; conditional flow matching (DiT estimator, 10 Euler steps, guidance) -> mel

Module and parameter names equal the keys of the official `flow.pt` (Step-Audio-EditX
`stepvocoder/cosyvoice2`), so the checkpoint loads strictly. A take is always one sequence (two
inside the solver, for classifier-free guidance), so no padding masks exist anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

GROUP = 5  # mixed tokens per 120 ms: 2 vq02 codes, then 3 vq06 codes (+1024)
VQ02_PAD = 1024  # third vq02 slot of each group, so both streams have 3 steps per group
VQ06_SHIFT = 1  # vq06 values 1024..5119 sit at 1025..5120 in the shared table, after the pad
N_TIMESTEPS = 10

Noise = Callable[[int, int], torch.Tensor]  # (first frame, stop frame) -> (channels, frames)


@dataclass(frozen=True)
class CodebookConfig:
    vocab_size: int
    input_size: int


@dataclass(frozen=True)
class EncoderConfig:
    input_size: int
    output_size: int = 256
    pre_lookahead_len: int = 3
    num_blocks: int = 6
    num_up_blocks: int = 4
    up_stride: int = 2
    up_scale_factor: float = 2.0
    attention_heads: int = 4
    key_bias: bool = True
    linear_units: int = 2048


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int
    out_channels: int
    mlp_ratio: float = 4.0
    depth: int = 28
    num_heads: int = 8
    head_dim: int = 64
    hidden_size: int = 256


@dataclass(frozen=True)
class FlowConfig:
    codebook: CodebookConfig
    encoder: EncoderConfig
    estimator: DiTConfig
    input_size: int = 512
    output_size: int = 80
    spk_embed_dim: int = 192
    vocab_size: int = 5121
    inference_cfg_rate: float = 0.7


def dual_codebook_steps(mixed: Sequence[int]) -> torch.Tensor:
    """Mixed K values -> (steps, 2) embedding ids; each group of 5 becomes 3 steps of (vq02 or pad, vq06 + 1).

    A partial final group is completed as upstream does: missing vq02 slots get 0, missing vq06 slots
    get 1024 (vq06 code 0).
    """
    codes = list(mixed)
    tail = len(codes) % GROUP
    if tail:
        codes += [0, 0, VQ02_PAD, VQ02_PAD, VQ02_PAD][tail:]
    groups = torch.tensor(codes, dtype=torch.long).view(-1, GROUP)
    linguistic = torch.cat([groups[:, :2], torch.full_like(groups[:, :1], VQ02_PAD)], dim=1)
    semantic = groups[:, 2:] + VQ06_SHIFT
    return torch.stack([linguistic.reshape(-1), semantic.reshape(-1)], dim=1)


# --- token encoder ------------------------------------------------------------------------------


class DualCodebookEmbedding(nn.Module):
    """One table shared by both streams; the two embeddings of a step are concatenated."""

    def __init__(self, vocab_size: int, input_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, input_size // 2)

    def forward(self, steps: torch.Tensor) -> torch.Tensor:  # (b, t, 2) -> (b, t, input_size)
        return self.embedding(steps).flatten(2)


def relative_positions(length: int, dim: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """ESPnet relative sinusoids for offsets length-1 down to -(length-1): (1, 2 * length - 1, dim)."""
    offsets = torch.arange(length - 1, -length, -1, device=device, dtype=torch.float32)
    freqs = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = offsets[:, None] * freqs[None]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[None].to(dtype)


def _rel_shift(scores: torch.Tensor) -> torch.Tensor:
    """(b, h, t, 2t-1) scores against offsets -> (b, h, t, t) scores of query i against key j (offset i - j)."""
    b, h, t, n = scores.shape
    padded = F.pad(scores, (1, 0)).view(b, h, n + 1, t)
    return padded[:, :, 1:].reshape(b, h, t, n)[..., :t].contiguous()


class RelPositionAttention(nn.Module):
    """Transformer-XL attention: content score with bias u, relative-position score with bias v."""

    def __init__(self, n_head: int, n_feat: int, key_bias: bool) -> None:
        super().__init__()
        self.h = n_head
        self.d_k = n_feat // n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat, bias=key_bias)
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(n_head, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(n_head, self.d_k))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.h, self.d_k).transpose(1, 2)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.linear_q(x).view(b, t, self.h, self.d_k)
        k, v, p = self._heads(self.linear_k(x)), self._heads(self.linear_v(x)), self._heads(self.linear_pos(pos_emb))
        content_q = (q + self.pos_bias_u).transpose(1, 2)
        position_q = (q + self.pos_bias_v).transpose(1, 2)
        # The position term enters as an additive bias, so the fused attention kernel does the rest.
        position_scores = _rel_shift(position_q @ p.transpose(-2, -1)) / math.sqrt(self.d_k)
        out = F.scaled_dot_product_attention(content_q, k, v, attn_mask=position_scores)
        return self.linear_out(out.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.w_1 = nn.Linear(size, hidden)
        self.w_2 = nn.Linear(hidden, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(F.silu(self.w_1(x)))


class ConformerLayer(nn.Module):
    """Pre-norm attention + feed-forward (the released encoder has no convolution module)."""

    def __init__(self, size: int, heads: int, linear_units: int, key_bias: bool) -> None:
        super().__init__()
        self.self_attn = RelPositionAttention(heads, size, key_bias)
        self.feed_forward = FeedForward(size, linear_units)
        self.norm_ff = nn.LayerNorm(size, eps=1e-12)
        self.norm_mha = nn.LayerNorm(size, eps=1e-12)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.norm_mha(x), pos_emb)
        return x + self.feed_forward(self.norm_ff(x))


class LinearInput(nn.Module):
    """Linear + LayerNorm, then ESPnet's x * sqrt(d) scaling that precedes relative-position layers."""

    def __init__(self, idim: int, odim: int) -> None:
        super().__init__()
        self.out = nn.Sequential(nn.Linear(idim, odim), nn.LayerNorm(odim, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x) * math.sqrt(self.out[0].out_features)


class PreLookaheadLayer(nn.Module):
    """Each step sees the next `pre_lookahead_len` steps (conv1), then a causal conv (conv2); residual."""

    def __init__(self, channels: int, pre_lookahead_len: int) -> None:
        super().__init__()
        self.pre_lookahead_len = pre_lookahead_len
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=pre_lookahead_len + 1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, t, c)
        y = F.leaky_relu(self.conv1(F.pad(x.transpose(1, 2), (0, self.pre_lookahead_len))))
        y = self.conv2(F.pad(y, (self.conv2.kernel_size[0] - 1, 0)))
        return y.transpose(1, 2) + x


class Upsample1D(nn.Module):
    """Nearest-neighbour repeat, then a causal conv over the repeated steps."""

    def __init__(self, channels: int, out_channels: int, stride: int, scale_factor: float) -> None:
        super().__init__()
        self.stride = stride
        self.scale_factor = scale_factor
        self.conv = nn.Conv1d(channels, out_channels, stride * 2 + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c, t) -> (b, c, t * stride)
        y = F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        return self.conv(F.pad(y, (self.stride * 2, 0)))


class UpsampleConformerEncoderV2(nn.Module):
    """Conformer over 25 Hz token steps, x2 up-sampling to the 50 Hz mel rate, conformer again."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        size = config.output_size

        def layers(count: int) -> nn.ModuleList:
            return nn.ModuleList(
                ConformerLayer(size, config.attention_heads, config.linear_units, config.key_bias) for _ in range(count)
            )

        self.embed = LinearInput(config.input_size, size)
        self.pre_lookahead_layer = PreLookaheadLayer(size, config.pre_lookahead_len)
        self.encoders = layers(config.num_blocks)
        self.up_layer = Upsample1D(size, size, config.up_stride, config.up_scale_factor)
        self.up_embed = LinearInput(config.input_size, size)
        self.up_encoders = layers(config.num_up_blocks)
        self.after_norm = nn.LayerNorm(size, eps=1e-5)

    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        pos_emb = relative_positions(x.shape[1], x.shape[2], device=x.device, dtype=x.dtype)
        for layer in layers:
            x = layer(x, pos_emb)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (1, steps, input_size) -> (1, frames, output_size)
        x = self._run(self.encoders, self.pre_lookahead_layer(self.embed(x)))
        x = self.up_layer(x.transpose(1, 2)).transpose(1, 2)
        return self.after_norm(self._run(self.up_encoders, self.up_embed(x)))


# --- DiT estimator ------------------------------------------------------------------------------


@dataclass
class BlockCache:
    """What one DiT block keeps of earlier chunks at one solver step."""

    keys: torch.Tensor  # (batch, heads, frames, head_dim)
    values: torch.Tensor
    conv_input: torch.Tensor  # (batch, frames, hidden): the newest inputs of the causal conv block

    def trimmed(self, pinned: int, window: int) -> BlockCache:
        """Keep the first `pinned` frames (the prompt) and the newest `window` frames."""
        frames = self.keys.shape[2]
        if frames <= pinned + window:
            return self

        def keep(t: torch.Tensor) -> torch.Tensor:
            return torch.cat([t[:, :, :pinned], t[:, :, frames - window :]], dim=2)

        return BlockCache(keep(self.keys), keep(self.values), self.conv_input)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256) -> None:
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (b,) in [0, 1] -> (b, hidden)
        half = self.frequency_embedding_size // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=-1).to(self.mlp[0].weight.dtype))


class DiTAttention(nn.Module):
    """Self-attention with LayerNorm on queries and keys; earlier chunks' keys/values can be prepended."""

    def __init__(self, dim: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner = num_heads * head_dim
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.q_norm = nn.LayerNorm(head_dim)
        self.k_norm = nn.LayerNorm(head_dim)
        self.proj = nn.Linear(inner, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, past: BlockCache | None, attn_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        q = self.q_norm(self._heads(self.to_q(x)))
        k = self.k_norm(self._heads(self.to_k(x)))
        v = self._heads(self.to_v(x))
        if past is not None:
            k, v = torch.cat([past.keys, k], dim=2), torch.cat([past.values, v], dim=2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, t, -1)), k, v


class MLP(nn.Module):
    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(size, hidden)
        self.fc2 = nn.Linear(hidden, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Transpose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class CausalConv1d(nn.Conv1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.kernel_size[0] - 1, 0)))


class CausalConvBlock(nn.Module):
    """Causal conv, LayerNorm, Mish, causal conv, on (b, t, c); laid out as the checkpoint's `block.N` keys."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Transpose(),
            CausalConv1d(channels, channels, kernel_size),
            Transpose(),
            nn.LayerNorm(channels),
            nn.Mish(),
            Transpose(),
            CausalConv1d(channels, channels, kernel_size),
            Transpose(),
        )
        # Two stacked causal convs: outputs from frame s on depend on inputs from frame s - history on.
        self.history = 2 * (kernel_size - 1)

    def forward(self, x: torch.Tensor, history: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run on new frames `x` after the `history` frames of earlier input; also return the new history."""
        full = x if history is None else torch.cat([history, x], dim=1)
        return self.block(full)[:, full.shape[1] - x.shape[1] :], full[:, -self.history :]


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DiTBlock(nn.Module):
    """adaLN-modulated attention, causal conv block and MLP, each gated by the time embedding."""

    def __init__(self, hidden: int, num_heads: int, head_dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = DiTAttention(hidden, num_heads, head_dim)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(hidden, int(hidden * mlp_ratio))
        self.norm3 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.conv = CausalConvBlock(hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 9 * hidden))

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, past: BlockCache | None, attn_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, BlockCache]:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, shift_conv, scale_conv, gate_conv = (
            self.adaLN_modulation(c).chunk(9, dim=-1)
        )
        attended, keys, values = self.attn(_modulate(self.norm1(x), shift_msa, scale_msa), past, attn_mask)
        x = x + gate_msa * attended
        convolved, history = self.conv(
            _modulate(self.norm3(x), shift_conv, scale_conv), None if past is None else past.conv_input
        )
        x = x + gate_conv * convolved
        x = x + gate_mlp * self.mlp(_modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x, BlockCache(keys, values, history)


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """The velocity estimator: v(x, mu, t, speaker, cond) on (b, 80, frames) tensors."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.t_embedder = TimestepEmbedder(config.hidden_size)
        self.in_proj = nn.Linear(config.in_channels, config.hidden_size)
        self.blocks = nn.ModuleList(
            DiTBlock(config.hidden_size, config.num_heads, config.head_dim, config.mlp_ratio)
            for _ in range(config.depth)
        )
        self.final_layer = FinalLayer(config.hidden_size, config.out_channels)

    def forward(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        cache: list[BlockCache | None] | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`cache` (one entry per block, updated in place) carries earlier chunks; `attn_mask` (bool, True =
        attend) restricts which frames see which; neither is needed to decode a whole take at once."""
        c = self.t_embedder(t)[:, None]
        h = torch.cat([x, mu, spks[:, :, None].expand(-1, -1, x.shape[2]), cond], dim=1)
        h = self.in_proj(h.transpose(1, 2))
        for i, block in enumerate(self.blocks):
            h, new = block(h, c, None if cache is None else cache[i], attn_mask)
            if cache is not None:
                cache[i] = new
        return self.final_layer(h, c).transpose(1, 2)


# --- flow matching ------------------------------------------------------------------------------


def cosine_time_grid(n_timesteps: int) -> torch.Tensor:
    """t_k = 1 - cos(pi/2 * k/n): small steps near the noise end, where the velocity changes fastest."""
    return 1 - torch.cos(torch.linspace(0, 1, n_timesteps + 1, dtype=torch.float64) * (math.pi / 2))


class CausalConditionalCFM(nn.Module):
    """Euler integration of the flow ODE from noise (t = 0) to mel (t = 1) with classifier-free guidance.

    Each step runs the estimator once on a batch of two: conditioned, and with mu, speaker and cond
    zeroed; the velocity is (1 + r) * v_cond - r * v_uncond with r = `inference_cfg_rate`.
    """

    def __init__(self, estimator: nn.Module, inference_cfg_rate: float = 0.7) -> None:
        super().__init__()
        self.estimator = estimator
        self.inference_cfg_rate = inference_cfg_rate

    def forward(
        self,
        mu: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        noise: torch.Tensor,
        n_timesteps: int = N_TIMESTEPS,
        caches: list[list[BlockCache | None]] | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """mu, cond, noise (1, 80, frames) and spks (1, 80) -> mel (1, 80, frames) float32.

        The state x stays float32 whatever the estimator's dtype, so reduced precision only touches
        each velocity, not their sum. `caches` holds one estimator cache per step (chunked decoding).
        """
        grid = cosine_time_grid(n_timesteps).tolist()
        rate = self.inference_cfg_rate
        mu_in = torch.cat([mu, torch.zeros_like(mu)])
        spks_in = torch.cat([spks, torch.zeros_like(spks)])
        cond_in = torch.cat([cond, torch.zeros_like(cond)])
        x = noise.float()
        for step in range(n_timesteps):
            t = torch.full((2,), grid[step], device=mu.device, dtype=torch.float32)
            cache = None if caches is None else caches[step]
            velocity = self.estimator(torch.cat([x, x]).to(mu.dtype), mu_in, t, spks_in, cond_in, cache, attn_mask)
            v_cond, v_uncond = velocity.float().chunk(2)
            x = x + (grid[step + 1] - grid[step]) * ((1 + rate) * v_cond - rate * v_uncond)
        return x

    def stream(
        self,
        mu: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        noise: Noise,
        ends: Sequence[int],
        *,
        pinned: int,
        window: int,
        n_timesteps: int = N_TIMESTEPS,
    ) -> Iterator[torch.Tensor]:
        """Integrate chunk by chunk and yield each chunk's mel (frames `ends[i-1]:ends[i]`).

        A chunk attends to itself, to the first `pinned` frames (the prompt, decoded with the first chunk)
        and to the newest `window` frames before it, as the official streaming mode does; each solver
        step keeps its own key/value cache of those frames. With one chunk this is exactly `forward`.
        """
        caches: list[list[BlockCache | None]] = [[None] * len(self.estimator.blocks) for _ in range(n_timesteps)]
        start = 0
        for end in ends:
            part = slice(start, end)
            yield self.forward(mu[..., part], spks, cond[..., part], noise(start, end), n_timesteps, caches)
            for step_cache in caches:
                step_cache[:] = [block.trimmed(pinned, window) for block in step_cache]
            start = end


# --- the flow -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowInputs:
    """The solver's conditioning for a whole take (prompt frames first)."""

    mu: torch.Tensor  # (1, 80, frames) encoder output
    spks: torch.Tensor  # (1, 80) projected speaker embedding
    cond: torch.Tensor  # (1, 80, frames) prompt mel on the prompt frames, zeros after


class CausalMaskedDiffWithXvec(nn.Module):
    def __init__(self, config: FlowConfig) -> None:
        super().__init__()
        self.input_embedding = DualCodebookEmbedding(config.codebook.vocab_size, config.codebook.input_size)
        self.spk_embed_affine_layer = nn.Linear(config.spk_embed_dim, config.output_size)
        self.encoder = UpsampleConformerEncoderV2(config.encoder)
        self.encoder_proj = nn.Linear(config.encoder.output_size, config.output_size)
        self.decoder = CausalConditionalCFM(DiT(config.estimator), config.inference_cfg_rate)

    def condition(self, steps: torch.Tensor, prompt_mel: torch.Tensor, speaker: torch.Tensor) -> FlowInputs:
        """steps (1, prompt + new steps, 2), prompt_mel (1, 80, 2 * prompt steps), speaker (1, 192)."""
        spks = self.spk_embed_affine_layer(F.normalize(speaker, dim=1))
        mu = self.encoder_proj(self.encoder(self.input_embedding(steps))).transpose(1, 2)
        cond = torch.zeros_like(mu)
        cond[..., : prompt_mel.shape[2]] = prompt_mel
        return FlowInputs(mu, spks, cond)
