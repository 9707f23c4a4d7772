"""Time nanobragg against the C program on golden cases, whole process, interleaved.

Each run is a fresh process in an empty temporary folder holding only the case's
inputs (the C reads a stale ``Fdump.bin`` otherwise): ``python -m nanobragg ARGS -dtype D
-noprogress`` for us, ``nanoBragg ARGS`` with ``OMP_NUM_THREADS`` (default 2) for the C.
Runs are interleaved (C, a bare ``python -c "import torch"``, ours float32, ours
float64, C, ...) so a drift of the machine's speed hits all alike; the table gives
medians, the C/ours ratio, our time minus the bare import (the median over rounds of
ours minus the import of the same round) and each program's peak RSS. One extra run
per dtype starts from an empty kernel cache to show the compile cost (cold) beside the
warm median. Without a C binary (``--c-bin`` or ``$NB_C_BIN``) only our figures print.
Our runs may write and use Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is
removed from their environment): an installed package has its ``.pyc`` files, and
compiling our modules from source on every start would add about 70 ms that a user
does not pay; torch's own bytecode is always cached by pip.
Where CUDA exists, ``--gpu`` renders the cases in-process on the GPU and prints
sub-steps per second, peak GPU memory and the parity against the golden image.

    python benchmarks/bench.py [--cases heavy_combo_512 highres_4096_roi simple_cubic]
        [--dtypes float32 float64] [--repeat 5] [--c-bin /path/to/nanoBragg] [--gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"
OUTPUTS = {"float.bin", "float_nonquirk.bin", "roi_float.bin", "int.img", "noise.img",
           "image.pgm", "stdout.txt", "stderr.txt", "case.json", "args.txt",
           "args_nonquirk.txt"}
DEFAULT_CASES = ["heavy_combo_512", "highres_4096_roi", "simple_cubic"]


def case_args(case: str) -> list[str]:
    """The C arguments of a golden case."""
    return (GOLDEN / case / "args.txt").read_text().split()


def timed_run(command: list[str], case: str, env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process run in a fresh folder with the inputs."""
    with tempfile.TemporaryDirectory() as tmp:
        for item in (GOLDEN / case).iterdir():
            if item.name not in OUTPUTS and not item.name.startswith("trace_"):
                shutil.copy(item, tmp)
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{command[0]} failed on {case}")
    return wall, usage.ru_maxrss / 1024


def our_env(**extra: str) -> dict:
    """The environment of our runs: this one, with the bytecode cache allowed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | extra


def ours(case: str, dtype: str) -> list[str]:
    return [sys.executable, "-m", "nanobragg", *case_args(case), "-dtype", dtype,
            "-noprogress"]


def bare_import_run() -> float:
    """Wall time of one bare ``python -c 'import torch'``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, env=our_env())
    return time.perf_counter() - start


def cold_seconds(case: str, dtype: str) -> float:
    """One run of ours with an empty kernel cache (includes compiling the kernel)."""
    with tempfile.TemporaryDirectory() as cache:
        env = our_env(NANOBRAGG_CACHE_DIR=cache)
        return timed_run(ours(case, dtype), case, env)[0]


def cpu_bench(opts) -> None:
    """The interleaved CPU table."""
    head = (f"{'case':<18}{'dtype':<9}{'ours s':>8}{'import':>8}{'-import':>8}{'cold s':>8}"
            f"{'C s':>8}{'C/ours':>8}{'C/(-imp)':>9}{'our MB':>8}{'C MB':>7}")
    print(head)
    for case in opts.cases:
        cold = {d: cold_seconds(case, d) for d in opts.dtypes}
        runs, bare, c_runs = interleaved_runs(case, opts)
        c_s = statistics.median(t for t, _ in c_runs) if c_runs else float("nan")
        c_mb = max((m for _, m in c_runs), default=float("nan"))
        for d in opts.dtypes:
            s = statistics.median(t for t, _ in runs[d])
            # the torch import of the same round, so a drift of the machine cancels
            work = statistics.median(t - b for (t, _), b in zip(runs[d], bare))
            mb = max(m for _, m in runs[d])
            print(f"{case:<18}{d:<9}{s:>8.2f}{statistics.median(bare):>8.2f}{work:>8.2f}"
                  f"{cold[d]:>8.2f}{c_s:>8.2f}{c_s / s:>8.2f}{c_s / max(work, 1e-9):>9.2f}"
                  f"{mb:>8.0f}{c_mb:>7.0f}")
        spread = [f"{d} {min(t for t, _ in runs[d]):.2f}-{max(t for t, _ in runs[d]):.2f}"
                  for d in opts.dtypes]
        spread.append(f"import {min(bare):.2f}-{max(bare):.2f}")
        if c_runs:
            spread.append(f"C {min(t for t, _ in c_runs):.2f}-{max(t for t, _ in c_runs):.2f}")
        print(f"{'':<18}spread (min-max s): {', '.join(spread)}")


def interleaved_runs(case: str, opts) -> tuple[dict, list, list]:
    """``opts.repeat`` rounds of: C, a bare torch import, ours in each dtype.

    Returns:
        ``{dtype: [(s, MB), ...]}``, the import seconds per round and the C's (s, MB).
    """
    c_env = dict(os.environ, OMP_NUM_THREADS=str(opts.c_threads))
    runs = {d: [] for d in opts.dtypes}
    bare, c_runs = [], []
    for _ in range(opts.repeat):
        if opts.c_bin:
            c_runs.append(timed_run([opts.c_bin, *case_args(case)], case, c_env))
        bare.append(bare_import_run())
        for d in opts.dtypes:
            runs[d].append(timed_run(ours(case, d), case, our_env()))
    return runs, bare, c_runs


def gpu_bench(opts) -> None:
    """Sub-steps per second, peak memory and parity on CUDA (in-process, after a warm-up)."""
    import io

    import numpy as np
    import torch

    from nanobragg.cli.main import DTYPES, load_table
    from nanobragg.commandline.to_config import build_request
    from nanobragg.render.simulate import simulate

    if not torch.cuda.is_available():
        print("GPU: no CUDA device here; skipped")
        return
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'case':<18}{'dtype':<9}{'s':>8}{'Gsub/s':>9}{'peak MB':>9}{'|d|/max':>10}")
    for case in opts.cases:
        request = build_request(case_args(case) + ["-nonoise", "-nopgm"], cwd=GOLDEN / case)
        table = load_table(request, io.StringIO())
        meta = json.loads((GOLDEN / case / "case.json").read_text())
        for d in opts.dtypes:
            simulate(request.config, table, request.mask, dtype=DTYPES[d], device="cuda")
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            result = simulate(request.config, table, request.mask, dtype=DTYPES[d],
                              device="cuda")
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            substeps = result.image.numel() * result.setup.evaluations_per_pixel
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"{case:<18}{d:<9}{seconds:>8.3f}{substeps / seconds / 1e9:>9.2f}"
                  f"{peak:>9.0f}{_parity(result.image, meta, case, np):>10.2e}")


def _parity(image, meta: dict, case: str, np) -> float:
    """max |ours - C| / max(C) on the stored (possibly cropped) golden float image."""
    info = meta["float_image"]
    ref = np.fromfile(GOLDEN / case / info["file"], "<f4").reshape(info["height"],
                                                                   info["width"])
    ours_img = image.detach().float().cpu().numpy().astype(np.float64)
    if "crop" in meta:
        c = meta["crop"]
        ours_img = ours_img[c["slow_first"]:c["slow_last"] + 1,
                            c["fast_first"]:c["fast_last"] + 1]
    return float(np.abs(ours_img - ref).max() / ref.max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--c-bin", default=os.environ.get("NB_C_BIN"))
    parser.add_argument("--c-threads", type=int, default=2)
    parser.add_argument("--gpu", action="store_true", help="also (only: --no-cpu) the GPU")
    parser.add_argument("--no-cpu", action="store_true")
    opts = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not opts.no_cpu:
        cpu_bench(opts)
    if opts.gpu:
        gpu_bench(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
