"""The History & Compare page: every take with its lineage, pictures, ratings; A/B comparison; export."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput
from studio.history import History, TakeRecord
from studio.metrics import Measure, measure
from studio.ui import plots
from studio.ui.common import PROGRESS, TOOLS_QUEUE, Studio, guarded, spoken_text, take_audio, take_json
from studio.ui.i18n import STRINGS, say, t

STARS = tuple((("★" * n) + ("☆" * (5 - n)), n) for n in range(1, 6))
HIDDEN_PARAMS = {"tokens", "prompt_text", "passes_run", "new_text", "voice"}
COLUMNS = (
    "col.take",
    "col.parent",
    "col.operation",
    "col.params",
    "col.duration",
    "col.rating",
    "col.text",
    "col.timings",
)


@dataclass
class HistoryPage:
    table: gr.Dataframe
    tree: gr.Markdown
    gallery: gr.Gallery
    pick: gr.Dropdown
    take_a: gr.Dropdown
    take_b: gr.Dropdown

    def refresh_outputs(self) -> list:
        return [self.table, self.tree, self.gallery, self.pick, self.take_a, self.take_b]

    def refreshed(self, history: History, lang: str) -> list:
        takes = history.takes()
        current = history.current()
        options = take_choices(takes, lang)
        values = [o[1] for o in options]
        newest = current.id if current else None
        older = current.parent if current and current.parent in values else (values[1] if len(values) > 1 else None)
        return [
            gr.update(value=table_rows(takes, current, lang), headers=[say(lang, c) for c in COLUMNS]),
            tree_markdown(history, lang),
            [(take_image(history, take), caption(take, lang)) for take in reversed(takes)],
            gr.update(choices=options, value=newest),
            gr.update(choices=options, value=older),
            gr.update(choices=options, value=newest),
        ]


def op_name(operation: str, lang: str) -> str:
    return say(lang, f"op.{operation}")


def caption(take: TakeRecord, lang: str) -> str:
    return say(lang, "take.summary", take=take.id, operation=op_name(take.operation, lang), duration=take.duration)


def take_choices(takes: list[TakeRecord], lang: str) -> list[tuple[str, str]]:
    return [(f"{caption(take, lang)} · {describe(take)}".rstrip(" ·"), take.id) for take in reversed(takes)]


def describe(take: TakeRecord) -> str:
    """The parameters that made the take, short: 'happy · passes 2 · seed 7'."""
    parts = []
    for key, value in take.params.items():
        if key in HIDDEN_PARAMS or value in (None, "", {}):
            continue
        if key == "edit_info" or key == "language":
            parts.append(str(value))
        elif key == "intensity" and value == 1.0:
            continue
        else:
            parts.append(f"{key.replace('n_edit_iter', 'passes')} {value}")
    return " · ".join(parts)


def table_rows(takes: list[TakeRecord], current: TakeRecord | None, lang: str) -> list[list]:
    rows = []
    for take in reversed(takes):
        marker = f" ▶ {say(lang, 'take.current')}" if current and take.id == current.id else ""
        heard = f" — ASR: {take.transcript}" if take.transcript and take.transcript != take.text else ""
        timings = ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in take.timings.items())
        rows.append(
            [
                take.id + marker,
                take.parent or "",
                op_name(take.operation, lang),
                describe(take),
                take.duration,
                STARS[take.rating - 1][0] if take.rating else "",
                (take.text or "") + heard,
                timings,
            ]
        )
    return rows


def tree_markdown(history: History, lang: str) -> str:
    takes = {take.id: take for take in history.takes()}
    current = history.current()
    lines: list[str] = []

    def walk(node: dict, depth: int) -> None:
        take = takes[node["id"]]
        label = (
            f"**{caption(take, lang)}** ◀ {say(lang, 'take.current')}"
            if current and take.id == current.id
            else caption(take, lang)
        )
        detail = describe(take)
        lines.append("  " * depth + f"- {label}" + (f" · {detail}" if detail else ""))
        for child in node["children"]:
            walk(child, depth + 1)

    for root in history.tree():
        walk(root, 0)
    return "\n".join(lines)


def take_image(history: History, take: TakeRecord) -> Image.Image:
    """Waveform + spectrogram, drawn once per take and kept beside its audio."""
    path = history.root / "plots" / f"{take.id}-{take.sha256[:12]}.png"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        title = f"{take.id} · {take.operation} · {take.duration:.1f} s"
        plots.take_image(history.audio(take.id), title).save(path)
    return Image.open(path)


def _take(history: History, take_id: str | None, lang: str) -> TakeRecord:
    if not take_id:
        raise BadInput(say(lang, "msg.pick_take"), param="take")
    return history.get(take_id)


def build(studio: Studio, ws: gr.Textbox, lang: gr.Radio) -> tuple[HistoryPage, list]:
    """The page, and the events after which the other pages need refreshing."""
    with gr.Row(equal_height=True):
        table = gr.Dataframe(
            headers=[say("en", c) for c in COLUMNS],
            label=t("history.takes"),
            interactive=False,
            wrap=True,
            max_height=300,
            elem_id="history-table",
            scale=5,
        )
        refresh = gr.Button(t("history.refresh"), size="sm", scale=0, min_width=90)
    with gr.Row():
        with gr.Column(scale=1):
            pick = gr.Dropdown([], allow_custom_value=True, label=t("history.pick"), elem_id="history-pick")
            player = gr.Audio(
                label=t("history.player"), interactive=False, buttons=["download"], elem_id="history-player"
            )
            rating = gr.Radio(list(STARS), label=t("history.rating"), elem_id="history-rating")
            note = gr.Textbox(label=t("history.note"), lines=2, elem_id="history-note")
            with gr.Row():
                rate = gr.Button(t("history.save_rating"), size="sm", variant="primary", elem_id="history-rate")
                branch = gr.Button(t("history.branch"), size="sm", elem_id="history-branch")
            with gr.Row():
                transcribe = gr.Button(t("history.transcribe"), size="sm")
                delete = gr.Button(t("history.delete"), size="sm", variant="stop", elem_id="history-delete")
        with gr.Column(scale=1):
            figure = gr.Image(
                label=t("history.figure"), interactive=False, type="pil", buttons=["download"], height=260
            )
            info = gr.JSON(label=t("history.info"), open=False)
            with gr.Accordion(t("history.tree"), open=True):
                tree = gr.Markdown(elem_id="history-tree")
    gallery = gr.Gallery(
        label=t("history.gallery"), columns=4, height="auto", object_fit="contain", elem_id="history-gallery"
    )

    gr.Markdown("### " + str(t("compare.title")), elem_classes="section")
    with gr.Row():
        take_a = gr.Dropdown([], allow_custom_value=True, label=t("compare.a"), elem_id="compare-a")
        take_b = gr.Dropdown([], allow_custom_value=True, label=t("compare.b"), elem_id="compare-b")
        compare = gr.Button(t("compare.run"), variant="primary", elem_id="compare-run", scale=0, min_width=140)
    with gr.Row():
        player_a = gr.Audio(label=t("compare.a"), interactive=False, elem_id="compare-player-a")
        player_b = gr.Audio(label=t("compare.b"), interactive=False, elem_id="compare-player-b")
    compare_figure = gr.Image(label=t("compare.figure"), interactive=False, type="pil", elem_id="compare-figure")
    measures = gr.Dataframe(
        headers=[say("en", "col.measure"), "A", "B", say("en", "col.better")],
        label=t("compare.measures"),
        interactive=False,
        elem_id="compare-measures",
    )
    with gr.Row(equal_height=True):
        export = gr.Button(t("history.export"), elem_id="history-export", scale=1)
        export_file = gr.File(
            label=t("history.export_file"), interactive=False, elem_id="history-export-file", height=90, scale=2
        )

    page = HistoryPage(table, tree, gallery, pick, take_a, take_b)

    @guarded
    def show_take(workspace, lang, take):
        if not take:
            return None, None, None, None, ""
        history = studio.history(workspace)
        record = history.get(take)
        return (
            take_audio(history, record),
            take_image(history, record),
            take_json(history, record),
            record.rating,
            record.note,
        )

    pick.change(
        show_take, [ws, lang, pick], [player, figure, info, rating, note], api_name="take", concurrency_id=TOOLS_QUEUE
    )

    def select_from_gallery(workspace: str, evt: gr.SelectData):
        takes = list(reversed(studio.history(workspace).takes()))
        return takes[evt.index].id if 0 <= evt.index < len(takes) else gr.update()

    gallery.select(select_from_gallery, [ws], [pick], api_name="gallery_select", api_visibility="private")

    @guarded
    def rate_take(workspace, lang, take, rating, note):
        history = studio.history(workspace)
        record = history.rate(_take(history, take, lang).id, int(rating) if rating else None, note)
        gr.Info(say(lang, "msg.rated", take=record.id))
        return take_json(history, record)

    @guarded
    def branch_take(workspace, lang, take):
        history = studio.history(workspace)
        record = history.branch(_take(history, take, lang).id)
        gr.Info(say(lang, "msg.branched", take=record.id))
        return take_json(history, record)

    @guarded
    def delete_take(workspace, lang, take):
        history = studio.history(workspace)
        gone = _take(history, take, lang)
        current = history.delete(gone.id)
        gr.Info(say(lang, "msg.deleted", take=gone.id))
        return take_json(history, current) if current else {"workspace": history.workspace, "current": None}

    @guarded
    def transcribe_take(workspace, lang, take):
        history = studio.history(workspace)
        record = _take(history, take, lang)
        text = studio.transcribe(history.audio(record.id), studio.preferences(history))
        return take_json(history, history.set_transcript(record.id, text))

    @guarded
    def compare_takes(workspace, lang, take_a, take_b, progress=PROGRESS):
        history = studio.history(workspace)
        if not take_a or not take_b:
            raise BadInput(say(lang, "msg.pick_two"), param="take")
        a, b = history.get(take_a), history.get(take_b)
        clip_a, clip_b = history.audio(a.id), history.audio(b.id)
        progress(0.1, desc=say(lang, "compare.figure"))
        figure = plots.compare_image(clip_a, clip_b, f"A: {a.id} {a.operation}", f"B: {b.id} {b.operation}")
        progress(0.4, desc=say(lang, "compare.measures"))
        rows = measure_rows(studio, history, (a, clip_a), (b, clip_b), lang)
        headers = [say(lang, "col.measure"), f"A · {a.id}", f"B · {b.id}", say(lang, "col.better")]
        return take_audio(history, a), take_audio(history, b), figure, pd.DataFrame(rows, columns=headers)

    rated = rate.click(rate_take, [ws, lang, pick, rating, note], [info], api_name="rate", concurrency_id=TOOLS_QUEUE)
    branched = branch.click(branch_take, [ws, lang, pick], [info], api_name="branch", concurrency_id=TOOLS_QUEUE)
    deleted = delete.click(delete_take, [ws, lang, pick], [info], api_name="delete_take", concurrency_id=TOOLS_QUEUE)
    heard = transcribe.click(
        transcribe_take, [ws, lang, pick], [info], api_name="transcribe_take", concurrency_id="asr"
    )
    compare.click(
        compare_takes,
        [ws, lang, take_a, take_b],
        [player_a, player_b, compare_figure, measures],
        api_name="compare",
        concurrency_id="measure",
        concurrency_limit=1,
    )

    @guarded
    def export_zip(workspace, lang) -> str:
        history = studio.history(workspace)
        return str(history.export_zip(studio.export_dir, studio.preferences(history).output_format))

    export.click(export_zip, [ws, lang], [export_file], api_name="export", concurrency_id=TOOLS_QUEUE)
    refreshed = refresh.click(lambda: None, None, None, api_name="refresh_history", api_visibility="private")
    return page, [rated, branched, deleted, heard, refreshed]


def measure_rows(
    studio: Studio, history: History, a: tuple[TakeRecord, Audio], b: tuple[TakeRecord, Audio], lang: str
) -> list[list]:
    """Duration, loudness, DNSMOS, pitch, A<->B speaker similarity, and each take's error rate against
    its own intended text (the transcript is kept with the take, so ASR runs once per take)."""
    transcriber = studio.transcriber(studio.preferences(history), lang)
    found = []
    for (take, clip), (other, _) in ((a, b), (b, a)):
        text = spoken_text(take.text)
        transcript = take.transcript
        if text and transcript is None and transcriber.available():
            transcript = transcriber.transcribe(clip).text.strip()
            history.set_transcript(take.id, transcript)
        # A take's file never changes under its id, so measures are kept for a re-compare (e.g. in 中文).
        found.append(
            _measures_cached(history.root / take.file, history.root / other.file, text or None, transcript, transcriber)
        )
    rows = []
    for key in dict.fromkeys([*found[0], *found[1]]):
        first = found[0].get(key) or found[1][key]
        label = say(lang, f"measure.{key}") if f"measure.{key}" in STRINGS else first.label
        better = say(lang, f"better.{first.better}") if first.better else ""
        rows.append([label, _value(found[0].get(key)), _value(found[1].get(key)), better])
    return rows


@lru_cache(maxsize=64)
def _measures_cached(path: Path, other_path: Path, text: str | None, transcript: str | None, transcriber) -> dict:
    return measure(audio_io.read(path), reference=audio_io.read(other_path), text=text, transcript=transcript,
                   transcriber=transcriber)  # fmt: skip


def _value(m: Measure | None) -> str:
    if m is None or not math.isfinite(m.value):
        return "–"
    return f"{m.value:g} {m.unit}".strip()
