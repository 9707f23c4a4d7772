"""Structure-factor tables from files -> :class:`FTable`: HKL text lists, the Fdump cache,
MTZ files and atomic models (PDB, mmCIF)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import SimulationConfig, StructureFactorFile
from ..errors import InputError
from ..physics.structure_factors import FTable

if TYPE_CHECKING:
    from .hkl import HKLGrid
    from .reflections import ReflectionList

# The HKL and Fdump readers are imported when a file is read: most renders have none.


def table_from_grid(grid: HKLGrid, default_F: float = 0.0) -> FTable:
    """The F table of an HKL grid (float64 on the CPU; the simulator moves it)."""
    return FTable(torch.from_numpy(np.ascontiguousarray(grid.F)),
                  (grid.h_min, grid.k_min, grid.l_min), default_F, loaded=grid.count > 0)


def read_structure_factors(path: str | os.PathLike[str], default_F: float = 0.0, *,
                           column: str | None = None, dmin: float | None = None,
                           solvent_k: float = 0.0, solvent_b: float = 46.5,
                           config: SimulationConfig | None = None) -> FTable:
    """Read an ``h k l F`` text file, an MTZ file or an atomic model into an F table.

    Grid points not listed get ``default_F``. MTZ files are expanded to P1
    (:mod:`nanobragg.io.mtz`); a model's amplitudes are computed
    (:mod:`nanobragg.io.model_sf`) to ``dmin`` (m), or to what ``config``'s detector
    reaches (:mod:`nanobragg.io.sf_files`), with an optional flat bulk solvent
    (``solvent_k`` e/A^3, ``solvent_b`` A^2); the model's cell must agree with the one of
    ``config``, if that has one.

    Raises:
        InputError: a bad file, or a model with neither ``dmin`` nor ``config``.
    """
    from .sf_files import file_kind

    kind = file_kind(path)
    if kind == "hkl":
        from .hkl import read_hkl

        return table_from_grid(read_hkl(path, default_F), default_F)
    source = StructureFactorFile(os.fspath(path), kind, column, dmin, solvent_k, solvent_b)
    if config is None:
        if kind == "model" and dmin is None:
            raise InputError(f"model file '{path}': give dmin or a configuration whose "
                             f"detector sets the resolution")
        config = SimulationConfig()
    config = dataclasses.replace(config, structure_factors=source)
    return source_table(config, default_F)[0]


def source_table(config: SimulationConfig, default_F: float
                 ) -> tuple[FTable, ReflectionList, list[str]]:
    """The table of ``config.structure_factors`` (an MTZ or model file).

    Returns:
        The table, the P1 reflections it holds and messages for the report.
    """
    from .sf_files import source_reflections

    source = config.structure_factors
    reflections, notes = source_reflections(source, config)
    grid = reflections.to_grid(default_F, f"structure factors of '{source.path}'")
    return table_from_grid(grid, default_F), reflections, notes


def load_structure_factors(hkl_path: Path | None, dump_path: Path | None, default_F: float,
                           default_F_given: bool = False,
                           config: SimulationConfig | None = None
                           ) -> tuple[FTable | None, list[str], list[str]]:
    """The C's rule: read ``-hkl`` and write the Fdump cache, else read the cache if any.

    Without ``-hkl`` a cache left by an earlier run is used only when ``-default_F`` was
    not given (``default_F_given``); either way a warning says what happened. An MTZ or
    model file in ``config.structure_factors`` takes the place of ``-hkl`` (and also
    writes the cache).

    Returns:
        The table (None when there is no file to use), messages for the report and
        warnings (for stderr) for the caller to print.
    """
    notes: list[str] = []
    warnings: list[str] = []
    grid: HKLGrid | None = None
    if config is not None and config.structure_factors is not None:
        table, _, notes = source_table(config, default_F)
        return table, notes + dump_table(dump_path, table), warnings
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


def dump_table(dump_path: Path | None, table: FTable) -> list[str]:
    """Write ``table`` as the Fdump cache, as the C does after reading ``-hkl``."""
    if dump_path is None:
        return []
    from .hkl import HKLGrid, write_fdump

    grid = HKLGrid(F=table.F.numpy(), h_min=table.mins[0], k_min=table.mins[1],
                   l_min=table.mins[2], count=1)
    try:
        write_fdump(dump_path, grid)
    except InputError as err:
        return [f"writing dump file for next time: {dump_path}", f"WARNING: {err}"]
    return [f"writing dump file for next time: {dump_path}"]
