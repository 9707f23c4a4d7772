"""A progress bar for long renders: tqdm on stderr, shown only when it helps.

The bar appears once a render has run for ``DELAY_S`` seconds (short renders print
nothing), only when stderr is a terminal and tqdm is installed (``pip install
nanobragg[progress]``); it shows pixels done, the rate and the time left.
"""

from __future__ import annotations

import sys
import threading
import time

#: Seconds a render runs before the bar appears.
DELAY_S = 2.0


class RenderProgress:
    """Callable ``progress(pixels_done, total)`` for :func:`nanobragg.render.simulate.simulate`.

    Args:
        enabled: False turns it into a no-op (``-noprogress``).
        stream: where the bar goes (default stderr); no bar unless it is a terminal.
    """

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._enabled = enabled and _is_terminal(self._stream)
        self._start = time.monotonic()
        self._done = 0
        self._bar = None
        self._lock = threading.Lock()

    def __call__(self, pixels: int, total: int) -> None:
        if not self._enabled:
            return
        with self._lock:
            self._done += pixels
            if self._bar is None and time.monotonic() - self._start >= DELAY_S:
                self._bar = _make_bar(total, self._done, self._stream)
                if self._bar is None:
                    self._enabled = False
            elif self._bar is not None:
                self._bar.update(pixels)

    def close(self) -> None:
        """Remove the bar (if one was shown)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> RenderProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _make_bar(total: int, done: int, stream):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit="px", unit_scale=True, file=stream,
                desc="rendering", leave=False, dynamic_ncols=True)
