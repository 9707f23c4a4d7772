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

``--options`` times the same way the rows of the option table: a 256^2 base case
(:data:`BASE_ARGS`) alone and with each option of :data:`OPTION_ROWS` added (tricubic
interpolation reads the golden ``interpolate_hkl`` structure factors; the 2x2-panel
detector is an experiment list written here, which the C cannot read, so its C column
is the base case of the same pixel count). ``--gradient`` times, in-process after a
warm-up, forward plus backward of the refinement-sized case (:data:`GRADIENT_ARGS`)
through ``DiffractionModel`` under each engine, beside the C's whole-process forward.

    python benchmarks/bench.py [--cases heavy_combo_512 highres_4096_roi simple_cubic]
        [--dtypes float32 float64] [--repeat 5] [--c-bin /path/to/nanoBragg] [--gpu]
        [--options [NAME ...]] [--gradient] [--no-golden]
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

#: The golden cases: ``$NB_GOLDEN``, else ``../shared/golden`` beside the checkout (a
#: GPU machine, where ``../shared`` does not travel, gets a copy and the variable).
GOLDEN = Path(os.environ.get("NB_GOLDEN")
              or Path(__file__).resolve().parents[1].parent / "shared" / "golden")
OUTPUTS = {"float.bin", "float_nonquirk.bin", "roi_float.bin", "int.img", "noise.img",
           "image.pgm", "stdout.txt", "stderr.txt", "case.json", "args.txt",
           "args_nonquirk.txt"}
DEFAULT_CASES = ["heavy_combo_512", "highres_4096_roi", "simple_cubic"]
#: The base case of the option table (256^2 pixels, 4 sub-pixels, 9 sources, 5 phi steps,
#: 10 mosaic domains).
BASE_ARGS = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -misset 10 20 30 -lambda 1.0 "
             "-distance 100 -detpixels 256 -oversample 2 -phi 1 -osc 5 -phisteps 5 "
             "-mosaic 0.5 -mosaic_dom 10 -mosaic_seed 7 -hdivrange 0.5 -hdivsteps 3 "
             "-vdivrange 0.5 -vdivsteps 3 -square_div -nopgm -nonoise -floatfile f.bin "
             "-intfile i.img").split()
#: name -> (arguments before the base case, after it); -curved_det goes first because the
#: C reads it only when an argument follows.
OPTION_ROWS = {
    "base": ([], []), "tophat": ([], ["-tophat_spots"]), "round": ([], ["-round_xtal"]),
    "gauss": ([], ["-gauss_xtal"]),
    "thick": ([], "-detector_thick 0.45 -detector_abs 100 -detector_thicksteps 3".split()),
    "curved": (["-curved_det"], []), "oversample_omega": ([], ["-oversample_omega"]),
    "tricubic": ([], ["-hkl", "P1.hkl", "-interpolate"]),
    "panels_2x2": ([], ["-expt", "four_panel.expt"]),
}
#: Flags the experiment list of the panel row gives itself (dropped from the base case).
EXPT_GIVES = {"-cell": 6, "-misset": 3, "-lambda": 1, "-distance": 1, "-detpixels": 1,
              "-phi": 1, "-osc": 1, "-phisteps": 1, "-intfile": 1}
#: The refinement-sized case of the gradient row, and what DiffractionModel refines.
GRADIENT_ARGS = ("-cell 79 79 38 90 90 90 -default_F 100 -N 10 -lambda 1.0 -distance 100 "
                 "-detpixels 256 -pixel 0.172 -oversample 2 -mosaic 0.1 -mosaic_domains 10 "
                 "-misset 10 20 30 -Xbeam 22 -Ybeam 22 -divergence 0.1 -divsteps 3").split()
REFINED = ["crystal.cell_lengths", "crystal.misset", "detector.distance",
           "detector.beam_center"]


def case_args(case: str) -> list[str]:
    """The C arguments of a golden case."""
    return (GOLDEN / case / "args.txt").read_text().split()


def case_inputs(case: str | None) -> list[Path]:
    """The input files of a golden case (none for None)."""
    if case is None:
        return []
    return [item for item in (GOLDEN / case).iterdir()
            if item.name not in OUTPUTS and not item.name.startswith("trace_")]


def timed_run(command: list[str], case: str | None, env: dict | None = None,
              extra: list[Path] = ()) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process run in a fresh folder with the inputs
    (of a golden case, and ``extra`` files)."""
    with tempfile.TemporaryDirectory() as tmp:
        for item in [*case_inputs(case), *extra]:
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


def ours(case: str, dtype: str, args: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "nanobragg", *(args or case_args(case)), "-dtype", dtype,
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


def four_panel_expt(folder: Path) -> Path:
    """A 2x2-panel detector of 128^2 pixels of 0.1 mm each (the test data's two-panel
    experiment list with four panels), written into ``folder``."""
    import copy

    data = json.loads((Path(__file__).resolve().parents[1] / "tests" / "io" / "data"
                       / "two_panel.expt").read_text())
    detector = data["detector"][0]
    panels = []
    for k, origin in enumerate([(-12.9, 12.9), (0.1, 12.9), (-12.9, -0.1), (0.1, -0.1)]):
        panel = copy.deepcopy(detector["panels"][0])
        panel.update(name=f"p{k}", origin=[*origin, 0.0], image_size=[128, 128],
                     pixel_size=[0.1, 0.1])
        panels.append(panel)
    detector["panels"] = panels
    detector["hierarchy"]["children"] = [{"panel": k} for k in range(4)]
    detector["hierarchy"]["origin"] = [0.0, 0.0, -100.0]
    path = folder / "four_panel.expt"
    path.write_text(json.dumps(data))
    return path


def _without(args: list[str], flags: dict[str, int]) -> list[str]:
    """``args`` without the given flags and their values."""
    out, skip = [], 0
    for token in args:
        if skip:
            skip -= 1
        elif token in flags:
            skip = flags[token]
        else:
            out.append(token)
    return out


def option_bench(opts) -> None:
    """The option table: the base case alone and with each option, interleaved."""
    c_env = dict(os.environ, OMP_NUM_THREADS=str(opts.c_threads))
    print(f"{'option':<18}{'C s':>7}" + "".join(f"{d:>9}{'-import':>8}{'C/-imp':>7}"
                                              for d in opts.dtypes) + f"{'import':>8}")
    with tempfile.TemporaryDirectory() as folder:
        expt = four_panel_expt(Path(folder))
        for name in opts.options:
            before, after = OPTION_ROWS[name]
            c_args = before + BASE_ARGS + (after if name != "panels_2x2" else [])
            our_args = before + BASE_ARGS + after
            case, extra = ("interpolate_hkl", []) if name == "tricubic" else (None, [])
            if name == "panels_2x2":
                our_args, extra = _without(our_args, EXPT_GIVES), [expt]
            runs = {d: [] for d in opts.dtypes}
            bare, c_runs = [], []
            for _ in range(opts.repeat):
                if opts.c_bin:
                    c_runs.append(timed_run([opts.c_bin, *c_args], case, c_env)[0])
                bare.append(bare_import_run())
                for d in opts.dtypes:
                    runs[d].append(timed_run(ours(None, d, our_args), case, our_env(),
                                             extra)[0])
            c_s = statistics.median(c_runs) if c_runs else float("nan")
            line = f"{name:<18}{c_s:>7.2f}"
            for d in opts.dtypes:
                work = statistics.median(t - b for t, b in zip(runs[d], bare))
                line += f"{statistics.median(runs[d]):>9.2f}{work:>8.2f}{c_s / work:>7.1f}"
            print(line + f"{statistics.median(bare):>8.2f}", flush=True)


def gradient_bench(opts) -> None:
    """Forward plus backward of the refinement-sized case through DiffractionModel."""
    import torch

    from nanobragg.commandline.to_config import build_request
    from nanobragg.refine.module import DiffractionModel

    config = build_request(GRADIENT_ARGS).config
    if opts.c_bin:
        c_env = dict(os.environ, OMP_NUM_THREADS=str(opts.c_threads))
        c_runs = [timed_run([opts.c_bin, *GRADIENT_ARGS, "-nonoise", "-nopgm"], None,
                            c_env)[0] for _ in range(opts.repeat)]
        print(f"gradient case: C forward (whole process) {statistics.median(c_runs):.2f} s")
    print(f"{'engine':<8}{'dtype':<9}{'forward s':>10}{'fwd+bwd s':>10}")
    for engine in ("fast", "eager"):
        for d in opts.dtypes:
            model = DiffractionModel(config, REFINED, dtype=getattr(torch, d), engine=engine)
            times = []
            for _ in range(opts.repeat + 1):  # the first is a warm-up
                start = time.perf_counter()
                model().sum().backward()
                times.append(time.perf_counter() - start)
            with torch.no_grad():
                start = time.perf_counter()
                model()
                forward = time.perf_counter() - start
            print(f"{engine:<8}{d:<9}{forward:>10.3f}{statistics.median(times[1:]):>10.3f}",
                  flush=True)


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
    gpu_gradient_bench(opts)


def gpu_gradient_bench(opts) -> None:
    """Forward plus backward of the refinement-sized case on CUDA (sub-steps per second)."""
    import torch

    from nanobragg.commandline.to_config import build_request
    from nanobragg.refine.module import DiffractionModel
    from nanobragg.render.simulate import prepare

    config = build_request(GRADIENT_ARGS).config
    print(f"{'gradient case':<18}{'dtype':<9}{'fwd s':>8}{'fwd+bwd s':>10}{'G/s fwd':>9}"
          f"{'G/s f+b':>9}{'peak MB':>9}")
    for d in opts.dtypes:
        model = DiffractionModel(config, REFINED, dtype=getattr(torch, d)).to("cuda")
        model().sum().backward()  # warm-up (compiles the kernels)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(opts.repeat):
            start = time.perf_counter()
            image = model()
            image.sum().backward()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        with torch.no_grad():
            start = time.perf_counter()
            image = model()
            torch.cuda.synchronize()
            forward = time.perf_counter() - start
        both = statistics.median(times)
        subs = image.numel() * prepare(config).evaluations_per_pixel
        print(f"{'refinement 256^2':<18}{d:<9}{forward:>8.3f}{both:>10.3f}"
              f"{subs / forward / 1e9:>9.2f}{subs / both / 1e9:>9.2f}"
              f"{torch.cuda.max_memory_allocated() / 2**20:>9.0f}", flush=True)


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
    parser.add_argument("--options", nargs="*", choices=list(OPTION_ROWS),
                        help="the option table (all rows when no name is given)")
    parser.add_argument("--gradient", action="store_true",
                        help="forward plus backward of the refinement-sized case")
    parser.add_argument("--no-golden", action="store_true", help="skip the golden cases")
    opts = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not opts.no_cpu and not opts.no_golden:
        cpu_bench(opts)
    if opts.options is not None:
        opts.options = opts.options or list(OPTION_ROWS)
        option_bench(opts)
    if opts.gradient:
        gradient_bench(opts)
    if opts.gpu:
        gpu_bench(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
