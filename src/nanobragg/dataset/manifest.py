"""The output folder's bookkeeping: what the data set is and which chunks are done.

``DIR/dataset.json`` (written once) fixes the data set: fingerprint, shot count, shots
per file and the description. A chunk counts as done when its record
``DIR/records/<chunk>.json`` exists; the record is written (atomically) only after the
chunk file is in place, so a half-written chunk is never counted. ``DIR/manifest.json``
gathers every record and the missing shots; it is rewritten at the end of each run.
A chunk file that is in place without a record (the driver stopped in between) is
adopted from the records stored inside it, never rendered again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io._atomic import atomic_write
from .description import DatasetDescription
from .storage import FORMAT, TEMP_PREFIX, file_sha256, read_records


@dataclass(frozen=True)
class Chunk:
    """A chunk of consecutive shots: one file, one task.

    Attributes:
        number: chunk number; indices: its shots.
    """

    number: int
    indices: tuple[int, ...]

    @property
    def name(self) -> str:
        """File stem, e.g. ``shots_000003``."""
        return f"shots_{self.number:06d}"


def plan(desc: DatasetDescription) -> list[Chunk]:
    """Chunk ``k`` holds shots ``k*shots_per_file`` up to the next chunk or the end."""
    size = desc.shots_per_file
    return [Chunk(k, tuple(range(k * size, min((k + 1) * size, desc.shots))))
            for k in range((desc.shots + size - 1) // size)]


def _write_json(path: Path, data: Any, what: str) -> None:
    text = json.dumps(data, sort_keys=True, indent=1, default=repr) + "\n"
    atomic_write(path, [text.encode()], what)


def open_output(desc: DatasetDescription, out: Path) -> None:
    """Create ``out`` for this data set, or check that it holds this data set.

    Removes temporary files left by a killed run.

    Raises:
        InputError: ``out`` is not a folder or holds another data set.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}': exists and is not a folder")
    (out / "records").mkdir(parents=True, exist_ok=True)
    header = out / "dataset.json"
    mine = {"format": FORMAT, "fingerprint": desc.fingerprint(), "shots": desc.shots,
            "shots_per_file": desc.shots_per_file, "description": desc.document,
            "config": desc.config.to_dict()}
    if header.exists():
        theirs = _read_json(header)
        if theirs.get("fingerprint") != mine["fingerprint"]:
            raise InputError(f"--out '{out}': holds a different data set "
                             f"(another description or seed)")
        if theirs.get("shots") != desc.shots:
            raise InputError(f"--shots: '{out}' holds a data set of {theirs.get('shots')} "
                             f"shots (got {desc.shots})")
    else:
        _write_json(header, mine, "data-set header")
    for pattern in (f"{TEMP_PREFIX}*", ".*.tmp", "records/.*.tmp"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"'{path}': cannot read: {exc}") from exc


def record_path(out: Path, chunk: Chunk) -> Path:
    """Where the record of a done chunk lives."""
    return out / "records" / f"{chunk.name}.json"


def chunk_path(out: Path, chunk: Chunk) -> Path:
    """Where a chunk file lives."""
    return out / f"{chunk.name}.h5"


def chunk_record(out: Path, chunk: Chunk, shots: list[dict]) -> dict:
    """The record of a chunk whose file is in place."""
    path = chunk_path(out, chunk)
    return {"chunk": chunk.number, "file": path.name, "sha256": file_sha256(path),
            "bytes": path.stat().st_size, "shots": shots}


def mark_done(out: Path, chunk: Chunk, record: dict) -> None:
    """Count a chunk as done (atomic: its record appears whole or not at all)."""
    _write_json(record_path(out, chunk), record, "chunk record")


def pending(desc: DatasetDescription, out: Path) -> list[Chunk]:
    """Chunks still to render; adopts complete chunk files that lack a record."""
    todo = []
    fingerprint = desc.fingerprint()
    for chunk in plan(desc):
        if record_path(out, chunk).exists():
            continue
        path = chunk_path(out, chunk)
        shots = read_records(path, fingerprint) if path.exists() else None
        if shots is not None and [s["index"] for s in shots] == list(chunk.indices):
            mark_done(out, chunk, chunk_record(out, chunk, shots))
        else:
            todo.append(chunk)
    return todo


def write_manifest(desc: DatasetDescription, out: Path) -> dict:
    """Gather the records into ``manifest.json``; returns it."""
    chunks, missing = [], []
    for chunk in plan(desc):
        path = record_path(out, chunk)
        if path.exists():
            chunks.append(_read_json(path))
        else:
            missing.extend(chunk.indices)
    manifest = {"format": FORMAT, "fingerprint": desc.fingerprint(), "shots": desc.shots,
                "done": sum(len(c["shots"]) for c in chunks), "missing": missing,
                "chunks": chunks}
    _write_json(out / "manifest.json", manifest, "manifest")
    return manifest
