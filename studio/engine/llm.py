"""Load Step1 in one of its variants, with errors that say which file or what hardware is missing.

base  the released bf16 weights (bfloat16 on GPUs that have it, float16 on older ones, float32 on CPU)
bnb   the same weights quantized by bitsandbytes while loading: 4-bit NF4 with double quantization,
      or 8-bit (`bnb_bits=8`)
awq   `Step-Audio-EditX-AWQ-4bit/`, compressed-tensors W4A16; its weights are expanded to the compute
      dtype while loading (transformers cannot yet run that packed layout as stored), so it saves
      download size, not memory
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError

from studio.engine.awq import load_awq
from studio.engine.files import require_file
from studio.engine.step1 import Step1Config, Step1ForCausalLM
from studio.errors import BadInput, CheckpointError

log = logging.getLogger(__name__)

VARIANTS = ("base", "bnb", "awq")
EDITX_DIR = "Step-Audio-EditX"
AWQ_DIR = "Step-Audio-EditX-AWQ-4bit"
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise BadInput(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.", param="device") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"Device {device} was asked for, but this machine has no usable CUDA GPU.", param="device")
    if resolved.type not in ("cpu", "cuda"):
        raise BadInput(f"Device {device} is not supported; use auto, cpu, cuda or cuda:N.", param="device")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in DTYPES:
        raise BadInput(f"Unknown dtype {dtype!r}; use auto, {', '.join(DTYPES)}.", param="dtype")
    if dtype == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise BadInput("This GPU has no bfloat16 support (pre-Ampere); use --dtype float16.", param="dtype")
    return DTYPES[dtype]


def check_weights(folder: Path) -> Step1Config:
    """Every file the checkpoint needs is present and real; return its config."""
    config_path = require_file(folder / "config.json", "Step1 configuration")
    try:
        fields = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_path} is not valid JSON ({err}). Re-download it.") from err
    if fields.get("model_type") != "step1":
        raise CheckpointError(f"{config_path} describes a {fields.get('model_type')!r} model, not Step1 (step1).")
    index_path = folder / "model.safetensors.index.json"
    if index_path.exists():
        index = json.loads(require_file(index_path, "Step1 weight index").read_text(encoding="utf-8"))
        shards = sorted(set(index.get("weight_map", {}).values()))
    else:
        shards = ["model.safetensors"]
    for shard in shards:
        require_file(folder / shard, "Step1 weights")
    try:
        return Step1Config.from_pretrained(folder)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{config_path} does not describe a usable Step1 model: {err}") from err


def _require_package(name: str, variant: str) -> None:
    if importlib.util.find_spec(name) is None:
        raise CheckpointError(f"The {variant} variant needs the Python package {name}; install requirements.txt.")


def _bnb(dtype: torch.dtype, bits: int) -> object:
    _require_package("bitsandbytes", "bnb")
    from transformers import BitsAndBytesConfig

    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    raise BadInput(f"bnb_bits must be 4 or 8 (got {bits}).", param="bnb_bits")


def _from_pretrained(
    folder: Path, dtype: torch.dtype, device: torch.device, quantization: object | None
) -> tuple[Step1ForCausalLM, dict]:
    try:
        return Step1ForCausalLM.from_pretrained(
            folder, dtype=dtype, device_map={"": device}, quantization_config=quantization, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise CheckpointError(f"Could not load the Step1 weights in {folder}: {err}") from err


def load_llm(
    model_dir: Path, variant: str = "base", device: str = "auto", dtype: str = "auto", bnb_bits: int = 4
) -> Step1ForCausalLM:
    """Step1 from `<model_dir>/Step-Audio-EditX` (or the AWQ folder), in eval mode on `device`."""
    if variant not in VARIANTS:
        raise BadInput(f"Unknown model variant {variant!r}; choose one of {', '.join(VARIANTS)}.", param="variant")
    target = resolve_device(device)
    compute = resolve_dtype(dtype, target)
    folder = Path(model_dir) / (AWQ_DIR if variant == "awq" else EDITX_DIR)
    if not folder.is_dir():
        raise CheckpointError(
            f"No {folder.name} folder in {model_dir}: the {variant} variant needs it. Download it with "
            "`python -m studio download`."
        )
    config = check_weights(folder)
    if variant == "awq":
        model = load_awq(folder, config, compute, target)
        log.info("Step1 awq loaded on %s as %s", target, compute)
        return model
    quantization = _bnb(compute, bnb_bits) if variant == "bnb" else None
    model, info = _from_pretrained(folder, compute, target, quantization)
    problems = {k: sorted(v)[:5] for k, v in info.items() if k in ("missing_keys", "unexpected_keys") and v}
    if problems:
        raise CheckpointError(f"The Step1 weights in {folder} do not match the model: {problems}")
    log.info("Step1 %s loaded on %s as %s", variant, target, compute)
    return model.eval()
