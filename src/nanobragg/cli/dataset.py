"""The ``nanobragg-dataset`` command: render a many-shot data set from a description."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..commandline.to_config import build_request
from ..config import SimulationConfig
from ..dataset.description import load_description
from ..dataset.distributed import parse_cluster
from ..errors import InputError

PROG = "nanobragg-dataset"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message: str):
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=(
        "Render a data set of many diffraction shots described by SPEC (YAML or JSON) into "
        "HDF5 chunk files with a manifest. A killed run restarts with the same command and "
        "renders only the missing shots."))
    parser.add_argument("spec", help="data-set description (.yaml, .yml or .json)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--shots", type=int, help="number of shots (default: the SPEC's)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the chunks on this Dask scheduler (tcp://host:port, which "
                            "takes work from anyone who reaches it, or tls://host:port "
                            "with the --tls-* files)")
    where.add_argument("--cluster", metavar="local:N",
                       help="run the chunks on a new local Dask cluster of N worker processes")
    parser.add_argument("--tls-ca-file", metavar="PEM",
                        help="certificate authority of a tls:// scheduler")
    parser.add_argument("--tls-cert", metavar="PEM", help="client certificate (tls://)")
    parser.add_argument("--tls-key", metavar="PEM", help="client private key (tls://)")
    parser.add_argument("--max-in-flight", type=int, metavar="N",
                        help="Dask tasks submitted at once (default: 2 per worker thread)")
    parser.add_argument("--retries", type=int, default=2,
                        help="extra attempts of a failed Dask task (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def flags_to_config(flags: list[str], base: Path) -> tuple[SimulationConfig, Path | None]:
    """A nanoBragg command line as the experiment: its configuration and ``-hkl`` file."""
    request = build_request(flags, cwd=base)
    return request.config, request.hkl_path


def run(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 1 chunks failed, 2 user error,
    130 interrupted)."""
    args = _parser().parse_args(argv)
    try:
        if args.cluster is not None:
            parse_cluster(args.cluster)
        _check_counts(args)
        args.security = _security(args)
        desc = load_description(args.spec, flags_to_config)
        if args.shots is not None:
            desc = desc.with_shots(args.shots)
        started = time.perf_counter()
        manifest, rendered = _render(desc, args)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the output folder: a name too long, no such place, ...
        where = f" '{err.filename}'" if err.filename else ""
        print(f"{PROG}: error: --out{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished chunks are kept (the same command renders "
              f"the rest)", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    rate = rendered / elapsed if elapsed > 0 else 0.0
    print(f"rendered {rendered} shots in {elapsed:.1f} s ({rate:.2f} shots/s); "
          f"{manifest['done']} of {desc.shots} shots done in {args.out}")
    return 0 if not manifest["missing"] else 1


def _check_counts(args) -> None:
    """--max-in-flight at least 1 task, --retries not negative."""
    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise InputError(f"--max-in-flight: must be at least 1 (got {args.max_in_flight})")
    if args.retries < 0:
        raise InputError(f"--retries: must not be negative (got {args.retries})")


def _security(args):
    """Dask TLS settings of ``--tls-*`` (None without them); checked before any work."""
    if args.scheduler is None and not (args.tls_ca_file or args.tls_cert or args.tls_key):
        return None
    from ..dataset.distributed import tls_security

    return tls_security(args.scheduler, args.tls_ca_file, args.tls_cert, args.tls_key)


def _render(desc, args) -> tuple[dict, int]:
    """Render the missing shots; the manifest and how many shots this run rendered.

    With Dask the scheduler is reached before anything is written."""
    if args.scheduler is None and args.cluster is None:
        from ..dataset.runner import run_local
        return _with_bar(desc, args, lambda progress: run_local(desc, args.out, progress))
    from ..dataset.distributed import connect, run_distributed
    workers = None if args.cluster is None else parse_cluster(args.cluster)
    with connect(args.scheduler, workers, args.security) as client:
        return _with_bar(desc, args, lambda progress: run_distributed(
            desc, args.out, client, max_in_flight=args.max_in_flight, retries=args.retries,
            progress=progress))


def _with_bar(desc, args, render) -> tuple[dict, int]:
    """Open the output folder, count the missing shots and render them under a bar."""
    from ..dataset.manifest import open_output, pending

    open_output(desc, args.out)
    todo = sum(len(c.indices) for c in pending(desc, args.out))
    bar = None if args.no_progress else _progress_bar(todo)

    def progress(chunk, record) -> None:
        if bar is not None:
            bar.update(len(chunk.indices))

    try:
        return render(progress), todo
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int):
    """A tqdm bar on stderr, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="shot", file=sys.stderr, desc=PROG)


def console_entry() -> None:
    """Entry point of the ``nanobragg-dataset`` console script."""
    from .exits import run_console

    run_console(run)
