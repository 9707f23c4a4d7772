"""How much a render slows when another process keeps one core busy, ours and the C's.

For each case, runs alternate between a quiet machine and one with a busy-loop process
(``python -c "while True: pass"``) started just before the run and killed after it:
whole process for both programs (as ``bench.py`` runs them) and, for ours, the render
alone inside one process (``simulate`` after a warm-up, so the import and the kernel
cache do not count). Prints medians and the busy / quiet ratio. The eager-path cases
(sensor absorption, curved detector) and the fast-path ones can be chosen separately.

    python benchmarks/load_bench.py [--cases detector_absorption curved_detector
        heavy_combo_512] [--repeat 3] [--c-bin /path/to/nanoBragg]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

from bench import GOLDEN, case_args, our_env, ours, timed_run

DEFAULT_CASES = ["detector_absorption", "curved_detector", "highres_4096_roi"]


@contextmanager
def condition(busy: bool):
    """Nothing, or one busy-loop process for the duration of the block."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def render_seconds(case: str, dtype: str) -> float:
    """One in-process render of ``case`` after a warm-up (our render alone)."""
    import torch

    from nanobragg.commandline.to_config import build_request
    from nanobragg.io.structure_factors import load_structure_factors
    from nanobragg.render.simulate import simulate

    request = build_request(case_args(case), cwd=GOLDEN / case)
    table, _, _ = load_structure_factors(request.hkl_path, None,
                                         request.config.crystal.default_F)
    kind = getattr(torch, dtype)
    simulate(request.config, table, request.mask, dtype=kind)
    start = time.perf_counter()
    simulate(request.config, table, request.mask, dtype=kind)
    return time.perf_counter() - start


def measure(case: str, opts) -> dict[str, dict[bool, list[float]]]:
    """Interleaved quiet/busy runs: seconds per (program, busy)."""
    runs: dict[str, dict[bool, list[float]]] = {
        name: {False: [], True: []} for name in ("ours", "render", "C")}
    c_env = dict(os.environ, OMP_NUM_THREADS=str(opts.c_threads))
    for _ in range(opts.repeat):
        for busy in (False, True):
            with condition(busy):
                runs["ours"][busy].append(
                    timed_run(ours(case, opts.dtype), case, our_env())[0])
                runs["render"][busy].append(render_seconds(case, opts.dtype))
                if opts.c_bin:
                    runs["C"][busy].append(
                        timed_run([opts.c_bin, *case_args(case)], case, c_env)[0])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"))
    parser.add_argument("--c-threads", type=int, default=2)
    opts = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, {opts.dtype}, medians of {opts.repeat}")
    print(f"{'case':<22}{'what':<16}{'quiet s':>9}{'busy s':>9}{'busy/quiet':>12}")
    for case in opts.cases:
        for name, times in measure(case, opts).items():
            if not times[False]:
                continue
            quiet, busy = statistics.median(times[False]), statistics.median(times[True])
            label = {"ours": "ours (process)", "render": "ours (render)",
                     "C": "C (process)"}[name]
            print(f"{case:<22}{label:<16}{quiet:>9.3f}{busy:>9.3f}{busy / quiet:>12.2f}")


if __name__ == "__main__":
    main()
