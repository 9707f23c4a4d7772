"""HKL text files and the Fdump.bin cache."""

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.hkl import HKLGrid, read_fdump, read_hkl, write_fdump

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


def _write(tmp_path, text, name="test.hkl"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_simple_grid(tmp_path):
    path = _write(tmp_path, "-2 0 1 10.5\n1 3 -1 7.25\n0 0 0 3\n")
    grid = read_hkl(path, default_F=2.0)
    assert grid.count == 3
    assert (grid.h_min, grid.k_min, grid.l_min) == (-2, 0, -1)
    assert (grid.h_max, grid.k_max, grid.l_max) == (1, 3, 1)
    assert grid.shape == (4, 4, 3) and grid.F.dtype == np.float64
    assert grid.F[-2 + 2, 0, 1 + 1] == 10.5
    assert grid.F[1 + 2, 3, -1 + 1] == 7.25
    assert grid.F[2, 0, 1] == 3.0
    assert np.count_nonzero(grid.F == 2.0) == grid.F.size - 3


def test_comment_line_mid_file_truncates(tmp_path, caplog):
    path = _write(tmp_path, "1 2 3 10\n-1 0 2 5\n# comment\n4 4 4 9\n")
    with caplog.at_level(logging.WARNING):
        grid = read_hkl(path, default_F=0.0)
    assert grid.count == 2
    assert (grid.h_max, grid.k_max, grid.l_max) == (1, 2, 3)
    assert "line 3" in caplog.text


def test_comment_first_line_is_error(tmp_path):
    path = _write(tmp_path, "# h k l F\n1 2 3 4\n")
    with pytest.raises(InputError, match=r"hkl file '.*test.hkl'.*no reflections.*line 1"):
        read_hkl(path, default_F=1.0)


def test_empty_file_is_error(tmp_path):
    with pytest.raises(InputError, match="no reflections"):
        read_hkl(_write(tmp_path, "\n  \n"), default_F=1.0)


@pytest.mark.parametrize("text,problem", [
    ("1 2 3 10 99\n0 0 0 5\n", "line 1: expected 4 numbers 'h k l F', found 5"),
    ("1 2 3\n0 0 0 5\n", "line 1: expected 4 numbers 'h k l F', found 3"),
    ("0 0 0 5\n1.0 2 3 10\n", "line 2: index h = 1.0 is not written as a whole number"),
    ("2.7 1 1 10\n", "line 1: index h = 2.7"),
    ("1 2 3 nan\n", "line 1: F = nan is not a finite number"),
    ("1 2 3 10\n\n1 2 3 11\n", "line 3: reflection 1 2 3 is listed again .first on line 1"),
])
def test_tables_the_c_would_misread_are_errors(tmp_path, text, problem):
    with pytest.raises(InputError, match=f"hkl file '.*test.hkl': {problem}"):
        read_hkl(_write(tmp_path, text), default_F=1.0)


def test_huge_index_range_is_refused_before_allocating(tmp_path):
    lines = "".join(f"{600 * a} {600 * b} {600 * c} 1\n" for a, b, c in
                    ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)))
    with pytest.raises(InputError, match=r"h=-600..600 k=-600..600 l=-600..600 make a grid"):
        read_hkl(_write(tmp_path, lines), default_F=1.0)


def test_missing_file_is_error(tmp_path):
    with pytest.raises(InputError, match="hkl file '.*nope.hkl': cannot read"):
        read_hkl(tmp_path / "nope.hkl", default_F=1.0)


def test_fdump_matches_c_bytes(tmp_path):
    # sha256 of the Fdump.bin written by the reference C program for this file
    grid = read_hkl(_write(tmp_path, "-2 0 1 10.5\n1 3 -1 7.25\n0 0 0 3\n"), default_F=2.0)
    write_fdump(tmp_path / "Fdump.bin", grid)
    raw = (tmp_path / "Fdump.bin").read_bytes()
    assert raw.startswith(b"-2 1 0 3 -1 1\n\f")
    assert hashlib.sha256(raw).hexdigest() == (
        "9b24e543a5728b352a5faac391ea67f2308514c1fa6e04b5679c4843ef43a8b6")


def test_fdump_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    grid = HKLGrid(F=rng.normal(size=(3, 5, 2)), h_min=-1, k_min=-7, l_min=4, count=30)
    write_fdump(tmp_path / "Fdump.bin", grid)
    raw = (tmp_path / "Fdump.bin").read_bytes()
    header = b"-1 1 -7 -3 4 5\n\f"
    assert len(raw) == len(header) + 8 * 4 * 6 * 3
    back = read_fdump(tmp_path / "Fdump.bin")
    assert np.array_equal(back.F, grid.F)
    assert (back.h_min, back.k_min, back.l_min) == (-1, -7, 4)
    assert back.count == 30
    padded = np.frombuffer(raw[len(header):], "<f8").reshape(4, 6, 3)
    assert not padded[-1].any() and not padded[:, -1].any() and not padded[:, :, -1].any()


def test_fdump_truncated_is_error(tmp_path):
    grid = HKLGrid(F=np.ones((2, 2, 2)), h_min=0, k_min=0, l_min=0, count=8)
    path = tmp_path / "Fdump.bin"
    write_fdump(path, grid)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(InputError, match="Fdump file '.*Fdump.bin'.*truncated"):
        read_fdump(path)


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"1 2 3 4 5\n\f", b"1 0 0 0 0 0\n\f", b"a b c d e f\n\f"])
def test_fdump_malformed_header_is_error(tmp_path, content):
    path = tmp_path / "Fdump.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match="malformed header"):
        read_fdump(path)


def test_grid_rejects_bad_array():
    with pytest.raises(ValueError):
        HKLGrid(F=np.ones((2, 2)), h_min=0, k_min=0, l_min=0, count=0)


def test_golden_hkl_file():
    path = GOLDEN / "hkl_nearest" / "P1.hkl"
    if not path.exists():
        pytest.skip(f"golden data not found at {path}")
    rows = np.loadtxt(path)
    grid = read_hkl(path, default_F=5.0)
    assert grid.count == len(rows)
    assert (grid.h_min, grid.h_max, grid.l_min, grid.l_max) == (-4, 4, -4, 4)
    idx = rows[:, :3].astype(int) + 4
    assert np.array_equal(grid.F[idx[:, 0], idx[:, 1], idx[:, 2]], rows[:, 3])
    assert np.count_nonzero(grid.F == 5.0) >= grid.F.size - len(rows)
