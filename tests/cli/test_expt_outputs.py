"""``-expt`` and ``-exptout`` on the command line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nanobragg.cli.main import run
from nanobragg.commandline.to_config import build_request
from nanobragg.io.expt import from_expt
from nanobragg.io.smv import header_value, read_smv
from nanobragg.render.panels import simulate_panels

DATA = Path(__file__).resolve().parents[1] / "io" / "data"
TWO_PANEL = str(DATA / "two_panel.expt")
PILATUS = str(DATA / "pilatus6m.expt")


def test_two_panel_run_writes_the_panels_stacked_and_the_experiment_list(tmp_path):
    out = tmp_path / "sim.expt"
    argv = ["-expt", TWO_PANEL, "-N", "5", "-default_F", "100", "-oversample", "1",
            "-floatfile", str(tmp_path / "panels.bin"), "-exptout", str(out)]
    assert run(argv) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"panels.bin", "sim.expt"}
    stacked = np.fromfile(tmp_path / "panels.bin", "<f4").reshape(2, 64, 64)
    expected = simulate_panels(build_request(argv).config).image.numpy()
    assert np.array_equal(stacked, expected.astype(np.float32))
    back = from_expt(out)
    original = from_expt(TWO_PANEL)
    for a, b in zip(original.detector.panels, back.detector.panels):
        assert b.origin == pytest.approx(a.origin, abs=1e-15)
        assert b.fast_axis == pytest.approx(a.fast_axis, abs=1e-15)


def test_single_panel_run_writes_the_usual_files(tmp_path):
    argv = ["-expt", PILATUS, "-N", "5", "-default_F", "100", "-oversample", "1",
            "-roi", "1250", "1269", "1290", "1309", "-nonoise", "-nopgm",
            "-floatfile", str(tmp_path / "f.bin"), "-intfile", str(tmp_path / "i.img"),
            "-exptout", str(tmp_path / "truth.expt")]
    assert run(argv) == 0
    smv = read_smv(tmp_path / "i.img")
    assert smv.data.shape == (2527, 2463)
    assert header_value(smv.header, "PIXEL_SIZE") == pytest.approx(0.172)
    assert header_value(smv.header, "DISTANCE") == pytest.approx(250.0)
    image = np.fromfile(tmp_path / "f.bin", "<f4").reshape(2527, 2463)
    window = image[1290:1310, 1250:1270]
    assert window.max() > 0 and image.sum() == window.sum()
    truth = from_expt(tmp_path / "truth.expt")
    assert truth.detector.panels[0].origin == pytest.approx((0.25, 0.2196948, -0.2124612))


@pytest.mark.parametrize("flag", [["-distance", "100"], ["-lambda", "1.2"],
                                  ["-cell", "50", "50", "50", "90", "90", "90"],
                                  ["-detpixels", "100"], ["-phi", "3"]])
def test_geometry_flags_conflict_with_expt(tmp_path, capsys, flag):
    argv = ["-expt", TWO_PANEL, "-default_F", "100", "-floatfile",
            str(tmp_path / "x.bin")] + flag
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "conflicts with -expt" in err and flag[0] in err
    assert not list(tmp_path.iterdir())


def test_a_missing_experiment_list_is_a_one_line_error(tmp_path, capsys):
    assert run(["-expt", str(tmp_path / "none.expt"), "-default_F", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.count("-expt") == 1 and "cannot read" in err


def test_expt_image_picks_the_scan_image(tmp_path):
    common = ["-expt", TWO_PANEL, "-default_F", "1"]
    first = build_request(common, tmp_path).config.crystal
    third = build_request(common + ["-expt_image", "3"], tmp_path).config.crystal
    assert math.degrees(first.phi0) == pytest.approx(20.0)
    assert math.degrees(third.phi0) == pytest.approx(21.0)


def test_image_formats_for_a_multi_panel_detector_are_an_error(tmp_path, capsys):
    argv = ["-expt", TWO_PANEL, "-default_F", "1", "-floatfile", str(tmp_path / "f.bin"),
            "-pngfile", str(tmp_path / "p.png")]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "-pngfile" in err and "multi-panel" in err
    assert not list(tmp_path.iterdir())
