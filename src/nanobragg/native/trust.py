"""Whether a cached compiled library may be loaded: only one we could have written.

A library loaded with ctypes runs with the user's rights, so the cache file and its
folder must belong to the current user and be writable by nobody else (no group or other
write bit, the file not a symlink). Otherwise the kernel is built in a fresh private
temporary folder (mode 0700) for this process, and the reason is said once on stderr.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def untrusted_reason(path: Path) -> str | None:
    """Why ``path`` (a cache folder or a file in it) must not be used, None if it may.

    A path that does not exist is fine (it will be created by us).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symlink"
    if info.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def safe_library_path(path: Path) -> Path:
    """``path`` when its folder and file may be trusted (the folder is created private
    when missing), else the same name in this process's private build folder."""
    folder = path.parent
    reason = untrusted_reason(folder)
    if reason is None and not folder.exists():
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            reason = f"{folder}: cannot create: {exc.strerror or exc}"
        else:
            reason = untrusted_reason(folder)
    if reason is None:
        reason = untrusted_reason(path)
    if reason is None:
        return path
    private = _private_folder()
    _say_once(folder, reason, private)
    return private / path.name


@functools.cache
def _private_folder() -> Path:
    """A fresh folder only this user can enter, removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="nanobragg-kernel-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def _say_once(folder: Path, reason: str, private: Path) -> None:
    log.warning("nanobragg: not loading compiled kernels from %s (%s); building them "
                "privately in %s", folder, reason, private)
