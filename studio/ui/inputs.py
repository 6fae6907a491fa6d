"""The input panel of the Edit, Speed, Denoise and Silence pages: the current take or an upload.

Editing is iterative: after every action the panels switch back to "current take", so the next
edit continues from the last result (or from any take chosen with "Continue from this take").
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.audio import Audio
from studio.errors import BadInput
from studio.history import History, TakeRecord
from studio.ui.common import ASR_QUEUE, Preferences, Studio, guarded, take_audio
from studio.ui.i18n import say, t


@dataclass
class InputPanel:
    source: gr.Radio
    current: gr.Audio
    upload: gr.Audio
    text: gr.Textbox | None

    def inputs(self) -> list[gr.components.Component]:
        return [self.source, self.upload, *([self.text] if self.text is not None else [])]

    def refresh_outputs(self) -> list[gr.components.Component]:
        return [self.source, self.current, self.upload, *([self.text] if self.text is not None else [])]

    def refreshed(self, history: History, current: TakeRecord | None) -> list:
        """Back to the current take after every action, with its text as the transcript."""
        values = [
            "take",
            gr.update(value=take_audio(history, current) if current else None, visible=True),
            gr.update(visible=False),
        ]
        if self.text is not None:
            values.append((current.transcript or current.text) if current else "")
        return values


def input_panel(studio: Studio, ws: gr.Textbox, lang: gr.Radio, name: str, with_text: bool) -> InputPanel:
    source = gr.Radio(
        [(t("input.take"), "take"), (t("input.upload"), "upload")],
        value="take",
        label=t("input.source"),
        elem_id=f"{name}-source",
    )
    current = gr.Audio(label=t("input.take"), interactive=False, buttons=["download"])
    upload = gr.Audio(
        sources=["upload", "microphone"],
        type="filepath",
        label=t("input.audio"),
        visible=False,
        elem_id=f"{name}-upload",
    )
    text = None
    if with_text:
        text = gr.Textbox(label=t("input.text"), placeholder=t("input.text_ph"), lines=2, elem_id=f"{name}-input-text")
        transcribe = gr.Button(t("common.transcribe"), size="sm", elem_classes="inline-button")
        transcribe.click(
            guarded(lambda workspace, lang, source, upload: transcribe_input(studio, workspace, lang, source, upload)),
            [ws, lang, source, upload],
            [text],
            api_name=f"transcribe_{name}_input",
            concurrency_id=ASR_QUEUE,
            concurrency_limit=1,
        )
    source.change(
        lambda s: (gr.update(visible=s == "take"), gr.update(visible=s == "upload")),
        [source],
        [current, upload],
        api_name=f"{name}_input_source",
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    return InputPanel(source, current, upload, text)


def current_or_upload(
    studio: Studio, history: History, prefs: Preferences, lang: str, source: str, upload: str | None
) -> tuple[Audio, TakeRecord | None]:
    """The audio to work on, and the take it is (None: a new upload, stored once the work succeeds)."""
    if source == "upload":
        return studio.read_upload(upload, prefs, lang), None
    current = history.current()
    if current is None:
        raise BadInput(say(lang, "msg.no_take"))
    return studio.check_length(history.audio(current.id), prefs, lang), current


def parent_take(history: History, clip: Audio, take: TakeRecord | None, text: str) -> TakeRecord:
    """The take a result hangs from: the current one, or the upload stored now as a take."""
    return take or history.add(clip, "upload", text=text, reuse=True)


def transcribe_input(studio: Studio, workspace: str, lang: str, source: str, upload: str | None) -> str:
    history = studio.history(workspace)
    prefs = studio.preferences(history)
    clip, take = current_or_upload(studio, history, prefs, lang, source, upload)
    text = studio.transcribe(clip, prefs)
    if take is not None:
        history.set_transcript(take.id, text)
    return text
