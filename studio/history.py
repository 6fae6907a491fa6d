"""Every take a person makes, kept on disk per workspace: the audio as WAV plus one JSON manifest.

    <workspace_dir>/<workspace id>/manifest.json      takes, the edit tree, ratings, the current take
                                  /takes/<take id>.wav

A take's audio is written before the manifest that names it, and every file is replaced atomically,
so a request that dies half way leaves at worst an unreferenced WAV, never a manifest that points at
missing audio or a half-written manifest. A new `History` object reads the same files: takes survive
a page reload and a server restart.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from studio import audio as audio_io
from studio.audio import Audio
from studio.errors import BadInput, NotFound

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
WORKSPACE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
RATINGS = range(1, 6)

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per workspace folder, shared by every History object on it in this process."""
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


def new_workspace_id() -> str:
    return uuid.uuid4().hex


def check_workspace_id(workspace: str) -> str:
    workspace = (workspace or "").strip()
    if not WORKSPACE_ID.match(workspace):
        raise BadInput(
            "A workspace id is 8 to 64 letters, digits, '-' or '_' "
            f"(got {workspace[:80]!r}); leave it empty to start a new workspace.",
            param="workspace",
        )
    return workspace


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step: readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class TakeRecord:
    """One take: what made it (operation, parameters, parent) and what people said about it."""

    id: str
    operation: str  # upload, prompt, clone, emotion, style, paralinguistic, speed, denoise, vad, tool-*
    parent: str | None
    text: str  # what the take is meant to say
    duration: float
    sample_rate: int
    created: float
    params: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    transcript: str | None = None  # what ASR heard in it
    rating: int | None = None
    note: str = ""
    sha256: str = ""

    @property
    def file(self) -> str:
        return f"takes/{self.id}.wav"

    def to_dict(self) -> dict:
        return {**asdict(self), "file": self.file}

    @classmethod
    def from_dict(cls, data: dict) -> TakeRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class History:
    """The takes of one workspace. Cheap to create: every call reads the manifest from disk."""

    def __init__(self, workspace_dir: Path, workspace: str) -> None:
        self.workspace = check_workspace_id(workspace)
        self.root = Path(workspace_dir) / self.workspace
        self._lock = _lock_for(self.root)

    # --- reading -----------------------------------------------------------------------------

    def _read(self) -> dict:
        path = self.root / MANIFEST
        if not path.is_file():
            return {"version": FORMAT_VERSION, "workspace": self.workspace, "next": 1, "current": None, "takes": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def _write(self, manifest: dict) -> None:
        manifest["updated"] = time.time()
        write_atomic(self.root / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))

    def takes(self) -> list[TakeRecord]:
        """All takes, oldest first."""
        return [TakeRecord.from_dict(t) for t in self._read()["takes"]]

    def get(self, take_id: str) -> TakeRecord:
        for take in self.takes():
            if take.id == take_id:
                return take
        raise NotFound(f"Take {take_id!r} is not in this workspace (it may have been deleted).", param="take")

    def current(self) -> TakeRecord | None:
        manifest = self._read()
        return next((TakeRecord.from_dict(t) for t in manifest["takes"] if t["id"] == manifest["current"]), None)

    def path(self, take_id: str) -> Path:
        return self.root / self.get(take_id).file

    def audio(self, take_id: str) -> Audio:
        return audio_io.read(self.path(take_id))

    def children(self, take_id: str) -> list[TakeRecord]:
        return [t for t in self.takes() if t.parent == take_id]

    def preferences(self) -> dict:
        return dict(self._read().get("preferences", {}))

    # --- writing -----------------------------------------------------------------------------

    def add(
        self,
        clip: Audio,
        operation: str,
        *,
        parent: str | None = None,
        text: str = "",
        params: dict | None = None,
        timings: dict[str, float] | None = None,
        transcript: str | None = None,
        reuse: bool = False,
    ) -> TakeRecord:
        """Store a new take and make it the current one.

        With `reuse`, audio identical to an existing take of the same operation returns that take
        (with the new text, when one is given) instead, so uploading the same recording twice does not
        fill the history with copies.
        """
        digest = audio_io.content_hash(clip)
        with self._lock:
            manifest = self._read()
            if reuse:
                for existing in manifest["takes"]:
                    if existing["sha256"] == digest and existing["operation"] == operation:
                        manifest["current"] = existing["id"]
                        existing["text"] = text or existing["text"]
                        self._write(manifest)
                        return TakeRecord.from_dict(existing)
            if parent is not None and all(t["id"] != parent for t in manifest["takes"]):
                raise NotFound(f"Parent take {parent!r} is not in this workspace.", param="parent")
            take = TakeRecord(
                id=f"t{manifest['next']}",
                operation=operation,
                parent=parent,
                text=text,
                duration=round(clip.duration, 3),
                sample_rate=clip.sr,
                created=time.time(),
                params=dict(params or {}),
                timings={k: round(v, 4) for k, v in (timings or {}).items()},
                transcript=transcript,
                sha256=digest,
            )
            write_atomic(self.root / take.file, audio_io.encode(clip, "wav"))
            manifest["next"] += 1
            manifest["takes"].append(take.to_dict())
            manifest["current"] = take.id
            self._write(manifest)
            return take

    def _update(self, take_id: str, **changes: object) -> TakeRecord:
        with self._lock:
            manifest = self._read()
            for entry in manifest["takes"]:
                if entry["id"] == take_id:
                    entry.update(changes)
                    self._write(manifest)
                    return TakeRecord.from_dict(entry)
        raise NotFound(f"Take {take_id!r} is not in this workspace (it may have been deleted).", param="take")

    def rate(self, take_id: str, rating: int | None, note: str = "") -> TakeRecord:
        if rating is not None and rating not in RATINGS:
            raise BadInput(f"A rating is 1 to 5 stars (got {rating}).", param="rating")
        return self._update(take_id, rating=rating, note=(note or "").strip())

    def set_transcript(self, take_id: str, transcript: str) -> TakeRecord:
        return self._update(take_id, transcript=transcript)

    def branch(self, take_id: str) -> TakeRecord:
        """Continue from `take_id`: it becomes the current take, the parent of the next edit."""
        with self._lock:
            manifest = self._read()
            if all(t["id"] != take_id for t in manifest["takes"]):
                raise NotFound(f"Take {take_id!r} is not in this workspace.", param="take")
            manifest["current"] = take_id
            self._write(manifest)
        return self.get(take_id)

    def delete(self, take_id: str) -> TakeRecord | None:
        """Remove one take. Its children stay and hang from its parent, so no later work is lost.

        When the current take goes, its parent (else the newest take left) becomes current.
        Returns the new current take.
        """
        with self._lock:
            manifest = self._read()
            gone = next((t for t in manifest["takes"] if t["id"] == take_id), None)
            if gone is None:
                raise NotFound(f"Take {take_id!r} is not in this workspace.", param="take")
            manifest["takes"] = [t for t in manifest["takes"] if t["id"] != take_id]
            for entry in manifest["takes"]:
                if entry["parent"] == take_id:
                    entry["parent"] = gone["parent"]
            if manifest["current"] == take_id:
                ids = [t["id"] for t in manifest["takes"]]
                manifest["current"] = gone["parent"] if gone["parent"] in ids else (ids[-1] if ids else None)
            self._write(manifest)
            (self.root / gone["file"]).unlink(missing_ok=True)
        return self.current()

    def set_preferences(self, preferences: dict) -> dict:
        with self._lock:
            manifest = self._read()
            manifest["preferences"] = {**manifest.get("preferences", {}), **preferences}
            self._write(manifest)
            return dict(manifest["preferences"])

    # --- export ------------------------------------------------------------------------------

    def tree(self) -> list[dict]:
        """The edit tree: roots (takes without a parent) with their children, nested."""
        takes = self.takes()
        nodes = {t.id: {"id": t.id, "operation": t.operation, "children": []} for t in takes}
        roots = []
        for take in takes:
            (nodes[take.parent]["children"] if take.parent in nodes else roots).append(nodes[take.id])
        return roots

    def export_zip(self, out_dir: Path, fmt: str = "wav") -> Path:
        """A ZIP with every take's audio, `manifest.json` (takes + edit tree) and `ratings.csv`."""
        takes = self.takes()
        if not takes:
            raise BadInput("This workspace has no takes to export yet.")
        audio_names = {t.id: f"audio/{t.id}-{t.operation}.{fmt}" for t in takes}
        manifest = {
            "workspace": self.workspace,
            "exported": time.time(),
            "current": (self.current() or takes[-1]).id,
            "takes": [{**t.to_dict(), "file": audio_names[t.id]} for t in takes],
            "tree": self.tree(),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for take in takes:
                clip = self.audio(take.id)
                archive.writestr(audio_names[take.id], audio_io.encode(clip, fmt))
            archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
            archive.writestr("ratings.csv", _ratings_csv(takes))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(out_dir) / f"studio-{self.workspace[:8]}-{stamp}.zip"
        write_atomic(path, buffer.getvalue())
        return path


def _ratings_csv(takes: list[TakeRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["take", "parent", "operation", "duration_s", "rating", "note", "text", "transcript"])
    for t in takes:
        writer.writerow(
            [t.id, t.parent or "", t.operation, t.duration, t.rating or "", t.note, t.text, t.transcript or ""]
        )
    return out.getvalue()
