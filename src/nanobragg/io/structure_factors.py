"""Structure-factor tables from files: HKL text lists and the Fdump cache -> :class:`FTable`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import InputError
from ..physics.structure_factors import FTable

if TYPE_CHECKING:
    from .hkl import HKLGrid

# The HKL and Fdump readers are imported when a file is read: most renders have none.


def table_from_grid(grid: HKLGrid, default_F: float = 0.0) -> FTable:
    """The F table of an HKL grid (float64 on the CPU; the simulator moves it)."""
    return FTable(torch.from_numpy(np.ascontiguousarray(grid.F)),
                  (grid.h_min, grid.k_min, grid.l_min), default_F, loaded=grid.count > 0)


def read_structure_factors(path: str | os.PathLike[str], default_F: float = 0.0) -> FTable:
    """Read an ``h k l F`` text file into an F table (grid points not listed: default_F)."""
    from .hkl import read_hkl

    return table_from_grid(read_hkl(path, default_F), default_F)


def load_structure_factors(hkl_path: Path | None, dump_path: Path | None, default_F: float,
                           default_F_given: bool = False
                           ) -> tuple[FTable | None, list[str], list[str]]:
    """The C's rule: read ``-hkl`` and write the Fdump cache, else read the cache if any.

    Without ``-hkl`` a cache left by an earlier run is used only when ``-default_F`` was
    not given (``default_F_given``); either way a warning says what happened.

    Returns:
        The table (None when there is no file to use), messages for the report and
        warnings (for stderr) for the caller to print.
    """
    notes: list[str] = []
    warnings: list[str] = []
    grid: HKLGrid | None = None
    if hkl_path is not None:
        from .hkl import read_hkl, write_fdump

        grid = read_hkl(hkl_path, default_F)
        notes.append(f"writing dump file for next time: {dump_path}")
        try:
            write_fdump(dump_path, grid)
        except InputError as err:
            notes.append(f"WARNING: {err}")
    elif dump_path is not None and Path(dump_path).is_file():
        if default_F_given:
            warnings.append(f"WARNING: ignoring '{dump_path}' (a structure-factor cache from an "
                            f"earlier run) because -default_F was given; use -hkl to load "
                            f"structure factors")
        else:
            from .hkl import read_fdump

            grid = read_fdump(dump_path)
            warnings.append(f"WARNING: no -hkl: reading structure factors from '{dump_path}', "
                            f"the cache of an earlier run (give -hkl or -default_F to avoid it)")
            notes.append(f"reading Fs from {dump_path}")
    return (None if grid is None else table_from_grid(grid, default_F)), notes, warnings
