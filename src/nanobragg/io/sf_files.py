"""Which structure-factor file is which, and the P1 reflections of MTZ files and models.

A model's table is computed to the resolution the render reaches (the detector corners,
or ``dmin`` of the configuration when that is coarser) widened by two steps of every
reciprocal axis, so that the nearest reflection of every pixel and the neighbours of
tricubic interpolation are in it; ``StructureFactorFile.dmin`` replaces that exactly.
Computed tables are cached (:mod:`nanobragg.io.sf_cache`).
"""

from __future__ import annotations

import math
import os

import numpy as np

from nanobragg.config import CrystalConfig, SimulationConfig, StructureFactorFile
from nanobragg.errors import InputError
from nanobragg.io.reflections import ReflectionList

#: Reciprocal-axis steps added around the render's resolution sphere.
MARGIN_STEPS = 2
METHOD = "auto"


def file_kind(path: str | os.PathLike[str], kind: str | None = None) -> str:
    """``"mtz"``, ``"model"`` or ``"hkl"`` (text) by the name and the first bytes.

    Raises:
        InputError: the file cannot be opened.
    """
    if kind is not None:
        return kind
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as err:
        raise InputError(f"structure-factor file '{path}': cannot read it "
                         f"({err.strerror or err})") from None
    name = os.fspath(path).lower()
    if head.startswith(b"MTZ ") or name.endswith((".mtz", ".mtz.gz")):
        return "mtz"
    from nanobragg.io.atomic_model import looks_like_model

    return "model" if looks_like_model(path, head) else "hkl"


def given_cell(crystal: CrystalConfig) -> tuple[tuple[float, ...], str] | None:
    """The configuration's cell in A and degrees and the flag it came from, or None."""
    if crystal.cell is not None:
        values = [float(v) for v in crystal.cell]
        return (tuple(v * 1e10 for v in values[:3]) + tuple(math.degrees(v) for v in values[3:]),
                "-cell")
    if crystal.reciprocal_matrix is not None:
        from nanobragg.io.atomic_model import cell_from_reciprocal

        return cell_from_reciprocal(crystal.reciprocal_matrix), "-mat"
    return None


def file_cell(source: StructureFactorFile) -> tuple[float, ...]:
    """Unit cell of an MTZ or model file: a, b, c (A), alpha, beta, gamma (deg).

    Raises:
        InputError: a text file (it has no cell), or see the readers.
    """
    kind = file_kind(source.path, source.kind)
    if kind == "mtz":
        from nanobragg.io.mtz import mtz_cell

        return mtz_cell(source.path)
    if kind == "model":
        from nanobragg.io.atomic_model import read_model

        return read_model(source.path).cell
    raise InputError(f"hkl file '{source.path}': an h k l F text file has no unit cell; "
                     f"give -cell or -mat")


def table_dmin(config: SimulationConfig, model) -> float:
    """Resolution (A) of a model's table (see the module docstring)."""
    source = config.structure_factors
    if source is not None and source.dmin is not None:
        return float(source.dmin) * 1e10
    from nanobragg.models.resolution import render_resolution

    reach = render_resolution(config) * 1e10
    if float(config.dmin) > 0:
        reach = max(reach, float(config.dmin) * 1e10)
    if not math.isfinite(reach):
        raise InputError(f"model file '{model.path}': the detector reaches no resolution "
                         f"limit; give -model_dmin")
    recip = model.structure.cell.reciprocal()
    margin = MARGIN_STEPS * (recip.a + recip.b + recip.c)
    return 1.0 / (1.0 / reach + margin)


def model_reflections(source: StructureFactorFile, config: SimulationConfig
                      ) -> tuple[ReflectionList, list[str]]:
    """Structure factors of the model file ``source`` for the render ``config`` (cached).

    Raises:
        InputError: a bad model, a cell that disagrees with -cell/-mat, or a table too big.
    """
    from nanobragg.io import sf_cache
    from nanobragg.io.atomic_model import check_cell, read_model
    from nanobragg.io.model_sf import model_structure_factors

    given = given_cell(config.crystal)
    model = read_model(source.path, cell=None if given is None else given[0])
    if given is not None:
        check_cell(model.cell, given[0], given[1], f"model file '{source.path}'")
    dmin = table_dmin(config, model)
    import gemmi

    settings = {"dmin": repr(dmin), "k_sol": repr(float(source.solvent_k)),
                "b_sol": repr(float(source.solvent_b)), "method": METHOD,
                "cell": repr(model.cell), "spacegroup": model.spacegroup.xhm(),
                "gemmi": gemmi.__version__, "numpy": np.__version__}
    key = sf_cache.cache_key(model.digest, settings)
    reflections = sf_cache.load(key)
    what = (f"'{source.path}' ({model.atom_count} atoms, {model.spacegroup.xhm()}) "
            f"to {dmin:.4g} A")
    if reflections is not None:
        return reflections, [f"structure factors of {what} from the cache"]
    reflections = model_structure_factors(model, dmin, float(source.solvent_k),
                                          float(source.solvent_b), METHOD)
    sf_cache.store(key, reflections)
    return reflections, [f"computed {len(reflections)} structure factors of {what}"]


def source_reflections(source: StructureFactorFile, config: SimulationConfig
                       ) -> tuple[ReflectionList, list[str]]:
    """The P1 reflections of an MTZ or model file and messages for the report.

    Raises:
        InputError: a text file (read it with ``read_hkl``), or see the readers.
    """
    kind = file_kind(source.path, source.kind)
    if kind == "mtz":
        from nanobragg.io.mtz import read_mtz

        reflections = read_mtz(source.path, source.column)
        return reflections, [f"read {len(reflections)} P1 structure factors from "
                             f"'{source.path}'"]
    if kind == "model":
        return model_reflections(source, config)
    raise InputError(f"'{source.path}' is an h k l F text file, not an MTZ or model file")
