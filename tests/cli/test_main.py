"""End-to-end behaviour of the nanoBragg command: outputs, the Fdump cache, user errors."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.cli.main import run
from nanobragg.io.smv import read_smv

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "5", "-lambda", "1",
        "-distance", "100", "-detpixels", "32", "-pixel", "0.5"]


def test_default_output_files_like_the_c(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-default_F", "100", "-seed", "5"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"}
    image = np.fromfile(tmp_path / "floatimage.bin", "<f4")
    assert image.size == 32 * 32 and image.max() > 0
    report = capsys.readouterr().out
    assert f"max_I = {image.max():g}" in report
    assert "mean=" in report and "rmsd=" in report
    assert read_smv(tmp_path / "noiseimage.img").data.shape == (32, 32)


def test_nonoise_nopgm_and_named_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-default_F", "100", "-nonoise", "-nopgm", "-floatfile", "a.bin",
                       "-intfile", "b.img"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"a.bin", "b.img"}


def test_hkl_writes_fdump_and_a_later_run_reads_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [f"{h} {k} {l} {10 + h + 2 * k + 3 * l}"
             for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)]
    (tmp_path / "F.hkl").write_text("\n".join(lines) + "\n")
    common = BASE + ["-nonoise", "-nopgm"]
    assert run(common + ["-hkl", "F.hkl", "-floatfile", "with_hkl.bin"]) == 0
    assert (tmp_path / "Fdump.bin").is_file()
    assert run(common + ["-floatfile", "from_dump.bin"]) == 0
    first = np.fromfile(tmp_path / "with_hkl.bin", "<f4")
    second = np.fromfile(tmp_path / "from_dump.bin", "<f4")
    assert first.max() > 0
    np.testing.assert_array_equal(first, second)


BAD = [
    (["-lambda", "0", "-default_F", "1"], "-lambda"),
    (["-detpixels", "-5", "-default_F", "1"], "-detpixels"),
    (["-pixel", "0", "-default_F", "1"], "-pixel"),
    (["-distance", "-5", "-default_F", "1"], "-distance"),
    (["-distance", "abc", "-default_F", "1"], "-distance"),
    (["-hkl", "missing.hkl"], "-hkl"),
    (["-mat", "missing.mat", "-default_F", "1"], "-mat"),
    (["-default_F", "1", "-bogus", "3"], "-bogus"),
    (["-default_F", "1", "-floatfile", "no/such/folder/f.bin"], "-floatfile"),
    (["-default_F", "1", "-device", "tpu"], "-device"),
    ([], "structure factors"),
    (["-default_F", "1", "-osc", "0", "-phistep", "0.5"], "-osc/-phistep"),
]


@pytest.mark.parametrize("extra,needle", BAD, ids=[b[1] for b in BAD])
def test_user_errors_are_one_line_and_leave_no_files(extra, needle, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_cell_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["-default_F", "1", "-detpixels", "8"]) == 2
    assert "cell" in capsys.readouterr().err


def test_help_prints_usage(capsys):
    assert run(["-h"]) == 0
    assert "usage: nanoBragg" in capsys.readouterr().out
