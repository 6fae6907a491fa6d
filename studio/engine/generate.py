"""Sampling audio ids from Step1: the official settings, a KV-cached decode loop, streaming, batching.

The official release samples with transformers' `generate`: temperature 0.7, top-k 50, top-p 1.0,
at most 8192 ids in all (prompt included), stop at id 3, plus one logits processor: when the newest
id occurs more than once among the last 10 ids of the whole sequence, that id is banned for the next
step. The loop below does the same in that order (ban, temperature, top-k, top-p), prefills the
prompt in chunks (bounded memory at any prompt length) and then decodes one id per step from the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from studio.engine.step1 import Step1ForCausalLM
from studio.engine.text import AUDIO_CODES, AUDIO_OFFSET, EOT
from studio.errors import BadInput

PAD = 0  # the pad id of config.json; padded positions are masked out, so its value never matters


@dataclass
class SamplingOptions:
    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 1.0
    repetition_window: int = 10  # a newest id seen more than once in this many ids is banned next step
    max_length: int = 8192  # prompt + generated ids
    max_new_tokens: int | None = None  # a lower cap on generated ids (benchmarks force a fixed count)
    stop_id: int | None = EOT  # None: never stop early (random weights rarely say 3)
    seed: int | None = None  # same seed, prompt, model and device: same ids
    prefill_chunk: int = 1024  # prompt ids per forward pass while filling the cache
    static_cache: bool = False  # allocate the whole cache up front instead of growing it
    # Sample only audio ids and the stop id. The trained model puts (almost) no mass elsewhere after
    # the assistant turn starts, so this changes nothing for it, but a stray text id could not be
    # decoded into sound. Off reproduces the official sampler exactly.
    audio_only: bool = False

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise BadInput(f"temperature must be above 0 (got {self.temperature}).", param="temperature")
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            raise BadInput(f"top_k must be >= 0 and top_p in (0, 1] (got {self.top_k}, {self.top_p}).")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise BadInput(f"max_new_tokens must be at least 1 (got {self.max_new_tokens}).", param="max_new_tokens")

    def budget(self, prompt_length: int) -> int:
        """How many ids a prompt of this length may still generate."""
        room = self.max_length - prompt_length
        if room < 1:
            raise BadInput(
                f"The prompt is {prompt_length} tokens; the model's window is {self.max_length}. Use shorter audio."
            )
        return room if self.max_new_tokens is None else min(room, self.max_new_tokens)


def ban_repeats(logits: torch.Tensor, recent: torch.Tensor) -> torch.Tensor:
    """Set the newest id's logit to -inf in rows where it occurs more than once in `recent` (batch, window).

    Rows whose window is not yet full (marked -1) are left alone, as upstream does.
    """
    newest = recent[:, -1:]
    repeated = ((recent == newest).sum(dim=1) > 1) & (recent >= 0).all(dim=1)
    rows = repeated.nonzero().squeeze(1)
    logits[rows, newest[rows, 0]] = float("-inf")
    return logits


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Temperature, then top-k (ties with the k-th value kept), then top-p, as transformers' warpers."""
    logits = logits / options.temperature
    if options.top_k:
        kth = torch.topk(logits, min(options.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= 1 - options.top_p
        drop[:, -1] = False  # always keep the most likely id
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return logits


def audio_ids_only(logits: torch.Tensor, stop_id: int | None) -> torch.Tensor:
    """-inf for every id that is neither an audio token nor the stop id."""
    keep = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    keep[AUDIO_OFFSET : AUDIO_OFFSET + AUDIO_CODES] = True
    if stop_id is not None:
        keep[stop_id] = True
    return logits.masked_fill(~keep, float("-inf"))


def sample(logits: torch.Tensor, recent: torch.Tensor, options: SamplingOptions, rng: torch.Generator) -> torch.Tensor:
    """One id per row from the last position's float32 logits (batch, vocab)."""
    logits = audio_ids_only(logits, options.stop_id) if options.audio_only else logits.clone()
    probs = filter_logits(ban_repeats(logits, recent), options).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=rng).squeeze(1)


def _left_pad(prompts: Sequence[Sequence[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if len(prompt):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def _recent_window(prompts: Sequence[Sequence[int]], size: int, device: torch.device) -> torch.Tensor:
    """The last `size` ids of each prompt, -1 where a prompt is shorter."""
    window = torch.full((len(prompts), size), -1, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        tail = list(prompt[-size:])
        if tail:
            window[row, size - len(tail) :] = torch.tensor(tail, dtype=torch.long)
    return window.to(device)


@torch.inference_mode()
def stream_batch(
    model: Step1ForCausalLM, prompts: Sequence[Sequence[int]], options: SamplingOptions
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (ids, active) per step: the id sampled for every row (batch,) and which rows it counts for.

    A row's last active step is its stop id or the end of its budget; after that it only carries padding.
    Rows are left-padded to a common length and masked, so each row samples from the same logits
    it would get alone.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise BadInput("Every prompt needs at least one id.")
    device = model.get_input_embeddings().weight.device
    budgets = torch.tensor([options.budget(len(p)) for p in prompts], device=device)
    ids, mask = _left_pad(prompts, device)
    recent = _recent_window(prompts, options.repetition_window, device)
    cache = model.new_cache(len(prompts), capacity=ids.shape[1] + int(budgets.max()) if options.static_cache else None)
    rng = torch.Generator(device=device)
    rng.manual_seed(options.seed if options.seed is not None else int(torch.randint(0, 2**62, ()).item()))

    for start in range(0, ids.shape[1], options.prefill_chunk):
        end = start + options.prefill_chunk
        logits = model(ids[:, start:end], attention_mask=mask[:, :end], past_key_values=cache, logits_to_keep=1).logits
    live = torch.ones(len(prompts), dtype=torch.bool, device=device)
    for step in range(int(budgets.max())):
        token = torch.where(live, sample(logits[:, -1], recent, options, rng), PAD)
        active = live
        live = live & (budgets > step + 1)
        if options.stop_id is not None:
            live = live & (token != options.stop_id)
        yield token, active
        if not live.any():
            return
        recent = torch.cat([recent[:, 1:], token[:, None]], dim=1)
        mask = torch.cat([mask, live[:, None].long()], dim=1)
        logits = model(token[:, None], attention_mask=mask, past_key_values=cache, logits_to_keep=1).logits


def stream(model: Step1ForCausalLM, prompt_ids: Sequence[int], options: SamplingOptions) -> Iterator[int]:
    """Generated ids one by one as they are sampled; the stop id ends the stream and is not yielded."""
    for token, _ in stream_batch(model, [prompt_ids], options):
        value = int(token[0])
        if value == options.stop_id:
            return
        yield value


def generate(
    model: Step1ForCausalLM,
    prompt_ids: Sequence[int],
    options: SamplingOptions,
    on_token: Callable[[int], None] | None = None,
) -> list[int]:
    """The generated ids, without the prompt and without a final stop id (a run cut by the length limit
    keeps its last id)."""
    out = []
    for value in stream(model, prompt_ids, options):
        out.append(value)
        if on_token is not None:
            on_token(value)
    return out


def generate_batch(
    model: Step1ForCausalLM, prompts: Sequence[Sequence[int]], options: SamplingOptions
) -> list[list[int]]:
    """`generate` for several prompts at once (one random stream for the batch, so ids differ from
    single runs with the same seed)."""
    out: list[list[int]] = [[] for _ in prompts]
    for token, active in stream_batch(model, prompts, options):
        for row in active.nonzero().squeeze(1).tolist():
            if int(token[row]) != options.stop_id:
                out[row].append(int(token[row]))
    return out
