"""Input files that are not what they claim: one line naming the flag or file and the
real problem, exit status 2, nothing written."""

from __future__ import annotations

import tracemalloc

import pytest

from nanobragg.cli.main import run
from nanobragg.io.smv import format_smv_header

CELL = ["-cell", "100", "100", "100", "90", "90", "90"]
GEOMETRY = ["-lambda", "1", "-distance", "100", "-detpixels", "8", "-nonoise", "-nopgm"]


def _fails(args, tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    status = run(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert len(err) == 1 and err[0].startswith("nanoBragg: error: "), err
    assert set(tmp_path.iterdir()) == before
    return err[0]


@pytest.mark.parametrize("text, needle", [
    ("this is not a source list\n", "line 1: 'this' is not a finite number"),
    ("X Y Z weight lambda\n-10 0 0 1 1e-10\n", "line 1: 'X' is not a finite number"),
    ("-10 0 0 1 1e-10\n-10 0 x3 1 1e-10\n", "line 2: 'x3' is not a finite number"),
    ("-10 0 0 nan 1e-10\n", "line 1: 'nan' is not a finite number"),
    ("0 0 0 1 1e-10\n", "line 1: the source lies at the sample"),
    ("-10 0 0\0 1 1e-10\n", "line 1: a NUL byte"),
])
def test_sourcefile_that_is_not_numbers(text, needle, tmp_path, monkeypatch, capsys):
    (tmp_path / "s.txt").write_text(text)
    err = _fails(CELL + GEOMETRY + ["-default_F", "10", "-sourcefile", "s.txt"],
                 tmp_path, monkeypatch, capsys)
    assert "-sourcefile" in err and "s.txt" in err and needle in err, err


def test_hkl_with_a_huge_index_span_is_refused_before_allocating(tmp_path, monkeypatch,
                                                                  capsys):
    (tmp_path / "big.hkl").write_text("0 0 0 100\n100000000 0 0 50\n")
    tracemalloc.start()
    try:
        err = _fails(CELL + GEOMETRY + ["-hkl", "big.hkl"], tmp_path, monkeypatch, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "big.hkl" in err and "1e+08 cells (0.745 GiB)" in err and "2 reflections" in err
    assert peak < 50 * 2**20  # the 800 MB table was never allocated


def test_hkl_with_a_nul_byte_says_so(tmp_path, monkeypatch, capsys):
    (tmp_path / "F.hkl").write_bytes(b"0 0 0 100\n1 0 0 5\x000\n")
    err = _fails(CELL + GEOMETRY + ["-hkl", "F.hkl"], tmp_path, monkeypatch, capsys)
    assert "F.hkl': line 2: a NUL byte" in err, err


def test_hkl_field_that_is_not_a_number_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "F.hkl").write_text("0 0 0 100\n1 0 0 5x\n")
    err = _fails(CELL + GEOMETRY + ["-hkl", "F.hkl"], tmp_path, monkeypatch, capsys)
    assert "line 2: '5x' is not a number" in err, err


def test_matrix_file_with_eight_numbers(tmp_path, monkeypatch, capsys):
    (tmp_path / "A.mat").write_text("0.01 0 0\n0 0.01 0\n0 0\n")
    err = _fails(GEOMETRY + ["-default_F", "10", "-mat", "A.mat"], tmp_path, monkeypatch,
                 capsys)
    assert err == ("nanoBragg: error: -mat: matrix file 'A.mat': expected 9 numbers "
                   "(3 lines of a* b* c* components), the file has only 8")


def test_matrix_file_with_a_word_names_its_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "A.mat").write_text("0.01 0 0\n0 0.01 zero\n0 0 0.01\n")
    err = _fails(GEOMETRY + ["-default_F", "10", "-mat", "A.mat"], tmp_path, monkeypatch,
                 capsys)
    assert "line 2: expected 9 numbers" in err and "found 5 before 'zero'" in err, err


def test_matrix_flag_is_named_as_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "A.mat").write_text("0.01 0 0\n")
    err = _fails(GEOMETRY + ["-default_F", "10", "-matrix", "A.mat"], tmp_path,
                 monkeypatch, capsys)
    assert err.startswith("nanoBragg: error: -matrix: matrix file 'A.mat'"), err


def _smv(path, **fields):
    header = format_smv_header({"HEADER_BYTES": 512, "DIM": 2, "BYTE_ORDER": "little_endian",
                                "TYPE": "unsigned_short", "SIZE1": 8, "SIZE2": 8, **fields})
    path.write_bytes(header + bytes(2 * 64))


def test_smv_header_value_that_is_not_a_number(tmp_path, monkeypatch, capsys):
    _smv(tmp_path / "in.img", PIXEL_SIZE="abc")
    err = _fails(CELL + GEOMETRY + ["-default_F", "10", "-img", "in.img"], tmp_path,
                 monkeypatch, capsys)
    assert err == "nanoBragg: error: -img 'in.img': header PIXEL_SIZE=abc is not a number"
