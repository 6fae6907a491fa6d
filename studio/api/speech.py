"""`/v1/audio/speech`: turn a request into an engine request, run it, and shape the audio response.

Where the first published server of this API went wrong, this one is strict:
- a clone's prompt transcript comes from the request, the chosen voice, or ASR on the prompt audio;
  never from the text to speak;
- every audio source, edit_info value and paralinguistic tag is checked before the model queue;
- intensity and n_edit_iter reach the engine; the model variant is honoured or refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
import secrets
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np

from studio import audio as audio_io
from studio.api.errors import EngineFailure, UnsupportedMediaType
from studio.api.fetch import UrlFetcher
from studio.api.schemas import MODEL_ID, SpeechRequest, StepAudioOptions
from studio.asr import Transcriber
from studio.audio import Audio
from studio.engine import prompts
from studio.engine.pipeline import CloneRequest, EditRequest, Engine, Take
from studio.errors import AudioInputError, BadInput, Busy, ModelNotLoaded, NotFound, StudioError, TooLarge
from studio.settings import Settings
from studio.tools import speed as speed_tool
from studio.voices import DEFAULT_VOICE, VoiceStore

log = logging.getLogger(__name__)

UNTRANSCRIBED_MODES = ("denoise", "vad")
STREAM_FORMATS = ("wav", "pcm")
BRACKETED = re.compile(r"\[[^\[\]\n]{1,40}\]")
HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
UPLOAD_TYPES = ("audio/", "video/", "application/octet-stream", "application/ogg")


@dataclass
class Uploads:
    """Files sent with a multipart request, in place of the base64/URL fields."""

    prompt: bytes | None = None
    input: bytes | None = None


@dataclass(frozen=True)
class Source:
    """Where one audio input comes from: exactly one of base64, URL or uploaded file."""

    name: str  # prompt_audio or input_audio
    kind: str  # base64, url or file
    value: str | bytes

    @property
    def param(self) -> str:
        return f"{self.name}_file" if self.kind == "file" else f"step_audio.{self.name}_{self.kind}"

    @classmethod
    def of(cls, opts: StepAudioOptions, uploads: Uploads, name: str) -> Source | None:
        candidates = (
            ("base64", getattr(opts, f"{name}_base64")),
            ("url", getattr(opts, f"{name}_url")),
            ("file", getattr(uploads, name.split("_")[0])),
        )
        given = [cls(name, kind, value) for kind, value in candidates if value is not None and value != ""]
        if len(given) > 1:
            raise BadInput(f"Give {name} once, not as {' and '.join(s.kind for s in given)}.", param=given[0].param)
        return given[0] if given else None


@dataclass
class Trace:
    """What a request noted on its way: response headers and seconds per stage."""

    headers: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


@dataclass
class Job:
    request: CloneRequest | EditRequest
    variant: str | None
    response_format: str
    speed: float
    trace: Trace


@dataclass
class Result:
    body: bytes
    headers: dict[str, str]


def check_upload_type(content_type: str | None, what: str) -> None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and not kind.startswith(UPLOAD_TYPES):
        raise UnsupportedMediaType(f"{what} was sent as {kind}; send an audio file (wav, mp3, flac, ogg, ...).")


def decode_base64(data: str, param: str, max_bytes: int) -> bytes:
    """Decode standard or URL-safe base64, or a data: URI, refusing oversize input before decoding it."""
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        if ";base64" not in header:
            raise BadInput(f"{param}: a data: URI must be base64-encoded.", param=param)
    limit = (max_bytes // 3 + 1) * 4
    too_large = TooLarge(f"{param}: the audio is larger than {max_bytes // (1024 * 1024)} MB.", param=param)
    if len(data) > limit * 1.05 + 64:  # room for line breaks, checked again without them
        raise too_large
    compact = "".join(data.split())
    if len(compact) > limit:
        raise too_large
    try:
        decoded = base64.b64decode(
            compact.replace("-", "+").replace("_", "/") + "=" * (-len(compact) % 4), validate=True
        )
    except (binascii.Error, ValueError) as err:
        raise BadInput(f"{param} is not valid base64 ({err}).", param=param) from err
    if len(decoded) > max_bytes:
        raise too_large
    return decoded


def wav_stream_header(sr: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes set to the maximum, as is usual)."""
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 0xFFFFFFFF),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16),
            b"data",
            struct.pack("<I", 0xFFFFFFFF),
        )
    )


def pcm16(clip: Audio) -> bytes:
    return (np.clip(clip.samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def header_name(text: str) -> str:
    return "-".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", text) if p)


def header_value(value: object) -> str:
    """Printable ASCII; everything else (control characters included) percent-encoded."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return quote(text, safe=HEADER_SAFE)


class SpeechService:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        voices: VoiceStore,
        fetcher: UrlFetcher,
        transcriber: Transcriber | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.voices = voices
        self.fetcher = fetcher
        self.transcriber = transcriber
        self.max_bytes = int(settings.max_upload_mb * 1024 * 1024)

    # --- preparing: everything that can be refused before the model queue ----------------------

    def prepare(self, body: SpeechRequest, uploads: Uploads | None = None) -> Job:
        """Checks first (cheap, in the order a client fixes them), then the queue, then downloads and ASR."""
        uploads = uploads or Uploads()
        opts = body.step_audio
        if body.model != MODEL_ID:
            raise NotFound(f"The model {body.model!r} does not exist; this server serves {MODEL_ID!r}.", param="model")
        variant = self._variant(opts.model_variant)
        self._check_output(body)
        edit_info = self._edit_info(opts)
        prompt = Source.of(opts, uploads, "prompt_audio")
        given = Source.of(opts, uploads, "input_audio")
        if opts.mode == "clone":
            refused, text = given, self._clone_text(body.input)
        else:
            refused, text = prompt, self._tagged_text(body.input) if opts.mode == "paralinguistic" else None
            if given is None:
                raise BadInput(
                    f"The {opts.mode} edit needs the audio to edit: step_audio.input_audio_base64, "
                    "step_audio.input_audio_url or an input_audio_file upload.",
                    param="step_audio.input_audio_base64",
                )
        if refused is not None:
            use = "the voice prompt (prompt_audio_*, or voice)" if opts.mode == "clone" else "input_audio_*"
            raise BadInput(f"Mode {opts.mode} does not use {refused.name}; it takes {use}.", param=refused.param)
        self._check_strength(opts, edit_info, text)
        self.check_capacity()
        trace = Trace()
        if opts.mode == "clone":
            request = self._clone(body, opts, prompt, text, trace)  # type: ignore[arg-type]
        else:
            request = self._edit(opts, given, edit_info, text, trace)  # type: ignore[arg-type]
        for key, value in (body.metadata or {}).items():
            trace.headers[f"X-StepAudio-Meta-{header_name(key)}"] = header_value(value)
        return Job(request, variant, body.response_format, body.speed, trace)

    def check_capacity(self) -> None:
        """Refuse early (before downloads and ASR) what the engine would refuse anyway."""
        status = self.engine.status()
        if status.queue_depth >= self.settings.queue_size:
            raise Busy(f"The model queue is full ({status.queue_depth} requests waiting). Try again shortly.")
        if status.loading:
            raise ModelNotLoaded("The model is loading. Try again in a few seconds.")

    def _variant(self, wanted: str | None) -> str | None:
        if wanted is None or (wanted == self.engine.variant and self.engine.loaded):
            return wanted
        on_disk = self.engine.variants_on_disk()
        if not on_disk.get(wanted):
            have = ", ".join(v for v, ok in on_disk.items() if ok) or "none (download the weights)"
            raise NotFound(
                f"The model variant {wanted!r} is not installed under {self.engine.model_dir}; installed: {have}.",
                param="step_audio.model_variant",
            )
        return wanted

    def _check_output(self, body: SpeechRequest) -> None:
        if body.stream and body.response_format not in STREAM_FORMATS:
            raise BadInput(
                f"Streaming sends wav or pcm; response_format {body.response_format!r} needs stream: false.",
                param="response_format",
            )
        if body.speed == 1.0:
            return
        if body.stream:
            raise BadInput("speed other than 1.0 cannot be applied to a stream; use stream: false.", param="speed")
        if not speed_tool.MIN_RATE <= body.speed <= speed_tool.MAX_RATE:
            raise BadInput(
                f"speed {body.speed:g} is out of range: the time stretch keeps quality from "
                f"{speed_tool.MIN_RATE:g} to {speed_tool.MAX_RATE:g}.",
                param="speed",
            )
        speed_tool.pick_engine()  # refuses now, not after the model ran, when no stretcher is installed

    def _clone(
        self, body: SpeechRequest, opts: StepAudioOptions, source: Source | None, text: str, trace: Trace
    ) -> CloneRequest:
        if source is None:
            voice = self.voices.get(body.voice_id or DEFAULT_VOICE)
            prompt = self._checked(voice.load(), f"voice {voice.id!r}")
            prompt_text = (opts.prompt_text or "").strip() or voice.text
            trace.headers["X-StepAudio-Voice"] = voice.id
        else:
            prompt = self._decode(self._audio_bytes(source, trace), "step_audio.prompt_audio")
            prompt_text = (opts.prompt_text or "").strip() or self._transcribe(prompt, "step_audio.prompt_text", trace)
        return CloneRequest(
            prompt_audio=prompt,
            prompt_text=prompt_text,
            text=text,
            seed=self._seed(opts, trace),
            max_new_tokens=opts.max_new_tokens,
        )

    def _edit(
        self, opts: StepAudioOptions, source: Source, edit_info: str | None, new_text: str | None, trace: Trace
    ) -> EditRequest:
        clip = self._decode(self._audio_bytes(source, trace), "step_audio.input_audio")
        audio_text = (opts.audio_text or "").strip()
        if not audio_text and opts.mode not in UNTRANSCRIBED_MODES:
            audio_text = self._transcribe(clip, "step_audio.audio_text", trace)
        return EditRequest(
            audio=clip,
            audio_text=audio_text,
            mode=opts.mode,
            edit_info=edit_info,
            text=new_text,
            n_edit_iter=opts.n_edit_iter,
            intensity=opts.intensity,
            seed=self._seed(opts, trace),
            max_new_tokens=opts.max_new_tokens,
        )

    def _check_strength(self, opts: StepAudioOptions, edit_info: str | None, text: str | None) -> None:
        """intensity and n_edit_iter only where they mean something (the engine's own rules, checked early)."""
        if opts.mode == "clone":
            for name, value, default in (("intensity", opts.intensity, 1.0), ("n_edit_iter", opts.n_edit_iter, 1)):
                if value != default:
                    raise BadInput(
                        f"{name} applies to edits; a clone takes none (got {value}).", param=f"step_audio.{name}"
                    )
            return
        try:
            prompts.edit_instruction(
                mode=opts.mode, edit_info=edit_info, audio_text="", new_text=text, intensity=opts.intensity
            )
        except BadInput as err:
            raise BadInput(str(err), param=f"step_audio.{err.param}" if err.param else None) from err

    def _clone_text(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise BadInput("input is empty: give the text to speak.", param="input")
        if len(text) > self.settings.max_text_chars:
            raise BadInput(
                f"input is {len(text)} characters; the limit is {self.settings.max_text_chars}.", param="input"
            )
        return text

    def _edit_info(self, opts: StepAudioOptions) -> str | None:
        value = (opts.edit_info or "").strip().lower() or None
        allowed = prompts.EDIT_INFO[opts.mode]
        if allowed and value not in allowed:
            got = f"got {opts.edit_info!r}" if value else "it is missing"
            raise BadInput(
                f"The {opts.mode} edit needs step_audio.edit_info, one of: {', '.join(allowed)} ({got}).",
                param="step_audio.edit_info",
            )
        if not allowed and value:
            hint = " Paralinguistic tags go inline in `input`." if opts.mode == "paralinguistic" else ""
            raise BadInput(
                f"Mode {opts.mode} takes no edit_info (got {opts.edit_info!r}).{hint}", param="step_audio.edit_info"
            )
        return value

    def _tagged_text(self, text: str) -> str:
        """The new text of a paralinguistic edit, tags checked and spelled as the model was trained."""
        text = text.strip()
        canonical = {t.lower(): t for t in (*prompts.PARALINGUISTIC_TAGS, *prompts.LANGUAGE_PREFIXES)}
        unknown = [t for t in BRACKETED.findall(text) if t.lower() not in canonical]
        if unknown:
            raise BadInput(
                f"Unknown tag(s) {', '.join(unknown)} in input; paralinguistic tags are: "
                f"{' '.join(prompts.PARALINGUISTIC_TAGS)}.",
                param="input",
            )
        text = BRACKETED.sub(lambda m: canonical[m.group(0).lower()], text)
        if not any(tag in text for tag in prompts.PARALINGUISTIC_TAGS):
            raise BadInput(
                "The paralinguistic edit needs `input`: the audio's text with tags where the sounds go, "
                "for example 'I finished [Laughter] the project.'",
                param="input",
            )
        return text

    def _audio_bytes(self, source: Source, trace: Trace) -> bytes:
        if source.kind == "base64":
            return decode_base64(source.value, source.param, self.max_bytes)  # type: ignore[arg-type]
        if source.kind == "url":
            started = time.perf_counter()
            data = self.fetcher.fetch(source.value, source.param)  # type: ignore[arg-type]
            trace.timed("fetch", started)
            return data
        if not source.value:
            raise AudioInputError(f"The uploaded {source.param} is empty (0 bytes).", param=source.param)
        return source.value  # type: ignore[return-value]

    def _decode(self, data: bytes, what: str) -> Audio:
        try:
            clip = audio_io.read(data)
        except AudioInputError as err:
            raise type(err)(f"{what}: {err}", param=what) from err
        return self._checked(clip, what)

    def _checked(self, clip: Audio, what: str) -> Audio:
        try:
            return audio_io.check(
                clip, min_seconds=self.settings.min_input_seconds, max_seconds=self.settings.max_input_seconds
            )
        except AudioInputError as err:
            raise type(err)(f"{what}: {err}", param=what) from err

    def _transcribe(self, clip: Audio, param: str, trace: Trace) -> str:
        if self.transcriber is None or not self.transcriber.available():
            raise BadInput(
                f"{param} is missing and automatic transcription is not available on this server: "
                "pass the exact transcript of the audio.",
                param=param,
            )
        started = time.perf_counter()
        text = self.transcriber.transcribe(clip).text.strip()
        trace.timed("asr", started)
        if not text:
            raise AudioInputError(f"No speech was recognised in the audio; pass {param} yourself.", param=param)
        trace.headers[f"X-StepAudio-Transcribed-{header_name(param.rsplit('.', 1)[-1])}"] = header_value(text[:200])
        return text

    def _seed(self, opts: StepAudioOptions, trace: Trace) -> int:
        # Chosen here, not in the engine, so a stream can report it before its audio exists.
        seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31 - 1)
        trace.headers["X-StepAudio-Seed"] = str(seed)
        return seed

    # --- running --------------------------------------------------------------------------------

    def _switch_variant(self, job: Job) -> None:
        if job.variant and job.variant != self.engine.variant:
            self.engine.load(job.variant)

    @contextlib.contextmanager
    def _engine_failures(self) -> Iterator[None]:
        """A crash inside the model is the server's problem: 503 for this request, the next one runs."""
        try:
            yield
        except StudioError:
            raise
        except Exception as err:
            log.exception("the engine failed on a request")
            raise EngineFailure(
                f"The model failed on this request ({type(err).__name__}); the error is logged and the "
                "server is ready for the next request."
            ) from err

    def run(self, job: Job) -> Result:
        with self._engine_failures():
            self._switch_variant(job)
            take = self.engine.run(job.request)
        out = take.audio
        if job.speed != 1.0:
            started = time.perf_counter()
            out = speed_tool.change_speed(out, job.speed)
            job.trace.timed("speed", started)
        started = time.perf_counter()
        body = audio_io.encode(out, job.response_format)
        job.trace.timed("encode", started)
        return Result(body, self._headers(job, take, out))

    def stream(self, job: Job) -> Iterator[bytes]:
        """Encoded bytes as the decoder produces audio; the first item comes once audio exists."""
        header_sent = job.response_format != "wav"
        with self._engine_failures():
            self._switch_variant(job)
            for chunk in self.engine.stream(job.request):
                if not header_sent:
                    header_sent = True
                    yield wav_stream_header(chunk.sr) + pcm16(chunk)
                else:
                    yield pcm16(chunk)

    def stream_headers(self, job: Job) -> dict[str, str]:
        return {**self._common_headers(job), "X-StepAudio-Variant": self.engine.variant}

    def _common_headers(self, job: Job) -> dict[str, str]:
        mode = job.request.mode if isinstance(job.request, EditRequest) else "clone"
        return {"X-StepAudio-Model": MODEL_ID, "X-StepAudio-Mode": mode, **job.trace.headers}

    def _headers(self, job: Job, take: Take, out: Audio) -> dict[str, str]:
        timings = {**job.trace.timings, **take.timings, "total": time.perf_counter() - job.trace.started}
        headers = {
            **self._common_headers(job),
            "X-StepAudio-Variant": take.variant,
            "X-StepAudio-Seed": str(take.seed),
            "X-StepAudio-Passes": str(len(take.passes)),
            "X-StepAudio-Duration": f"{out.duration:.3f}",
            "X-StepAudio-Sample-Rate": str(out.sr),
        }
        for stage, seconds in timings.items():
            headers[f"X-StepAudio-Timing-{header_name(stage)}"] = f"{seconds:.4f}"
        return headers
