"""How the console commands end: a closed stdout and Ctrl-C end them quietly.

* A reader that goes away (``nanoBragg ... | head -1``, ``| true``) makes writes to
  stdout fail with EPIPE. The report text is then dropped, the run goes on (its files
  are written, as the C program's are before its buffered report reaches the pipe) and
  the command exits with status 141 (128 + SIGPIPE, what the shell shows for the C
  program killed by SIGPIPE), without a traceback.
* After Ctrl-C (status 130) the process ends with ``os._exit`` once the streams are
  flushed: torch's native threads may still be parked in their pools, and the normal
  interpreter shutdown can then abort (``terminate called without an active
  exception``). Every output file has been removed by then.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

#: exit status after stdout's reader went away (128 + SIGPIPE)
BROKEN_PIPE_STATUS = 141
#: exit status after Ctrl-C (128 + SIGINT)
INTERRUPTED_STATUS = 130


class GuardedStream:
    """A text stream that drops everything after its first EPIPE.

    Args:
        stream: the stream written to (sys.stdout).
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.broken = True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run_console(run: Callable[[], int]) -> NoReturn:
    """Call ``run()`` with a guarded sys.stdout and exit with its status (see module)."""
    guard = GuardedStream(sys.stdout)
    sys.stdout = guard
    try:
        status = run()
    except KeyboardInterrupt:  # outside the command's own handler (start-up, imports)
        status = INTERRUPTED_STATUS
    guard.flush()
    sys.stdout = guard._stream
    if guard.broken:
        _silence_stdout()
        if status == 0:
            status = BROKEN_PIPE_STATUS
    if status == INTERRUPTED_STATUS:
        _flush_quietly()
        os._exit(status)
    sys.exit(status)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
