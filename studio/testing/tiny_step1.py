"""A tiny random Step1 in the official files: `Step-Audio-EditX/` and `Step-Audio-EditX-AWQ-4bit/`.

Same formats and key names as the release (bf16 safetensors with an index, an untied `lm_head`, a
SentencePiece `tokenizer.model` whose ids 65536 + K are `<audio_K>`), only narrow: 2 layers, width 96,
12 query heads in 4 groups. The vocabulary keeps its real size (74752), because the prompt ids of
audio tokens reach past 65536. The AWQ folder holds the same weights in compressed-tensors W4A16
(asymmetric int4, packed), with groups of 32 input columns instead of 128 to fit the narrow layers.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import sentencepiece as spm
import torch
from safetensors.torch import save_file
from sentencepiece import sentencepiece_model_pb2 as sp_model

from studio.engine import prompts
from studio.engine.step1 import Step1Config, Step1ForCausalLM
from studio.engine.text import AUDIO_OFFSET
from studio.testing.tiny_checkpoint import AWQ_DIR, EDITX_DIR

SHARD = "model-00001.safetensors"
TINY = {
    "hidden_size": 96,
    "intermediate_size": 192,
    "num_hidden_layers": 2,
    "num_attention_heads": 12,
    "num_attention_groups": 4,
}
AWQ_GROUP_SIZE = 32
TEXT_PIECES = 600  # trained pieces; the rest of the 65536 text ids are unused slots
# As in the release: a Llama-style tokenizer config that asks for a <s> per encode, which the
# engine must not obey.
TOKENIZER_CONFIG = {
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "pad_token": "<unk>",
    "unk_token": "<unk>",
    "model_max_length": 32768,
    "tokenizer_class": "LlamaTokenizer",
}


def config_dict(**overrides: object) -> dict:
    """config.json with the released fields and our tiny sizes."""
    fields = {
        "architectures": ["Step1ForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_step1.Step1Config",
            "AutoModelForCausalLM": "modeling_step1.Step1ForCausalLM",
        },
        "model_type": "step1",
        "vocab_size": 74752,
        "max_seq_len": 32768,
        "rms_norm_eps": 1e-5,
        "bos_token_id": 1,
        "pad_token_id": 0,
        "eos_token_id": 3,
        "torch_dtype": "bfloat16",
        **TINY,
    }
    fields.update(overrides)
    return fields


def _corpus() -> list[str]:
    """Text that looks like the prompts: the fixed strings, the tags, English and CJK sentences."""
    lines = [
        prompts.EDIT_SYSTEM_PROMPT,
        prompts.CLONE_SYSTEM_TEMPLATE,
        prompts.DENOISE_INSTRUCTION,
        prompts.VAD_INSTRUCTION,
        prompts.PARALINGUISTIC_INSTRUCTION,
        "system\nhuman\nassistant\n",
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
        "It's easy to tell the depth of a well. These days a chicken leg is a rare dish.",
        "今天天气很好，我们去公园散步吧。你好，世界！",
        "The number is 0123456789, call me at 555 0199.",
    ]
    lines += [" ".join(group) for group in (prompts.EMOTIONS, prompts.STYLES, prompts.SPEEDS)]
    lines += [" ".join(prompts.PARALINGUISTIC_TAGS), " ".join(prompts.LANGUAGE_PREFIXES)]
    return [line for text in lines for line in text.split("\n") if line] * 4


def tokenizer_model(vocab_size: int = 74752) -> bytes:
    """A SentencePiece model laid out like Step1's: <unk> <s> </s> <|EOT|> <|BOT|>, then bytes and
    trained pieces, unused slots up to id 65535, then `<audio_K>` user-defined pieces."""
    trained = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()),
        model_writer=trained,
        vocab_size=TEXT_PIECES,
        model_type="unigram",
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        control_symbols=["<|EOT|>", "<|BOT|>"],
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    proto = sp_model.ModelProto()
    proto.ParseFromString(trained.getvalue())
    kind = sp_model.ModelProto.SentencePiece
    while len(proto.pieces) < AUDIO_OFFSET:
        piece = proto.pieces.add()
        piece.piece, piece.type, piece.score = f"<unused_{len(proto.pieces) - 1}>", kind.UNUSED, 0.0
    for code in range(vocab_size - AUDIO_OFFSET):
        piece = proto.pieces.add()
        piece.piece, piece.type, piece.score = f"<audio_{code}>", kind.USER_DEFINED, 0.0
    return proto.SerializeToString()


def random_model(seed: int, **overrides: object) -> Step1ForCausalLM:
    torch.manual_seed(seed)
    fields = {k: v for k, v in config_dict(**overrides).items() if k not in ("architectures", "auto_map")}
    return Step1ForCausalLM(Step1Config(**fields)).eval()


def write_weights(folder: Path, model: Step1ForCausalLM, dtype: torch.dtype = torch.bfloat16) -> None:
    """One shard plus its index, as the release ships them."""
    tensors = {name: tensor.detach().to(dtype).contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, str(folder / SHARD), metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict.fromkeys(sorted(tensors), SHARD)}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def write_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.model").write_bytes(tokenizer_model())
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))


def write_awq(folder: Path, model: Step1ForCausalLM, group_size: int = AWQ_GROUP_SIZE) -> None:
    """The same weights as compressed-tensors W4A16 asymmetric int4 (lm_head left in bf16), as the
    release's llm-compressor recipe writes them (round-to-nearest here: no calibration data)."""
    from compressed_tensors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationConfig,
        QuantizationStatus,
        apply_quantization_config,
        preset_name_to_scheme,
    )
    from compressed_tensors.quantization.utils import calculate_qparams

    scheme = preset_name_to_scheme("W4A16_ASYM", ["Linear"])
    scheme.weights.group_size = group_size
    config = QuantizationConfig(config_groups={"group_0": scheme}, ignore=["lm_head"], format="pack-quantized")
    model = copy.deepcopy(model).to(torch.bfloat16)
    apply_quantization_config(model, config)
    for module in model.modules():
        args = getattr(getattr(module, "quantization_scheme", None), "weights", None)
        if args is None:
            continue
        groups = module.weight.detach().float().reshape(module.weight.shape[0], -1, args.group_size)
        scale, zero_point = calculate_qparams(groups.amin(-1), groups.amax(-1), args)
        module.weight_scale.data.copy_(scale.reshape(module.weight_scale.shape))
        module.weight_zero_point.data.copy_(zero_point.reshape(module.weight_zero_point.shape))
        module.quantization_status = QuantizationStatus.FROZEN
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format="pack-quantized")
    compressor.compress_model(model)
    model.save_pretrained(folder)
    compressor.update_config(folder)


def write(root: Path, seed: int) -> None:
    editx = Path(root) / EDITX_DIR
    editx.mkdir(parents=True, exist_ok=True)
    model = random_model(seed)
    (editx / "config.json").write_text(json.dumps(config_dict(), indent=2))
    write_weights(editx, model)
    write_tokenizer(editx)
    awq = Path(root) / AWQ_DIR
    awq.mkdir(parents=True, exist_ok=True)
    write_awq(awq, model)
    write_tokenizer(awq)
