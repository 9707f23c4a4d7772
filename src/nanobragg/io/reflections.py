"""A list of P1 reflections (``h k l F``): the grid it fills and the C's text file it writes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import atomic_write
from nanobragg.io.hkl import MAX_GRID_CELLS, HKLGrid


@dataclass(frozen=True, eq=False)
class ReflectionList:
    """Amplitudes of distinct reflections of P1, on the absolute (electron) scale.

    Attributes:
        hkl: int64 array, shape (n, 3), no index triple twice.
        F: float64 array, shape (n,), finite amplitudes (electrons).
    """

    hkl: np.ndarray
    F: np.ndarray

    def __post_init__(self) -> None:
        if self.hkl.ndim != 2 or self.hkl.shape[1:] != (3,) or self.F.shape != self.hkl.shape[:1]:
            raise ValueError(f"ReflectionList: hkl (n, 3) and F (n,) expected, got "
                             f"{self.hkl.shape} and {self.F.shape}")

    def __len__(self) -> int:
        return int(self.F.shape[0])

    def to_grid(self, default_F: float, what: str = "reflections") -> HKLGrid:
        """The dense grid an HKL file of these reflections gives (see ``read_hkl``).

        The bounds are the smallest and largest index on each axis; grid points not
        listed hold ``default_F``.

        Raises:
            InputError: no reflection, or a grid of more than ``MAX_GRID_CELLS`` cells.
        """
        if len(self) == 0:
            raise InputError(f"{what}: no reflections")
        low, high = self.hkl.min(axis=0), self.hkl.max(axis=0)
        shape = tuple(int(n) for n in high - low + 1)
        cells = int(np.prod(shape, dtype=np.int64))
        if cells > MAX_GRID_CELLS:
            raise InputError(f"{what}: indices {low.tolist()}..{high.tolist()} make a grid of "
                             f"{cells:.3g} cells, more than the {MAX_GRID_CELLS:.3g} allowed")
        grid = np.full(shape, float(default_F), dtype=np.float64)
        local = self.hkl - low
        grid[local[:, 0], local[:, 1], local[:, 2]] = self.F
        return HKLGrid(F=grid, h_min=int(low[0]), k_min=int(low[1]), l_min=int(low[2]),
                       count=len(self))


def hkl_text_lines(reflections: ReflectionList, per_chunk: int = 65536):
    """``"h k l F\\n"`` lines (bytes, in chunks); F written with ``repr`` so that reading
    the text back gives the same float64 bit for bit."""
    for start in range(0, len(reflections), per_chunk):
        hkl = reflections.hkl[start:start + per_chunk].tolist()
        F = reflections.F[start:start + per_chunk].tolist()
        yield "".join(f"{h} {k} {l} {f!r}\n" for (h, k, l), f in zip(hkl, F)).encode("ascii")


def write_hkl_text(path: str | os.PathLike[str], reflections: ReflectionList) -> None:
    """Write ``reflections`` as the C program's ``h k l F`` text file (atomically).

    Raises:
        InputError: the file cannot be written.
    """
    atomic_write(path, hkl_text_lines(reflections), "hkl file")
