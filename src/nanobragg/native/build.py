"""Compile the fused C kernel once per machine and load it with ctypes.

The shared library is cached in ``$NANOBRAGG_CACHE_DIR`` (default
``$XDG_CACHE_HOME/nanobragg`` or ``~/.cache/nanobragg``) under a name that hashes the
kernel source, the compiler flags, the compiler executable (its resolved path, size and
modification time, so an upgrade counts), the torch version and the CPU model and flags, so
a change of any of them builds a new one. Deleting the folder
clears the cache. A cache folder or file that another user could have written is never
loaded (:mod:`nanobragg.native.trust`): the kernel is then built privately.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from . import abi
from .trust import safe_library_path

log = logging.getLogger(__name__)

SOURCES = ("nbkernel.c", "nbkernel_body.h", "nbadjoint.h", "nbnoise.c", "nbimage.c",
           "nbdetnoise.c")
#: No -ffast-math: IEEE results; -fno-trapping-math only lets floor/ceil vectorise.
FLAGS = ("-O3", "-march=native", "-mprefer-vector-width=512", "-ffp-contract=off",
         "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-shared", "-fPIC")

_loaded: dict[str, ctypes.CDLL | None] = {}


def cache_dir() -> Path:
    """Folder of the compiled kernels."""
    env = os.environ.get("NANOBRAGG_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nanobragg"


def compiler() -> str | None:
    """The C compiler to use (``$CC``, else cc/gcc/clang on PATH), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() + platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def _compiler_signature(cc: str) -> str:
    """Resolved path, size and modification time of the compiler executable.

    Cheaper than running ``cc --version`` on every start, and it changes when the
    compiler is upgraded or ``$CC`` points elsewhere.
    """
    found = shutil.which(cc)
    if found is None:
        return cc
    real = os.path.realpath(found)
    info = os.stat(real)
    return f"{real} {info.st_size} {info.st_mtime_ns}"


def library_path(cc: str) -> Path:
    """Where the kernel built by ``cc`` for this source, torch and CPU lives."""
    return cache_dir() / _library_name(cc)


@functools.cache
def _library_name(cc: str) -> str:
    """File name hashing the sources, flags, compiler executable, torch version and CPU."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((here / name).read_bytes())
    for part in (" ".join(FLAGS), _compiler_signature(cc), torch.__version__,
                 _cpu_signature()):
        digest.update(part.encode())
    return f"nbkernel-{digest.hexdigest()[:20]}.so"


def load(build: bool = True) -> ctypes.CDLL | None:
    """The kernel library, compiling it first if needed and allowed; None if unavailable.

    Every entry point gets its argument and result types (:func:`abi.declare`).

    Raises:
        abi.InterfaceError: the cached library does not match this interface.
    """
    cc = compiler()
    if cc is None:
        return None
    path = safe_library_path(library_path(cc))
    key = str(path)
    if key in _loaded:
        return _loaded[key]
    if not path.exists():
        if not build:
            return None
        try:
            _compile(cc, path)
        except (OSError, subprocess.CalledProcessError) as err:
            log.warning("fast kernel not built (%s); using the eager path", err)
            _loaded[key] = None
            return None
    lib = abi.declare(ctypes.CDLL(str(path)))
    _loaded[key] = lib
    return lib


def _compile(cc: str, path: Path) -> None:
    """Build into a temporary file in the cache folder and rename it into place."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    here = Path(__file__).parent
    fd, tmp = tempfile.mkstemp(prefix=".nbkernel-", suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        sources = [str(here / name) for name in SOURCES if name.endswith(".c")]
        subprocess.run([cc, *FLAGS, "-o", tmp, *sources, "-lm"], check=True,
                       capture_output=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
