"""The AWQ checkpoint (`Step-Audio-EditX-AWQ-4bit/`) kept 4-bit in memory.

Its linear layers are compressed-tensors "pack-quantized" W4A16: int4 weights, eight to an int32
along the input axis (value + 8 in nibble i of each word), one scale (and, asymmetric, one int4 zero
point, packed eight to an int32 along the output axis) per group of input columns. Each layer keeps
that layout and expands its weight only while it runs, so the model takes about a quarter of the
bf16 memory, at the cost of the expansion on every forward.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from torch import nn

from studio.engine.step1 import Step1Config, Step1ForCausalLM
from studio.errors import CheckpointError


def unpack_int4(packed: torch.Tensor, count: int) -> torch.Tensor:
    """int32 words (rows, words) -> int8 values (rows, count) in -8..7; value i sits in nibble i."""
    # Flattened first: a transposed single-word view passes as contiguous but cannot change dtype.
    nibbles = packed.reshape(-1).view(torch.uint8)  # little-endian: byte j holds values 2j and 2j + 1
    values = torch.stack((nibbles & 0xF, nibbles >> 4), dim=-1).view(torch.int8)
    return values.reshape(packed.shape[0], -1)[:, :count] - 8


class PackedW4Linear(nn.Module):
    """A bias-free linear layer stored as packed int4 with per-group scales and zero points."""

    def __init__(self, in_features: int, out_features: int, group_size: int) -> None:
        super().__init__()
        if in_features % group_size:
            raise CheckpointError(f"a {in_features}-wide layer cannot be split into groups of {group_size}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        groups = in_features // group_size
        self.register_buffer("weight_packed", torch.empty(out_features, math.ceil(in_features / 8), dtype=torch.int32))
        self.register_buffer("weight_scale", torch.empty(out_features, groups))
        self.register_buffer("weight_zero_point", torch.zeros(out_features, groups, dtype=torch.int8))

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        values = unpack_int4(self.weight_packed, self.in_features).view(self.out_features, -1, self.group_size)
        shifted = values.to(dtype) - self.weight_zero_point.to(dtype)[..., None]
        return (shifted * self.weight_scale.to(dtype)[..., None]).view(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


def _scheme(quantization: dict, source: Path) -> tuple[int, list[str]]:
    """The group size and the ignored modules, after checking the scheme is one we can run."""
    groups = list(quantization.get("config_groups", {}).values())
    weights = groups[0].get("weights", {}) if len(groups) == 1 else {}
    fmt = (groups[0].get("format") if groups else None) or quantization.get("format")
    supported = (
        quantization.get("quant_method") == "compressed-tensors"
        and fmt == "pack-quantized"
        and weights.get("num_bits") == 4
        and weights.get("type") == "int"
        and weights.get("strategy") == "group"
        and not groups[0].get("input_activations")
    )
    if not supported:
        raise CheckpointError(
            f"{source} does not describe compressed-tensors W4A16 pack-quantized weights (the AWQ release); "
            f"found {json.dumps(quantization)[:300]}"
        )
    return int(weights["group_size"]), list(quantization.get("ignore", []))


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(re.fullmatch(p[3:], name) if p.startswith("re:") else p == name for p in patterns)


def _tensors(folder: Path, device: torch.device) -> dict[str, torch.Tensor]:
    index = folder / "model.safetensors.index.json"
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else []
    tensors: dict[str, torch.Tensor] = {}
    try:
        for shard in shards or ["model.safetensors"]:
            with safe_open(str(folder / shard), "pt", device=str(device)) as handle:
                tensors.update({key: handle.get_tensor(key) for key in handle.keys()})  # noqa: SIM118
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"Could not read the AWQ weights in {folder}: {err}") from err
    return tensors


def _zero_points(tensors: dict[str, torch.Tensor], module: PackedW4Linear, name: str) -> torch.Tensor:
    """Zero points as int8 (out, groups): packed along the output axis, unpacked, or absent (symmetric)."""
    stored = tensors.pop(f"{name}.weight_zero_point", None)
    if stored is None:
        return torch.zeros_like(module.weight_zero_point)
    if stored.shape[0] == module.out_features:
        return stored.to(torch.int8)
    return unpack_int4(stored.t(), module.out_features).t().contiguous()


def load_awq(folder: Path, config: Step1Config, dtype: torch.dtype, device: torch.device) -> Step1ForCausalLM:
    group_size, ignore = _scheme(getattr(config, "quantization_config", None) or {}, folder / "config.json")
    packed: dict[str, PackedW4Linear] = {}
    with torch.device("meta"):  # shapes only: the checkpoint's tensors are assigned below
        model = Step1ForCausalLM(config)
        for parent_name, parent in list(model.named_modules()):
            for child_name, child in list(parent.named_children()):
                name = f"{parent_name}.{child_name}" if parent_name else child_name
                if isinstance(child, nn.Linear) and not _ignored(name, ignore):
                    packed[name] = PackedW4Linear(child.in_features, child.out_features, group_size)
                    setattr(parent, child_name, packed[name])
    tensors = _tensors(folder, device)
    for name, module in packed.items():
        tensors[f"{name}.weight_zero_point"] = _zero_points(tensors, module, name)
        shape = tensors.pop(f"{name}.weight_shape", None)
        if shape is not None and shape.tolist() != [module.out_features, module.in_features]:
            raise CheckpointError(f"{folder}: {name} is {shape.tolist()} in the checkpoint, not as config.json says")
    for key, tensor in tensors.items():
        if tensor.is_floating_point():
            tensors[key] = tensor.to(dtype)
    expected = model.state_dict()
    missing, unexpected = sorted(expected.keys() - tensors.keys()), sorted(tensors.keys() - expected.keys())
    wrong = [k for k in expected.keys() & tensors.keys() if expected[k].shape != tensors[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"The AWQ weights in {folder} do not match the model: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, wrong shape {sorted(wrong)[:5]}"
        )
    model.load_state_dict(tensors, assign=True)
    return model.eval()
