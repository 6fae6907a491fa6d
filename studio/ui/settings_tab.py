"""The Settings page: the model (variant, precision, device, load/unload), workspace defaults, voices."""

from __future__ import annotations

import re
from dataclasses import dataclass

import gradio as gr

from studio.engine.pipeline import VARIANTS
from studio.errors import BadInput
from studio.ui.common import (
    MODEL_QUEUE,
    OUTPUT_FORMATS,
    PROGRESS,
    TOOLS_QUEUE,
    Preferences,
    Studio,
    guarded,
    progress_bridge,
)
from studio.ui.i18n import say, t

DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
ASR_MODELS = ("auto", "tiny.en", "tiny", "base.en", "base", "small", "large-v3")  # found locally, never downloaded


@dataclass
class SettingsPage:
    variant: gr.Radio
    memory: gr.Markdown
    defaults: list  # passes, intensity, seed, max input, keep speaker, max new tokens, ASR model, format
    voice: gr.Dropdown
    from_take: gr.Dropdown
    workspace: gr.Textbox
    model_events: list
    voice_events: list
    open_workspace: object


def model_status(studio: Studio, lang: str) -> str:
    status = studio.engine.status()
    on_disk = [name for name, present in status.variants_on_disk.items() if present]
    if status.loading:
        text = say(lang, "status.loading", variant=status.variant, device=status.device)
    elif status.loaded:
        memory = f"{status.memory_bytes / 2**30:.2f} GiB"
        text = say(
            lang, "status.ready", variant=status.variant, device=status.device, dtype=status.dtype, memory=memory
        )
    elif not on_disk:
        text = say(lang, "status.missing", dir=status.model_dir)
    else:
        text = say(lang, "status.idle", variants=", ".join(on_disk))
    if status.error:
        text += say(lang, "status.failed", error=status.error)
    if status.queue_depth:
        text += say(lang, "status.queue", count=status.queue_depth)
    return text


def variant_choices(studio: Studio, lang: str) -> list[tuple[str, str]]:
    on_disk = studio.engine.variants_on_disk()
    return [(f"{v} · {say(lang, 'variant.on_disk' if on_disk[v] else 'variant.missing')}", v) for v in VARIANTS]


def preferences_from(passes, intensity, seed, max_input, keep_speaker, max_new_tokens, asr_model, fmt) -> Preferences:
    return Preferences(
        passes=int(passes),
        intensity=float(intensity),
        seed=None if seed in (None, "") or int(seed) < 0 else int(seed),
        max_input_seconds=float(max_input),
        keep_original_speaker=bool(keep_speaker),
        max_new_tokens=None if max_new_tokens in (None, "", 0) else int(max_new_tokens),
        asr_model=(asr_model or "auto").strip(),
        output_format=fmt,
    )


def build(studio: Studio, ws: gr.Textbox, lang: gr.Radio) -> SettingsPage:
    settings = studio.settings
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown("### " + str(t("settings.model")), elem_classes="section")
            variant = gr.Radio(variant_choices(studio, "en"), value=studio.engine.variant, label=t("settings.variant"))
            with gr.Row():
                dtype = gr.Dropdown(list(DTYPES), value=settings.dtype, label=t("settings.dtype"))
                device = gr.Dropdown(
                    ["auto", "cpu", "cuda"], value=settings.device, allow_custom_value=True, label=t("settings.device")
                )
            with gr.Row():
                load = gr.Button(t("settings.load"), variant="primary", elem_id="settings-load")
                unload = gr.Button(t("settings.unload"), elem_id="settings-unload")
            memory = gr.Markdown(model_status(studio, "en"), label=t("settings.memory"), container=True)
        with gr.Column(scale=1):
            gr.Markdown("### " + str(t("settings.defaults")), elem_classes="section")
            with gr.Row():
                passes = gr.Slider(1, 4, value=1, step=1, label=t("common.passes"))
                intensity = gr.Slider(0.5, 3.0, value=1.0, step=0.1, label=t("common.intensity"))
            with gr.Row():
                seed = gr.Number(label=t("common.seed"), precision=0, minimum=-1)
                max_input = gr.Number(
                    value=settings.max_input_seconds,
                    minimum=1,
                    maximum=settings.max_input_seconds,
                    label=t("settings.max_input"),
                )
            keep_speaker = gr.Checkbox(label=t("settings.keep_speaker"))
            with gr.Row():
                asr_model = gr.Dropdown(
                    list(dict.fromkeys([settings.asr_model, *ASR_MODELS])),
                    value=settings.asr_model,
                    allow_custom_value=True,
                    label=t("settings.asr"),
                )
                fmt = gr.Dropdown(list(OUTPUT_FORMATS), value="wav", label=t("settings.format"))
            max_new_tokens = gr.Number(
                label=t("settings.max_new_tokens"), precision=0, minimum=0, elem_id="settings-max-new-tokens"
            )
            save = gr.Button(t("settings.save"), variant="primary", elem_id="settings-save")
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown("### " + str(t("voices.title")), elem_classes="section")
            voice = gr.Dropdown([], allow_custom_value=True, label=t("voices.pick"))
            name = gr.Textbox(label=t("voices.name"))
            from_take = gr.Dropdown([], allow_custom_value=True, label=t("voices.from_take"))
            upload = gr.Audio(sources=["upload", "microphone"], type="filepath", label=t("voices.upload"))
            text = gr.Textbox(label=t("voices.text"), lines=2)
            with gr.Row():
                create = gr.Button(t("voices.create"), variant="primary")
                rename = gr.Button(t("voices.rename"))
                delete = gr.Button(t("voices.delete"), variant="stop")
        with gr.Column(scale=1):
            gr.Markdown("### " + str(t("settings.workspace")), elem_classes="section")
            workspace = gr.Textbox(label=t("settings.workspace_id"), elem_id="workspace-id")
            open_workspace = gr.Button(t("settings.open_workspace"))

    defaults = [passes, intensity, seed, max_input, keep_speaker, max_new_tokens, asr_model, fmt]

    @guarded
    def load_model(lang, variant, dtype, device, progress=PROGRESS):
        studio.require_weights(lang)
        if dtype not in DTYPES:
            raise BadInput(f"Precision is one of {', '.join(DTYPES)} (got {dtype!r}).", param="dtype")
        if not DEVICE.fullmatch(device or ""):
            raise BadInput(f"Device is auto, cpu, cuda or cuda:N (got {device!r}).", param="device")
        engine = studio.engine
        if (dtype, device) != (engine.settings.dtype, engine.settings.device):
            engine.unload()  # a new precision or device needs a fresh copy of the weights
            engine.settings.dtype, engine.settings.device = dtype, device
        engine.load(variant, progress_bridge(progress, lang))
        gr.Info(say(lang, "msg.loaded"))
        return model_status(studio, lang)

    @guarded
    def unload_model(lang):
        studio.engine.unload()
        gr.Info(say(lang, "msg.unloaded"))
        return model_status(studio, lang)

    loaded = load.click(
        load_model,
        [lang, variant, dtype, device],
        [memory],
        api_name="load_model",
        concurrency_id=MODEL_QUEUE,
        concurrency_limit=1,
    )
    unloaded = unload.click(
        unload_model, [lang], [memory], api_name="unload_model", concurrency_id=MODEL_QUEUE, concurrency_limit=1
    )

    @guarded
    def save_defaults(
        workspace, lang, passes, intensity, seed, max_input, keep_speaker, max_new_tokens, asr_model, fmt
    ):
        history = studio.history(workspace)
        prefs = preferences_from(passes, intensity, seed, max_input, keep_speaker, max_new_tokens, asr_model, fmt)
        studio.save_preferences(history, prefs)
        gr.Info(say(lang, "msg.saved"))
        return {"workspace": history.workspace, **vars(prefs)}

    saved = save.click(
        save_defaults,
        [ws, lang, *defaults],
        [gr.JSON(visible=False)],
        api_name="save_settings",
        concurrency_id=TOOLS_QUEUE,
    )

    @guarded
    def create_voice(workspace, lang, name, take, upload, text):
        voices = _voices(studio, lang)
        history = studio.history(workspace)
        prefs = studio.preferences(history)
        if upload:
            clip = studio.read_upload(upload, prefs, lang)
        elif take:
            record = history.get(take)
            clip, text = history.audio(record.id), (text or "").strip() or record.transcript or record.text
        else:
            raise BadInput(say(lang, "msg.no_audio"), param="audio")
        voice = voices.create(name, clip, text)
        gr.Info(say(lang, "msg.voice_saved", name=voice.name))
        return voice.id

    @guarded
    def rename_voice(lang, voice, name):
        renamed = _voices(studio, lang).rename(_voice_id(voice, lang), name)
        gr.Info(say(lang, "msg.saved"))
        return renamed.id

    @guarded
    def delete_voice(lang, voice):
        gone = _voices(studio, lang).delete(_voice_id(voice, lang))
        gr.Info(say(lang, "msg.voice_deleted", name=gone.name))
        return None

    created = create.click(
        create_voice,
        [ws, lang, name, from_take, upload, text],
        [voice],
        api_name="create_voice",
        concurrency_id=TOOLS_QUEUE,
    )
    renamed = rename.click(
        rename_voice, [lang, voice, name], [voice], api_name="rename_voice", concurrency_id=TOOLS_QUEUE
    )
    deleted = delete.click(delete_voice, [lang, voice], [voice], api_name="delete_voice", concurrency_id=TOOLS_QUEUE)
    voice.input(
        lambda voice_id: next((v.name for v in studio.voices.list() if v.id == voice_id), "") if studio.voices else "",
        [voice],
        [name],
        api_name="voice_name",
        api_visibility="private",
        queue=False,
    )
    return SettingsPage(
        variant,
        memory,
        defaults,
        voice,
        from_take,
        workspace,
        [loaded, unloaded, saved],
        [created, renamed, deleted],
        open_workspace,
    )


def _voices(studio: Studio, lang: str):
    if studio.voices is None:
        raise BadInput(say(lang, "voices.none"))
    return studio.voices


def _voice_id(voice: str | None, lang: str) -> str:
    if not voice:
        raise BadInput(say(lang, "msg.pick_voice"), param="voice")
    return voice
