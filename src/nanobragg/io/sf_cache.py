"""A per-user cache of computed structure-factor tables, keyed by file content and settings.

Files live in ``$NANOBRAGG_CACHE_DIR/structure_factors`` (default
``$XDG_CACHE_HOME/nanobragg`` or ``~/.cache/nanobragg``, the folder of the compiled
kernel). A cached table is used only when the file belongs to the current user and no
one else may write it (nor its folder); anything else, or a damaged file, is ignored and
recomputed. Writing is best effort: a cache that cannot be written never fails a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from nanobragg.io.reflections import ReflectionList

log = logging.getLogger(__name__)

#: Bumped whenever the computation changes what a key means.
FORMAT = 1


def cache_folder() -> Path:
    """Folder of the cached tables."""
    env = os.environ.get("NANOBRAGG_CACHE_DIR")
    if env:
        return Path(env) / "structure_factors"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nanobragg" / "structure_factors"


def cache_key(digest: str, settings: dict) -> str:
    """File name part from the model file's SHA-256 and the settings (JSON-able)."""
    text = json.dumps({"format": FORMAT, "file": digest, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _trusted(path: Path) -> bool:
    """Owned by this user and not writable by group or others (file and folder)."""
    try:
        for item in (path, path.parent):
            info = os.stat(item)
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
    except OSError:
        return False
    return True


def load(key: str) -> ReflectionList | None:
    """The cached reflections of ``key``, or None (absent, untrusted or damaged)."""
    path = cache_folder() / f"sf-{key}.npz"
    if not path.is_file() or not _trusted(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            hkl, F = np.array(data["hkl"], dtype=np.int64), np.array(data["F"], np.float64)
        return ReflectionList(hkl, F)
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring damaged structure-factor cache %s (%s)", path, err)
        return None


def store(key: str, reflections: ReflectionList) -> None:
    """Save ``reflections`` under ``key`` (mode 0600, renamed into place; errors logged)."""
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".sf-", suffix=".npz.tmp", dir=folder)
    except OSError as err:
        log.info("structure-factor cache not written (%s)", err)
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, hkl=reflections.hkl, F=reflections.F)
        os.chmod(tmp, 0o600)
        os.replace(tmp, folder / f"sf-{key}.npz")
    except OSError as err:
        log.info("structure-factor cache not written (%s)", err)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
