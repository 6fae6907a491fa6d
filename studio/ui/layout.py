"""The studio's page: header (model status, language), seven tabs, and the wiring between them.

    build_ui(engine, settings, voices) -> gr.Blocks
    mount_options() -> keyword arguments for gr.mount_gradio_app / Blocks.launch (theme, css, i18n)

A browser keeps its workspace id and language in localStorage (gr.BrowserState, encrypted with a
secret kept in the data folder, so it still opens after a server restart). After every action the
pages that show the current take, the history and the model status are refreshed from disk.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import gradio as gr

from studio.engine.pipeline import Engine
from studio.errors import BadInput
from studio.history import check_workspace_id, new_workspace_id
from studio.settings import Settings
from studio.ui import clone, edit, history_tab, settings_tab, tools_tab
from studio.ui.common import Studio, guarded
from studio.ui.i18n import I18N, say, t
from studio.voices import VoiceStore

STORAGE_KEY = "step-audio-editx-studio"
SECRET_FILE = "browser-state.secret"

# Switches Gradio's own translation store (the module that owns it is already loaded by the page).
SET_LOCALE_JS = """
async (...args) => {
  const lang = args[args.length - 1];
  const core = performance.getEntriesByType('resource').map((e) => e.name)
    .find((n) => /\\/assets\\/core-[^/]+\\.js$/.test(n));
  if (core) {
    const module = await import(core);
    module.changeLocale(lang === 'zh' ? 'zh-CN' : 'en');
  }
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  return args.length === 1 ? args[0] : args;
}
"""
RESTORE_JS = "(store, _) => [store, navigator.language || '']"

CSS = """
.gradio-container { max-width: 1400px !important; }
#studio-header { align-items: center; gap: 12px; }
#studio-title h1 { margin: 0; font-size: 1.6rem; }
#studio-subtitle p { margin: 0; opacity: 0.75; }
.inline-button { align-self: flex-start; max-width: 160px; }
#studio-lang { max-width: 240px; }
#model-status { padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill); }
#model-status p { margin: 0; }
.intro p { opacity: 0.8; margin: 0 0 4px; }
.tag-chips { flex-wrap: wrap; gap: 6px !important; }
.tag-chips button.chip { flex: 0 0 auto !important; border-radius: 999px; padding: 2px 10px; font-size: 0.85rem; }
.tab-container button, .tab-wrapper button { white-space: nowrap; }
#history-tree { max-height: 320px; overflow-y: auto; }
"""

THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="pink",
    # System fonts: the page must not reach out to a font service (the studio runs offline).
    font=["system-ui", "Segoe UI", "Noto Sans", "PingFang SC", "Microsoft YaHei", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


def mount_options() -> dict:
    """What Gradio takes at mount/launch time rather than in Blocks (Gradio 6)."""
    return {"theme": THEME, "css": CSS, "i18n": I18N}


def browser_secret(settings: Settings) -> str:
    """One secret per data folder: the encrypted browser state stays readable across restarts."""
    path = Path(settings.data_dir) / SECRET_FILE  # type: ignore[arg-type]
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def build_ui(engine: Engine, settings: Settings, voices: VoiceStore | None = None) -> gr.Blocks:
    studio = Studio(engine, settings, voices)
    with gr.Blocks(title="Step-Audio-EditX Studio") as demo:
        store = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=browser_secret(settings))
        browser_lang = gr.Textbox(visible=False)
        ws = gr.Textbox(visible=False, elem_id="workspace")
        with gr.Row(elem_id="studio-header"):
            with gr.Column(scale=4):
                gr.Markdown(f"# {t('app.title')}", elem_id="studio-title")
                gr.Markdown(t("app.subtitle"), elem_id="studio-subtitle")
            lang = gr.Radio(
                [("English", "en"), ("中文", "zh")],
                value="en",
                label=t("header.language"),
                elem_id="studio-lang",
                scale=1,
            )
        status = gr.Markdown(settings_tab.model_status(studio, "en"), elem_id="model-status")
        tabs: dict[str, gr.Tab] = {}
        with gr.Tabs(elem_id="studio-tabs"):
            with gr.Tab(t("page.clone"), id="clone", elem_id="tab-clone") as tabs["clone"]:
                clone_page = clone.build(studio, ws, lang)
            with gr.Tab(t("page.edit"), id="edit", elem_id="tab-edit") as tabs["edit"]:
                edit_page = edit.build(studio, ws, lang)
            tool_pages = []
            for name in ("speed", "denoise", "vad"):
                with gr.Tab(t(f"page.{name}"), id=name, elem_id=f"tab-{name}") as tabs[name]:
                    tool_pages.append(tools_tab.build(studio, ws, lang, tools_tab.TOOLS[name]))
            with gr.Tab(t("page.history"), id="history", elem_id="tab-history") as tabs["history"]:
                history_page, history_events = history_tab.build(studio, ws, lang)
            with gr.Tab(t("page.settings"), id="settings", elem_id="tab-settings") as tabs["settings"]:
                settings_page = settings_tab.build(studio, ws, lang)

        def tab_labels(lang: str) -> list[gr.Tab]:
            # The tab strip does not re-render on a locale change, so its labels come from the server.
            return [gr.Tab(label=say(lang, f"page.{key}")) for key in tabs]

        panels = [edit_page.panel, *(page.panel for page in tool_pages)]
        model_buttons = [clone_page.run, edit_page.run, *(page.model_run for page in tool_pages)]
        refresh_outputs = [
            status,
            settings_page.memory,
            settings_page.variant,
            settings_page.from_take,
            *model_buttons,
            *history_page.refresh_outputs(),
            *(c for panel in panels for c in panel.refresh_outputs()),
        ]

        def refresh(workspace: str, lang: str) -> list:
            history = studio.history(workspace)
            current = history.current()
            weights = studio.weights_present()
            history_values = history_page.refreshed(history, lang)
            return [
                settings_tab.model_status(studio, lang),
                settings_tab.model_status(studio, lang),
                gr.update(choices=settings_tab.variant_choices(studio, lang), value=studio.engine.variant),
                gr.update(
                    choices=history_tab.take_choices(history.takes(), lang), value=current.id if current else None
                ),
                *(gr.update(interactive=weights) for _ in model_buttons),
                *history_values,
                *(v for panel in panels for v in panel.refreshed(history, current)),
            ]

        defaults_outputs = [
            edit_page.passes,
            edit_page.intensity,
            edit_page.seed,
            clone_page.seed,
            *(page.seed for page in tool_pages),
            *settings_page.defaults,
            settings_page.workspace,
        ]

        def defaults(workspace: str) -> list:
            history = studio.history(workspace)
            p = studio.preferences(history)
            stored = [p.passes, p.intensity, p.seed, p.max_input_seconds, p.keep_original_speaker]
            seeds = [p.seed] * (2 + len(tool_pages))
            tail = [p.max_new_tokens, p.asr_model, p.output_format, history.workspace]
            return [p.passes, p.intensity, *seeds, *stored, *tail]

        def voice_lists(lang: str) -> list:
            saved = [(v.name, v.id) for v in studio.voices.list() if v.kind == "saved"] if studio.voices else []
            return [gr.update(choices=clone.voice_choices(studio, lang)), gr.update(choices=saved, value=None)]

        def restore(saved: dict | None, browser: str) -> tuple[str, str, dict]:
            saved = saved if isinstance(saved, dict) else {}
            try:
                workspace = check_workspace_id(saved.get("workspace", ""))
            except BadInput:
                workspace = new_workspace_id()
            lang = saved.get("lang") or ("zh" if (browser or "").lower().startswith("zh") else "en")
            return workspace, lang, {"workspace": workspace, "lang": lang}

        def after(event, *, voices_changed: bool = False, prefs_changed: bool = False) -> None:
            """Refresh what an event may have changed, once it succeeded."""
            chain = event.success(
                refresh, [ws, lang], refresh_outputs, api_visibility="private", show_progress="hidden"
            )
            if voices_changed:
                chain.then(voice_lists, [lang], [clone_page.voice, settings_page.voice], api_visibility="private")
            if prefs_changed:
                chain.then(defaults, [ws], defaults_outputs, api_visibility="private")

        loaded = demo.load(
            restore,
            [store, browser_lang],
            [ws, lang, store],
            js=RESTORE_JS,
            api_name="restore",
            api_visibility="private",
        )
        loaded = loaded.then(None, [lang], None, js=SET_LOCALE_JS)
        loaded.then(tab_labels, [lang], list(tabs.values()), api_visibility="private", queue=False)
        after(loaded, voices_changed=True, prefs_changed=True)

        def remember(saved: dict | None, lang: str) -> dict:
            return {**(saved if isinstance(saved, dict) else {}), "lang": lang}

        switched = lang.input(remember, [store, lang], [store], js=SET_LOCALE_JS, api_visibility="private", queue=False)
        switched.then(tab_labels, [lang], list(tabs.values()), api_visibility="private", queue=False)
        after(switched, voices_changed=True)

        @guarded
        def open_workspace(saved, lang, workspace):
            workspace = check_workspace_id(workspace)
            gr.Info(say(lang, "msg.workspace", workspace=workspace))
            return workspace, {**(saved if isinstance(saved, dict) else {}), "workspace": workspace}

        opened = settings_page.open_workspace.click(
            open_workspace, [store, lang, settings_page.workspace], [ws, store], api_visibility="private"
        )
        after(opened, prefs_changed=True)

        for event in (clone_page.done, edit_page.done, *(e for page in tool_pages for e in page.done), *history_events):
            after(event)
        for event in settings_page.model_events:
            after(event, prefs_changed=True)
        for event in settings_page.voice_events:
            after(event, voices_changed=True)
    demo.i18n_instance = I18N  # kept by gr.mount_gradio_app even when it is not passed i18n
    return demo
