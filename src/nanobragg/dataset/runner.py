"""Render the missing chunks of a data set, here (one after another) or as tasks.

:func:`render_chunk` is the unit of work: it renders one chunk, writes its file and
returns the chunk's record; the caller (this process or the Dask driver) then marks the
chunk done. It never rewrites a chunk file that is already complete. :func:`run_local`
writes each chunk on a writer thread while the next one renders (at most one chunk
waits to be written), so a GPU stays busy while HDF5 files are written.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .description import DatasetDescription
from .manifest import (
    Chunk,
    chunk_path,
    chunk_record,
    mark_done,
    open_output,
    pending,
    write_manifest,
)
from .render import render_shots
from .storage import read_records, shot_records, write_chunk

#: Called with (chunk, record) after each chunk is done.
Progress = Callable[[Chunk, dict], None]


def render_chunk(desc: DatasetDescription, chunk: Chunk, out: str | Path) -> dict:
    """Render one chunk into its file (unless a complete file is there); its record."""
    return _write(_render(desc, chunk, Path(out)))


def _render(desc: DatasetDescription, chunk: Chunk, out: Path) -> tuple:
    """The chunk's images and records (None where its complete file is already there)."""
    path = chunk_path(out, chunk)
    fingerprint = desc.fingerprint()
    shots = read_records(path, fingerprint) if path.exists() else None
    rendered = None
    if shots is None or [s["index"] for s in shots] != list(chunk.indices):
        rendered = render_shots(desc, list(chunk.indices))
        shots = shot_records(rendered, desc.seed)
    return out, chunk, path, rendered, shots, fingerprint


def _write(done: tuple) -> dict:
    """Writes a rendered chunk's file (if it was rendered); the chunk's record."""
    out, chunk, path, rendered, shots, fingerprint = done
    if rendered is not None:
        write_chunk(path, rendered, shots, fingerprint)
    return chunk_record(out, chunk, shots)


def run_local(desc: DatasetDescription, out: str | Path,
              progress: Progress | None = None) -> dict:
    """Render every missing chunk in this process, writing each one on a writer thread
    while the next renders; returns the manifest."""
    out = Path(out)
    open_output(desc, out)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanobragg-writer") as writer:
        waiting = None
        for chunk in pending(desc, out):
            rendered = _render(desc, chunk, out)
            if waiting is not None:
                _finish(out, *waiting, progress)
            waiting = (chunk, writer.submit(_write, rendered))
        if waiting is not None:
            _finish(out, *waiting, progress)
    return write_manifest(desc, out)


def _finish(out: Path, chunk: Chunk, written: Future, progress: Progress | None) -> None:
    """Waits for a chunk's file (raising what its writing raised) and marks it done."""
    record = written.result()
    mark_done(out, chunk, record)
    if progress is not None:
        progress(chunk, record)
