"""Request and response bodies of the API, with the examples shown at `/docs`.

The wire format is the one published by the first Step-Audio-EditX OpenAI-compatible server
(OpenAI's speech body plus a `step_audio` object), so existing clients keep working.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from studio.engine import prompts

MODEL_ID = "step-audio-editx"

Mode = Literal["clone", "emotion", "style", "paralinguistic", "speed", "denoise", "vad"]
Variant = Literal["base", "bnb", "awq"]
AudioFormat = Literal["wav", "mp3", "flac", "opus", "pcm"]
TranscriptFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]

META_KEY = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_META_ITEMS = 16
MAX_META_VALUE = 256


class StepAudioOptions(BaseModel):
    """What to do and with which audio. Clone speaks `input` in a voice; the other modes edit input audio."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field("clone", description="clone, or an edit: emotion, style, paralinguistic, speed, denoise, vad.")
    model_variant: Variant | None = Field(
        None, description="LLM variant to run (switches the loaded model when it differs). Default: the loaded one."
    )
    prompt_text: str | None = Field(
        None,
        max_length=4096,
        description="Exact transcript of the prompt audio. Presets carry their own; missing for custom audio: "
        "transcribed with the studio's ASR.",
    )
    prompt_audio_base64: str | None = Field(None, description="Voice prompt for clone (base64 or data: URI).")
    prompt_audio_url: str | None = Field(None, max_length=2048, description="Voice prompt for clone, http(s) URL.")
    input_audio_base64: str | None = Field(None, description="Audio to edit (base64 or data: URI).")
    input_audio_url: str | None = Field(None, max_length=2048, description="Audio to edit, http(s) URL.")
    audio_text: str | None = Field(
        None, max_length=4096, description="Exact transcript of the audio to edit; transcribed when missing."
    )
    edit_info: str | None = Field(
        None,
        max_length=64,
        description="The emotion, style or speed to apply: see GET /v1/tags for each mode's values.",
    )
    intensity: float = Field(
        1.0, ge=0.5, le=3.0, description="Strength of emotion/style/speed edits (1.0: the trained instruction)."
    )
    n_edit_iter: int = Field(1, ge=1, le=4, description="Edit passes; each re-edits the previous output.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Sampling seed; random when missing.")
    max_new_tokens: int | None = Field(
        None, ge=1, le=8192, description="Cap on generated audio tokens (about 41.7 per second of audio)."
    )


class VoiceRef(BaseModel):
    id: str = Field(max_length=64)


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body plus the `step_audio` object."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(MODEL_ID, max_length=64, description="`step-audio-editx`.")
    input: str = Field(
        "",
        max_length=4096,
        description="Text to speak (clone), or the new text with paralinguistic tags (paralinguistic edits). "
        "Ignored by the other edits.",
    )
    voice: str | VoiceRef | None = Field(
        None, description="Preset or saved voice id for clone (default `fear_female`); ignored by edits."
    )
    response_format: AudioFormat = Field("wav", description="Audio container; pcm is raw 16-bit mono at 24 kHz.")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Playback speed of the result (pitch kept).")
    stream: bool = Field(False, description="Send audio as it is decoded (wav or pcm).")
    stream_format: Literal["audio"] | None = Field(None, description="Only `audio` (raw bytes) is supported.")
    metadata: dict[str, str | int | float | bool] | None = Field(
        None, description="Echoed back as `X-StepAudio-Meta-<key>` response headers."
    )
    step_audio: StepAudioOptions = Field(default_factory=StepAudioOptions)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict | None) -> dict | None:
        if value is None:
            return None
        if len(value) > MAX_META_ITEMS:
            raise ValueError(f"at most {MAX_META_ITEMS} entries")
        for key, item in value.items():
            if not META_KEY.fullmatch(key):
                raise ValueError(f"key {key!r}: use 1-40 letters, digits, '-' or '_'")
            if len(str(item)) > MAX_META_VALUE:
                raise ValueError(f"value of {key!r} is longer than {MAX_META_VALUE} characters")
        return value

    @property
    def voice_id(self) -> str | None:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


class RenameVoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class VariantInfo(BaseModel):
    available: bool
    loaded: bool


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "stepfun-ai"
    variants: dict[str, VariantInfo]
    loaded_variant: str | None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class VoiceObject(BaseModel):
    id: str
    object: Literal["audio.voice"] = "audio.voice"
    type: Literal["preset", "audio_sample"]
    name: str
    created_at: int
    text: str
    language: str | None
    description: str
    available: bool


class VoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VoiceDeleted(BaseModel):
    id: str
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"
    deleted: bool = True


class Tags(BaseModel):
    data: dict[str, list[str]] = Field(description="mode -> the edit_info values it accepts (empty: none).")
    modes: list[str]
    paralinguistic_tags: list[str] = Field(description="Tags written inline in `input` for paralinguistic edits.")
    language_prefixes: list[str] = Field(description="Put one before clone text to speak that language/dialect.")
    intensity: dict[str, float]
    n_edit_iter: dict[str, int]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    model_loaded: bool
    loading: bool
    variant: str
    device: str
    dtype: str
    variants_on_disk: dict[str, bool]
    queue_depth: int
    queue_size: int
    asr_available: bool
    error: str | None


class Transcription(BaseModel):
    text: str


class Word(BaseModel):
    word: str
    start: float
    end: float


class Segment(BaseModel):
    id: int
    start: float
    end: float
    text: str


class VerboseTranscription(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[Segment]
    words: list[Word] | None = None


def tags() -> Tags:
    return Tags(
        data={mode: list(prompts.EDIT_INFO[mode]) for mode in prompts.MODES},
        modes=list(prompts.MODES),
        paralinguistic_tags=list(prompts.PARALINGUISTIC_TAGS),
        language_prefixes=list(prompts.LANGUAGE_PREFIXES),
        intensity={"min": 0.5, "max": 3.0, "default": 1.0},
        n_edit_iter={"min": 1, "max": 4, "default": 1},
    )


_CLIP = "https://example.com/clips/take1.wav"
SPEECH_EXAMPLES = {
    "clone_preset": {
        "summary": "Clone: speak new text in a preset voice",
        "value": {
            "model": MODEL_ID,
            "voice": "happy_en",
            "input": "Good morning! The results are in.",
            "step_audio": {},
        },
    },
    "clone_custom": {
        "summary": "Clone: your own prompt recording and its transcript",
        "value": {
            "model": MODEL_ID,
            "input": "This sentence was never recorded.",
            "response_format": "mp3",
            "step_audio": {
                "mode": "clone",
                "prompt_audio_url": "https://example.com/voices/me.wav",
                "prompt_text": "Exactly what I say in the recording.",
                "seed": 42,
            },
        },
    },
    "emotion": {
        "summary": "Emotion edit, two passes",
        "value": {
            "model": MODEL_ID,
            "step_audio": {
                "mode": "emotion",
                "edit_info": "happy",
                "input_audio_url": _CLIP,
                "audio_text": "I finally finished the project.",
                "n_edit_iter": 2,
            },
        },
    },
    "style": {
        "summary": "Style edit (audio_text transcribed when missing)",
        "value": {
            "model": MODEL_ID,
            "step_audio": {"mode": "style", "edit_info": "whisper", "input_audio_url": _CLIP, "n_edit_iter": 2},
        },
    },
    "paralinguistic": {
        "summary": "Paralinguistic edit: tags go inline in `input`",
        "value": {
            "model": MODEL_ID,
            "input": "I finally finished [Laughter] the project [Sigh].",
            "step_audio": {
                "mode": "paralinguistic",
                "input_audio_url": _CLIP,
                "audio_text": "I finally finished the project.",
            },
        },
    },
    "speed": {
        "summary": "Speed edit",
        "value": {
            "model": MODEL_ID,
            "step_audio": {"mode": "speed", "edit_info": "faster", "input_audio_url": _CLIP},
        },
    },
    "denoise": {
        "summary": "Denoise (no transcript needed)",
        "value": {"model": MODEL_ID, "step_audio": {"mode": "denoise", "input_audio_url": _CLIP}},
    },
    "vad": {
        "summary": "Remove silences (no transcript needed)",
        "value": {
            "model": MODEL_ID,
            "response_format": "flac",
            "step_audio": {"mode": "vad", "input_audio_base64": "UklGR...(base64 of a wav file)"},
        },
    },
    "stream": {
        "summary": "Streamed clone as raw 16-bit PCM at 24 kHz",
        "value": {
            "model": MODEL_ID,
            "voice": "fear_female",
            "input": "你好，欢迎使用。",
            "response_format": "pcm",
            "stream": True,
        },
    },
}
