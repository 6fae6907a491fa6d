"""Tiny random-weight decoder files in the official layout: `cosyvoice.yaml`, `flow.pt`, `hift.pt`, `FLOW_VERSION`.

    <root>/Step-Audio-EditX/CosyVoice-300M-25Hz/...

The yaml has the official structure and class paths (HyperPyYAML `!new:` tags) with small sizes;
the .pt files hold state dicts with the official keys. `OFFICIAL` holds the released sizes, so the
benchmark can build a full-size decoder from the same template. (`campplus.onnx` is written by the
tokenizer part.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from studio.engine.cosyvoice_yaml import read_config
from studio.engine.flow import CausalMaskedDiffWithXvec
from studio.engine.hift import HiFTGenerator

DECODER_DIR = Path("Step-Audio-EditX") / "CosyVoice-300M-25Hz"

TEMPLATE = """\
# set random seed, so that you may reproduce your result.
__set_seed1: !apply:random.seed [1986]
__set_seed2: !apply:numpy.random.seed [1986]
__set_seed3: !apply:torch.manual_seed [1986]
__set_seed4: !apply:torch.cuda.manual_seed_all [1986]

sample_rate: 24000

mel_conf:
    num_mels: 80
    n_fft: 1920
    hop_size: 480
    win_size: 1920
    sampling_rate: !ref <sample_rate>
    fmin: 0
    fmax: 8000

flow: !new:stepvocoder.cosyvoice2.flow.flow.CausalMaskedDiffWithXvec
    input_size: {input_size}
    output_size: 80
    spk_embed_dim: 192
    output_type: 'mel'
    vocab_size: 5121    # 1024 (vq02) + 4096 (vq06) + 1 (vq02 pad)
    input_embedding: !new:stepvocoder.cosyvoice2.embedding.dual_codebook.DualCodebookEmbedding
        vocab_size: 5121
        input_size: {input_size}
    encoder: !new:stepvocoder.cosyvoice2.transformer.upsample_encoder_v2.UpsampleConformerEncoderV2
        input_size: {input_size}
        output_size: {input_size}
        input_layer: 'linear'
        pre_lookahead_len: 3
        num_blocks: {num_blocks}
        num_up_blocks: {num_up_blocks}
        up_stride: 2
        up_scale_factor: 2
        attention_heads: {attention_heads}
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'rel_selfattn'
        key_bias: true
        linear_units: {linear_units}
        dropout_rate: 0.1
        positional_dropout_rate: 0.1
        attention_dropout_rate: 0.1
        normalize_before: true
    decoder: !new:stepvocoder.cosyvoice2.flow.flow_matching.CausalConditionalCFM
        inference_cfg_rate: 0.7
        estimator: !new:stepvocoder.cosyvoice2.flow.decoder_dit.DiT
            in_channels: 320
            out_channels: 80
            mlp_ratio: 4.0
            depth: {depth}
            num_heads: {num_heads}
            head_dim: {head_dim}
            hidden_size: {hidden_size}

hift: !new:stepvocoder.cosyvoice2.hifigan.generator.HiFTGenerator
    in_channels: 80
    base_channels: {base_channels}
    nb_harmonics: 8
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: [8, 5, 3]
    upsample_kernel_sizes: [16, 11, 7]
    istft_params:
        n_fft: 16
        hop_len: 4
    resblock_kernel_sizes: [3, 7, 11]
    resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    source_resblock_kernel_sizes: [7, 7, 11]
    source_resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    lrelu_slope: 0.1
    audio_limit: 0.99
    f0_predictor: !new:stepvocoder.cosyvoice2.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: 1
        in_channels: 80
        cond_channels: {f0_channels}
"""

OFFICIAL = {
    "input_size": 512,
    "num_blocks": 6,
    "num_up_blocks": 4,
    "attention_heads": 8,
    "linear_units": 2048,
    "depth": 16,
    "num_heads": 8,
    "head_dim": 64,
    "hidden_size": 512,
    "base_channels": 512,
    "f0_channels": 512,
}
TINY = {
    "input_size": 32,
    "num_blocks": 2,
    "num_up_blocks": 1,
    "attention_heads": 2,
    "linear_units": 48,
    "depth": 2,
    "num_heads": 2,
    "head_dim": 16,
    "hidden_size": 32,
    "base_channels": 16,
    "f0_channels": 16,
}


def yaml_text(sizes: dict[str, int]) -> str:
    return TEMPLATE.format(**sizes)


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter a seeded random value of a sensible scale (nothing left at zero or one)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith(("alpha", "original0")):  # Snake frequencies, weight-norm gains: positive
                value = 0.5 + torch.rand(tensor.shape, generator=generator)
            elif tensor.ndim == 1 and name.endswith("weight"):  # LayerNorm gains
                value = 1 + 0.1 * noise
            elif tensor.ndim == 1 and name.endswith("bias"):
                value = 0.1 * noise
            else:  # matrices, kernels, embeddings, position biases: unit-variance outputs
                value = noise / max(1.0, tensor[0].numel()) ** 0.5
            tensor.copy_(value)
        if isinstance(module, HiFTGenerator):
            # Put F0 around 150 Hz (voiced) and keep the log-magnitudes small, as a trained vocoder does.
            module.f0_predictor.classifier.bias.fill_(150.0)
            module.conv_post.parametrizations.weight.original0.mul_(0.1)


def write(root: Path, seed: int) -> None:
    out = Path(root) / DECODER_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / "cosyvoice.yaml").write_text(yaml_text(TINY), encoding="utf-8")
    config = read_config(out / "cosyvoice.yaml")
    for name, module in (("flow.pt", CausalMaskedDiffWithXvec(config.flow)), ("hift.pt", HiFTGenerator(config.hift))):
        randomize(module, seed)
        torch.save(module.state_dict(), out / name)
    digest = hashlib.md5((out / "flow.pt").read_bytes()).hexdigest()
    (out / "FLOW_VERSION").write_text(f"tiny/flow_vq0206_dit_tiny/flow.pt {digest}\n", encoding="utf-8")
