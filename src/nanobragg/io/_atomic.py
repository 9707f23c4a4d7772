"""Whole-file access for the readers and writers.

Reading raises InputError naming the file; writing is atomic (a temporary file next to
the target, then a rename).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from nanobragg.errors import InputError


def read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The whole file, or InputError ``"<what> '<path>': cannot read: <reason>"``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot read: {exc.strerror or exc}") from exc


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once; setting it back immediately)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], chunks: Iterable[bytes], what: str) -> None:
    """Write ``chunks`` to ``path`` so that a failure never leaves a partial file.

    The data go to a temporary file in the same folder, which is renamed over ``path``
    with ``os.replace`` only after every chunk was written. On any error the temporary
    file is removed and ``path`` is left as it was.

    Args:
        path: Destination file.
        chunks: Byte strings (or buffers) written in order.
        what: Kind of file for error messages, e.g. ``"SMV file"``.

    Raises:
        InputError: If the file cannot be created or written (message names the file).
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], what: str) -> Iterator[str]:
    """A temporary file name next to ``path`` that becomes ``path`` when the block succeeds.

    For writers that open the file themselves (HDF5). On any error the temporary file is
    removed and ``path`` is left as it was.

    Raises:
        InputError: If the file cannot be created or renamed (message names the file).
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
    try:
        yield tmp_name
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
        raise
