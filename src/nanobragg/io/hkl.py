"""Structure-factor files: ``h k l F`` text lists and the binary ``Fdump.bin`` cache."""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import atomic_write, read_bytes
from nanobragg.io._cnum import C_WHITESPACE, line_number, scan_float, scan_int

logger = logging.getLogger(__name__)
_WHOLE = re.compile(r"[+-]?[0-9]+")

#: Most cells of a structure-factor grid (1 GiB of float64): wider index ranges are
#: refused before anything is allocated.
MAX_GRID_CELLS = 2**27
#: A grid above this many cells (128 MiB of float64) must hold at least one reflection
#: per ``MAX_CELLS_PER_REFLECTION`` cells: a few reflections with far-apart indices would
#: otherwise make a dense table (and its copies while rendering) of gigabytes.
SPARSE_GRID_CELLS = 2**24
MAX_CELLS_PER_REFLECTION = 1000


@dataclass(frozen=True, eq=False)
class HKLGrid:
    """Structure factors on a dense Miller-index grid.

    Attributes:
        F: float64 array, shape (h_range, k_range, l_range); ``F[h - h_min, k - k_min,
            l - l_min]`` is the structure factor amplitude (electrons) of reflection h,k,l.
        h_min: Smallest h index on the grid.
        k_min: Smallest k index on the grid.
        l_min: Smallest l index on the grid.
        count: Number of entries read from the source file.
    """

    F: np.ndarray
    h_min: int
    k_min: int
    l_min: int
    count: int

    def __post_init__(self) -> None:
        if self.F.ndim != 3 or self.F.dtype != np.float64 or 0 in self.F.shape:
            raise ValueError(f"HKLGrid.F must be a non-empty 3-D float64 array, got "
                             f"{self.F.dtype} {self.F.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(h_range, k_range, l_range)."""
        return tuple(int(n) for n in self.F.shape)  # type: ignore[return-value]

    @property
    def h_max(self) -> int:
        """Largest h index on the grid."""
        return self.h_min + self.F.shape[0] - 1

    @property
    def k_max(self) -> int:
        """Largest k index on the grid."""
        return self.k_min + self.F.shape[1] - 1

    @property
    def l_max(self) -> int:
        """Largest l index on the grid."""
        return self.l_min + self.F.shape[2] - 1



def _scan_groups(text: str, int_indices: bool) -> tuple[list[tuple[float, ...]], int]:
    """Repeat ``fscanf("%lg%lg%lg%lg")`` (or ``"%d%d%d%lg"``) until a group fails.

    Returns:
        (groups of (h, k, l, F), index in ``text`` where the failing group started).
    """
    groups: list[tuple[float, ...]] = []
    pos = 0
    while True:
        values: list[float] = []
        cursor = pos
        for column in range(4):
            scan = scan_int if (int_indices and column < 3) else scan_float
            parsed = scan(text, cursor)
            if parsed is None:
                return groups, pos
            values.append(parsed[0])
            cursor = parsed[1]
        groups.append(tuple(values))
        pos = cursor


def _index_bounds(groups: list[tuple[float, ...]], path: object) -> list[tuple[int, int]]:
    """(min, max) per index as the C computes them: running min/max stored in an int."""
    bounds = []
    for axis, name in enumerate("hkl"):
        low, high = 10**9, -(10**9)
        for group in groups:
            value = group[axis]
            if not math.isfinite(value) or abs(value) > 1e9:
                raise InputError(f"hkl file '{path}': {name} index {value:g} is out of range")
            if low > value:
                low = int(value)  # C assigns a double to an int: truncation towards 0
            if high < value:
                high = int(value)
        bounds.append((low, high))
    return bounds


def _check_grid_size(shape, bounds, what: str, path: object) -> None:
    """InputError when a grid of ``shape`` would have more than ``MAX_GRID_CELLS`` cells."""
    cells = math.prod(shape)
    if cells > MAX_GRID_CELLS:
        ranges = " ".join(f"{name}={low}..{high}" for name, (low, high) in zip("hkl", bounds))
        raise InputError(f"{what} '{path}': indices {ranges} make a grid of {cells:.3g} "
                         f"cells ({8 * cells / 2**30:.3g} GiB), more than the "
                         f"{MAX_GRID_CELLS:.3g} allowed")


def _check_sparse(shape, bounds, reflections: int, path: object) -> None:
    """InputError for a big grid that is nearly empty (see ``SPARSE_GRID_CELLS``)."""
    cells = math.prod(shape)
    if cells > SPARSE_GRID_CELLS and cells > MAX_CELLS_PER_REFLECTION * reflections:
        ranges = " ".join(f"{name}={low}..{high}" for name, (low, high) in zip("hkl", bounds))
        raise InputError(f"hkl file '{path}': indices {ranges} make a dense grid of "
                         f"{cells:.3g} cells ({8 * cells / 2**30:.3g} GiB) for only "
                         f"{reflections} reflections (at most {MAX_CELLS_PER_REFLECTION} "
                         f"cells per reflection above {SPARSE_GRID_CELLS:.3g} cells)")


def check_table_lines(text: str, path: object) -> None:
    """Refuse a table the C would misread: every line up to the first that does not start
    with a number must hold exactly ``h k l F`` with indices written as whole numbers
    (the C's second, ``%d``, pass stops at ``1.0``) and a finite F, and no reflection may
    be listed twice.

    Raises:
        InputError: naming the file, the line and the problem.
    """
    seen: dict[tuple[int, int, int], int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if "\0" in line:
            raise InputError(f"hkl file '{path}': line {number}: a NUL byte (not a text "
                             f"file?)")
        fields = line.split()
        if not fields:
            continue
        values = [scan_float(field, 0) for field in fields]
        if values[0] is None or values[0][1] != len(fields[0]):
            return
        where = f"hkl file '{path}': line {number}"
        if len(fields) != 4:
            raise InputError(f"{where}: expected 4 numbers 'h k l F', found "
                             f"{len(fields)} fields")
        for value, text in zip(values, fields):
            if value is None or value[1] != len(text):
                raise InputError(f"{where}: '{text[:20]}' is not a number (expected "
                                 f"'h k l F')")
        h, k, l_idx, amplitude = (v[0] for v in values)
        for name, field in zip("hkl", fields[:3]):
            if _WHOLE.fullmatch(field) is None:
                raise InputError(f"{where}: index {name} = {field} is not written as a "
                                 f"whole number")
        if not math.isfinite(amplitude):
            raise InputError(f"{where}: F = {fields[3]} is not a finite number")
        key = (int(h), int(k), int(l_idx))
        if key in seen:
            raise InputError(f"{where}: reflection {key[0]} {key[1]} {key[2]} is listed "
                             f"again (first on line {seen[key]})")
        seen[key] = number


def read_hkl(path: str | os.PathLike[str], default_F: float) -> HKLGrid:
    """Read an ``h k l F`` text file into a dense grid (C nanoBragg semantics).

    Numbers are consumed four at a time, like repeated ``fscanf("%lg%lg%lg%lg")``,
    until the first group that does not parse; everything after it is ignored (a
    comment line in the middle silently truncates the list, and extra columns are
    read as the next ``h``). The index bounds come from that pass; the grid is filled
    with ``default_F`` and then a second pass, like ``fscanf("%d%d%d%lg")``, assigns
    the entries (so an index written as ``1.0`` reads as 1 and ends the second pass,
    as in the C program).

    Args:
        path: Text file with whitespace-separated ``h k l F`` numbers.
        default_F: Amplitude of grid points not listed in the file.

    Returns:
        HKLGrid with F of shape (h_range, k_range, l_range), float64.

    Raises:
        InputError: Unreadable file, no readable entry, or absurd indices.
    """
    text = read_bytes(path, "hkl file").decode("latin-1")
    check_table_lines(text, path)
    groups, stop = _scan_groups(text, int_indices=False)
    if not groups:
        raise InputError(f"hkl file '{path}': no reflections: line {line_number(text, stop)} "
                         "does not start with 'h k l F' numbers")
    if text[stop:].strip(C_WHITESPACE):
        logger.warning("hkl file '%s': stopped reading at line %d after %d entries", path,
                       line_number(text, stop), len(groups))
    (h_min, h_max), (k_min, k_max), (l_min, l_max) = _index_bounds(groups, path)
    shape = (h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1)
    bounds = ((h_min, h_max), (k_min, k_max), (l_min, l_max))
    _check_grid_size(shape, bounds, "hkl file", path)
    _check_sparse(shape, bounds, len(groups), path)
    grid = np.full(shape, float(default_F), dtype=np.float64)
    entries, _ = _scan_groups(text, int_indices=True)
    for h, k, l_idx, amplitude in entries:
        index = (int(h) - h_min, int(k) - k_min, int(l_idx) - l_min)
        if not all(0 <= i < n for i, n in zip(index, shape, strict=True)):
            raise InputError(f"hkl file '{path}': entry {h} {k} {l_idx} lies outside the index "
                             "range of the file (non-integer indices?)")
        grid[index] = amplitude
    return HKLGrid(F=grid, h_min=h_min, k_min=k_min, l_min=l_min, count=len(groups))


def _fdump_header(grid: HKLGrid) -> bytes:
    """ASCII header ``"h_min h_max k_min k_max l_min l_max\\n\\f"``."""
    limits = (grid.h_min, grid.h_max, grid.k_min, grid.k_max, grid.l_min, grid.l_max)
    return (" ".join(f"{int(n):d}" for n in limits) + "\n\f").encode("ascii")


def write_fdump(path: str | os.PathLike[str], grid: HKLGrid) -> None:
    """Write the C ``Fdump.bin`` cache atomically.

    Layout: the ASCII header, then (h_range+1)*(k_range+1)*(l_range+1) little-endian
    float64 values in h, k, l C order; the extra last slot on each axis is 0.

    Args:
        path: Destination file.
        grid: Structure factors to store.
    """
    padded = np.zeros(tuple(n + 1 for n in grid.shape), dtype="<f8")
    padded[:-1, :-1, :-1] = grid.F
    atomic_write(path, [_fdump_header(grid), padded.tobytes()], "Fdump file")


def _parse_fdump_header(raw: bytes, path: object) -> tuple[list[int], int]:
    """Parse the 6 limits of an Fdump header; return them and the data offset."""
    end = raw.find(b"\n\f", 0, 512)
    fields = raw[:end].split() if end >= 0 else []
    if len(fields) != 6:
        raise InputError(f"Fdump file '{path}': malformed header (expected "
                         "'h_min h_max k_min k_max l_min l_max')")
    try:
        limits = [int(field) for field in fields]
    except ValueError:
        raise InputError(f"Fdump file '{path}': malformed header (non-integer limits)") from None
    if any(limits[2 * i + 1] < limits[2 * i] for i in range(3)):
        raise InputError(f"Fdump file '{path}': malformed header (max < min)")
    return limits, end + 2


def read_fdump(path: str | os.PathLike[str]) -> HKLGrid:
    """Read a C ``Fdump.bin`` cache (see ``write_fdump``).

    Returns:
        HKLGrid without the padding slots; ``count`` = h_range*k_range*l_range.

    Raises:
        InputError: Unreadable file, malformed header or wrong data size.
    """
    raw = read_bytes(path, "Fdump file")
    limits, offset = _parse_fdump_header(raw, path)
    shape = tuple(limits[2 * i + 1] - limits[2 * i] + 1 for i in range(3))
    _check_grid_size(shape, (limits[0:2], limits[2:4], limits[4:6]), "Fdump file", path)
    padded_shape = tuple(n + 1 for n in shape)
    expected = 8 * math.prod(padded_shape)
    if len(raw) - offset != expected:
        raise InputError(f"Fdump file '{path}': expected {expected} bytes of data after the "
                         f"header, found {len(raw) - offset} (truncated or corrupt)")
    data = np.frombuffer(raw, dtype="<f8", offset=offset).reshape(padded_shape)
    grid = np.array(data[:-1, :-1, :-1], dtype=np.float64)
    return HKLGrid(F=grid, h_min=limits[0], k_min=limits[2], l_min=limits[4],
                   count=math.prod(shape))
