"""Source list files (``-sourcefile``): one source per line, ``X Y Z weight lambda``."""

from __future__ import annotations

import math
import os

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import read_bytes
from nanobragg.io._cnum import atof, strtod_prefix

N_COLUMNS = 5
_DELIMITERS = " \t,;:!"
_NUMBER_CHARS = "0123456789-+.EGeg"
_C_LINE_BUFFER = 10240  # fgets buffer of the C reader: longer lines are split


def _span(text: str, pos: int, chars: str) -> int:
    """C ``strspn`` from ``pos``: index of the first character not in ``chars``."""
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _cspan(text: str, pos: int, chars: str) -> int:
    """C ``strcspn`` from ``pos``: index of the first character in ``chars``."""
    while pos < len(text) and text[pos] not in chars:
        pos += 1
    return pos


def _fgets_lines(text: str) -> list[str]:
    """Split text like repeated ``fgets`` with the C reader's buffer size."""
    pieces = []
    for line in _split_lf(text):
        for start in range(0, len(line), _C_LINE_BUFFER - 1):
            pieces.append(line[start : start + _C_LINE_BUFFER - 1])
    return pieces


def _split_lf(text: str) -> list[str]:
    """Split after each ``\\n`` only (``\\r`` stays part of the line, as in C)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


def _parse_line(line: str) -> list[float] | None:
    """Values of one line as the C ``read_text_file`` assigns them (None: blank line)."""
    pos = _span(line, 0, _DELIMITERS)
    if line[pos:] == "\n":
        return None
    values: list[float] = []
    while True:
        values.append(atof(line[pos:]))
        pos = _span(line, pos, _NUMBER_CHARS)
        if line[pos:] == "\n":
            return values
        pos = _span(line, _cspan(line, pos, _DELIMITERS), _DELIMITERS)
        if line[pos:] == "\n" or len(values) >= N_COLUMNS:
            return values


def read_source_file(path: str | os.PathLike[str], strict: bool = False) -> np.ndarray:
    """Read a source list with the semantics of the C ``read_text_file``.

    Blank lines (only delimiters before the newline) are skipped; tokens are separated
    by any of `` \\t,;:!`` and parsed with C ``atof`` (a non-numeric token gives 0.0);
    at most 5 values per line are used. Like the C reader, the missing trailing columns
    read as 0.0 (not NaN) when the line's last token is followed by no newline (last line
    of the file, ``\\r\\n`` endings) or ends in non-numeric characters (``"1 2 x3"``).

    Args:
        path: Text file, one source per line: X Y Z (position, m), weight, lambda (m).
        strict: refuse what the C would silently misread (the command line's reading):
            a token that is not a finite number (a header line, a text file, ``x3``,
            ``nan``), a NUL byte, or a source at the sample position ``0 0 0`` (its
            direction is undefined and every pixel would be NaN).

    Returns:
        float64 array, shape (n_sources, 5), columns X, Y, Z, weight, lambda; NaN marks
        a missing column (the caller applies defaults).

    Raises:
        InputError: Unreadable file or no non-blank line; in strict mode also the
            line and token that is not a number.
    """
    text = read_bytes(path, "source file").decode("latin-1")
    if strict:
        check_source_lines(text, path)
    rows = []
    number = 1
    for line in _fgets_lines(text):
        values = _parse_line(line)
        if values is not None:
            rows.append(values + [np.nan] * (N_COLUMNS - len(values)))
            if strict and rows[-1][:3] == [0.0, 0.0, 0.0]:
                raise InputError(f"source file '{path}': line {number}: the source lies at "
                                 f"the sample (X Y Z = 0 0 0), so its direction is undefined")
        number += line.endswith("\n")
    if not rows:
        raise InputError(f"source file '{path}': no sources (the file has no non-blank line)")
    return np.array(rows, dtype=np.float64)


def check_source_lines(text: str, path: object) -> None:
    """InputError naming the line of the first token that is not a finite number, the
    first NUL byte, or the first source placed at the sample (``0 0 0``)."""
    for number, line in enumerate(text.split("\n"), start=1):
        where = f"source file '{path}': line {number}"
        if "\0" in line:
            raise InputError(f"{where}: a NUL byte (not a text file?)")
        tokens = [t for t in _tokens(line) if t.strip()]
        for token in tokens[:N_COLUMNS]:
            parsed = strtod_prefix(token)
            if parsed is None or parsed[1] != len(token) or not math.isfinite(parsed[0]):
                raise InputError(f"{where}: '{token[:20]}' is not a finite number "
                                 f"(expected 'X Y Z weight lambda')")


def _tokens(line: str) -> list[str]:
    """The tokens of a line between the C reader's delimiters."""
    for delimiter in _DELIMITERS[1:]:
        line = line.replace(delimiter, " ")
    return line.split()
