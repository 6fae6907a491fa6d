"""The engine: one object that owns the model and turns requests into takes.

    audio in -> AudioTokenizer (codes, prompt mel, speaker) -> prompt ids -> Step1 LLM -> audio ids
             -> Decoder (flow + HiFT) -> 24 kHz audio out

The UI and the API hold the same Engine. It loads lazily (or on request) with progress, serialises
model work behind one lock (the single model queue), refuses work beyond the queue size, and turns
a GPU out-of-memory error into a clear error after releasing what the request allocated.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio import audio as audio_io
from studio.audio import Audio
from studio.engine import prompts
from studio.errors import AudioInputError, BadInput, Busy, CheckpointError, ModelNotLoaded, OutOfMemory, StudioError
from studio.settings import Settings

if TYPE_CHECKING:
    from studio.engine.tokenizer import SpeechPrompt

log = logging.getLogger(__name__)

AUDIO_OFFSET = 65536
AUDIO_CODES = 5120  # 1024 vq02 + 4096 vq06
VARIANTS = ("base", "bnb", "awq")
EDITX_DIR = "Step-Audio-EditX"
AWQ_DIR = "Step-Audio-EditX-AWQ-4bit"
TOKENIZER_DIR = "Step-Audio-Tokenizer"
DECODER_DIR = "CosyVoice-300M-25Hz"

# progress(message, fraction in [0, 1] or None)
Progress = Callable[[str, "float | None"], None]


def _quiet(message: str, fraction: float | None = None) -> None:
    log.debug("%s (%s)", message, fraction)


@dataclass(frozen=True)
class CloneRequest:
    prompt_audio: Audio
    prompt_text: str
    text: str
    seed: int | None = None
    max_new_tokens: int | None = None  # None: up to the model's window


@dataclass(frozen=True)
class EditRequest:
    audio: Audio
    audio_text: str
    mode: str
    edit_info: str | None = None
    text: str | None = None  # the new, tagged text for paralinguistic edits
    n_edit_iter: int = 1
    intensity: float = 1.0
    seed: int | None = None
    keep_original_speaker: bool = False  # condition every pass on the input's timbre (less drift)
    max_new_tokens: int | None = None


Request = CloneRequest | EditRequest


@dataclass
class Pass:
    """One model call: what it was shown and what it produced."""

    prompt: str
    prompt_tokens: int
    generated_tokens: int
    dropped_tokens: int  # non-audio ids the model produced, which cannot be decoded
    timings: dict[str, float]


@dataclass
class Take:
    audio: Audio
    text: str  # what the take says (the intended text)
    mode: str
    seed: int
    variant: str
    passes: list[Pass] = field(default_factory=list)

    @property
    def timings(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for p in self.passes:
            for stage, seconds in p.timings.items():
                total[stage] = total.get(stage, 0.0) + seconds
        return total

    def summary(self) -> dict:
        return {
            "mode": self.mode,
            "seed": self.seed,
            "variant": self.variant,
            "duration": round(self.audio.duration, 3),
            "sample_rate": self.audio.sr,
            "text": self.text,
            "passes": len(self.passes),
            "prompt": self.passes[-1].prompt if self.passes else "",
            "tokens": {
                "prompt": [p.prompt_tokens for p in self.passes],
                "generated": [p.generated_tokens for p in self.passes],
                "dropped": [p.dropped_tokens for p in self.passes],
            },
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass
class EngineStatus:
    loaded: bool
    loading: bool
    variant: str
    device: str
    dtype: str
    model_dir: str
    variants_on_disk: dict[str, bool]
    memory_bytes: int
    queue_depth: int
    error: str | None = None


class Engine:
    """Owns one copy of the model on one device; safe to share between threads."""

    def __init__(self, settings: Settings, *, transcriber: object | None = None) -> None:
        self.settings = settings
        self.model_dir = Path(settings.model_dir)  # type: ignore[arg-type]
        self.variant = settings.variant
        self.transcriber = transcriber
        self._lock = threading.Lock()  # held while the model works: the one model queue
        self._load_lock = threading.Lock()
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._parts: dict[str, object] = {}
        self._loading = False
        self._error: str | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return {"tokenizer", "text", "llm", "decoder"} <= self._parts.keys()

    @property
    def device(self) -> str:
        if self.settings.device != "auto":
            return self.settings.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def dtype(self) -> str:
        if self.settings.dtype != "auto":
            return self.settings.dtype
        if not self.device.startswith("cuda"):
            return "float32"
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"

    def variants_on_disk(self) -> dict[str, bool]:
        base = (self.model_dir / EDITX_DIR / "config.json").is_file()
        tokenizer = (self.model_dir / TOKENIZER_DIR).is_dir()
        awq = (self.model_dir / AWQ_DIR / "config.json").is_file()
        return {"base": base and tokenizer, "bnb": base and tokenizer, "awq": awq and tokenizer}

    def status(self) -> EngineStatus:
        return EngineStatus(
            loaded=self.loaded,
            loading=self._loading,
            variant=self.variant,
            device=self.device,
            dtype=self.dtype,
            model_dir=str(self.model_dir),
            variants_on_disk=self.variants_on_disk(),
            memory_bytes=self._memory_bytes(),
            queue_depth=self._waiting,
            error=self._error,
        )

    def _memory_bytes(self) -> int:
        """Bytes held by the model's weights (GPU memory allocated on CUDA)."""
        if not self._parts:
            return 0
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            return int(torch.cuda.memory_allocated())
        total = 0
        for part in self._parts.values():
            modules = part.modules() if isinstance(part, torch.nn.Module) else getattr(part, "modules", lambda: [])()
            for module in modules:
                for tensor in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
                    total += tensor.numel() * tensor.element_size()
        return total

    # --- loading ----------------------------------------------------------------------------

    def load(self, variant: str | None = None, progress: Progress = _quiet) -> None:
        """Load every part (again, when the variant changes). Blocks other model work while it runs."""
        variant = variant or self.variant
        if variant not in VARIANTS:
            raise BadInput(f"Unknown model variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
        with self._load_lock:
            if self.loaded and variant == self.variant:
                return
            self._loading = True
            try:
                with self._lock:
                    self._load_parts(variant, progress)
                self.variant = variant
                self._error = None
            except StudioError as err:
                self._error = str(err)
                raise
            finally:
                self._loading = False

    def _load_parts(self, variant: str, progress: Progress) -> None:
        from studio.engine.decoder import Decoder
        from studio.engine.llm import load_llm
        from studio.engine.text import TextTokenizer
        from studio.engine.tokenizer import AudioTokenizer

        if not self.model_dir.is_dir():
            raise CheckpointError(
                f"No model weights at {self.model_dir}. Download them with `python -m studio download "
                f"--model-dir {self.model_dir}` or point --model-dir / STUDIO_MODEL_DIR at them."
            )
        if variant != self.variant or "llm" not in self._parts:
            self._parts.pop("llm", None)
            self._free()
        steps = [
            ("tokenizer", "audio tokenizer", lambda: AudioTokenizer.load(
                self.model_dir, device=self.device, cache_dir=self.settings.cache_dir / "tokens")),
            ("text", "text tokenizer", lambda: TextTokenizer.load(self.model_dir / EDITX_DIR)),
            ("llm", f"language model ({variant})", lambda: load_llm(
                self.model_dir, variant=variant, device=self.device, dtype=self.dtype)),
            ("decoder", "decoder", lambda: Decoder.load(
                self.model_dir / EDITX_DIR / DECODER_DIR, device=self.device, dtype="float32")),
        ]  # fmt: skip
        for i, (key, label, make) in enumerate(steps):
            if key in self._parts:
                continue
            progress(f"loading {label}", i / len(steps))
            started = time.perf_counter()
            self._parts[key] = make()
            log.info("loaded %s in %.2f s", label, time.perf_counter() - started)
        progress("model ready", 1.0)

    def unload(self) -> None:
        with self._lock:
            self._parts.clear()
            self._free()

    def _free(self) -> None:
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- the model queue --------------------------------------------------------------------

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Wait for the model; refuse when the queue is full; map OOM to a clear error."""
        with self._waiting_lock:
            if self._waiting >= self.settings.queue_size:
                raise Busy(f"The model queue is full ({self._waiting} requests waiting). Try again shortly.")
            self._waiting += 1
        try:
            with self._lock:
                if not self.loaded:
                    raise ModelNotLoaded("The model is not loaded. Load it in Settings or wait until it finishes.")
                yield
        except Exception as err:
            if _is_out_of_memory(err):
                self._free()
                raise OutOfMemory(
                    "The GPU ran out of memory for this request. Shorten the audio, use the bnb variant, "
                    "or free GPU memory; the studio is ready for the next request."
                ) from err
            raise
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def ensure_loaded(self, progress: Progress = _quiet) -> None:
        if not self.loaded:
            self.load(progress=progress)

    # --- requests ---------------------------------------------------------------------------

    def run(self, request: Request, progress: Progress = _quiet) -> Take:
        if isinstance(request, CloneRequest):
            return self.clone(request, progress)
        return self.edit(request, progress)

    def clone(self, request: CloneRequest, progress: Progress = _quiet) -> Take:
        request = self._check_clone(request)
        seed = _seed(request.seed)
        self.ensure_loaded(progress)
        with self._turn():
            timings: dict[str, float] = {}
            progress("encoding the prompt", 0.05)
            speech = self._encode(request.prompt_audio, timings)
            ids, rendered = self._prompt(request, speech, request.prompt_text)
            generated = self._generate(ids, seed, request.max_new_tokens, timings, progress, "generating")
            progress("decoding audio", 0.85)
            out = self._decode(generated, speech, seed, timings)
        passes = [Pass(rendered, len(ids), len(generated.ids), generated.dropped, timings)]
        return Take(out, request.text, "clone", seed, self.variant, passes)

    def edit(self, request: EditRequest, progress: Progress = _quiet) -> Take:
        """`n_edit_iter` passes, each re-encoding the previous output and applying the same edit."""
        request = self._check_edit(request)
        seed = _seed(request.seed)
        self.ensure_loaded(progress)
        current, audio_text, passes = request.audio, request.audio_text, []
        with self._turn():
            original = None
            for k in range(1, request.n_edit_iter + 1):
                label = f"pass {k}/{request.n_edit_iter}"
                timings: dict[str, float] = {}
                progress(f"{label}: encoding", (k - 1) / request.n_edit_iter)
                speech = self._encode(current, timings)
                original = original or speech
                ids, rendered = self._prompt(request, speech, audio_text)
                pass_seed = seed + k - 1
                generated = self._generate(
                    ids, pass_seed, request.max_new_tokens, timings, progress, f"{label}: generating"
                )
                progress(f"{label}: decoding", (k - 0.2) / request.n_edit_iter)
                # The flow prompt sets the timbre; the input's own keeps later passes from drifting.
                flow_prompt = original if request.keep_original_speaker else speech
                current = self._decode(generated, flow_prompt, pass_seed, timings)
                passes.append(Pass(rendered, len(ids), len(generated.ids), generated.dropped, timings))
                if request.mode == "paralinguistic":
                    audio_text = request.text or audio_text  # upstream carries the tagged text forward
        text = request.text if request.mode == "paralinguistic" and request.text else request.audio_text
        return Take(current, text, request.mode, seed, self.variant, passes)

    def stream(self, request: Request, progress: Progress = _quiet, *, chunk_tokens: int = 50) -> Iterator[Audio]:
        """Audio chunks of the take as the decoder produces them.

        The LLM must finish first (the flow needs the whole token sequence); the decoder then yields
        audio chunk by chunk. A multi-pass edit needs its earlier passes whole, so it comes as one chunk.
        """
        if isinstance(request, EditRequest) and request.n_edit_iter > 1:
            yield self.edit(request, progress).audio
            return
        if isinstance(request, CloneRequest):
            request = self._check_clone(request)
            source, audio_text = request.prompt_audio, request.prompt_text
        else:
            request = self._check_edit(request)
            source, audio_text = request.audio, request.audio_text
        seed = _seed(request.seed)
        self.ensure_loaded(progress)
        with self._turn():
            timings: dict[str, float] = {}
            speech = self._encode(source, timings)
            ids, _ = self._prompt(request, speech, audio_text)
            generated = self._generate(ids, seed, request.max_new_tokens, timings, progress, "generating")
            self._require_audio(generated)
            yield from self._parts["decoder"].stream(  # type: ignore[attr-defined]
                generated.ids,
                prompt_tokens=speech.mixed,
                prompt_mel=speech.mel,
                speaker=speech.speaker,
                seed=seed,
                chunk_tokens=chunk_tokens,
            )

    # --- stages -----------------------------------------------------------------------------

    def _encode(self, clip: Audio, timings: dict[str, float]) -> SpeechPrompt:
        started = time.perf_counter()
        speech = self._parts["tokenizer"].encode(clip)  # type: ignore[attr-defined]
        timings["tokenize"] = timings.get("tokenize", 0.0) + time.perf_counter() - started
        if len(speech.mixed) < 5:
            raise AudioInputError("The audio holds too little speech to encode (under 0.12 s after trimming silence).")
        return speech

    def _prompt(self, request: Request, speech: SpeechPrompt, audio_text: str) -> tuple[list[int], str]:
        """The prompt ids the model sees, and the same prompt as text (shown to the user)."""
        if isinstance(request, CloneRequest):
            fields = {
                "speaker": prompts.speaker_label(audio_text, request.prompt_audio.samples),
                "prompt_text": audio_text,
                "prompt_audio_tokens": speech.token_string,
                "target_text": request.text,
            }
            return prompts.clone_prompt_ids(self._parts["text"], **fields), prompts.render_clone_prompt(**fields)
        fields = {
            "mode": request.mode,
            "edit_info": request.edit_info,
            "audio_text": audio_text,
            "audio_tokens": speech.token_string,
            "new_text": request.text,
            "intensity": request.intensity,
        }
        return prompts.edit_prompt_ids(self._parts["text"], **fields), prompts.render_edit_prompt(**fields)

    def _generate(
        self, ids: list[int], seed: int, max_new: int | None, timings: dict[str, float], progress: Progress, label: str
    ) -> _Generated:
        from studio.engine.generate import SamplingOptions, generate

        options = SamplingOptions(seed=seed, max_new_tokens=max_new, audio_only=True)
        options.budget(len(ids))  # refuses a prompt that leaves no room in the window
        count = 0

        def on_token(_: int) -> None:
            nonlocal count
            count += 1
            if count % 25 == 0:
                progress(f"{label} ({count} tokens)", None)

        started = time.perf_counter()
        out = generate(self._parts["llm"], ids, options, on_token=on_token)
        timings["llm"] = time.perf_counter() - started
        codes = [i - AUDIO_OFFSET for i in out if AUDIO_OFFSET <= i < AUDIO_OFFSET + AUDIO_CODES]
        return _Generated(codes, len(out) - len(codes))

    def _decode(self, generated: _Generated, flow_prompt: SpeechPrompt, seed: int, timings: dict[str, float]) -> Audio:
        self._require_audio(generated)
        result = self._parts["decoder"].decode(  # type: ignore[attr-defined]
            generated.ids,
            prompt_tokens=flow_prompt.mixed,
            prompt_mel=flow_prompt.mel,
            speaker=flow_prompt.speaker,
            seed=seed,
        )
        for stage, seconds in result.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        return result.audio

    @staticmethod
    def _require_audio(generated: _Generated) -> None:
        if len(generated.ids) < 5:
            raise GenerationFailed(
                f"The model produced no usable audio ({len(generated.ids)} audio tokens, "
                f"{generated.dropped} other ids). Try another seed or rephrase the text."
            )

    # --- validation -------------------------------------------------------------------------

    def _check_audio(self, clip: Audio, what: str) -> Audio:
        try:
            return audio_io.check(
                clip, min_seconds=self.settings.min_input_seconds, max_seconds=self.settings.max_input_seconds
            )
        except StudioError as err:
            raise type(err)(f"The {what}: {err}", param=err.param) from err

    def _check_clone(self, request: CloneRequest) -> CloneRequest:
        clip = self._check_audio(request.prompt_audio, "prompt audio")
        return replace(
            request,
            prompt_audio=clip,
            prompt_text=self._prompt_text(request.prompt_text, clip),
            text=self._check_text(request.text, "text to speak"),
        )

    def _check_text(self, text: str | None, what: str) -> str:
        text = (text or "").strip()
        if not text:
            raise BadInput(f"The {what} is empty.")
        if len(text) > self.settings.max_text_chars:
            raise BadInput(f"The {what} is {len(text)} characters; the limit is {self.settings.max_text_chars}.")
        return text

    def _prompt_text(self, text: str | None, clip: Audio) -> str:
        """The prompt's transcript; transcribed when missing and a transcriber is available."""
        if text and text.strip():
            return self._check_text(text, "prompt transcript")
        if self.transcriber is None:
            raise BadInput("The prompt audio needs its transcript: type exactly what is said in it.")
        return self._check_text(self.transcriber.transcribe(clip).text, "prompt transcript")  # type: ignore[attr-defined]

    def _check_edit(self, request: EditRequest) -> EditRequest:
        if request.mode not in prompts.EDIT_MODES:
            raise BadInput(f"Unknown edit mode {request.mode!r}; choose one of {', '.join(prompts.EDIT_MODES)}.")
        allowed = prompts.EDIT_INFO[request.mode]
        if allowed and request.edit_info not in allowed:
            raise BadInput(
                f"{request.mode} edits need edit_info, one of: {', '.join(allowed)} (got {request.edit_info!r}).",
                param="edit_info",
            )
        if not 1 <= request.n_edit_iter <= 4:
            raise BadInput(f"n_edit_iter must be 1 to 4 (got {request.n_edit_iter}).", param="n_edit_iter")
        if not 0.5 <= request.intensity <= 3.0:
            raise BadInput(f"intensity must be 0.5 to 3.0 (got {request.intensity}).", param="intensity")
        clip = self._check_audio(request.audio, "audio to edit")
        needs_text = request.mode not in ("denoise", "vad")
        audio_text = request.audio_text.strip() if request.audio_text else ""
        if needs_text and not audio_text:
            audio_text = self._prompt_text(None, clip)
        if request.mode == "paralinguistic":
            self._check_text(request.text, "new text with paralinguistic tags")
        return replace(request, audio=clip, audio_text=audio_text)


class GenerationFailed(StudioError):
    """The model's output held no audio to decode (a bad sample; another seed usually works)."""

    status = 422
    code = "generation_failed"


@dataclass(frozen=True)
class _Generated:
    ids: list[int]  # audio codes K (ids - 65536)
    dropped: int


def _seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**31 - 1))
    if not 0 <= seed < 2**63:
        raise BadInput(f"seed must be a non-negative integer (got {seed}).", param="seed")
    return int(seed)


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()
