"""One parallel region per image: Python threads taking work items from a shared queue.

Both render paths split an image into items (pixel ranges of the compiled kernel,
pixel chunks of the eager kernel) that a few threads take in turn. The work inside an
item releases the GIL (a ctypes call, torch operators), so the threads run in parallel;
a core that is busy elsewhere only delays the items its thread holds, instead of every
one of thousands of small parallel operators waiting for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import torch


def run_items(items: Iterable, work: Callable, threads: int,
              single_threaded_ops: bool = False) -> None:
    """Call ``work(item)`` for every item on ``threads`` threads, in queue order.

    Args:
        items: the work items (taken one at a time under a lock).
        work: called once per item; its return value is ignored.
        threads: number of threads (1 runs everything on the calling thread).
        single_threaded_ops: make torch operators inside ``work`` use one thread each,
            so that the items, not the operators, carry the parallelism.

    An exception in one thread (for example Ctrl-C in the caller) stops the others
    after their current item, and is raised again here.
    """
    queue = iter(items)
    done = object()
    if threads <= 1:
        for item in queue:
            work(item)
        return
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker():
        if single_threaded_ops:
            torch.set_num_threads(1)
        while not stop.is_set():
            with lock:
                item = next(queue, done)
            if item is done:
                return
            try:
                work(item)
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)
                stop.set()

    _join_all([threading.Thread(target=worker, daemon=True) for _ in range(threads)], stop)
    if single_threaded_ops:
        torch.set_num_threads(torch.get_num_threads())  # later threads start as before
    if errors:
        raise errors[0]


def _join_all(workers: list[threading.Thread], stop: threading.Event) -> None:
    """Start and wait for the workers; an interrupt makes them take no more items."""
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join()
    except BaseException:
        stop.set()
        raise
