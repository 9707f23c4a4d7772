"""Whole-file access for the readers and writers.

Reading raises InputError naming the file. Writing never leaves a partial regular file:
the data go to a temporary file next to the target, renamed over it at the end. Special
files (a FIFO, a device such as ``/dev/null``) and the targets of symlinks are written in
place of the data, never replaced: a FIFO stays a FIFO, a symlink stays a symlink.

Temporary files are named ``.<target name>.<pid>.nbtmp`` (see :mod:`nanobragg.io.paths`);
every write into a folder first removes the folder's temporary files whose process no
longer runs (left by a killed run).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from nanobragg.errors import InputError
from nanobragg.io.paths import TEMP_PATTERN, TEMP_SUFFIX, stream_descriptor, temp_name

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write", "copy_into", "create_temp",
           "finish_temp", "read_bytes", "resolve_target", "unlink_quietly", "write_chunks"]


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


def resolve_target(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """Where writing ``path`` puts the data, and whether it is written in place.

    In place ("special"): anything that exists and is neither a regular file nor a
    directory (a FIFO, a device, a pipe behind ``/dev/stdout``), and the process's own
    descriptors (``/dev/stdout`` redirected to a file); those keep the name as given. A
    symlink to a regular file (or to nothing yet) is followed to its final target (the
    link itself stays).

    Returns:
        ``(target, special)``.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return path, True
    if stream_descriptor(path) is not None:
        return path, True
    target = Path(os.path.realpath(path)) if os.path.islink(path) else path
    return target, False


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds; 0 when unknown), None if it does not
    run. Read from ``/proc/PID/stat`` (start in clock ticks after boot) and the boot time
    in ``/proc/stat``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # runs, but belongs to someone else
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in
                    Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def _is_stale(folder: Path, name: str) -> bool:
    """A temporary file of ours whose process has ended (or is older than that process,
    whose pid was reused)."""
    match = TEMP_PATTERN.fullmatch(name)
    if match is None or int(match.group(1)) == os.getpid():
        return False
    try:
        info = os.lstat(folder / name)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return False
    started = _process_start(int(match.group(1)))
    return started is None or info.st_mtime < started - 2.0  # btime: whole seconds


def remove_stale_temps(folder: Path) -> None:
    """Delete the temporary files in ``folder`` left by runs that no longer exist."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.endswith(TEMP_SUFFIX) and _is_stale(folder, name):
            try:
                os.unlink(folder / name)
            except OSError:
                pass


def create_temp(target: Path, what: str, path: object) -> Path:
    """Create (empty) the temporary file of ``target`` in its folder; InputError if impossible.

    Args:
        target: Regular-file destination (after resolving symlinks).
        what: Kind of file for error messages.
        path: Name the user gave, for error messages.
    """
    remove_stale_temps(target.parent)
    temp = target.parent / temp_name(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{what} '{path}': written twice in one run") from None
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
    os.close(fd)
    return temp


def open_output(path: str | os.PathLike[str]):
    """``path`` opened for binary writing; a standard stream (``/dev/stdout``) through a
    copy of its descriptor, after Python's own buffer of it was flushed."""
    fd = stream_descriptor(path)
    if fd is None:
        return open(path, "wb")
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and stream.fileno() == fd:
                stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    return os.fdopen(os.dup(fd), "wb")


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` in order, in place (no temporary file, no rename)."""
    with open_output(path) as handle:
        for chunk in chunks:
            handle.write(chunk)


def copy_into(source: Path, target: Path) -> None:
    """Stream the bytes of ``source`` into the existing (special) file ``target``."""
    with open(source, "rb") as src, open_output(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def finish_temp(temp: Path, target: Path) -> None:
    """Give a finished temporary file the umask's mode and rename it over ``target``."""
    os.chmod(temp, 0o666 & ~_umask())
    os.replace(temp, target)


def unlink_quietly(path: Path | None) -> None:
    """Remove ``path`` if it exists; errors are ignored."""
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path: str | os.PathLike[str], chunks: Iterable[bytes], what: str) -> None:
    """Write ``chunks`` to ``path`` so that a failure never leaves a partial regular file.

    A regular (or new) file is written through a temporary file renamed over it only
    after every chunk was written; on any error the temporary file is removed and the
    old file is left as it was. A special file or symlink target is written in place.

    Args:
        path: Destination file.
        chunks: Byte strings (or buffers) written in order.
        what: Kind of file for error messages, e.g. ``"SMV file"``.

    Raises:
        InputError: If the file cannot be created or written (message names the file).
    """
    target, special = resolve_target(path)
    if special:
        try:
            write_chunks(target, chunks)
        except OSError as exc:
            raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
        return
    temp = create_temp(target, what, path)
    try:
        write_chunks(temp, chunks)
        finish_temp(temp, target)
    except BaseException as exc:
        unlink_quietly(temp)
        if isinstance(exc, OSError):
            raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], what: str) -> Iterator[str]:
    """A temporary file name that becomes ``path`` when the block succeeds.

    For writers that open the file themselves (HDF5). A regular (or new) file is renamed
    into place; a special file or symlink target receives the finished bytes in place. On
    any error the temporary file is removed and ``path`` is left as it was.

    Raises:
        InputError: If the file cannot be created or written (message names the file).
    """
    target, special = resolve_target(path)
    if special:
        fd, name = tempfile.mkstemp(suffix=TEMP_SUFFIX)
        os.close(fd)
        temp = Path(name)
    else:
        temp = create_temp(target, what, path)
    try:
        yield str(temp)
        if special:
            copy_into(temp, target)
        else:
            finish_temp(temp, target)
    except BaseException as exc:
        if isinstance(exc, OSError):
            raise InputError(f"{what} '{path}': cannot write: {exc.strerror or exc}") from exc
        raise
    finally:
        unlink_quietly(temp)
