"""Path checks shared by the readers and writers: name lengths, standard streams and
the names of temporary files.

* A name component longer than the file system allows (255 bytes on Linux) is an
  InputError naming the flag, before anything is opened.
* ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` and ``/proc/self/fd/N`` are the
  process's own descriptors: writing them goes through that descriptor (a pipe, a
  terminal, or a file the shell redirected, which is then appended to, not replaced).
* Temporary files are ``.<name>.<pid>.nbtmp`` next to the target; when that would be
  longer than the limit, the name is cut and a hash of the full name keeps it unique.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from nanobragg.errors import InputError

TEMP_SUFFIX = ".nbtmp"
#: the longest name component Linux file systems take (bytes); PATH_MAX is 4096
NAME_MAX = 255
PATH_MAX = 4096
#: our temporary names: a dot, the (possibly cut) target name, the pid, the suffix
TEMP_PATTERN = re.compile(r"\..+\.(\d+)" + re.escape(TEMP_SUFFIX))

_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH = re.compile(r"/(?:dev|proc/self)/fd/(\d+)")


def check_name_length(flag: str, path: str | os.PathLike[str]) -> None:
    """InputError ``"<flag>: ... is longer than 255 characters"`` for a too-long name."""
    raw = os.fsencode(path)
    if len(raw) >= PATH_MAX:
        raise InputError(f"{flag}: the path is {len(raw)} characters long; the limit is "
                         f"{PATH_MAX - 1}")
    for part in raw.split(b"/"):
        if len(part) > NAME_MAX:
            shown = os.fsdecode(part[:24])
            raise InputError(f"{flag}: the file name '{shown}...' is {len(part)} characters "
                             f"long; the limit is {NAME_MAX}")


def stream_descriptor(path: str | os.PathLike[str]) -> int | None:
    """The descriptor that ``path`` names (``/dev/stdout`` -> 1, ``/dev/fd/63`` -> 63)."""
    text = os.path.normpath(os.fspath(path))
    if text in _STREAMS:
        return _STREAMS[text]
    match = _FD_PATH.fullmatch(text)
    return int(match.group(1)) if match else None


def temp_name(target: Path) -> str:
    """Name of this process's temporary file for ``target`` (fits in NAME_MAX)."""
    tail = f".{os.getpid()}{TEMP_SUFFIX}"
    name = f".{target.name}{tail}"
    if len(os.fsencode(name)) <= NAME_MAX:
        return name
    digest = hashlib.sha256(os.fsencode(target.name)).hexdigest()[:16]
    room = NAME_MAX - len(tail) - len(digest) - 2
    short = os.fsencode(target.name)[:room].decode("utf-8", "ignore")
    return f".{short}~{digest}{tail}"
