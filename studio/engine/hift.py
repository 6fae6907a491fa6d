"""Mel -> 24 kHz waveform: the official HiFT vocoder (neural source filter + HiFi-GAN + iSTFT head).

    mel -> F0 predictor -> harmonic source (sines at k * F0 + noise) -> its STFT joins each upsampling
    stage -> magnitude/phase of a 16-point STFT -> iSTFT -> 480 samples per mel frame

Parameter names equal the keys of the official `hift.pt` (weight-normalised convs stored as
`parametrizations.weight.original0/1`). `VocoderStream` vocodes a mel that arrives in pieces with
enough context on both sides that the pieces of audio join exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

Noise = Callable[[int, int], torch.Tensor]  # (first sample, stop sample) -> (samples, harmonics + 1)

# Mel frames of context on each side of a piece; above the vocoder's receptive field (about 17 frames).
CONTEXT_FRAMES = 24


@dataclass(frozen=True)
class F0PredictorConfig:
    num_class: int = 1
    in_channels: int = 80
    cond_channels: int = 512


@dataclass(frozen=True)
class HiFTConfig:
    in_channels: int = 80
    base_channels: int = 512
    nb_harmonics: int = 8
    sampling_rate: int = 22050
    nsf_alpha: float = 0.1
    nsf_sigma: float = 0.003
    nsf_voiced_threshold: float = 10.0
    upsample_rates: tuple[int, ...] = (8, 8)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16)
    istft_n_fft: int = 16
    istft_hop_len: int = 4
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    source_resblock_kernel_sizes: tuple[int, ...] = (7, 11)
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5))
    lrelu_slope: float = 0.1
    audio_limit: float = 0.99
    f0_predictor: F0PredictorConfig = field(default_factory=F0PredictorConfig)

    @property
    def samples_per_frame(self) -> int:
        return math.prod(self.upsample_rates) * self.istft_hop_len


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        return x + torch.sin(x * alpha).pow(2) / (alpha + 1e-9)


def _conv(channels_in: int, channels_out: int, kernel: int, dilation: int = 1) -> nn.Module:
    """A weight-normalised 'same' convolution."""
    return weight_norm(
        nn.Conv1d(channels_in, channels_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
    )


class ResBlock(nn.Module):
    """Per dilation: Snake, dilated conv, Snake, conv, residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, channels, kernel_size) for _ in dilations)
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2, act1, act2 in zip(
            self.convs1, self.convs2, self.activations1, self.activations2, strict=True
        ):
            x = x + conv2(act2(conv1(act1(x))))
        return x


class ConvRNNF0Predictor(nn.Module):
    """Five convs with ELU, then a linear layer: F0 in Hz per mel frame (no RNN, despite the name)."""

    def __init__(self, config: F0PredictorConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(5):
            layers += [_conv(config.in_channels if i == 0 else config.cond_channels, config.cond_channels, 3), nn.ELU()]
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(config.cond_channels, config.num_class)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (1, 80, frames) -> (frames,)
        return self.classifier(self.condnet(mel).transpose(1, 2)).abs()[0, :, 0]


class SourceModuleHnNSF(nn.Module):
    """Harmonic source: sines at F0 x 1..n+1 (noise where unvoiced), merged by a linear layer and tanh.

    Phase follows the reference (per-frame cycle increments, cumulated per frame, linearly interpolated
    to samples) but in float64 and anchored to a carried total, so a piece continues the phase of the
    previous one exactly. The reference also adds a random initial phase at sample 0, which its linear
    down-sampling never reads, so it has no effect and is left out.
    """

    def __init__(self, config: HiFTConfig) -> None:
        super().__init__()
        self.config = config
        self.l_linear = nn.Linear(config.nb_harmonics + 1, 1)

    def forward(
        self, f0: torch.Tensor, noise: torch.Tensor, first: int, cycles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """f0 (frames,) Hz, noise (samples, harmonics); `cycles` is the total phase (in cycles, per harmonic)
        up to frame `first`. Returns the source (1, 1, samples) and the phase totals after each frame."""
        cfg = self.config
        spf = cfg.samples_per_frame
        frames = f0.shape[0]
        harmonics = torch.arange(1, cfg.nb_harmonics + 2, device=f0.device, dtype=torch.float64)
        per_sample = (f0.double()[:, None] * harmonics / cfg.sampling_rate) % 1
        running = torch.cumsum(per_sample, dim=0)
        totals = cycles + running - (running[first - 1] if first > 0 else 0)
        position = ((torch.arange(frames * spf, device=f0.device, dtype=torch.float64) + 0.5) / spf - 0.5).clamp(
            0, frames - 1
        )
        low = position.floor().long()
        weight = (position - low)[:, None]
        phase = (totals[low] * (1 - weight) + totals[(low + 1).clamp(max=frames - 1)] * weight) * spf
        sines = torch.sin(2 * math.pi * (phase % 1)).float() * cfg.nsf_alpha
        voiced = (f0 > cfg.nsf_voiced_threshold).float().repeat_interleave(spf)[:, None]
        noise_amp = voiced * cfg.nsf_sigma + (1 - voiced) * cfg.nsf_alpha / 3
        source = torch.tanh(self.l_linear(sines * voiced + noise_amp * noise))
        return source.T[None], totals


class HiFTGenerator(nn.Module):
    def __init__(self, config: HiFTConfig) -> None:
        super().__init__()
        self.config = config
        base, n_fft = config.base_channels, config.istft_n_fft
        self.m_source = SourceModuleHnNSF(config)
        self.conv_pre = weight_norm(nn.Conv1d(config.in_channels, base, 7, padding=3))
        self.ups = nn.ModuleList(
            weight_norm(nn.ConvTranspose1d(base >> i, base >> (i + 1), k, u, padding=(k - u) // 2))
            for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True))
        )
        # The source's STFT joins each stage at that stage's rate: its stride is the product of the rates
        # still to come.
        strides = [math.prod(config.upsample_rates[i + 1 :]) for i in range(len(config.upsample_rates))]
        branches = list(
            zip(strides, config.source_resblock_kernel_sizes, config.source_resblock_dilation_sizes, strict=True)
        )
        self.source_downs = nn.ModuleList(
            nn.Conv1d(n_fft + 2, base >> (i + 1), 1)
            if stride == 1
            else nn.Conv1d(n_fft + 2, base >> (i + 1), stride * 2, stride, padding=stride // 2)
            for i, (stride, _, _) in enumerate(branches)
        )
        self.source_resblocks = nn.ModuleList(ResBlock(base >> (i + 1), k, d) for i, (_, k, d) in enumerate(branches))
        self.resblocks = nn.ModuleList(
            ResBlock(base >> (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True)
        )
        self.conv_post = weight_norm(nn.Conv1d(base >> len(self.ups), n_fft + 2, 7, padding=3))
        self.f0_predictor = ConvRNNF0Predictor(config.f0_predictor)

    def _window(self, device: torch.device) -> torch.Tensor:
        return torch.hann_window(self.config.istft_n_fft, periodic=True, device=device)

    def decode(self, mel: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """mel (1, 80, frames) and source (1, 1, samples) -> waveform (samples,)."""
        cfg = self.config
        n_fft, hop, window = cfg.istft_n_fft, cfg.istft_hop_len, self._window(mel.device)
        spec = torch.stft(source[:, 0], n_fft, hop, n_fft, window=window, return_complex=True)
        source_spec = torch.cat([spec.real, spec.imag], dim=1)
        x = self.conv_pre(mel)
        kernels = len(cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, cfg.lrelu_slope))
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + self.source_resblocks[i](self.source_downs[i](source_spec))
            x = sum(block(x) for block in self.resblocks[i * kernels : (i + 1) * kernels]) / kernels
        x = self.conv_post(F.leaky_relu(x))  # the reference uses the default slope here
        bins = n_fft // 2 + 1
        magnitude = torch.exp(x[:, :bins]).clamp(max=1e2)
        audio = torch.istft(torch.polar(magnitude, torch.sin(x[:, bins:])), n_fft, hop, n_fft, window=window)
        return audio[0].clamp(-cfg.audio_limit, cfg.audio_limit)

    def vocode(
        self, mel: torch.Tensor, noise: torch.Tensor, keep: tuple[int, int], cycles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocode a window of mel (1, 80, frames) and return the samples of frames keep[0]:keep[1],
        with the source phase totals after frame keep[1] - 1 (`cycles` holds them after keep[0] - 1)."""
        spf = self.config.samples_per_frame
        with parametrize.cached():  # each weight-normalised kernel is computed once per call, not per use
            f0 = self.f0_predictor(mel)
            source, totals = self.m_source(f0, noise, keep[0], cycles)
            audio = self.decode(mel, source)
        return audio[keep[0] * spf : keep[1] * spf], totals[keep[1] - 1]

    def inference(self, mel: torch.Tensor, noise: Noise) -> torch.Tensor:
        """Vocode a whole mel (1, 80, frames) -> (frames * samples_per_frame,)."""
        return VocoderStream(self, noise).push(mel, final=True)


class VocoderStream:
    """Vocode a mel that arrives in pieces; the pieces of audio join exactly.

    Each call vocodes its new frames with `context` frames of mel on both sides (more than the
    vocoder's receptive field), so every emitted sample equals what one pass over the whole mel gives.
    The last `context` frames wait for the next piece, or for the final call.
    """

    def __init__(self, hift: HiFTGenerator, noise: Noise, context: int = CONTEXT_FRAMES) -> None:
        self.hift = hift
        self.noise = noise
        self.context = context
        self.mel: torch.Tensor | None = None  # frames from `offset` on
        self.offset = 0
        self.emitted = 0
        self.cycles = torch.zeros(hift.config.nb_harmonics + 1, dtype=torch.float64)

    def push(self, mel: torch.Tensor, *, final: bool = False) -> torch.Tensor:
        """Add mel frames (1, 80, n); return the audio that is now final (possibly empty)."""
        self.mel = mel if self.mel is None else torch.cat([self.mel, mel], dim=2)
        received = self.offset + self.mel.shape[2]
        stop = received if final else max(self.emitted, received - self.context)
        if stop == self.emitted:
            return mel.new_zeros(0, dtype=torch.float32)
        spf = self.hift.config.samples_per_frame
        audio, self.cycles = self.hift.vocode(
            self.mel.float(),
            self.noise(self.offset * spf, received * spf),
            (self.emitted - self.offset, stop - self.offset),
            self.cycles.to(mel.device),
        )
        self.emitted = stop
        drop = max(0, self.emitted - self.context - self.offset)
        self.mel, self.offset = self.mel[..., drop:], self.offset + drop
        return audio
