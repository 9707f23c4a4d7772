"""Source list files (C read_text_file semantics)."""

from pathlib import Path

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.sources import read_source_file

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
NAN = np.nan


def _read(tmp_path, text):
    path = tmp_path / "sources.txt"
    path.write_bytes(text.encode())
    return read_source_file(path)


def _same(actual, expected):
    return np.array_equal(actual, np.array(expected, dtype=np.float64), equal_nan=True)


def test_missing_columns_are_nan_and_blank_lines_skipped(tmp_path):
    table = _read(tmp_path, "\n-10 0 0\n  \t\n-10 0.05 0 0.5 1e-10\n")
    assert _same(table, [[-10, 0, 0, NAN, NAN], [-10, 0.05, 0, 0.5, 1e-10]])


def test_delimiters_and_extra_columns(tmp_path):
    table = _read(tmp_path, ",1,2;3:4!5 6 7\n")
    assert _same(table, [[1, 2, 3, 4, 5]])


def test_non_numeric_token_reads_zero(tmp_path):
    assert _same(_read(tmp_path, "abc 2 3\n"), [[0, 2, 3, NAN, NAN]])


def test_c_quirk_trailing_junk_token(tmp_path):
    # like the C reader: skipping "x3" also skips the newline, so the remaining
    # columns are read from the empty rest of the line as atof("") = 0
    assert _same(_read(tmp_path, "1 2 x3\n"), [[1, 2, 0, 0, 0]])


def test_c_quirk_last_line_without_newline(tmp_path):
    # the C reader fills the missing columns of an unterminated line with atof("") = 0
    assert _same(_read(tmp_path, "1 2 3\n4 5 6"), [[1, 2, 3, NAN, NAN], [4, 5, 6, 0, 0]])


def test_no_sources_is_error(tmp_path):
    with pytest.raises(InputError, match="source file '.*sources.txt': no sources"):
        _read(tmp_path, "\n \n\t,\n")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_source_file(tmp_path / "none.txt")


def test_golden_source_file():
    path = GOLDEN / "sourcefile_three" / "sources.txt"
    if not path.exists():
        pytest.skip(f"golden data not found at {path}")
    table = read_source_file(path)
    assert _same(table, np.loadtxt(path))
    assert table[1, 4] == 1.05e-10
