"""``nb-compare``: run the C nanoBragg and nanobragg on the same arguments and compare images.

Usage::

    nb-compare [--c-bin PATH] [--outdir DIR] [--roi XMIN XMAX YMIN YMAX] [--min-corr C]
               [--save-diff] [--timeout S] [--py-cmd CMD] -- <nanoBragg arguments>

Each program runs in its own empty folder under ``--outdir`` (``c_run/``, ``py_run/``),
so the C program cannot pick up a stale ``Fdump.bin``. Input files named by ``-hkl``,
``-mat``/``-matrix``, ``-sourcefile``, ``-mask``, ``-img`` and ``-stol`` that exist
(relative to the current folder) are copied into both folders; ``-floatfile`` is forced
to ``float.bin`` and other output files are written inside the run folders. The C binary
is ``--c-bin`` or the environment variable ``NB_C_BIN``; nanobragg runs as
``python -m nanobragg`` (or ``--py-cmd``).

Statistics over the full frame or the inclusive ``--roi`` (x = fast, y = slow, as
``-roi``): Pearson correlation, RMSE, max |py - c| and where, both sums and their ratio
(py/c), both maxima, wall times and ``py_speedup_vs_c`` (C time / nanobragg time).
Correlation is 1 for two identical constant images and 0 when only one of them is
constant. ``--outdir`` (new or empty) receives ``summary.json``, ``c_float.bin``,
``py_float.bin``, PNG previews (``c_preview.png``, ``py_preview.png``, same grey scale)
and with ``--save-diff`` ``diff_float.bin`` (py - c) and the heat map ``diff.png``
(blue: py lower, red: higher).

Exit status: 0 ok, 2 usage error, 3 a runner failed, 4 correlation below ``--min-corr``
(default 0.999, the usual parity bar for images that should be the same), 5 the two
images differ in size (or from the detector size of the arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.png import diverging, preview, write_png
from .cliparse import OneLineParser

DEFAULT_MIN_CORR = 0.999
FLOAT_NAME = "float.bin"
INPUT_FLAGS = ("-hkl", "-mat", "-matrix", "-sourcefile", "-mask", "-img", "-stol")
FLOAT_FLAGS = ("-floatfile", "-floatimage")
OUTPUT_FLAGS = ("-intfile", "-intimage", "-pgmfile", "-pgmimage", "-noisefile", "-noiseimage")
EXIT_OK, EXIT_USAGE, EXIT_RUNNER, EXIT_THRESHOLD, EXIT_SHAPE = 0, 2, 3, 4, 5


class RunnerError(RuntimeError):
    """A program failed to run or to write its float image."""


@dataclass(frozen=True)
class RunResult:
    """One program run: its folder, wall time (s), exit code and float image path."""

    folder: Path
    wall_s: float
    returncode: int
    float_path: Path


def prepare_args(nb_args: list[str], source_dir: Path, run_dirs: list[Path]) -> list[str]:
    """Arguments for the runs: inputs copied into every run folder, float file forced.

    Args:
        nb_args: the user's nanoBragg arguments.
        source_dir: folder relative input names refer to.
        run_dirs: folders to copy the inputs into.

    Returns:
        The rewritten arguments (input and output names without folders).
    """
    out: list[str] = []
    i = 0
    while i < len(nb_args):
        arg = nb_args[i]
        value = nb_args[i + 1] if i + 1 < len(nb_args) else None
        if arg in FLOAT_FLAGS and value is not None:
            i += 2
            continue
        if arg in INPUT_FLAGS and value is not None and (source_dir / value).is_file():
            for folder in run_dirs:
                shutil.copy2(source_dir / value, folder / Path(value).name)
            out += [arg, Path(value).name]
            i += 2
            continue
        if arg in OUTPUT_FLAGS and value is not None:
            out += [arg, Path(value).name]
            i += 2
            continue
        out.append(arg)
        i += 1
    return out + ["-floatfile", FLOAT_NAME]


def run_program(command: list[str], folder: Path, timeout: float | None) -> RunResult:
    """Run one program in ``folder`` (stdout/stderr to files there) and time it.

    Raises:
        RunnerError: it could not start, timed out, failed, or wrote no float image.
    """
    started = time.perf_counter()
    try:
        with open(folder / "stdout.txt", "w") as so, open(folder / "stderr.txt", "w") as se:
            proc = subprocess.run(command, cwd=folder, stdout=so, stderr=se, timeout=timeout,
                                  check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RunnerError(f"{command[0]}: {err}") from err
    wall = time.perf_counter() - started
    result = RunResult(folder, wall, proc.returncode, folder / FLOAT_NAME)
    if proc.returncode != 0:
        raise RunnerError(f"{shlex.join(command[:3])}... exited with status {proc.returncode} "
                          f"(see {folder / 'stderr.txt'})")
    if not result.float_path.is_file():
        raise RunnerError(f"{command[0]} wrote no {FLOAT_NAME} in {folder}")
    return result


def detector_shape(nb_args: list[str], folder: Path) -> tuple[int, int] | None:
    """(slow, fast) pixels of the arguments, or None if nanobragg cannot parse them."""
    from ..commandline.to_config import build_request

    try:
        det = build_request(list(nb_args), cwd=folder).config.detector
    except InputError:
        return None
    return int(det.spixels), int(det.fpixels)


def image_stats(c_img: np.ndarray, py_img: np.ndarray) -> dict:
    """Agreement statistics of two images of equal shape (float64 arithmetic)."""
    c64, py64 = c_img.astype(np.float64), py_img.astype(np.float64)
    diff = py64 - c64
    where = np.unravel_index(int(np.argmax(np.abs(diff))), diff.shape) if diff.size else (0, 0)
    sum_c, sum_py = float(c64.sum()), float(py64.sum())
    return {
        "pixels": int(diff.size), "correlation": correlation(c64, py64),
        "rmse": float(np.sqrt(np.mean(diff * diff))) if diff.size else 0.0,
        "max_abs_diff": float(np.abs(diff).max()) if diff.size else 0.0,
        "max_abs_diff_at": {"slow": int(where[0]), "fast": int(where[1])},
        "sum_c": sum_c, "sum_py": sum_py,
        "sum_ratio_py_over_c": sum_py / sum_c if sum_c != 0 else None,
        "max_c": float(c64.max()) if diff.size else 0.0,
        "max_py": float(py64.max()) if diff.size else 0.0,
    }


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 1 for equal constant images, 0 if only one is constant."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    na, nb = float(np.sqrt(a @ a)), float(np.sqrt(b @ b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb and np.array_equal(a, b) else 0.0
    return float(min(1.0, max(-1.0, (a @ b) / (na * nb))))


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="nb-compare", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the C nanoBragg and nanobragg with the same arguments (after '--') "
                    "and compare their float images.",
        epilog="exit status: 0 ok, 2 usage error, 3 runner failure, 4 correlation below "
               "--min-corr, 5 image size mismatch")
    parser.add_argument("--c-bin", help="C nanoBragg binary (default: $NB_C_BIN)")
    parser.add_argument("--py-cmd", default=None,
                        help="nanobragg command (default: '<python> -m nanobragg')")
    parser.add_argument("--outdir", type=Path, default=None,
                        help="new or empty output folder (default: nb_compare_<time>)")
    parser.add_argument("--roi", nargs=4, type=int, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                        help="inclusive region, x = fast, y = slow (default: full frame)")
    parser.add_argument("--min-corr", type=float, default=DEFAULT_MIN_CORR,
                        help=f"lowest acceptable correlation (default {DEFAULT_MIN_CORR})")
    parser.add_argument("--save-diff", action="store_true", help="write diff_float.bin, diff.png")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per program")
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run ``nb-compare``; returns the exit status."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv and not {"-h", "--help"} & set(argv):
        print("nb-compare: error: give the nanoBragg arguments after '--'", file=sys.stderr)
        return EXIT_USAGE
    split = argv.index("--") if "--" in argv else len(argv)
    try:
        opts = _parser().parse_args(argv[:split])
    except SystemExit as stop:
        return EXIT_OK if stop.code == 0 else EXIT_USAGE
    try:
        setup = _check_usage(opts, argv[split + 1:])
    except InputError as err:
        print(f"nb-compare: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return _compare(opts, *setup, out)


def _check_usage(opts, nb_args: list[str]) -> tuple[Path, Path, list[str]]:
    """The C binary, a fresh output folder and the arguments, or InputError."""
    c_bin = opts.c_bin or os.environ.get("NB_C_BIN")
    if not c_bin:
        raise InputError("no C binary: give --c-bin PATH or set NB_C_BIN")
    c_path = Path(c_bin)
    if not c_path.is_file() or not os.access(c_path, os.X_OK):
        raise InputError(f"C binary {c_bin} is not an executable file")
    if not nb_args:
        raise InputError("no nanoBragg arguments after '--'")
    outdir = opts.outdir or Path(time.strftime("nb_compare_%Y%m%d-%H%M%S"))
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise InputError(f"output folder {outdir} exists and is not empty")
    if opts.roi is not None:
        xmin, xmax, ymin, ymax = opts.roi
        if xmin < 0 or ymin < 0 or xmax < xmin or ymax < ymin:
            raise InputError(f"--roi {xmin} {xmax} {ymin} {ymax}: need 0 <= min <= max")
    return c_path.resolve(), outdir, nb_args


def _compare(opts, c_bin: Path, outdir: Path, nb_args: list[str], out) -> int:
    c_dir, py_dir = outdir / "c_run", outdir / "py_run"
    c_dir.mkdir(parents=True)
    py_dir.mkdir()
    args = prepare_args(nb_args, Path.cwd(), [c_dir, py_dir])
    py_cmd = shlex.split(opts.py_cmd) if opts.py_cmd else [sys.executable, "-m", "nanobragg"]
    summary = {"argv": nb_args, "run_args": args, "c_bin": str(c_bin),
               "py_cmd": py_cmd, "min_corr": opts.min_corr, "roi": opts.roi}
    try:
        runs = {"c": run_program([str(c_bin), *args], c_dir, opts.timeout),
                "py": run_program([*py_cmd, *args], py_dir, opts.timeout)}
    except RunnerError as err:
        return _finish(outdir, summary | {"status": "runner_failure", "error": str(err)},
                       EXIT_RUNNER, out)
    summary["timing"] = {"c_wall_s": runs["c"].wall_s, "py_wall_s": runs["py"].wall_s,
                         "py_speedup_vs_c": runs["c"].wall_s / max(runs["py"].wall_s, 1e-9)}
    images = _load_images(runs, detector_shape(args, py_dir), summary)
    if images is None:
        return _finish(outdir, summary | {"status": "shape_mismatch"}, EXIT_SHAPE, out)
    return _evaluate(opts, outdir, images, summary, out)


def _load_images(runs: dict, shape, summary: dict):
    """Both images reshaped to (slow, fast), or None when their sizes disagree."""
    raw = {k: np.fromfile(r.float_path, dtype="<f4") for k, r in runs.items()}
    summary["float_values"] = {k: int(v.size) for k, v in raw.items()}
    summary["detector_shape"] = list(shape) if shape else None
    if raw["c"].size != raw["py"].size or shape is None or raw["c"].size != shape[0] * shape[1]:
        return None
    return {k: v.reshape(shape) for k, v in raw.items()}


def _evaluate(opts, outdir: Path, images: dict, summary: dict, out) -> int:
    c_img, py_img = images["c"], images["py"]
    region = (slice(None), slice(None))
    if opts.roi is not None:
        xmin, xmax, ymin, ymax = opts.roi
        if xmax >= c_img.shape[1] or ymax >= c_img.shape[0]:
            print(f"nb-compare: error: --roi outside the {c_img.shape[1]}x{c_img.shape[0]} "
                  "image", file=sys.stderr)
            return _finish(outdir, summary | {"status": "usage_error"}, EXIT_USAGE, out)
        region = (slice(ymin, ymax + 1), slice(xmin, xmax + 1))
    stats = image_stats(c_img[region], py_img[region])
    summary["stats"] = stats
    _write_images(outdir, c_img, py_img, opts.save_diff)
    passed = stats["correlation"] >= opts.min_corr
    summary["status"] = "ok" if passed else "below_min_corr"
    return _finish(outdir, summary, EXIT_OK if passed else EXIT_THRESHOLD, out)


def _write_images(outdir: Path, c_img: np.ndarray, py_img: np.ndarray, save_diff: bool) -> None:
    c_img.astype("<f4").tofile(outdir / "c_float.bin")
    py_img.astype("<f4").tofile(outdir / "py_float.bin")
    positive = c_img[c_img > 0]
    vmax = float(np.percentile(positive, 99.9)) if positive.size else None
    write_png(outdir / "c_preview.png", preview(c_img, vmax))
    write_png(outdir / "py_preview.png", preview(py_img, vmax))
    if save_diff:
        diff = py_img.astype(np.float64) - c_img.astype(np.float64)
        diff.astype("<f4").tofile(outdir / "diff_float.bin")
        write_png(outdir / "diff.png", diverging(diff))


def _finish(outdir: Path, summary: dict, status: int, out) -> int:
    summary["exit_status"] = status
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    stats = summary.get("stats")
    if stats:
        print(f"correlation {stats['correlation']:.9f}  rmse {stats['rmse']:.6g}  "
              f"max|diff| {stats['max_abs_diff']:.6g}  sum ratio py/c "
              f"{stats['sum_ratio_py_over_c']}", file=out)
    if "timing" in summary:
        t = summary["timing"]
        print(f"C {t['c_wall_s']:.3f} s, nanobragg {t['py_wall_s']:.3f} s", file=out)
    print(f"{summary.get('status')}: {outdir / 'summary.json'}", file=out)
    if summary.get("error"):
        print(f"nb-compare: {summary['error']}", file=sys.stderr)
    return status


def console_entry() -> None:
    """Entry point of the ``nb-compare`` console script."""
    sys.exit(main())
