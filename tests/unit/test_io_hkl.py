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


def test_extra_columns_are_read_as_next_entry(tmp_path):
    # tokens are consumed 4 at a time: "99 0 0 0" is an entry, then "5 1 1 1" ...
    path = _write(tmp_path, "1 2 3 10 99\n0 0 0 5\n1 1 1 4\n")
    grid = read_hkl(path, default_F=0.0)
    assert grid.count == 3
    assert grid.h_max == 99
    assert (grid.h_min, grid.k_min, grid.l_min) == (1, 0, 0)
    assert grid.F[99 - 1, 0, 0] == 0.0
    assert grid.F[5 - 1, 1, 1] == 1.0


def test_decimal_indices_end_the_second_pass(tmp_path):
    # C re-reads with "%d": "1.0" reads as 1 and the next "%d" fails at ".0"
    grid = read_hkl(_write(tmp_path, "1.0 2.0 3.0 10\n0 0 0 5\n"), default_F=7.0)
    assert grid.count == 2
    assert np.all(grid.F == 7.0)


def test_non_integer_index_bounds_truncate(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        grid = read_hkl(_write(tmp_path, "2.7 1 1 10\n-2.7 0 0 5\n"), default_F=1.0)
    assert (grid.h_min, grid.h_max) == (-2, 2)
    assert "non-integer value for h" in caplog.text


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
