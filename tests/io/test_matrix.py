"""MOSFLM matrix files."""

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.matrix import read_mosflm_matrix

MOSFLM_MAT = """ -0.00987655  0.00145231 -0.00234567
  0.00123456  0.00876543  0.00345678
  0.00234567 -0.00345678  0.00765432
       0.000       0.000       0.000
 -0.9876547  0.1452310 -0.2345670
 100.0000  100.0000  100.0000   90.0000   90.0000   90.0000
     0.000     0.000     0.000
SYMM P1
"""


def test_reads_first_nine_numbers(tmp_path):
    path = tmp_path / "A.mat"
    path.write_text(MOSFLM_MAT)
    matrix = read_mosflm_matrix(path)
    assert matrix.shape == (3, 3) and matrix.dtype == np.float64
    assert matrix[0].tolist() == [-0.00987655, 0.00145231, -0.00234567]
    assert matrix[2, 1] == -0.00345678


def test_numbers_may_span_lines(tmp_path):
    path = tmp_path / "A.mat"
    path.write_text("1 2 3 4\n5 6\n7 8 9 10\n")
    assert read_mosflm_matrix(path).ravel().tolist() == [float(i) for i in range(1, 10)]


def test_too_few_numbers(tmp_path):
    path = tmp_path / "A.mat"
    path.write_text("1 2 3\n4 5 6\n7 8\nSYMM P1\n")
    with pytest.raises(InputError, match=r"matrix file '.*A.mat': line 4: expected 9.*found 8"):
        read_mosflm_matrix(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_mosflm_matrix(tmp_path / "none.mat")
