"""MOSFLM orientation matrix files."""

from __future__ import annotations

import os

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import read_bytes
from nanobragg.io._cnum import line_number, scan_float


def read_mosflm_matrix(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the first 9 numbers of a MOSFLM matrix file (the A matrix).

    Numbers are read in order like three ``fscanf("%lg%lg%lg")`` calls; anything after
    the 9th number (the rest of a real MOSFLM .mat file) is ignored.

    Args:
        path: Matrix file.

    Returns:
        float64 array, shape (3, 3): row i holds component i (x, y, z) and the columns
        are a*, b*, c*. The values include the wavelength (units 1/A * A); the caller
        divides by the wavelength.

    Raises:
        InputError: Unreadable file or fewer than 9 leading numbers.
    """
    text = read_bytes(path, "matrix file").decode("latin-1")
    values: list[float] = []
    pos = 0
    while len(values) < 9:
        parsed = scan_float(text, pos)
        if parsed is None:
            raise InputError(f"matrix file '{path}': {_stop_reason(text, pos, len(values))}")
        values.append(parsed[0])
        pos = parsed[1]
    return np.array(values, dtype=np.float64).reshape(3, 3)


def _stop_reason(text: str, pos: int, found: int) -> str:
    """Why reading stopped at ``pos`` after ``found`` numbers: the end of the file, a NUL
    byte or the first token that is not a number (with its line)."""
    rest = text[pos:].lstrip(" \t\n\v\f\r")
    expected = "expected 9 numbers (3 lines of a* b* c* components)"
    if not rest:
        return f"{expected}, the file has only {found}"
    where = f"line {line_number(text, len(text) - len(rest))}"
    if rest[0] == "\0":
        return f"{where}: a NUL byte after {found} numbers (not a text file?); {expected}"
    token = rest.split(None, 1)[0][:20]
    return f"{where}: {expected}, found {found} before '{token}' (not a number)"
