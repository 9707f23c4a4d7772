"""Fan the missing chunks of a data set out over Dask distributed.

One task per chunk: the worker renders the chunk, writes its file to the (shared) output
folder and returns the record; the driver marks the chunk done as each result arrives.
At most ``max_in_flight`` tasks are submitted at a time (back-pressure), a task that
raises is retried ``retries`` times, and a task lost with its worker is rescheduled by
Dask itself. Dask is imported only here (``pip install nanobragg[distributed]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError
from .description import DatasetDescription
from .manifest import mark_done, open_output, pending, write_manifest
from .runner import Progress, render_chunk

log = logging.getLogger(__name__)

#: How long to try reaching a scheduler before giving up.
CONNECT_TIMEOUT = "10s"


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise InputError("--scheduler/--cluster need Dask: "
                         "pip install nanobragg[distributed]") from exc
    return distributed


def parse_cluster(spec: str) -> int:
    """Worker count of ``local:N``."""
    kind, _, count = spec.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise InputError(f"--cluster: expected local:N with N >= 1 workers (got '{spec}')")
    return int(count)


def tls_security(scheduler: str | None, ca_file: str | None, cert: str | None,
                 key: str | None):
    """Dask ``Security`` for a ``tls://`` scheduler from the certificate files, or None
    when none is given (InputError for files without a tls:// address, a tls:// address
    without files, or a file that cannot be read)."""
    files = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    given = {flag: name for flag, name in files.items() if name}
    tls = scheduler is not None and scheduler.startswith("tls://")
    if not given:
        if tls:
            raise InputError("--scheduler tls://...: give --tls-ca-file, --tls-cert and "
                             "--tls-key")
        return None
    if not tls:
        raise InputError(f"{next(iter(given))}: needs --scheduler tls://HOST:PORT")
    for flag, name in given.items():
        if not Path(name).is_file():
            raise InputError(f"{flag}: cannot read '{name}'")
    from distributed.security import Security

    return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key,
                    require_encryption=True)


@contextmanager
def connect(scheduler: str | None = None, local_workers: int | None = None,
            security=None) -> Iterator:
    """A Dask client: on ``scheduler`` (an address; ``security`` from
    :func:`tls_security` for ``tls://``), or on a new local cluster of ``local_workers``
    single-threaded worker processes listening on loopback only."""
    distributed = _distributed()
    if scheduler is not None:
        extra = {} if security is None else {"security": security}
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, **extra)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler '{scheduler}': cannot connect: {exc}") from exc
        with client:
            yield client
        return
    with distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1,
                                  processes=True, host="127.0.0.1", dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def run_distributed(desc: DatasetDescription, out: str | Path, client, *,
                    max_in_flight: int | None = None, retries: int = 2,
                    progress: Progress | None = None) -> dict:
    """Render every missing chunk as Dask tasks; returns the manifest.

    Args:
        desc: the data set; out: output folder that every worker can write.
        client: a ``distributed.Client``.
        max_in_flight: tasks submitted at once (default: twice the worker threads).
        retries: extra attempts of a task that raised.
        progress: called with (chunk, record) as each chunk is done.

    Raises:
        RuntimeError: some chunks failed after their retries (the others are kept).
    """
    distributed = _distributed()
    out = Path(out).resolve()
    open_output(desc, out)
    todo = iter(pending(desc, out))
    limit = max_in_flight or max(2, 2 * sum(client.nthreads().values()))
    queue = distributed.as_completed()
    chunks = {}

    def submit() -> None:
        chunk = next(todo, None)
        if chunk is not None:
            future = client.submit(render_chunk, desc, chunk, str(out), pure=False,
                                   retries=retries, key=f"nanobragg-{chunk.name}-"
                                   f"{desc.fingerprint()[:12]}")
            chunks[future.key] = chunk
            queue.add(future)

    for _ in range(limit):
        submit()
    failed = []
    for future in queue:
        chunk = chunks.pop(future.key)
        if future.status == "finished":
            record = future.result()
            mark_done(out, chunk, record)
            if progress is not None:
                progress(chunk, record)
        else:
            failed.append((chunk, future.exception()))
        future.release()
        submit()
    manifest = write_manifest(desc, out)
    if failed:
        chunk, error = failed[0]
        raise RuntimeError(f"{len(failed)} chunk(s) failed, first {chunk.name}: {error}")
    return manifest
