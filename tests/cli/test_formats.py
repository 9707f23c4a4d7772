"""The command's image formats end to end: files other readers open, and user errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nanobragg.cli.main import run
from nanobragg.io.smv import header_value, read_smv

BASE = ["-cell", "60", "60", "60", "90", "90", "90", "-N", "3", "-lambda", "1.2",
        "-distance", "60", "-detpixels_f", "40", "-detpixels_s", "32", "-pixel", "0.3",
        "-default_F", "100", "-oversample", "1", "-misset", "5", "10", "15", "-osc", "1",
        "-seed", "7"]


def test_fabio_opens_every_smv_and_cbf_we_write(tmp_path, monkeypatch):
    fabio = pytest.importorskip("fabio")
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-cbffile", "image.cbf", "-exposure", "2"]) == 0
    for name in ("intimage.img", "noiseimage.img"):
        ours = read_smv(tmp_path / name)
        theirs = fabio.open(str(tmp_path / name))
        np.testing.assert_array_equal(theirs.data, ours.data)
        for key in ("SIZE1", "SIZE2", "PIXEL_SIZE", "DISTANCE", "WAVELENGTH",
                    "BEAM_CENTER_X", "BEAM_CENTER_Y", "OSC_RANGE", "PHI"):
            assert float(theirs.header[key]) == pytest.approx(header_value(ours.header, key),
                                                              rel=1e-6), key
    cbf = fabio.open(str(tmp_path / "image.cbf"))
    np.testing.assert_array_equal(cbf.data, read_smv(tmp_path / "intimage.img").data)
    contents = cbf.header["_array_data.header_contents"]
    assert "# Exposure_time 2.0000000 s" in contents
    assert "# Angle_increment 1.000000 deg." in contents
    assert "# Wavelength 1.200000 A" in contents


def test_nexus_from_the_command_equals_the_int_image(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-nexusfile", "image.h5", "-nonoise", "-roi", "3", "30", "2", "28",
                       "-flux", "1e12", "-exposure", "2", "-beamsize", "0.1"]) == 0
    smv = read_smv(tmp_path / "intimage.img")
    with h5py.File(tmp_path / "image.h5", "r") as f:
        np.testing.assert_array_equal(f["/entry/data/data"][0], smv.data)
        mm = f["/entry/instrument/detector/distance"][()]
        assert mm == pytest.approx(header_value(smv.header, "DISTANCE"), rel=1e-12)
        assert (f["/entry/instrument/detector/pixel_mask"][()] != 0).sum() == 40 * 32 - 28 * 27
        assert f["/entry/instrument/beam/total_flux"][()] == pytest.approx(1e12, rel=1e-12)
        assert f["/entry/instrument/detector/count_time"][()] == 2.0


def test_nexus_stack_writes_one_frame_per_phi_step(tmp_path, monkeypatch, capsys):
    h5py = pytest.importorskip("h5py")
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-nexusfile", "s.h5", "-nexus_stack", "-phisteps", "3", "-nonoise",
                       "-nexus_compression", "none"]) == 0
    assert "3 phi-step frames" in capsys.readouterr().out
    with h5py.File(tmp_path / "s.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.shape == (3, 32, 40) and data.compression is None
        phi = f["/entry/sample/transformations/phi"][()]
        np.testing.assert_allclose(phi, [0.0, 1 / 3, 2 / 3], atol=1e-12)
        summed = read_smv(tmp_path / "intimage.img").data.astype(np.int64)
        # frames share the int image's scale; each rounds separately and adds the adc
        excess = data[()].astype(np.int64).sum(0) - 2 * 40 - summed
        assert np.abs(excess).max() <= 2


def test_png_from_the_command_opens_in_pillow(tmp_path, monkeypatch, capsys):
    image_module = pytest.importorskip("PIL.Image")
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-pngfile", "p.png", "-pngrings", "-nonoise", "-nopgm"]) == 0
    assert "resolution rings at" in capsys.readouterr().out
    with image_module.open(tmp_path / "p.png") as picture:
        assert picture.size == (40, 32) and picture.mode == "RGB"


@pytest.mark.parametrize("extra, flag", [
    (["-pngrings"], "-pngrings"),
    (["-nexus_stack"], "-nexus_stack"),
    (["-nexus_compression", "bitshuffle"], "-nexus_compression"),
    (["-nexusfile", "x.h5", "-nexus_compression", "zip"], "-nexus_compression"),
    (["-cbffile", "intimage.img"], "-cbffile"),
    (["-pngfile", "a.png", "-nexusfile", "a.png"], "-nexusfile"),
    (["-cbffile", "no/such/folder/a.cbf"], "-cbffile"),
    (["-nexusfile"], "-nexusfile"),
])
def test_bad_or_conflicting_options_are_one_line_errors(extra, flag, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0]
    assert list(tmp_path.iterdir()) == []


def test_missing_h5py_names_the_extra_before_rendering(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    assert run(BASE + ["-nexusfile", "x.h5"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "-nexusfile" in err[0] and "nanobragg[io]" in err[0]
    assert "rendered in" not in captured.out
    assert list(tmp_path.iterdir()) == []


def test_cbf_and_png_need_no_optional_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("h5py", "hdf5plugin", "fabio", "PIL"):
        monkeypatch.setitem(sys.modules, name, None)
    assert run(BASE + ["-cbffile", "a.cbf", "-pngfile", "a.png", "-nonoise"]) == 0
    assert (tmp_path / "a.cbf").read_bytes().startswith(b"###CBF")
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")


def test_bitshuffle_without_hdf5plugin_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)
    assert run(BASE + ["-nexusfile", "x.h5", "-nexus_compression", "bitshuffle"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hdf5plugin" in err[0] and "nanobragg[io]" in err[0]
    assert list(tmp_path.iterdir()) == []
