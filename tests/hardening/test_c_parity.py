"""Float images against the C program for the cases a randomized comparison found wrong.

Skipped unless ``NB_C_BIN`` names a built C nanoBragg; each case runs both programs in
empty folders of their own and asserts bit-identical float images (float64 engine).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

C_BIN = os.environ.get("NB_C_BIN")
pytestmark = pytest.mark.skipif(not C_BIN or not Path(C_BIN).is_file(),
                                reason="set NB_C_BIN to a built C nanoBragg to compare")

COMMON = ["-lambda", "1", "-nonoise", "-nopgm"]


def _hkl_text(radius: int) -> str:
    rng = np.random.default_rng(1)
    rows = [f"{h} {k} {l} {rng.uniform(1, 100):.3f}"
            for h in range(-radius, radius + 1) for k in range(-radius, radius + 1)
            for l in range(-radius, radius + 1)]
    return "\n".join(rows) + "\n"


def _float_image(command: list[str], folder: Path, hkl: str | None) -> np.ndarray:
    folder.mkdir()
    if hkl is not None:
        (folder / "F.hkl").write_text(hkl)
    subprocess.run(command, cwd=folder, check=True, capture_output=True, timeout=300)
    return np.fromfile(folder / "floatimage.bin", "<f4")


def _compare(args: list[str], tmp_path: Path, hkl: str | None = None) -> None:
    ours = _float_image([sys.executable, "-m", "nanobragg", *COMMON, *args],
                        tmp_path / "py", hkl)
    theirs = _float_image([C_BIN, *COMMON, *args], tmp_path / "c", hkl)
    assert theirs.max() > 0
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("seed", [2, 5, 41])
def test_mosaic_domains_use_the_c_powf(seed, tmp_path):
    # these seeds draw a domain whose powf differs from the correctly rounded power
    _compare(["-cell", "50", "60", "70", "90", "95", "100", "-N", "5", "-default_F", "100",
              "-distance", "100", "-detpixels", "24", "-pixel", "0.8", "-oversample", "1",
              "-mosaic", "1", "-mosaic_dom", "1000", "-mosaic_seed", str(seed)], tmp_path)


@pytest.mark.parametrize("extra", [["-N", "1", "-dmin", "16"],
                                   ["-N", "2", "-tophat_spots", "-dmin", "8"],
                                   ["-N", "1", "-dmin", "11", "-water", "5"]])
def test_dmin_with_tricubic_interpolation(extra, tmp_path):
    # beyond dmin the C never tests the interpolation range, so it keeps interpolating
    _compare(["-cell", "30", "30", "30", "90", "90", "90", "-hkl", "F.hkl",
              "-distance", "50", "-detpixels", "40", "-pixel", "0.5", *extra],
             tmp_path, _hkl_text(4))
