"""nonBragg against the reference program's golden runs, and its handling of bad input.

float64: the float image within 1e-9 of the image maximum (measured: bit-identical),
the int and noise images and the printed report byte-identical; the PGM's pixels equal
(the C writes twice the pixel count, the second half being whatever heap memory follows
its buffer; we write the pixels only). float32: the float image within 1e-4 of the
maximum (measured 4.6e-5 for nonbragg_ice_tilted, whose sharp ice rings turn float32
rounding of sin(theta)/lambda into F), the int image within 7 counts (1e-4 of the
55000-count auto scale, plus rounding); the noise image is not compared in float32,
since one changed mean shifts the rest of the random stream (as for nanoBragg).
"""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.cli.nonbragg import run

from .conftest import case_dir, case_meta, smv_pixels, stage_inputs

CASES = ("nonbragg_water", "nonbragg_air_divergence", "nonbragg_ice_tilted")
FLOAT_TOL = {"float64": 1e-9, "float32": 1e-4}
INT_TOL = {"float64": 0, "float32": 7}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_golden_case(name, dtype, tmp_path, monkeypatch, capsys):
    args = stage_inputs(name, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(args + ["-dtype", dtype]) == 0
    case = case_dir(name)
    want = np.fromfile(case / "float.bin", "<f4").astype(np.float64)
    ours = np.fromfile(tmp_path / "float.bin", "<f4").astype(np.float64)
    assert np.abs(ours - want).max() <= FLOAT_TOL[dtype] * want.max()
    ours_header, ours_int = smv_pixels(tmp_path / "int.img")
    want_header, want_int = smv_pixels(case / "int.img")
    assert ours_header == want_header
    assert np.abs(ours_int.astype(np.int64) - want_int).max() <= INT_TOL[dtype]
    pgm = (tmp_path / "image.pgm").read_bytes()
    if dtype == "float64":
        assert capsys.readouterr().out == (case / "stdout.txt").read_text()
        assert pgm == (case / "image.pgm").read_bytes()[: len(pgm)]
        if (case / "noise.img").exists():
            assert (tmp_path / "noise.img").read_bytes() == (case / "noise.img").read_bytes()
    assert "-nonoise" in case_meta(name)["args"] or (tmp_path / "noise.img").exists()


def _table(tmp_path, text="0 2.5\n0.1 2.6\n0.2 2.0\n0.4 1.0\n"):
    (tmp_path / "t.stol").write_text(text)
    return "t.stol"


def test_options_roi_fmap_and_q_table(tmp_path, monkeypatch, capsys):
    _table(tmp_path, "0 1\n1.2566370614359172 3\n2.5132741228718345 5\n")
    monkeypatch.chdir(tmp_path)
    args = ["-Q", "t.stol", "-detpixels", "20", "-pixel", "1", "-distance", "50",
            "-roi", "2", "10", "3", "12", "-Fmap", "-nonoise", "-noprogress"]
    assert run(args) == 0
    image = np.fromfile(tmp_path / "floatimage.bin", "<f4").reshape(20, 20)
    assert (image[:3] == 0).all() and (image[:, 11:] == 0).all()
    inside = image[3:13, 2:11]
    assert inside.min() >= 0.99 and inside.max() <= 3.1  # F of s in 0..0.14 1/A
    assert "Fmap mode" in capsys.readouterr().out


def test_comment_lines_are_skipped(tmp_path, monkeypatch):
    # the reference repository's nanoice.stol starts with two '#' lines
    monkeypatch.chdir(tmp_path)
    _table(tmp_path, "0 1\n0.1 2\n0.2 3\n")
    assert run(["-stol", "t.stol", "-detpixels", "8", "-floatfile", "a.bin", "-nonoise",
                "-noprogress"]) == 0
    _table(tmp_path, "#Curve 0, 3 points\n  # x y type\n0 1 i\n0.1 2 i\n\n0.2 3 i\n")
    assert run(["-stol", "t.stol", "-detpixels", "8", "-floatfile", "b.bin", "-nonoise",
                "-noprogress"]) == 0
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


@pytest.mark.parametrize("text,message", [
    ("0 2.5\nwater 2.6\n", "line 2: not numbers"),
    ("0 2.5\n0.1 x\n", "line 2: not numbers"),
    ("0 2.5\n0.2 2.6\n0.1 2.0\n", "line 3: s = 0.1 is not above"),
    ("-0.1 2.5\n0.2 2.6\n", "line 1: s = -0.1 must be a finite, non-negative"),
    ("0 2.5\n0.2 nan\n", "line 2: F = nan is not finite"),
    ("\n\n", "no data"),
])
def test_bad_table_is_one_line_exit_2(text, message, tmp_path, monkeypatch, capsys):
    _table(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    assert run(["-stol", "t.stol", "-detpixels", "8", "-floatfile", "f.bin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nonBragg: error: -stol:") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.stol"]


@pytest.mark.parametrize("args,message", [
    (["-detpixels", "8"], "give its table with -stol"),
    (["-stol", "t.stol", "-thick", "abc"], "-thick: 'abc' is not a finite number"),
    (["-stol", "t.stol", "-detpixels", "8.5"], "-detpixels: '8.5' is not a whole number"),
    (["-stol", "t.stol", "-thicknes", "1", "-bogus"], "unknown option '-bogus'"),
    (["-stol", "missing.stol"], "-stol file 'missing.stol': cannot read"),
    (["-stol", "t.stol", "-img", "x.img"], "-img: extracting a stol table"),
    (["-stol", "t.stol", "-floatfile", "nodir/f.bin"], "-floatfile"),
    (["-stol", "t.stol", "-MW", "0"], "-MW: the molecular weight must be positive"),
    (["-stol", "t.stol", "-energy", "0"], "-lambda/-energy: the wavelength must be positive"),
    (["-stol", "t.stol", "-distance", "0"], "-distance: the detector distance must be"),
    (["-stol", "t.stol", "-thick", "-1"], "-thick: must not be negative"),
    (["-stol", "t.stol", "-sample_den", "-1"], "-density: must not be negative"),
    (["-stol", "t.stol", "-flux", "1e12", "-beamsize", "0"], "-beamsize: a beam of size 0"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, monkeypatch, capsys):
    _table(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nonBragg: error:") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.stol"]
