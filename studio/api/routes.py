"""The API's routes, built around one set of shared services (the same engine the studio UI uses).

Model work runs in worker threads and waits in the engine's single queue, like the UI's; every
other route stays responsive meanwhile (`/healthz` never touches the model).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import anyio
from fastapi import APIRouter, Body, Depends, FastAPI, File, Form, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import ValidationError

from studio import __version__
from studio import audio as audio_io
from studio.api import errors, schemas, transcripts
from studio.api.auth import bearer_auth
from studio.api.errors import AsrUnavailable, UnsupportedMediaType
from studio.api.fetch import UrlFetcher
from studio.api.limits import BodyLimit
from studio.api.speech import Job, SpeechService, Uploads, check_upload_type
from studio.asr import Transcriber, Transcript
from studio.audio import CONTENT_TYPES
from studio.engine.pipeline import Engine
from studio.errors import AudioInputError, BadInput, NotFound, TooLarge
from studio.settings import Settings
from studio.voices import Voice, VoiceStore

T = TypeVar("T")

DESCRIPTION = """\
OpenAI-compatible speech API of Step-Audio-EditX Studio: voice cloning and speech editing (emotion,
style, paralinguistic sounds, speed, denoise, silence removal).

`POST /v1/audio/speech` takes OpenAI's speech body plus a `step_audio` object; the OpenAI SDKs work
with `extra_body={"step_audio": {...}}`. Errors have OpenAI's shape
`{"error": {"message", "type", "param", "code"}}`; 429 and 503 answers carry `Retry-After`.
When the server has an API key, send `Authorization: Bearer <key>`.
"""

ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": schemas.ErrorResponse, "description": text}
    for status, text in (
        (400, "Invalid request: a field, the audio or a URL is unusable"),
        (401, "Missing or wrong API key"),
        (404, "Unknown model, variant or voice"),
        (413, "Upload or base64 audio too large"),
        (415, "Wrong Content-Type"),
        (429, "The model queue is full (see Retry-After)"),
        (503, "Model not loaded, loading, out of GPU memory, or files missing (see Retry-After)"),
    )
}


@dataclass
class Services:
    """Everything one process shares between the UI and the API."""

    settings: Settings
    engine: Engine
    voices: VoiceStore
    fetcher: UrlFetcher
    transcriber: Transcriber | None = None

    def asr_available(self) -> bool:
        return self.transcriber is not None and self.transcriber.available()


def create_api_app(services: Services) -> FastAPI:
    settings = services.settings
    app = FastAPI(
        title="Step-Audio-EditX Studio API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    errors.install(app)
    max_upload = int(settings.max_upload_mb * 1024 * 1024)
    # Two audio inputs as base64 (4/3 of their size) plus the rest of the request.
    app.add_middleware(BodyLimit, max_bytes=max_upload * 3 + 1024 * 1024, prefix="/v1/")
    app.include_router(_health(services))
    app.include_router(_v1(services), dependencies=[Depends(bearer_auth(settings))], responses=ERROR_RESPONSES)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown(path: str) -> None:
        raise NotFound(f"Unknown endpoint /v1/{path}; see /docs for the API.")

    return app


def _health(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", response_model=schemas.Health, tags=["server"])
    async def healthz() -> schemas.Health:
        status = services.engine.status()
        return schemas.Health(
            version=__version__,
            model_loaded=status.loaded,
            loading=status.loading,
            variant=status.variant,
            device=status.device,
            dtype=status.dtype,
            variants_on_disk=status.variants_on_disk,
            queue_depth=status.queue_depth,
            queue_size=services.settings.queue_size,
            asr_available=services.asr_available(),
            error=status.error,
        )

    return router


def _v1(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1")
    settings = services.settings
    speech = SpeechService(settings, services.engine, services.voices, services.fetcher, services.transcriber)
    max_upload = int(settings.max_upload_mb * 1024 * 1024)
    # Worker threads for request work; more than the queue holds, so refusals are never stuck behind waiters.
    limiter = anyio.CapacityLimiter(settings.queue_size + 8)
    form_limits = {"max_files": 2, "max_fields": 16, "max_part_size": max_upload * 3}

    async def in_thread(fn: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    async def read_upload(upload: UploadFile | None, name: str) -> bytes | None:
        if upload is None:
            return None
        check_upload_type(upload.content_type, name)
        data = await upload.read(max_upload + 1)
        if len(data) > max_upload:
            raise TooLarge(f"{name} is larger than {settings.max_upload_mb:g} MB.", param=name)
        return data

    async def respond(job: Job, stream: bool) -> Response:
        if stream:
            chunks = _stream_in_thread(speech, job)
            first = await anext(chunks)  # errors before any audio still get their own status
            return StreamingResponse(
                _prepend(first, chunks),
                media_type=CONTENT_TYPES[job.response_format],
                headers=speech.stream_headers(job),
            )
        result = await in_thread(speech.run, job)
        return Response(result.body, media_type=CONTENT_TYPES[job.response_format], headers=result.headers)

    audio_response = {200: {"content": {t: {} for t in CONTENT_TYPES.values()}, "description": "The audio."}}

    @router.post(
        "/audio/speech",
        response_class=Response,
        responses=audio_response,
        dependencies=[Depends(_require_json)],
        tags=["speech"],
        summary="Clone a voice or edit speech",
    )
    async def create_speech(
        body: Annotated[schemas.SpeechRequest, Body(openapi_examples=schemas.SPEECH_EXAMPLES)],
    ) -> Response:
        job = await in_thread(speech.prepare, body)
        return await respond(job, body.stream)

    @router.post(
        "/audio/speech/upload",
        response_class=Response,
        responses=audio_response,
        dependencies=[Depends(_require_form)],
        form_limits=form_limits,
        tags=["speech"],
        summary="The same as /v1/audio/speech, with the audio as uploaded files",
    )
    async def create_speech_upload(
        payload: Annotated[str, Form(description="The JSON body of /v1/audio/speech.")],
        prompt_audio_file: Annotated[UploadFile | None, File(description="Voice prompt for clone.")] = None,
        input_audio_file: Annotated[UploadFile | None, File(description="Audio to edit.")] = None,
    ) -> Response:
        body = _parse_payload(payload)
        uploads = Uploads(
            prompt=await read_upload(prompt_audio_file, "prompt_audio_file"),
            input=await read_upload(input_audio_file, "input_audio_file"),
        )
        job = await in_thread(speech.prepare, body, uploads)
        return await respond(job, body.stream)

    @router.post(
        "/audio/transcriptions",
        response_model=schemas.VerboseTranscription | schemas.Transcription,
        responses={200: {"content": {"text/plain": {}}}},
        dependencies=[Depends(_require_form)],
        form_limits=form_limits,
        tags=["speech"],
        summary="Transcribe audio with the studio's ASR",
    )
    async def create_transcription(
        file: Annotated[UploadFile, File(description="Audio to transcribe.")],
        model: Annotated[str, Form(max_length=64, description="Any name; the studio's ASR answers.")] = "whisper-1",
        language: Annotated[str | None, Form(max_length=16, description="ISO-639-1 code; detected if missing.")] = None,
        response_format: Annotated[schemas.TranscriptFormat, Form()] = "json",
        timestamp_granularities: Annotated[
            list[Literal["word", "segment"]] | None, Form(alias="timestamp_granularities[]")
        ] = None,
    ) -> Response:
        if not services.asr_available():
            raise AsrUnavailable("Transcription is not available: no ASR model is installed on this server.")
        data = await read_upload(file, "file")
        clip = await in_thread(_read_audio, data, "file")
        words = "word" in (timestamp_granularities or ())
        result = await in_thread(_transcribe, services.transcriber, clip, language, words)
        text, media_type = transcripts.render(result, clip.duration, response_format, words=words)
        return PlainTextResponse(text, media_type=media_type) if isinstance(text, str) else JSONResponse(text)

    @router.get("/models", response_model=schemas.ModelList, tags=["models"])
    async def list_models() -> schemas.ModelList:
        return schemas.ModelList(data=[_model(services.engine)])

    @router.get("/models/{model_id}", response_model=schemas.ModelObject, tags=["models"])
    async def get_model(model_id: str) -> schemas.ModelObject:
        if model_id != schemas.MODEL_ID:
            raise NotFound(f"The model {model_id!r} does not exist; this server serves {schemas.MODEL_ID!r}.")
        return _model(services.engine)

    @router.get("/tags", response_model=schemas.Tags, tags=["models"], summary="Modes, edit_info values and tags")
    async def get_tags() -> schemas.Tags:
        return schemas.tags()

    @router.get("/voices", tags=["voices"], summary="Every voice (presets and saved), unpaginated")
    async def all_voices() -> dict:
        return {"object": "list", "data": [_voice(v) for v in services.voices.list()]}

    @router.get("/audio/voices", response_model=schemas.VoiceList, tags=["voices"])
    async def list_voices(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        order: Literal["asc", "desc"] = "asc",
        after: Annotated[str | None, Query(max_length=64)] = None,
        before: Annotated[str | None, Query(max_length=64)] = None,
    ) -> schemas.VoiceList:
        return _page(services.voices.list(), limit, order, after, before)

    @router.post(
        "/audio/voices",
        response_model=schemas.VoiceObject,
        dependencies=[Depends(_require_form)],
        form_limits=form_limits,
        tags=["voices"],
        summary="Save a voice from a prompt recording and its transcript",
    )
    async def create_voice(
        name: Annotated[str, Form(max_length=64)],
        audio_sample: Annotated[UploadFile, File(description="The prompt recording (0.5-30 s of speech).")],
        text: Annotated[str | None, Form(max_length=4096, description="Its exact transcript (ASR if missing).")] = None,
        language: Annotated[str | None, Form(max_length=16)] = None,
        description: Annotated[str, Form(max_length=200)] = "",
        consent: Annotated[str | None, Form(description="Accepted for OpenAI compatibility; not used.")] = None,
    ) -> schemas.VoiceObject:
        data = await read_upload(audio_sample, "audio_sample")
        clip = await in_thread(_read_audio, data, "audio_sample")
        if not (text or "").strip():
            if not services.asr_available():
                raise BadInput("text is missing and automatic transcription is unavailable: pass the transcript.")
            text = (await in_thread(_transcribe, services.transcriber, clip, language, False)).text
        create = functools.partial(services.voices.create, language=language, description=description)
        voice = await in_thread(create, name, clip, text)
        return _voice(voice)

    @router.get("/audio/voices/{voice_id}", response_model=schemas.VoiceObject, tags=["voices"])
    async def get_voice(voice_id: str) -> schemas.VoiceObject:
        return _voice(services.voices.get(voice_id))

    @router.post("/audio/voices/{voice_id}", response_model=schemas.VoiceObject, tags=["voices"], summary="Rename")
    async def rename_voice(voice_id: str, body: schemas.RenameVoice) -> schemas.VoiceObject:
        return _voice(services.voices.rename(voice_id, body.name))

    @router.delete("/audio/voices/{voice_id}", response_model=schemas.VoiceDeleted, tags=["voices"])
    async def delete_voice(voice_id: str) -> schemas.VoiceDeleted:
        return schemas.VoiceDeleted(id=services.voices.delete(voice_id).id)

    return router


# --- helpers ------------------------------------------------------------------------------------


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _require_json(request: Request) -> None:
    kind = _content_type(request)
    if kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: application/json (got {kind or 'none'}); "
            "to upload files use POST /v1/audio/speech/upload."
        )


def _require_form(request: Request) -> None:
    kind = _content_type(request)
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaType(f"Send this request as multipart/form-data (got {kind or 'none'}).")


def _parse_payload(payload: str) -> schemas.SpeechRequest:
    try:
        return schemas.SpeechRequest.model_validate_json(payload)
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("payload", *e["loc"])} for e in err.errors()]) from err


def _read_audio(data: bytes, name: str) -> audio_io.Audio:
    try:
        return audio_io.read(data)
    except AudioInputError as err:
        raise type(err)(f"{name}: {err}", param=name) from err


def _transcribe(transcriber: Transcriber, clip: audio_io.Audio, language: str | None, words: bool) -> Transcript:
    return transcriber.transcribe(clip, language=language, word_timestamps=words)


def _model(engine: Engine) -> schemas.ModelObject:
    status = engine.status()
    config = engine.model_dir / "Step-Audio-EditX" / "config.json"
    return schemas.ModelObject(
        id=schemas.MODEL_ID,
        created=int(config.stat().st_mtime) if config.is_file() else 0,
        variants={
            v: schemas.VariantInfo(available=ok, loaded=status.loaded and status.variant == v)
            for v, ok in status.variants_on_disk.items()
        },
        loaded_variant=status.variant if status.loaded else None,
    )


def _voice(voice: Voice) -> schemas.VoiceObject:
    return schemas.VoiceObject(
        id=voice.id,
        type="preset" if voice.kind == "preset" else "audio_sample",
        name=voice.name,
        created_at=voice.created_at,
        text=voice.text,
        language=voice.language,
        description=voice.description,
        available=voice.available,
    )


def _page(voices: list[Voice], limit: int, order: str, after: str | None, before: str | None) -> schemas.VoiceList:
    """OpenAI-style cursor pagination: `after`/`before` are voice ids in the chosen order."""
    ordered = voices if order == "asc" else voices[::-1]
    ids = [v.id for v in ordered]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            raise BadInput(f"{name}: no voice with id {cursor!r}.", param=name)
    start = ids.index(after) + 1 if after else 0
    end = ids.index(before) if before else len(ids)
    window = ordered[start:end]
    page = window[-limit:] if before and not after else window[:limit]
    data = [_voice(v) for v in page]
    return schemas.VoiceList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(window) > len(page),
    )


# --- streaming ----------------------------------------------------------------------------------


async def _stream_in_thread(speech: SpeechService, job: Job) -> AsyncIterator[bytes]:
    """Run the engine's stream in a thread that never waits on the client.

    The engine holds the model while it streams; a slow or vanished client must not keep it, so
    the thread decodes at the engine's pace into a queue and stops early once the client is gone.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    gone = threading.Event()
    done = object()

    def put(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop closed while the server shut down
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        chunks = speech.stream(job)
        try:
            for chunk in chunks:
                put(chunk)
                if gone.is_set():
                    break
        except BaseException as err:  # handed to the response, which raises it
            put(err)
        finally:
            chunks.close()
            put(done)

    threading.Thread(target=produce, name="speech-stream", daemon=True).start()
    try:
        while (item := await queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        gone.set()


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    try:
        async for chunk in rest:
            yield chunk
    except Exception:
        # Headers are already sent; the only way to tell the client is to cut the stream short.
        errors.log.exception("stream failed after its first chunk")
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
