"""Every user mistake: exit status 2, one line on stderr naming the flag or file, no
traceback, and the run folder exactly as it was (no file created, none changed)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanobragg.cli.main import run

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "3", "-default_F", "10",
        "-detpixels", "8", "-lambda", "1", "-distance", "100"]
#: A 64x64 SMV image of unsigned shorts (the C's -img/-mask format).
SMV_HEADER = "{\nHEADER_BYTES=512;\nDIM=2;\nTYPE=%s;\nSIZE1=%d;\nSIZE2=%d;\n}\f"

TEXT_FILES = {
    "three.hkl": "1 2 3\n4 5 6\n",
    "five.hkl": "1 2 3 10 5\n1 1 1 4 4\n",
    "frac.hkl": "1.5 2 3 10\n",
    "decimal.hkl": "0 0 0 5\n1.0 2 3 10\n",
    "nan.hkl": "1 2 3 nan\n",
    "inf.hkl": "1 2 3 inf\n",
    "dup.hkl": "1 2 3 10\n1 2 3 20\n",
    "empty.hkl": "",
    "words.hkl": "h k l F\n",
    "big.hkl": "".join(f"{600 * a} {600 * b} {600 * c} 1\n" for a, b, c in
                       ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))),
    "huge.hkl": "100000000 0 0 1\n-100000000 0 0 1\n",
    "zero.mat": "0 0 0\n0 0 0\n0 0 0\n",
    "singular.mat": "1 2 3\n2 4 6\n1 1 1\n",
    "nan.mat": "nan 0 0\n0 0.01 0\n0 0 0.01\n",
    "short.mat": "0.01 0 0\n0 0.01\n",
    "text.txt": "hello\n",
    "bad_Fdump.bin": "0 0 0 0 0 0\n\f" + "x" * 10,
}


def _smv(kind: str, width: int, height: int, pixels: int) -> bytes:
    return (SMV_HEADER % (kind, width, height)).encode().ljust(512, b" ") + bytes(2 * pixels)


BINARY_FILES = {
    "float.img": _smv("float", 8, 8, 64),
    "truncated.img": _smv("unsigned_short", 8, 8, 10),
    "small_mask.img": _smv("unsigned_short", 4, 4, 16),
    "noheader.img": b"\0" * 1024,
}

CASES = [
    # NaN and infinite numbers
    (["-cell", "nan", "100", "100", "90", "90", "90"], "-cell"),
    (["-cell", "100", "100", "100", "90", "90", "inf"], "-cell"),
    (["-Xbeam", "nan"], "-Xbeam"),
    (["-Ybeam", "inf"], "-Ybeam"),
    (["-fluence", "inf"], "-fluence"),
    (["-fluence", "nan"], "-fluence"),
    (["-fluence", "1e400"], "-fluence"),
    (["-phi", "inf"], "-phi"),
    (["-N", "inf"], "-N"),
    (["-N", "nan"], "-N"),
    (["-default_F", "nan"], "-default_F"),
    (["-default_F", "inf"], "-default_F"),
    (["-distance", "nan"], "-distance"),
    (["-lambda", "nan"], "-lambda"),
    (["-mosaic", "nan"], "-mosaic"),
    (["-osc", "nan"], "-osc"),
    (["-phistep", "inf"], "-phistep"),
    (["-pixel", "nan"], "-pixel"),
    (["-twotheta", "nan"], "-twotheta"),
    (["-detector_rotx", "inf"], "-detector_rotx"),
    (["-misset", "nan", "0", "0"], "-misset"),
    (["-xtalsize", "nan"], "-xtalsize"),
    (["-polar", "nan"], "-polar"),
    (["-dispersion", "nan"], "-dispersion"),
    (["-divergence", "inf"], "-divergence"),
    (["-flux", "nan"], "-flux"),
    (["-water", "nan"], "-water"),
    (["-detector_thick", "inf"], "-detector_thick"),
    (["-fudge", "nan"], "-fudge"),
    (["-dmin", "nan"], "-dmin"),
    (["-close_distance", "nan"], "-close_distance"),
    (["-fdet_vector", "nan", "0", "0"], "-fdet_vector"),
    (["-scale", "nan"], "-scale"),
    (["-adc", "inf"], "-adc"),
    # impossible values
    (["-cell", "100", "100", "100", "90", "90", "180"], "-cell"),
    (["-cell", "100", "100", "100", "10", "10", "100"], "-cell"),
    (["-cell", "100", "100"], "-cell"),
    (["-cell", "100", "100", "100", "90", "90"], "-cell"),
    (["-N", "0"], "-N"),
    (["-N", "-3"], "-N"),
    (["-Nb", "0"], "-Nb"),
    (["-detpixels", "0"], "-detpixels"),
    (["-detpixels", "3.5"], "-detpixels"),
    (["-detpixels", "inf"], "-detpixels"),
    (["-detpixels", "-5"], "-detpixels"),
    (["-detpixels_f", "0"], "-detpixels"),
    (["-detpixels", "100000"], "-detpixels"),
    (["-lambda", "0"], "-lambda"),
    (["-energy", "0"], "-energy"),
    (["-pixel", "0"], "-pixel"),
    (["-distance", "-5"], "-distance"),
    (["-spindle_axis", "0", "0", "0"], "-spindle_axis"),
    (["-beam_vector", "0", "0", "0"], "-beam_vector"),
    (["-roi", "10", "5", "0", "7"], "-roi"),
    (["-roi", "20", "30", "0", "7"], "-roi"),
    (["-seed", "abc"], "-seed"),
    (["-oversample", "2.5"], "-oversample"),
    (["-device", "tpu"], "-device"),
    (["-dtype", "float16"], "-dtype"),
    (["-bogus", "3"], "-bogus"),
    # absurd cost
    (["-distance", "0.001"], "-oversample"),
    (["-mosaic", "1", "-mosaic_dom", "1000000000"], "-mosaic_domains"),
    (["-detpixels", "4000", "-oversample", "1000"], "-nocostlimit"),
    # 1e7 sub-steps per pixel that the eager kernel must hold at once (measured 1.9 GB)
    (["-detpixels", "1", "-oversample", "316", "-oversample_omega", "-mosaic", "1",
      "-mosaic_dom", "100", "-round_xtal"], "-oversample_omega"),
    (["-detpixels", "1", "-oversample", "300", "-mosaic", "1", "-mosaic_dom", "100",
      "-round_xtal", "-dmin", "1"], "-dmin"),
    # matrix files
    (["-mat", "zero.mat"], "-mat"),
    (["-mat", "singular.mat"], "-mat"),
    (["-mat", "nan.mat"], "-mat"),
    (["-mat", "short.mat"], "short.mat"),
    (["-mat", "missing.mat"], "missing.mat"),
    # structure-factor files
    (["-hkl", "three.hkl"], "three.hkl"),
    (["-hkl", "five.hkl"], "five.hkl"),
    (["-hkl", "frac.hkl"], "frac.hkl"),
    (["-hkl", "decimal.hkl"], "decimal.hkl"),
    (["-hkl", "nan.hkl"], "nan.hkl"),
    (["-hkl", "inf.hkl"], "inf.hkl"),
    (["-hkl", "dup.hkl"], "dup.hkl"),
    (["-hkl", "empty.hkl"], "empty.hkl"),
    (["-hkl", "words.hkl"], "words.hkl"),
    (["-hkl", "big.hkl"], "big.hkl"),
    (["-hkl", "huge.hkl"], "huge.hkl"),
    (["-hkl", "missing.hkl"], "missing.hkl"),
    (["-hkl", "."], "-hkl"),
    (["-dump", "bad_Fdump.bin", "-cell", "100", "100", "100", "90", "90", "90"],
     "bad_Fdump.bin"),
    # SMV images
    (["-mask", "float.img"], "float.img"),
    (["-img", "float.img"], "float.img"),
    (["-mask", "truncated.img"], "truncated.img"),
    (["-img", "noheader.img"], "noheader.img"),
    (["-mask", "text.txt"], "text.txt"),
    (["-mask", "missing.img"], "missing.img"),
    (["-mask", "small_mask.img", "-detpixels", "8"], "-mask"),
    (["-sourcefile", "missing.txt"], "missing.txt"),
    # output paths
    (["-floatfile", "no/such/folder/f.bin"], "-floatfile"),
    (["-floatfile", "sub"], "-floatfile"),
    (["-intfile", "/proc/nanobragg_test.img"], "-intfile"),
    (["-floatfile", "same.bin", "-intfile", "same.bin"], "-intfile"),
    (["-pgmfile", "sub"], "-pgmfile"),
    (["-noisefile", "no/such/n.img"], "-noisefile"),
]


def _prepare_folder(folder: Path) -> None:
    for name, text in TEXT_FILES.items():
        (folder / name).write_text(text)
    for name, data in BINARY_FILES.items():
        (folder / name).write_bytes(data)
    (folder / "sub").mkdir()
    (folder / "floatimage.bin").write_bytes(b"an earlier run's image")


def _snapshot(folder: Path) -> dict[str, str]:
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        state[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _case_id(case) -> str:
    return " ".join(case[0])[:40]


def test_at_least_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("extra,needle", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input(extra, needle, tmp_path, monkeypatch, capsys):
    _prepare_folder(tmp_path)
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = BASE + extra
    if extra[0] == "-dump":
        argv = [a for a in BASE if a not in ("-default_F", "10")] + extra[2:] + extra[:2]
    status = run(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0] and "Traceback" not in err
    assert lines[0].startswith("nanoBragg: error: ")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("extra,needle", [(["-cell", "100", "100", "100", "90", "90", "180"],
                                           "-cell"),
                                          (["-hkl", "dup.hkl"], "dup.hkl"),
                                          (["-floatfile", "sub"], "-floatfile")])
def test_bad_input_from_the_console(extra, needle, tmp_path):
    _prepare_folder(tmp_path)
    before = _snapshot(tmp_path)
    done = subprocess.run([sys.executable, "-m", "nanobragg", *BASE, *extra], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr
    assert "Traceback" not in done.stderr
    assert _snapshot(tmp_path) == before


def test_memory_limit_names_the_detector():
    from nanobragg.config import DetectorConfig, SimulationConfig
    from nanobragg.errors import InputError
    from nanobragg.render.limits import check_allocation

    config = SimulationConfig(detector=DetectorConfig(fpixels=40000, spixels=40000))
    with pytest.raises(InputError, match="-detpixels: a 40000x40000 detector needs about"):
        check_allocation(config, memory=16 * 2**30)
    check_allocation(SimulationConfig(), memory=16 * 2**30)


def test_nocostlimit_lets_an_expensive_render_through():
    from nanobragg.errors import InputError
    from nanobragg.render.limits import RenderCost, check_render_cost

    cost = RenderCost(pixels=10**6, steps=10**6, layers=20, oversample=1,
                      auto_oversample=False)
    with pytest.raises(InputError, match="2e\\+13 evaluations"):
        check_render_cost(cost)
    check_render_cost(cost, override=True)
    auto = RenderCost(pixels=1, steps=1, layers=1, oversample=33, auto_oversample=True)
    with pytest.raises(InputError, match="give -oversample N explicitly"):
        check_render_cost(auto, override=True)


def test_non_finite_image_is_reported(tmp_path, monkeypatch, capsys):
    # an F large enough to overflow: every pixel of the image is infinite
    monkeypatch.chdir(tmp_path)
    argv = [a if a != "10" else "1e200" for a in BASE] + ["-nonoise", "-nopgm"]
    assert run(argv) == 0
    err = capsys.readouterr().err
    assert "the float image has 0 NaN and 64 infinite pixels (of 64)" in err
    assert np.isinf(np.fromfile(tmp_path / "floatimage.bin", "<f4")).all()
