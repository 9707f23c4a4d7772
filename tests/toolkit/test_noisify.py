"""noisify against the reference program's golden runs, and its handling of bad input.

Without a PSF the int and noise images must be byte-identical to the C's. With a PSF
the FFT sum rounds differently from the C's float32 direct sum: at most 0.1 % of the
noise-image pixels may differ, by at most one count (measured: 0.0105 % for
noisify_psf_gauss, 0.0153 % for noisify_psf_fiber, in both dtypes).
"""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.cli.noisify import run

from .conftest import case_dir, smv_pixels, stage_inputs

CASES = ("noisify_readout_gain", "noisify_flicker_calibration", "noisify_psf_gauss",
         "noisify_psf_fiber")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_golden_case(name, dtype, tmp_path, monkeypatch, capsys):
    args = stage_inputs(name, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(args + ["-dtype", dtype]) == 0
    case = case_dir(name)
    assert (tmp_path / "int.img").read_bytes() == (case / "int.img").read_bytes()
    ours_header, ours = smv_pixels(tmp_path / "noise.img")
    want_header, want = smv_pixels(case / "noise.img")
    assert ours_header == want_header
    if "psf" not in name:
        assert np.array_equal(ours, want)
        assert capsys.readouterr().out == (case / "stdout.txt").read_text()
    else:
        differ = ours != want
        assert differ.mean() <= 1e-3, f"{differ.mean():.5%} of pixels differ"
        assert np.abs(ours.astype(np.int64) - want).max() <= 1


def _input(tmp_path, pixels=64 * 64, name="in_floatimage.bin"):
    values = np.linspace(0.0, 50.0, pixels, dtype=np.float32)
    values.tofile(tmp_path / name)
    return name


def test_bits32_header_and_values(tmp_path, monkeypatch):
    name = _input(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["-bin", name, "-bits", "32", "-seed", "3", "-adc", "-20", "-nopgm",
                "-readout", "4"]) == 0
    header, pixels = smv_pixels(tmp_path / "noiseimage.img", "<u4")
    assert b"TYPE=long_integer;" in header and b"SIZE1=64;" in header
    # negative ADU wrap around like the C's (unsigned int) conversion
    assert pixels.size == 64 * 64 and int(pixels.max()) > 2**31


def test_guesses_shape_and_writes_pgm(tmp_path, monkeypatch, capsys):
    name = _input(tmp_path, pixels=48 * 32)
    monkeypatch.chdir(tmp_path)
    assert run([name, "-seed", "1", "-scale", "2"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: guessing xy pixel dimensions." in out
    assert "(32x48 pixels)" in out
    assert (tmp_path / "image.pgm").read_bytes().startswith(b"P5\n32 48\n# pixels scaled by 1\n")


def test_nonoise_psf_on_noiseless_image(tmp_path, monkeypatch, capsys):
    name = _input(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["-floatfile", name, "-nonoise", "-psf", "gauss", "-psf_fwhm", "200",
                "-nopgm"]) == 0
    assert "applying PSF to noiseless image width = 2 pixels" in capsys.readouterr().out
    assert not (tmp_path / "noiseimage.img").exists()
    _, pixels = smv_pixels(tmp_path / "intimage.img")
    assert pixels.size == 64 * 64


@pytest.mark.parametrize("args,message", [
    (["-floatfile", "missing_floatimage.bin"], "cannot read"),
    (["-floatfile", "in_floatimage.bin", "-detpixels", "100"], "size is 16384 bytes"),
    (["-floatfile", "in_floatimage.bin", "-scale", "nan"], "-scale: 'nan' is not a finite"),
    (["-floatfile", "in_floatimage.bin", "-scale", "1e999"], "-scale"),
    (["-floatfile", "in_floatimage.bin", "-bits", "8"], "-bits: 8 is not 16 or 32"),
    (["-floatfile", "in_floatimage.bin", "-gian", "2"], "unknown option '-gian'"),
    (["-floatfile", "in_floatimage.bin", "-header", "in_floatimage.bin"], "-header"),
    (["-floatfile", "in_floatimage.bin", "-seed"], "-seed: needs 1 value"),
    (["-seed", "4"], "no input image"),
    (["-floatfile", "in_floatimage.bin", "-psf", "gauss", "-psf_fwhm", "0"],
     "-psf_fwhm: a gauss PSF needs a positive width"),
    (["-floatfile", "in_floatimage.bin", "-pixel", "0"], "-pixel: must be positive"),
    (["-floatfile", "in_floatimage.bin", "-gain", "-1.5"], "-gain: must be positive"),
    (["-floatfile", "in_floatimage.bin", "-readout_noise", "-3"], "-readout_noise: must not"),
    (["-floatfile", "in_floatimage.bin", "-scale", "-2"], "-scale: must not be negative"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, monkeypatch, capsys):
    _input(tmp_path)
    (tmp_path / "intimage.img").write_bytes(b"old")
    monkeypatch.chdir(tmp_path)
    assert run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("noisify: error:") and message in err[0]
    assert (tmp_path / "intimage.img").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in_floatimage.bin", "intimage.img"]
