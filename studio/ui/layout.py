"""The studio's page layout."""

from __future__ import annotations

import gradio as gr

from studio.settings import Settings

TABS = ("Clone", "Edit", "Speed", "Denoise", "Silence (VAD)", "History & Compare", "Settings")


def build_ui(settings: Settings) -> gr.Blocks:
    with gr.Blocks(title="Step-Audio-EditX Studio") as demo:
        gr.Markdown("# Step-Audio-EditX Studio")
        gr.Markdown(
            f"**Model not loaded.** Weights are expected under `{settings.model_dir}`; "
            "get them with `python -m studio download`.",
            elem_id="model-status",
        )
        with gr.Tabs():
            for name in TABS:
                with gr.Tab(name):
                    gr.Markdown(f"{name}: coming with the engine.")
    return demo
