"""HDF5 chunk files: one file per chunk of shots, written whole or not at all.

A chunk file holds ``images`` (shots, slow, fast) in the working dtype, ``counts``
(uint32, with Poisson noise; float32 detector frames in ADU with a ``detector``
section), ``index`` (the shot numbers), one ``labels/<name>``
dataset per shot parameter, and as attributes the data set's ``fingerprint`` and
``records`` (JSON: per shot its index, seed, checksum and status). Datasets are
gzip-compressed with the shuffle filter and carry no timestamps, so the same shots give
the same bytes wherever they are written. A file is written under a temporary name in
the same folder and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io._atomic import _umask
from .render import RenderedShots

FORMAT = "nanobragg-dataset 1"
#: Temporary chunk files start with this (a run removes the ones a killed run left).
TEMP_PREFIX = ".partial-"


def h5py_module():
    """h5py, or InputError naming the extra that provides it."""
    try:
        import h5py
    except ImportError as exc:
        raise InputError("HDF5 output needs h5py: pip install nanobragg[dataset]") from exc
    return h5py


def shot_checksum(image: np.ndarray, counts: np.ndarray | None) -> str:
    """SHA-256 (hex) of a shot's image bytes and its counts (little-endian, C order)."""
    digest = hashlib.sha256(_little_endian(image))
    if counts is not None:
        digest.update(_little_endian(counts))
    return digest.hexdigest()


def _little_endian(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def shot_records(shots: RenderedShots, seed: int) -> list[dict[str, Any]]:
    """The manifest entry of every shot."""
    out = []
    for k, params in enumerate(shots.params):
        counts = None if shots.counts is None else shots.counts[k]
        out.append({"index": params.index, "seed": seed, "status": "done",
                    "checksum": shot_checksum(shots.images[k], counts),
                    "params": params.labels()})
    return out


def write_chunk(path: Path, shots: RenderedShots, records: list[dict], fingerprint: str
                ) -> None:
    """Write a chunk file atomically (temporary file in the same folder, then rename).

    The chunk cache is off (``rdcc_nbytes=0``) so every chunk is written, and its file
    space taken, when its dataset is written: with a cache, chunks are placed when the
    dataset objects are released, and a worker that holds references longer (Dask's
    profiler does) writes the same shots to different bytes.
    """
    h5py = h5py_module()
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", rdcc_nbytes=0) as handle:
            _fill(handle, shots, records, fingerprint)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fill(handle, shots: RenderedShots, records: list[dict], fingerprint: str) -> None:
    options = {"compression": "gzip", "compression_opts": 4, "shuffle": True,
               "track_times": False}
    frame = (1,) + shots.images.shape[1:]
    handle.create_dataset("images", data=shots.images, chunks=frame, **options)
    if shots.counts is not None:
        handle.create_dataset("counts", data=shots.counts, chunks=frame, **options)
    handle.create_dataset("index", data=np.asarray(shots.indices, dtype=np.int64),
                          track_times=False)
    labels = handle.create_group("labels")
    for name in records[0]["params"]:
        values = np.asarray([r["params"][name] for r in records], dtype=np.float64)
        labels.create_dataset(name, data=values, track_times=False)
    handle.attrs["format"] = FORMAT
    handle.attrs["fingerprint"] = fingerprint
    handle.attrs["records"] = json.dumps(records, sort_keys=True)


def read_records(path: Path, fingerprint: str) -> list[dict] | None:
    """The shot records of a complete chunk file of this data set, else None."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("fingerprint") != fingerprint:
                return None
            return json.loads(handle.attrs["records"])
    except (OSError, KeyError, ValueError):
        return None


def read_chunk(path: str | Path) -> dict[str, Any]:
    """Everything in a chunk file as numpy arrays: ``images``, ``index``, ``labels``
    (dict), ``counts`` (or None) and ``records``."""
    h5py = h5py_module()
    with h5py.File(path, "r") as handle:
        return {
            "images": handle["images"][()], "index": handle["index"][()],
            "counts": handle["counts"][()] if "counts" in handle else None,
            "labels": {name: ds[()] for name, ds in handle["labels"].items()},
            "records": json.loads(handle.attrs["records"]),
        }


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
