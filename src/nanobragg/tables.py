"""Structure-factor tables from files: HKL text lists and the Fdump cache -> :class:`FTable`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .io.hkl import HKLGrid, read_fdump, read_hkl, write_fdump
from .physics.structure_factors import FTable


def table_from_grid(grid: HKLGrid, default_F: float = 0.0) -> FTable:
    """The F table of an HKL grid (float64 on the CPU; the simulator moves it)."""
    return FTable(torch.from_numpy(np.ascontiguousarray(grid.F)),
                  (grid.h_min, grid.k_min, grid.l_min), default_F, loaded=grid.count > 0)


def read_structure_factors(path: str | os.PathLike[str], default_F: float = 0.0) -> FTable:
    """Read an ``h k l F`` text file into an F table (grid points not listed: default_F)."""
    return table_from_grid(read_hkl(path, default_F), default_F)


def load_structure_factors(hkl_path: Path | None, dump_path: Path | None, default_F: float
                           ) -> tuple[FTable | None, list[str]]:
    """The C's rule: read ``-hkl`` and write the Fdump cache, else read the cache if any.

    Returns:
        The table (None when there is neither file) and messages for the caller to print.
    """
    notes: list[str] = []
    grid: HKLGrid | None = None
    if hkl_path is not None:
        grid = read_hkl(hkl_path, default_F)
        notes.append(f"writing dump file for next time: {dump_path}")
        try:
            write_fdump(dump_path, grid)
        except InputError as err:
            notes.append(f"WARNING: {err}")
    elif dump_path is not None and Path(dump_path).is_file():
        notes.append(f"reading Fs from {dump_path}")
        grid = read_fdump(dump_path)
    return (None if grid is None else table_from_grid(grid, default_F)), notes
