"""The Speed, Denoise and Silence pages: the model's edit and the fast tool, side by side.

Both sides work on the same input and both results join the history as children of it, so the
History page can play them against each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from studio.audio import Audio
from studio.ui.common import MODEL_QUEUE, PROGRESS, TOOLS_QUEUE, Studio, guarded, take_audio, take_json
from studio.ui.edit import run_edit
from studio.ui.i18n import choices, t
from studio.ui.inputs import InputPanel, current_or_upload, input_panel, parent_take
from studio.ui.zerogpu import gpu_seconds, on_gpu


def _speed(clip: Audio, rate: float) -> Audio:
    from studio.tools import speed

    return speed.change_speed(clip, rate)


def _denoise(clip: Audio, attenuation_db: float) -> Audio:
    from studio.tools import denoise

    return denoise.denoise(clip, attenuation_db=attenuation_db)


def _remove_pauses(clip: Audio, max_pause: float) -> Audio:
    from studio.tools import vad

    return vad.remove_pauses(clip, vad.PauseOptions(max_pause=max_pause)).audio


@dataclass(frozen=True)
class Tool:
    name: str  # page and engine mode: speed, denoise, vad
    needs_text: bool  # the model's edit needs the input's transcript
    param: str  # the fast tool's one parameter, as stored with the take
    slider: tuple[str, float, float, float, float]  # label key, minimum, maximum, step, default
    run: Callable[[Audio, float], Audio]


TOOLS = {
    "speed": Tool("speed", True, "rate", ("speed.rate", 0.5, 2.0, 0.05, 1.25), _speed),
    "denoise": Tool("denoise", False, "attenuation_db", ("denoise.strength", 6.0, 100.0, 1.0, 100.0), _denoise),
    "vad": Tool("vad", False, "max_pause", ("vad.keep", 0.0, 1.0, 0.05, 0.4), _remove_pauses),
}


@dataclass
class ToolPage:
    panel: InputPanel
    model_run: gr.Button
    seed: gr.Number
    done: list


def build(studio: Studio, ws: gr.Textbox, lang: gr.Radio, tool: Tool) -> ToolPage:
    gr.Markdown(t(f"{tool.name}.intro"), elem_classes="intro")
    panel = input_panel(studio, ws, lang, tool.name, with_text=tool.needs_text)
    with gr.Row(equal_height=False):
        with gr.Column(variant="panel"):
            gr.Markdown("#### " + str(t("common.model_side")))
            speed = gr.Radio(choices("speed"), value="faster", label=t("speed.choice"), visible=tool.name == "speed")
            seed = gr.Number(label=t("common.seed"), precision=0, minimum=-1)
            model_run = gr.Button(t(f"{tool.name}.run_model"), variant="primary", elem_id=f"{tool.name}-model-run")
            model_result = gr.Audio(label=t("common.model_result"), interactive=False, buttons=["download"])
            model_details = gr.JSON(label=t("common.details"), open=False)
        with gr.Column(variant="panel"):
            gr.Markdown("#### " + str(t("common.tool_side")))
            key, low, high, step, default = tool.slider
            value = gr.Slider(low, high, value=default, step=step, label=t(key))
            tool_run = gr.Button(t(f"{tool.name}.run_tool"), variant="primary", elem_id=f"{tool.name}-tool-run")
            tool_result = gr.Audio(
                label=t("common.tool_result"),
                interactive=False,
                buttons=["download"],
                elem_id=f"{tool.name}-tool-result",
            )
            tool_details = gr.JSON(label=t("common.details"), open=False)

    text_input = [panel.text] if panel.text is not None else []

    @guarded
    @on_gpu(lambda a: gpu_seconds(studio.input_seconds(a["workspace"], a["source"], a["upload"])))
    def model_edit(workspace, lang, source, upload, seed, audio_text="", speed=None, progress=PROGRESS):
        return run_edit(
            studio, workspace, lang, source, upload, audio_text, tool.name, speed, None, 1, 1.0, seed, progress
        )

    @guarded
    def fast_tool(workspace, lang, source, upload, amount, audio_text=""):
        history = studio.history(workspace)
        prefs = studio.preferences(history)
        clip, take = current_or_upload(studio, history, prefs, lang, source, upload)
        started = time.perf_counter()
        out = tool.run(clip, float(amount))
        timings = {"tool": time.perf_counter() - started}
        parent = parent_take(history, clip, take, audio_text)
        params = {tool.param: float(amount)}
        record = history.add(
            out, f"tool-{tool.name}", parent=parent.id, text=parent.text, params=params, timings=timings
        )
        return take_audio(history, record), take_json(history, record)

    model_done = model_run.click(
        model_edit,
        [ws, lang, panel.source, panel.upload, seed, *text_input, *([speed] if tool.name == "speed" else [])],
        [model_result, model_details],
        api_name=f"{tool.name}_model",
        concurrency_id=MODEL_QUEUE,
        concurrency_limit=1,
    )
    tool_done = tool_run.click(
        fast_tool,
        [ws, lang, panel.source, panel.upload, value, *text_input],
        [tool_result, tool_details],
        api_name=f"{tool.name}_tool",
        concurrency_id=TOOLS_QUEUE,
        concurrency_limit=2,
    )
    return ToolPage(panel, model_run, seed, [model_done, tool_done])
