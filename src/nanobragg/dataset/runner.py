"""Render the missing chunks of a data set, here (one after another) or as tasks.

:func:`render_chunk` is the unit of work: it renders one chunk, writes its file and
returns the chunk's record; the caller (this process or the Dask driver) then marks the
chunk done. It never rewrites a chunk file that is already complete.
"""

from __future__ import annotations

from collections.abc import Callable
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
    out = Path(out)
    path = chunk_path(out, chunk)
    fingerprint = desc.fingerprint()
    shots = read_records(path, fingerprint) if path.exists() else None
    if shots is None or [s["index"] for s in shots] != list(chunk.indices):
        rendered = render_shots(desc, list(chunk.indices))
        shots = shot_records(rendered, desc.seed)
        write_chunk(path, rendered, shots, fingerprint)
    return chunk_record(out, chunk, shots)


def run_local(desc: DatasetDescription, out: str | Path,
              progress: Progress | None = None) -> dict:
    """Render every missing chunk in this process; returns the manifest."""
    out = Path(out)
    open_output(desc, out)
    for chunk in pending(desc, out):
        record = render_chunk(desc, chunk, out)
        mark_done(out, chunk, record)
        if progress is not None:
            progress(chunk, record)
    return write_manifest(desc, out)
