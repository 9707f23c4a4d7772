"""Golden parity: run the CLI on the C program's cases and compare the images.

Each case folder of ``../shared/golden`` holds the exact C arguments, its inputs and
its outputs. The CLI runs in a fresh folder holding only the inputs, as the C did.
Tolerances (the first promise of ../shared/DESIGN.md): float64 max |ours - C| <= 1e-5
of the image maximum, float32 <= 1e-3. The SMV int image must equal the C's up to one
count (rounding ties) in float64; in float32 the allowed float error (1e-3 of the maximum) maps to
at most 55 counts of the auto-scaled int image (55000 at the maximum) plus one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nanobragg.cli.main import run
from nanobragg.io.smv import read_smv

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
OUTPUT_NAMES = {"float.bin", "float_nonquirk.bin", "roi_float.bin", "int.img", "noise.img",
                "image.pgm", "stdout.txt", "stderr.txt", "case.json", "args.txt",
                "args_nonquirk.txt"}
FLOAT_TOL = {"float64": 1e-5, "float32": 1e-3}
INT_TOL = {"float64": 1, "float32": 56}

#: Cases expected to pass, with the ones that take long marked slow.
CASES = {
    "simple_cubic": False, "triclinic_P1": False, "highres_4096_roi": True,
    "hkl_nearest": False, "water_background": False, "point_pixel": False, "roi": False,
    "oversample2": False, "pgm_output": False, "noise_seed": False,
    "cubic_tilted_detector": False, "xds_convention": False, "dials_convention": False,
    "curved_detector": False, "mask": False, "detector_absorption": False,
    "sourcefile_three": False, "divergence_dispersion": False, "mosaic_domains": False,
    "phi_oscillation": False, "phi_start0_quirk": False, "oversample2_omega": False,
    "oversample2_polar": False, "shape_round": False, "shape_gauss": False,
    "shape_tophat": False, "interpolate_hkl": False, "heavy_combo_512": True,
}


def _params():
    for name, slow in CASES.items():
        for dtype in ("float64", "float32"):
            marks = [pytest.mark.slow] if slow else []
            yield pytest.param(name, dtype, marks=marks, id=f"{name}-{dtype}")


def _run_case(name: str, dtype: str, workdir: Path, monkeypatch) -> Path:
    case = GOLDEN / name
    if not case.is_dir():
        pytest.skip(f"golden case {case} not found")
    for item in case.iterdir():
        if item.name not in OUTPUT_NAMES and not item.name.startswith("trace_"):
            shutil.copy(item, workdir / item.name)
    args = (case / "args.txt").read_text().split()
    monkeypatch.chdir(workdir)
    assert run(args + ["-dtype", dtype, "-noprogress"]) == 0
    return case


def _reference_float(case: Path, meta: dict) -> tuple[np.ndarray, tuple[slice, slice]]:
    info = meta["float_image"]
    if (case / "float_nonquirk.bin").exists():
        ref_file = case / "float_nonquirk.bin"
    else:
        ref_file = case / info["file"]
    ref = np.fromfile(ref_file, "<f4").reshape(info["height"], info["width"])
    window = (slice(None), slice(None))
    if "crop" in meta:
        crop = meta["crop"]
        window = (slice(crop["slow_first"], crop["slow_last"] + 1),
                  slice(crop["fast_first"], crop["fast_last"] + 1))
    return ref, window


@pytest.mark.parametrize("name,dtype", list(_params()))
def test_golden_case(name, dtype, tmp_path, monkeypatch):
    case = _run_case(name, dtype, tmp_path, monkeypatch)
    meta = json.loads((case / "case.json").read_text())
    ref, window = _reference_float(case, meta)
    det = meta["detector"]
    ours = np.fromfile(tmp_path / "float.bin", "<f4").reshape(det["slow_pixels"],
                                                               det["fast_pixels"])[window]
    worst = float(np.abs(ours.astype(np.float64) - ref).max())
    assert worst <= FLOAT_TOL[dtype] * float(ref.max()), (
        f"{name} {dtype}: max |diff| {worst:g} vs image max {ref.max():g}")
    if (case / "int.img").exists() and "float_nonquirk.bin" not in {p.name for p in
                                                                     case.iterdir()}:
        _compare_smv(case / "int.img", tmp_path / "int.img", INT_TOL[dtype])
    if (case / "noise.img").exists() and dtype == "float64":
        _compare_smv(case / "noise.img", tmp_path / "noise.img", 0)
    if (case / "image.pgm").exists():
        theirs = (case / "image.pgm").read_bytes()
        mine = (tmp_path / "image.pgm").read_bytes()
        if dtype == "float64":
            assert mine == theirs
        else:
            assert len(mine) == len(theirs)


def _compare_smv(reference: Path, produced: Path, tolerance: int) -> None:
    want, got = read_smv(reference), read_smv(produced)
    assert _header_dict(got.header) == _header_dict(want.header)
    diff = np.abs(got.data.astype(np.int64) - want.data.astype(np.int64))
    assert int(diff.max()) <= tolerance, f"{produced.name}: max count difference {diff.max()}"


def _header_dict(header: str) -> dict[str, str]:
    pairs = {}
    for line in header.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            pairs[key] = value.rstrip(";")
    return pairs
