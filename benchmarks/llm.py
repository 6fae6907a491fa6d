"""Step1 speed and memory: our attention (bias rows of the queries only, once per forward, KV cache,
chunked prefill) against the official fallback's (a full L x L bias rebuilt in every layer at every
step), measured in the same run on the same random weights.

    python benchmarks/llm.py

Rows: the tiny test model on CPU; a full-width, 2-layer Step1 on CPU at context 1k; with CUDA, the
full-size model (32 layers) at contexts 1k/3k/6k; and a bitsandbytes 4-bit row for each device.
Prefill = filling the cache with the prompt and sampling the first id; decode = ids per second after it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/llm.py` from anywhere

from studio.engine.generate import SamplingOptions, stream_batch
from studio.engine.llm import load_llm
from studio.engine.step1 import (
    Step1Attention,
    Step1Config,
    Step1ForCausalLM,
    alibi_slopes,
    attention_bias,
)
from studio.testing import tiny_step1

FULL = {"hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 48, "num_attention_groups": 4}


@dataclass
class Run:
    prefill_ms: float
    tokens_per_s: float
    peak_mb: float
    first_logits: torch.Tensor


def config(layers: int, **sizes: int) -> Step1Config:
    return Step1Config(**{**FULL, **sizes, "num_hidden_layers": layers})


def random_model(cfg: Step1Config, device: str, dtype: torch.dtype) -> Step1ForCausalLM:
    torch.manual_seed(0)
    with torch.device(device):
        model = Step1ForCausalLM._from_config(cfg, dtype=dtype)
    return model.eval()


def _naive_forward(self: Step1Attention, x: torch.Tensor, bias: torch.Tensor, cache) -> torch.Tensor:
    """The official SDPA fallback: ignore the shared rows, build the whole L x L bias for this layer,
    keep its last rows, repeat the key/value groups per head."""
    batch, length, _ = x.shape
    q = self.q_proj(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
    k = self.k_proj(x).view(batch, length, self.num_groups, self.head_dim).transpose(1, 2)
    v = self.v_proj(x).view(batch, length, self.num_groups, self.head_dim).transpose(1, 2)
    k, v = cache.update(self.layer_idx, k, v)
    total = k.shape[2]
    slopes = alibi_slopes(self.num_heads).to(x.device)
    full = attention_bias(slopes, torch.arange(total, device=x.device), total)[:, :, -length:].to(q.dtype)
    per_group = self.num_heads // self.num_groups
    k, v = k.repeat_interleave(per_group, dim=1), v.repeat_interleave(per_group, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=full, scale=self.scale)
    return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


@contextlib.contextmanager
def naive_attention(model: Step1ForCausalLM) -> Iterator[None]:
    layers = [layer.self_attn for layer in model.model.layers]
    for attn in layers:
        attn.forward = types.MethodType(_naive_forward, attn)
    try:
        yield
    finally:
        for attn in layers:
            del attn.forward


class PeakMemory:
    """Peak CUDA allocation, or peak resident memory above the starting point on CPU (sampled)."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        process = psutil.Process()
        self.base = self.peak = process.memory_info().rss
        self.done = threading.Event()

        def watch() -> None:
            while not self.done.wait(0.002):
                self.peak = max(self.peak, process.memory_info().rss)

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self.done.set()
            self.thread.join()

    @property
    def megabytes(self) -> float:
        return (self.peak - self.base) / 2**20


def measure(model: Step1ForCausalLM, context: int, steps: int, prefill_chunk: int) -> Run:
    device = str(model.get_input_embeddings().weight.device)
    prompt = torch.randint(0, 65536, (context,), generator=torch.Generator().manual_seed(1)).tolist()
    options = SamplingOptions(seed=0, max_new_tokens=steps + 1, stop_id=None, prefill_chunk=prefill_chunk)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with PeakMemory(device) as memory:
        started = time.perf_counter()
        tokens = stream_batch(model, [prompt], options)
        next(tokens)
        sync()
        prefilled = time.perf_counter()
        for _ in tokens:
            pass
        sync()
        finished = time.perf_counter()
    with torch.inference_mode():
        cache = model.new_cache(1)
        first = model(torch.tensor([prompt[:256]], device=device), past_key_values=cache, logits_to_keep=1).logits
    return Run((prefilled - started) * 1e3, steps / (finished - prefilled), memory.megabytes, first.float().cpu())


def compare(label: str, model: Step1ForCausalLM, context: int, steps: int, naive: bool = True) -> None:
    measure(model, min(context, 64), 2, 1024)  # warm-up: kernels, allocator, thread pools
    ours = measure(model, context, steps, 1024)
    cells = [label, f"{context}", f"{ours.prefill_ms:9.1f}", f"{ours.tokens_per_s:8.2f}", f"{ours.peak_mb:8.0f}"]
    if naive:
        with naive_attention(model):
            base = measure(model, context, steps, context)
        delta = (ours.first_logits - base.first_logits).abs().max().item()
        cells += [
            f"{base.prefill_ms:9.1f}",
            f"{base.tokens_per_s:8.2f}",
            f"{base.peak_mb:8.0f}",
            f"{base.prefill_ms / ours.prefill_ms:5.2f}x",
            f"{ours.tokens_per_s / base.tokens_per_s:5.2f}x",
            f"{delta:.1e}",
        ]
    print(" | ".join(cells), flush=True)


def quantized_model(variant: str, cfg: Step1Config, device: str, dtype: torch.dtype, folder: Path) -> Step1ForCausalLM:
    """Write the random model as the release's checkpoint of that variant, then load it as the studio does."""
    model = random_model(cfg, "cpu", torch.bfloat16)
    if variant == "awq":
        (folder / "Step-Audio-EditX-AWQ-4bit").mkdir(parents=True)
        tiny_step1.write_awq(folder / "Step-Audio-EditX-AWQ-4bit", model, group_size=128)
    else:
        editx = folder / "Step-Audio-EditX"
        editx.mkdir(parents=True)
        sizes = {k: getattr(cfg, k) for k in tiny_step1.TINY}
        (editx / "config.json").write_text(json.dumps(tiny_step1.config_dict(**sizes)))
        tiny_step1.write_weights(editx, model)
    del model
    return load_llm(folder, variant, device=device, dtype=str(dtype).removeprefix("torch."), bnb_bits=4)


def weights_mb(model: Step1ForCausalLM) -> float:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())) / 2**20


def quantized_rows(
    label: str, cfg: Step1Config, device: str, dtype: torch.dtype, contexts: tuple[int, ...], steps: int
) -> None:
    for variant in ("bnb", "awq"):
        with tempfile.TemporaryDirectory() as folder:
            model = quantized_model(variant, cfg, device, dtype, Path(folder))
            name = "bnb-4bit" if variant == "bnb" else "awq-4bit"
            for context in contexts:
                compare(f"{label} {name} ({weights_mb(model):.0f} MB weights)", model, context, steps, naive=False)
            del model


def main() -> None:
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(
        "row | context | ours prefill ms | ours decode tok/s | ours peak MB | naive prefill ms | naive decode tok/s "
        "| naive peak MB | prefill speed-up | decode speed-up | max |logit diff|"
    )
    tiny_cfg = config(2, **{k: v for k, v in tiny_step1.TINY.items() if k != "num_hidden_layers"})
    compare("tiny, CPU fp32", random_model(tiny_cfg, "cpu", torch.float32), 256, 64)

    wide = config(2)
    model = random_model(wide, "cpu", torch.float32)
    compare(f"full width, 2 layers, CPU fp32 ({weights_mb(model):.0f} MB weights)", model, 1024, 8)
    del model
    quantized_rows("full width, 2 layers, CPU", wide, "cpu", torch.float32, (1024,), 8)

    if not torch.cuda.is_available():
        print("CUDA not available: full-size GPU rows skipped")
        return
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    full = config(32)
    model = random_model(full, "cuda", dtype)
    name = torch.cuda.get_device_name()
    for context in (1024, 3072, 6144):
        compare(f"full size, {name}, {str(dtype)[6:]}", model, context, 32)
    del model
    torch.cuda.empty_cache()
    quantized_rows(f"full size, {name}", full, "cuda", dtype, (1024, 6144), 32)


if __name__ == "__main__":
    main()
