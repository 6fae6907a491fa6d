"""The history store on real recordings: persistence, atomic writes, the edit tree, export."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import zipfile

import numpy as np
import pytest
import soundfile as sf

from studio import audio
from studio.errors import BadInput, NotFound
from studio.history import History, check_workspace_id, new_workspace_id


@pytest.fixture(scope="module")
def speech(examples) -> tuple[audio.Audio, str]:
    rec = examples["zero_shot_en_prompt"]
    return audio.read(rec.path), rec.text


@pytest.fixture
def history(tmp_path) -> History:
    return History(tmp_path, new_workspace_id())


def test_takes_survive_a_new_store_object(tmp_path, speech):
    clip, text = speech
    first = History(tmp_path, "workspace-one")
    root = first.add(clip, "upload", text=text, params={"source": "upload"})
    edit = first.add(clip.with_samples(clip.samples * 0.5), "emotion", parent=root.id, text=text, timings={"llm": 1.5})

    again = History(tmp_path, "workspace-one")  # what a server restart does
    assert [t.id for t in again.takes()] == [root.id, edit.id]
    assert again.current().id == edit.id
    assert again.get(edit.id).parent == root.id
    assert again.get(edit.id).timings == {"llm": 1.5}
    assert again.get(root.id).params == {"source": "upload"}
    back = again.audio(root.id)
    assert back.sr == clip.sr and len(back.samples) == len(clip.samples)
    assert np.max(np.abs(back.samples - clip.samples)) < 1e-4  # 16-bit WAV
    assert again.get(root.id).duration == pytest.approx(clip.duration, abs=1e-3)


def test_workspaces_are_separate_and_ids_are_checked(tmp_path, speech):
    clip, text = speech
    History(tmp_path, "workspace-one").add(clip, "upload", text=text)
    assert History(tmp_path, "workspace-two").takes() == []
    for bad in ("", "short", "../../etc", "a/b/c/d/e/f", "x" * 65):
        with pytest.raises(BadInput):
            check_workspace_id(bad)
    assert check_workspace_id(" " + new_workspace_id() + " ")


def test_a_crash_while_writing_leaves_the_previous_manifest(history, speech, monkeypatch):
    clip, text = speech
    kept = history.add(clip, "upload", text=text)
    before = (history.root / "manifest.json").read_bytes()

    real_replace = os.replace

    def crash_on_manifest(src, dst):
        if str(dst).endswith("manifest.json"):
            raise OSError("disk went away")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="disk went away"):
        history.add(clip, "emotion", parent=kept.id, text=text)
    monkeypatch.undo()

    assert (history.root / "manifest.json").read_bytes() == before
    assert [t.id for t in history.takes()] == [kept.id]
    assert not list(history.root.rglob("*.part")), "temporary files must be cleaned up"
    # The store keeps working after the failed request and does not reuse the lost id's audio.
    after = history.add(clip, "emotion", parent=kept.id, text=text)
    assert sf.info(history.path(after.id)).frames == len(clip.samples)


def test_branch_delete_and_the_current_take(history, speech):
    clip, text = speech
    root = history.add(clip, "upload", text=text)
    a = history.add(clip, "emotion", parent=root.id, text=text)
    b = history.add(clip, "style", parent=a.id, text=text)
    assert history.current().id == b.id

    history.branch(root.id)
    assert history.current().id == root.id
    c = history.add(clip, "speed", parent=history.current().id, text=text)
    assert [t.id for t in history.children(root.id)] == [a.id, c.id]

    # Deleting a middle take keeps its child, now hanging from the deleted take's parent.
    history.delete(a.id)
    assert history.get(b.id).parent == root.id
    assert not (history.root / f"takes/{a.id}.wav").exists()
    with pytest.raises(NotFound):
        history.get(a.id)

    # Deleting the current take makes its parent current; ids are never reused.
    assert history.delete(c.id).id == root.id
    assert history.add(clip, "vad", parent=root.id).id == "t5"
    with pytest.raises(NotFound):
        history.branch("t99")
    with pytest.raises(NotFound):
        history.add(clip, "vad", parent="t99")


def test_uploading_the_same_audio_twice_reuses_its_take(history, speech):
    clip, text = speech
    first = history.add(clip, "upload", text=text, reuse=True)
    history.add(clip, "emotion", parent=first.id)
    again = history.add(clip, "upload", text=text, reuse=True)
    assert again.id == first.id and history.current().id == first.id
    assert len(history.takes()) == 2


def test_ratings_notes_transcripts_and_preferences(history, speech):
    clip, text = speech
    take = history.add(clip, "upload", text=text)
    history.rate(take.id, 4, "  clear, a little fast ")
    history.set_transcript(take.id, "heard words")
    got = history.get(take.id)
    assert (got.rating, got.note, got.transcript) == (4, "clear, a little fast", "heard words")
    with pytest.raises(BadInput):
        history.rate(take.id, 6)
    history.set_preferences({"passes": 2})
    history.set_preferences({"seed": 7})
    assert history.preferences() == {"passes": 2, "seed": 7}


def test_concurrent_requests_get_distinct_takes(history, speech):
    clip, _ = speech
    short = audio.trim(clip, 0, 1.0)
    threads = [threading.Thread(target=history.add, args=(short, "tool-speed")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [t.id for t in history.takes()]
    assert sorted(ids) == sorted(f"t{i}" for i in range(1, 9))


def test_zip_export_holds_audio_manifest_tree_and_ratings(history, speech, tmp_path):
    clip, text = speech
    root = history.add(clip, "upload", text=text)
    edit = history.add(audio.trim(clip, 0, 2.0), "emotion", parent=root.id, text=text, params={"edit_info": "happy"})
    history.rate(edit.id, 5, "best one")

    path = history.export_zip(tmp_path / "exports", fmt="flac")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert names == {"manifest.json", "ratings.csv", "audio/t1-upload.flac", "audio/t2-emotion.flac"}
        manifest = json.loads(archive.read("manifest.json"))
        rows = list(csv.DictReader(io.StringIO(archive.read("ratings.csv").decode())))
        exported, sr = sf.read(io.BytesIO(archive.read("audio/t2-emotion.flac")))
    assert manifest["current"] == edit.id
    assert manifest["tree"] == [
        {"id": root.id, "operation": "upload", "children": [{"id": edit.id, "operation": "emotion", "children": []}]}
    ]
    assert manifest["takes"][1]["params"] == {"edit_info": "happy"}
    assert manifest["takes"][1]["file"] == "audio/t2-emotion.flac"
    assert [(r["take"], r["rating"], r["note"]) for r in rows] == [(root.id, "", ""), (edit.id, "5", "best one")]
    assert sr == clip.sr and abs(len(exported) / sr - 2.0) < 1e-3

    with pytest.raises(BadInput):
        History(tmp_path, new_workspace_id()).export_zip(tmp_path)
