"""The amorphous term in a nanoBragg render equals nonBragg's image of the same geometry."""

from __future__ import annotations

import io
import os

import numpy as np

from nanobragg.cli.main import run as nanobragg
from nanobragg.cli.nonbragg import run as nonbragg

from .conftest import case_dir

COMMON = "-lambda 1 -distance 100 -detpixels 48 -pixel 0.2 -oversample 2 -polar 0.9"


def test_nanobragg_stol_matches_nonbragg(tmp_path, monkeypatch):
    os.symlink(case_dir("nonbragg_water") / "water.stol", tmp_path / "water.stol")
    monkeypatch.chdir(tmp_path)
    # F = 1e-20 leaves only the amorphous term; MOSFLM's beam centre + half a pixel is
    # nonBragg's Xbeam = Ybeam = 48 * 0.2 / 2 + 0.2 mm
    bragg = (f"-cell 100 100 100 90 90 90 -default_F 1e-20 -N 1 {COMMON} -stol water.stol "
             "-amorphous_thick 0.3 -density 0.92 -MW 18 -floatfile nb.bin -nonoise -nopgm "
             "-noprogress").split()
    assert nanobragg(bragg, out=io.StringIO()) == 0
    amorphous = (f"-stol water.stol {COMMON} -Xbeam 5 -Ybeam 5 -thick 0.3 -density 0.92 "
                 "-floatfile non.bin -nonoise -noprogress").split()
    assert nonbragg(amorphous, out=io.StringIO()) == 0
    ours = np.fromfile("nb.bin", "<f4").astype(np.float64)
    want = np.fromfile("non.bin", "<f4").astype(np.float64)
    assert want.max() > 0
    assert np.abs(ours - want).max() <= 1e-9 * want.max()
