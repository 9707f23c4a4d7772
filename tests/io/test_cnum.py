"""C number-parsing helpers used by the text readers."""

import math

import pytest

from nanobragg.io._cnum import atof, line_number, scan_float, scan_int, strtod_prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.5abc", 12.5), ("  -3e2;", -300.0), ("abc", 0.0), ("", 0.0), (".5", 0.5),
     ("1e", 1.0), ("0x10", 16.0), ("+inf", math.inf), ("  512;\n", 512.0)],
)
def test_atof_reads_leading_number(text, expected):
    assert atof(text) == expected


def test_atof_nan():
    assert math.isnan(atof("nan(1)"))


def test_strtod_prefix_reports_end():
    assert strtod_prefix("  1.5e3xyz") == (1500.0, 7)
    assert strtod_prefix("x1") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4e\n", (4.0, 2)), ("4e+ 5", (4.0, 3)), ("4e5e", (4e5, 3)), ("0x", None), (".", None),
     ("-", None), ("", None), ("  \n", None), ("0x1p", (1.0, 4)), ("infx", (math.inf, 3))],
)
def test_scan_float_glibc_quirks(text, expected):
    # expectations checked against glibc fscanf("%lg")
    assert scan_float(text, 0) == expected


def test_scan_int_stops_at_decimal_point():
    assert scan_int(" -12.5", 0) == (-12, 4)
    assert scan_int(".5", 0) is None


def test_line_number_skips_leading_whitespace():
    text = "1 2\n\n# x\n"
    assert line_number(text, 3) == 3
    assert line_number(text, 0) == 1
