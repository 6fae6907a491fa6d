"""The Clone page: a voice prompt (upload, recording or saved voice) + its transcript -> new speech."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio import audio as audio_io
from studio.audio import Audio
from studio.engine.pipeline import CloneRequest
from studio.errors import BadInput
from studio.ui.common import (
    ASR_QUEUE,
    MODEL_QUEUE,
    PROGRESS,
    Preferences,
    Studio,
    guarded,
    progress_bridge,
    record_take,
    seed_value,
    take_audio,
    take_json,
)
from studio.ui.i18n import choices, say, t
from studio.ui.zerogpu import file_seconds, gpu_seconds, on_gpu, speech_seconds


@dataclass
class ClonePage:
    voice: gr.Dropdown
    seed: gr.Number
    run: gr.Button
    result: gr.Audio
    done: object  # the clone event, for chaining the refresh of other pages


def voice_choices(studio: Studio, lang: str) -> list[tuple[str, str]]:
    listed = studio.voices.list() if studio.voices is not None else []
    return [(say(lang, "clone.voice_none"), "")] + [(v.name, v.id) for v in listed if v.available]


def prompt_from(
    studio: Studio, prefs: Preferences, lang: str, voice_id: str, upload: str | None, text: str
) -> tuple[Audio, str]:
    """The uploaded/recorded prompt wins; otherwise the chosen saved voice with its transcript."""
    if upload:
        return studio.read_upload(upload, prefs, lang, missing="msg.no_prompt"), text
    if voice_id and studio.voices is not None:
        voice = studio.voices.get(voice_id)
        return studio.check_length(voice.load(), prefs, lang), text or voice.text
    raise BadInput(say(lang, "msg.no_prompt"), param="prompt_audio")


def run_clone(
    studio: Studio, workspace: str, lang: str, voice_id: str, upload: str | None, prompt_text: str,
    language: str, text: str, seed: float | None, progress: gr.Progress,
) -> tuple[bytes, dict]:  # fmt: skip
    studio.require_weights(lang)
    history = studio.history(workspace)
    prefs = studio.preferences(history)
    prompt, prompt_text = prompt_from(studio, prefs, lang, voice_id, upload, (prompt_text or "").strip())
    spoken = (text or "").strip()
    request = CloneRequest(
        prompt_audio=prompt,
        prompt_text=prompt_text,
        text=f"{language}{spoken}" if language and spoken else spoken,
        seed=seed_value(seed),
        max_new_tokens=prefs.max_new_tokens,
    )
    take = studio.engine.run(request, progress_bridge(progress, lang))
    # The prompt joins the history only now: a failed clone leaves the current take as it was.
    source = history.add(prompt, "prompt", text=prompt_text, reuse=True, params={"voice": voice_id or None})
    params = {"prompt_text": prompt_text, "language": language or None, "voice": voice_id or None}
    record = record_take(history, take, "clone", source.id, params)
    return take_audio(history, record), take_json(history, record)


def build(studio: Studio, ws: gr.Textbox, lang: gr.Radio) -> ClonePage:
    gr.Markdown(t("clone.intro"), elem_classes="intro")
    with gr.Row():
        with gr.Column(scale=1):
            voice = gr.Dropdown(
                voice_choices(studio, "en"),
                value="",
                allow_custom_value=True,
                label=t("clone.voice"),
                info=t("clone.voice_info"),
            )
            prompt_audio = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label=t("clone.prompt_audio"), elem_id="clone-prompt"
            )
            prompt_text = gr.Textbox(label=t("clone.prompt_text"), lines=2, elem_id="clone-prompt-text")
            transcribe = gr.Button(t("common.transcribe"), size="sm", elem_classes="inline-button")
        with gr.Column(scale=1):
            language = gr.Dropdown(choices("language"), value="", label=t("clone.language"))
            text = gr.Textbox(label=t("clone.text"), placeholder=t("clone.text_ph"), lines=3, elem_id="clone-text")
            seed = gr.Number(label=t("common.seed"), precision=0, minimum=-1, elem_id="clone-seed")
            run = gr.Button(t("clone.run"), variant="primary", elem_id="clone-run")
            result = gr.Audio(label=t("common.result"), interactive=False, buttons=["download"], elem_id="clone-result")
            details = gr.JSON(label=t("common.details"), open=False, elem_id="clone-details")

    @guarded
    def pick_voice(lang, voice_id):
        if not voice_id or studio.voices is None:
            return gr.update(), gr.update()
        chosen = studio.voices.get(voice_id)
        return audio_io.encode(chosen.load()), chosen.text  # load() explains a missing preset recording

    voice.input(
        pick_voice, [lang, voice], [prompt_audio, prompt_text], api_name="pick_voice", api_visibility="undocumented"
    )

    @guarded
    def transcribe_prompt(workspace, lang, prompt_audio):
        history = studio.history(workspace)
        prefs = studio.preferences(history)
        return studio.transcribe(studio.read_upload(prompt_audio, prefs, lang, missing="msg.no_prompt"), prefs)

    transcribe.click(
        transcribe_prompt,
        [ws, lang, prompt_audio],
        [prompt_text],
        api_name="transcribe_clone_prompt",
        concurrency_id=ASR_QUEUE,
        concurrency_limit=1,
    )

    @guarded
    @on_gpu(lambda a: gpu_seconds(file_seconds(a["prompt_audio"]) + speech_seconds(a["text"])))
    def clone(workspace, lang, voice, prompt_audio, prompt_text, language, text, seed, progress=PROGRESS):
        return run_clone(studio, workspace, lang, voice, prompt_audio, prompt_text, language, text, seed, progress)

    done = run.click(
        clone,
        [ws, lang, voice, prompt_audio, prompt_text, language, text, seed],
        [result, details],
        api_name="clone",
        concurrency_id=MODEL_QUEUE,
        concurrency_limit=1,
    )
    return ClonePage(voice, seed, run, result, done)
