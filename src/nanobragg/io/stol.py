"""Amorphous structure-factor tables (``.stol`` files) of the reference nonBragg.

A table is plain text, one point per line: ``s F`` where ``s`` is sin(theta)/lambda in
1/Angstrom (or 4 sin(theta)/lambda for ``-4stol``, or Q = 4 pi sin(theta)/lambda for
``-Q``) and ``F`` the structure factor of one molecule (electrons). Columns are
separated by blanks, tabs or any of ``,;:!``; blank lines and comment lines (first
character ``#``, as in the reference's ``nanoice.stol``) are skipped; columns after the
second are ignored. A line with only ``s`` has no F: like the reference, that F is
0 and does not count as the table's first or last value.

Stricter than the reference (which reads a word as the number 0, so that its comment
lines become points at s = 0): the first two fields of every other line must be numbers;
``s`` must be finite, non-negative and strictly increasing; ``F`` finite. A violation is
an InputError naming the file and line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import read_bytes
from nanobragg.io._cnum import strtod_prefix

_SEPARATORS = re.compile(r"[ \t,;:!]+")

#: Multiplier from the file's first column to sin(theta)/lambda in 1/m, per flag.
STOL_UNITS = {"-stol": 1e10, "-4stol": 1e10 / 4, "-Q": 1e10 / math.pi / 4}


@dataclass(frozen=True)
class StolTable:
    """One amorphous material's F(sin(theta)/lambda).

    Attributes:
        s: sin(theta)/lambda of the points (1/m), strictly increasing, shape (n,).
        F: structure factor at each point (electrons), shape (n,); NaN where missing.
        source: where the table came from (for messages).
    """

    s: np.ndarray
    F: np.ndarray
    source: str = "table"

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference's interpolation grid: two far points added at either end.

        Returns:
            ``(s, F)`` float64 of length n + 4: ``s`` starts with -1e99, -1e98 and ends
            with 1e98, 1e99; ``F`` there holds the first and last given F; missing F are 0.
        """
        given = self.F[~np.isnan(self.F)]
        low, high = (given[0], given[-1]) if given.size else (math.nan, math.nan)
        s = np.concatenate([[-1e99, -1e98], self.s, [1e98, 1e99]])
        f = np.concatenate([[low, low], np.nan_to_num(self.F, nan=0.0), [high, high]])
        return s.astype(np.float64), f.astype(np.float64)


def _numbers(line: str) -> list[float] | None:
    """The line's first two fields as numbers (one if it has one field), or None if
    either of them is not a number; later fields are not read."""
    fields = _SEPARATORS.split(line.strip(" \t,;:!\r\n"))[:2]
    values = []
    for field in fields:
        parsed = strtod_prefix(field)
        if parsed is None or parsed[1] != len(field):
            return None
        values.append(parsed[0])
    return values


def parse_stol(text: str, source: str, unit: float = 1e10) -> StolTable:
    """Parse the text of a ``.stol`` table.

    Args:
        text: file contents.
        source: name for messages.
        unit: multiplier from the first column to sin(theta)/lambda in 1/m
            (:data:`STOL_UNITS`).

    Raises:
        InputError: a line that is not numbers, a bad s or F, or no points at all.
    """
    s_values, f_values = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip(" \t,;:!\r") or line.lstrip(" \t,;:!").startswith("#"):
            continue
        values = _numbers(line)
        if values is None:
            raise InputError(f"stol table '{source}' line {number}: not numbers: "
                             f"{line.strip()[:40]!r}")
        s, f = values[0], values[1] if len(values) > 1 else math.nan
        if not math.isfinite(s) or s < 0:
            raise InputError(f"stol table '{source}' line {number}: s = {s:g} must be a "
                             "finite, non-negative sin(theta)/lambda")
        if s_values and not s > s_values[-1]:
            raise InputError(f"stol table '{source}' line {number}: s = {s:g} is not above "
                             f"the previous line's {s_values[-1]:g} (s must increase)")
        if len(values) > 1 and not math.isfinite(f):
            raise InputError(f"stol table '{source}' line {number}: F = {f:g} is not finite")
        s_values.append(s)
        f_values.append(f)
    if not s_values:
        raise InputError(f"stol table '{source}': no data")
    return StolTable(np.asarray(s_values) * unit, np.asarray(f_values, dtype=np.float64),
                     source)


def read_stol(path: str | os.PathLike[str], unit: float = 1e10,
              flag: str = "-stol") -> StolTable:
    """Read a ``.stol`` file (see :func:`parse_stol`); errors name ``flag`` and the file."""
    raw = read_bytes(path, f"{flag} file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{flag} file '{path}': not a text file") from exc
    try:
        return parse_stol(text, str(path), unit)
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from None
