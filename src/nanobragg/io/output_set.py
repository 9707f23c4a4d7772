"""All output files of one run, reserved before the render and committed together.

Usage::

    with OutputSet() as files:
        files.reserve("-floatfile", path)       # before the render: checks the path
        ...                                     # render
        files.write("-floatfile", writer)       # writer(temp_path) writes the whole file
        files.commit()                          # every file appears, or none does

``reserve`` fails (InputError naming the flag) for a folder, a missing folder, a path
that cannot be created, or a path another output of the run already uses. A regular
target gets an empty temporary file next to it at once, so a path that cannot be
written is found before the render. ``write`` takes any callable that writes a complete
file at the path it is given, so every format (whatever library it uses) fits.
``commit`` first fills the special files (FIFO, device, ``/dev/stdout``: written in
place, never renamed), then renames the temporary files over the regular targets, so
that a special file that cannot take its data (``/dev/full``) leaves no regular output
behind. Special files may be named twice (``/dev/null``), regular ones not. Leaving
the ``with`` block without ``commit`` (an error, Ctrl-C) removes every temporary file
and leaves the targets as they were.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nanobragg.errors import InputError
from nanobragg.io._atomic import (
    TEMP_SUFFIX,
    copy_into,
    create_temp,
    finish_temp,
    resolve_target,
    unlink_quietly,
)
from nanobragg.io.paths import check_name_length

Writer = Callable[[Path], None]


@dataclass
class _Entry:
    flag: str
    path: Path
    target: Path
    special: bool
    temp: Path | None = None
    written: bool = False


class OutputSet:
    """The files one run writes (see the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, *_exc) -> None:
        self.discard()

    def reserve(self, flag: str, path: str | os.PathLike[str]) -> None:
        """Check ``path`` for output ``flag`` now, before anything is rendered.

        Raises:
            InputError: the path cannot take the output (message names flag and path).
        """
        path = Path(path)
        check_name_length(flag, path)
        if _is_dir(flag, path):
            raise InputError(f"{flag}: '{path}' is a folder, not a file")
        target, special = resolve_target(path)
        for other in self._entries.values():
            if other.target == target and not (special and other.special):
                raise InputError(f"{flag}: '{path}' is also the output of {other.flag}")
        if not special and not _is_dir(flag, target.parent):
            raise InputError(f"{flag}: folder of '{path}' does not exist")
        entry = _Entry(flag, path, target, special)
        if not special:
            entry.temp = create_temp(target, flag, path)
        self._entries[flag] = entry

    def write(self, flag: str, writer: Writer) -> None:
        """Write the reserved output ``flag`` to its temporary file with ``writer``.

        Raises:
            InputError: the writer failed with an OS error (disk full, ...).
        """
        entry = self._entries[flag]
        if entry.special:
            fd, name = tempfile.mkstemp(prefix=".nanobragg.", suffix=TEMP_SUFFIX)
            os.close(fd)
            entry.temp = Path(name)
        try:
            writer(entry.temp)
        except OSError as exc:
            raise InputError(f"{flag} '{entry.path}': cannot write: "
                             f"{exc.strerror or exc}") from exc
        entry.written = True

    def commit(self) -> None:
        """Put every written output in place (special files first, then the renames of
        the regular ones); reserved but unwritten ones are dropped.

        Ctrl-C is ignored during the few renames, so they happen all or none.

        Raises:
            InputError: a rename or an in-place write failed.
        """
        written = [e for e in self._entries.values() if e.written]
        with _sigint_held():
            for entry in written:
                if entry.special:
                    self._finish(entry, copy_into)
            for entry in written:
                if not entry.special:
                    self._finish(entry, finish_temp)
        self.discard()

    def _finish(self, entry: _Entry, action: Callable[[Path, Path], None]) -> None:
        try:
            action(entry.temp, entry.target)
        except OSError as exc:
            raise InputError(f"{entry.flag} '{entry.path}': cannot write: "
                             f"{exc.strerror or exc}") from exc
        if not entry.special:
            entry.temp = None

    def discard(self) -> None:
        """Remove every temporary file still there; targets are left as they were."""
        for entry in self._entries.values():
            unlink_quietly(entry.temp)
            entry.temp = None
        self._entries.clear()


def _is_dir(flag: str, path: Path) -> bool:
    """``path.is_dir()``; an OS error (a name too long, no permission) names the flag."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return False
        raise InputError(f"{flag} '{path}': {exc.strerror or exc}") from exc


class _sigint_held:
    """Context that ignores SIGINT (main thread only): the renames are the point of no
    return, so a Ctrl-C there lets the run finish."""

    def __enter__(self) -> None:
        self._active = threading.current_thread() is threading.main_thread()
        if self._active:
            self._previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *_exc) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)
