"""Time nanobragg on the golden benchmark cases and compare with the C program.

Prints, for each case and dtype, the render time (model setup + kernel, no file writes),
the pixel rate, the peak resident memory of this process and the C program's time from
``../shared/golden/C_TIMINGS.md`` (2 OpenMP threads on a 2-core VM). With ``--c-bin`` the
C program is also run here on the same arguments (in an empty temporary folder) so both
timings come from this machine.

    python benchmarks/bench.py [--cases simple_cubic heavy_combo_512] [--dtypes float32]
                               [--device cpu|cuda] [--c-bin /path/to/nanoBragg] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nanobragg.cli.main import DTYPES, load_table
from nanobragg.commandline.to_config import build_request
from nanobragg.simulator import simulate

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"
#: C wall times (s) with OMP_NUM_THREADS=2 from C_TIMINGS.md (full frame incl. file writes).
C_SECONDS = {"simple_cubic": 0.164, "highres_4096_roi": 2.397, "heavy_combo_512": 32.563}


def time_ours(case: str, dtype: str, device: str, repeat: int) -> tuple[float, int]:
    """Best render time (s) of `repeat` runs and the number of pixels."""
    folder = GOLDEN / case
    args = (folder / "args.txt").read_text().split()
    request = build_request(args + ["-nonoise", "-nopgm"], cwd=folder)
    table = load_table(request, io.StringIO())
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = simulate(request.config, table, request.mask, dtype=DTYPES[dtype],
                          device=device)
        if result.image.is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result.image.numel()


def time_c(c_bin: str, case: str) -> float:
    """Wall time (s) of one C run in an empty folder holding the case's inputs."""
    folder = GOLDEN / case
    with tempfile.TemporaryDirectory() as tmp:
        for item in folder.iterdir():
            if item.suffix in (".hkl", ".mat", ".txt") and item.name != "args.txt":
                shutil.copy(item, tmp)
        args = (folder / "args.txt").read_text().split()
        start = time.perf_counter()
        subprocess.run([c_bin, *args], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(C_SECONDS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--c-bin", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    opts = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {opts.device}")
    print(f"{'case':<18}{'dtype':<9}{'ours s':>9}{'Mpix/s':>9}{'C s':>9}{'C/ours':>8}"
          f"{'peak RSS MB':>13}")
    for case in opts.cases:
        c_time = time_c(opts.c_bin, case) if opts.c_bin else C_SECONDS.get(case, float("nan"))
        for dtype in opts.dtypes:
            seconds, pixels = time_ours(case, dtype, opts.device, opts.repeat)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{case:<18}{dtype:<9}{seconds:>9.2f}{pixels / seconds / 1e6:>9.2f}"
                  f"{c_time:>9.2f}{c_time / seconds:>8.2f}{rss:>13.0f}")
    if not opts.c_bin:
        print("C times are the 2-thread medians of C_TIMINGS.md (a 2-core VM).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
