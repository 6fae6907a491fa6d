"""The Edit page: emotion, style and paralinguistic edits of the current take or a recording."""

from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from studio.engine import prompts
from studio.engine.pipeline import EditRequest
from studio.ui.common import (
    MODEL_QUEUE,
    PROGRESS,
    Studio,
    guarded,
    progress_bridge,
    record_take,
    seed_value,
    take_audio,
    take_json,
)
from studio.ui.i18n import choices, t
from studio.ui.inputs import InputPanel, current_or_upload, input_panel, parent_take
from studio.ui.zerogpu import gpu_seconds, on_gpu

SUBMODES = ("emotion", "style", "paralinguistic")
SOUND_BOX = "para-text"

# Inserts the tag at the caret of the tagged-text box (or over its selection), then puts the caret after it.
INSERT_TAG_JS = """
(text) => {
  const tag = %s;
  const box = document.querySelector('#%s textarea');
  const value = text || '';
  const start = box && box.selectionStart != null ? box.selectionStart : value.length;
  const end = box && box.selectionEnd != null ? box.selectionEnd : start;
  const caret = start + tag.length;
  setTimeout(() => { if (box) { box.focus(); box.setSelectionRange(caret, caret); } }, 60);
  return value.slice(0, start) + tag + value.slice(end);
}
"""


@dataclass
class EditPage:
    panel: InputPanel
    passes: gr.Slider
    intensity: gr.Slider
    seed: gr.Number
    run: gr.Button
    result: gr.Audio
    done: object  # the edit event, for chaining the refresh of other pages


def run_edit(
    studio: Studio,
    workspace: str,
    lang: str,
    source: str,
    upload: str | None,
    audio_text: str,
    mode: str,
    edit_info: str | None,
    new_text: str | None,
    passes: int,
    intensity: float,
    seed: float | None,
    progress: gr.Progress,
) -> tuple[bytes, dict]:
    """One model edit of the current take or an upload; the result becomes the current take."""
    studio.require_weights(lang)
    history = studio.history(workspace)
    prefs = studio.preferences(history)
    clip, take = current_or_upload(studio, history, prefs, lang, source, upload)
    audio_text = (audio_text or "").strip() or (take.transcript or take.text if take else "")
    request = EditRequest(
        audio=clip,
        audio_text=audio_text,
        mode=mode,
        edit_info=edit_info or None,
        text=new_text if mode == "paralinguistic" else None,
        n_edit_iter=int(passes),
        intensity=float(intensity),
        seed=seed_value(seed),
        keep_original_speaker=prefs.keep_original_speaker,
        max_new_tokens=prefs.max_new_tokens,
    )
    result = studio.engine.run(request, progress_bridge(progress, lang))
    parent = parent_take(history, clip, take, audio_text)
    params = {"edit_info": request.edit_info, "n_edit_iter": request.n_edit_iter, "intensity": request.intensity}
    if request.text:
        params["new_text"] = request.text
    record = record_take(history, result, mode, parent.id, params)
    return take_audio(history, record), take_json(history, record)


def build(studio: Studio, ws: gr.Textbox, lang: gr.Radio) -> EditPage:
    gr.Markdown(t("edit.intro"), elem_classes="intro")
    with gr.Row():
        with gr.Column(scale=1):
            panel = input_panel(studio, ws, lang, "edit", with_text=True)
        with gr.Column(scale=1):
            submode = gr.Radio(
                [(t(f"edit.{m}"), m) for m in SUBMODES], value="emotion", label=t("edit.submode"), elem_id="edit-mode"
            )
            emotion = gr.Dropdown(choices("emotion"), value="happy", label=t("edit.emotion"))
            style = gr.Dropdown(choices("style"), value="whisper", label=t("edit.style"), visible=False)
            with gr.Group(visible=False) as sounds:
                new_text = gr.Textbox(
                    label=t("edit.new_text"), info=t("edit.new_text_info"), lines=3, elem_id=SOUND_BOX
                )
                with gr.Row(elem_classes="tag-chips"):
                    for value in prompts.PARALINGUISTIC_TAGS:
                        chip = gr.Button(t(f"sound.{value}"), size="sm", min_width=0, elem_classes="chip")
                        chip.click(None, [new_text], [new_text], js=INSERT_TAG_JS % (json.dumps(value), SOUND_BOX))
            with gr.Row():
                passes = gr.Slider(1, 4, value=1, step=1, label=t("common.passes"), info=t("common.passes_info"))
                intensity = gr.Slider(
                    0.5, 3.0, value=1.0, step=0.1, label=t("common.intensity"), info=t("common.intensity_info")
                )
            seed = gr.Number(label=t("common.seed"), precision=0, minimum=-1, elem_id="edit-seed")
            run = gr.Button(t("edit.run"), variant="primary", elem_id="edit-run")
            result = gr.Audio(label=t("common.result"), interactive=False, buttons=["download"], elem_id="edit-result")
            details = gr.JSON(label=t("common.details"), open=False, elem_id="edit-details")

    submode.change(
        lambda m: (
            gr.update(visible=m == "emotion"),
            gr.update(visible=m == "style"),
            gr.update(visible=m == "paralinguistic"),
        ),
        [submode],
        [emotion, style, sounds],
        api_name="edit_mode_choice",
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )

    @guarded
    @on_gpu(lambda a: gpu_seconds(studio.input_seconds(a["workspace"], a["source"], a["upload"]), a["passes"]))
    def edit(workspace, lang, source, upload, audio_text, mode, emotion, style, new_text, passes, intensity, seed,
             progress=PROGRESS):  # fmt: skip
        edit_info = {"emotion": emotion, "style": style}.get(mode)
        return run_edit(
            studio, workspace, lang, source, upload, audio_text, mode, edit_info, new_text, passes, intensity, seed,
            progress,
        )  # fmt: skip

    done = run.click(
        edit,
        [ws, lang, *panel.inputs(), submode, emotion, style, new_text, passes, intensity, seed],
        [result, details],
        api_name="edit",
        concurrency_id=MODEL_QUEUE,
        concurrency_limit=1,
    )
    return EditPage(panel, passes, intensity, seed, run, result, done)
