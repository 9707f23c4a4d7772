"""Atomic models (PDB or mmCIF, read with gemmi): the atoms, unit cell and space group.

Only the first model of a file is used. Every atom counts with its occupancy (alternative
conformations share theirs) and its B factor (or anisotropic U, when given).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

from nanobragg.errors import InputError
from nanobragg.io._atomic import read_bytes
from nanobragg.io._optional import require

#: Largest difference between the model's cell and the -cell/-mat one that is accepted:
#: relative, on each edge length, and in degrees, on each angle.
CELL_LENGTH_TOLERANCE = 0.01
CELL_ANGLE_TOLERANCE = 1.0

_MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdbx")
_PDB_RECORDS = (b"HEADER", b"CRYST1", b"ATOM  ", b"HETATM", b"REMARK", b"TITLE ", b"MODEL ",
                b"COMPND")


@dataclass(frozen=True, eq=False)
class AtomicModel:
    """A model checked for use: atoms, a unit cell and a known space group.

    Attributes:
        structure: the gemmi Structure (first model only), its cell and space group set.
        spacegroup: the gemmi SpaceGroup.
        digest: SHA-256 of the file's bytes (hex).
        path: the file, for messages.
    """

    structure: object
    spacegroup: object
    digest: str
    path: str

    @property
    def cell(self) -> tuple[float, ...]:
        """a, b, c (Angstrom), alpha, beta, gamma (degrees)."""
        c = self.structure.cell
        return (c.a, c.b, c.c, c.alpha, c.beta, c.gamma)

    @property
    def atom_count(self) -> int:
        """Atoms of the (first) model."""
        return int(self.structure[0].count_atom_sites())


def looks_like_model(path: str | os.PathLike[str], head: bytes) -> bool:
    """Whether a file is a PDB or mmCIF model, by its name or its first bytes."""
    name = os.fspath(path).lower().removesuffix(".gz")
    if name.endswith(_MODEL_SUFFIXES):
        return True
    text = head.lstrip()
    return text.startswith(b"data_") or any(text.startswith(r) for r in _PDB_RECORDS)


def _structure(gemmi, path: str, raw: bytes):
    """Parse the file with gemmi (mmCIF when its text says so, else by name)."""
    is_cif = raw.lstrip().startswith(b"data_") or raw[:2] == b"\x1f\x8b" and ".cif" in path
    fmt = gemmi.CoorFormat.Mmcif if is_cif else gemmi.CoorFormat.Detect
    try:
        return gemmi.read_structure(path, format=fmt)
    except (RuntimeError, ValueError, OSError) as err:
        problem = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise InputError(f"model file '{path}': cannot read it ({problem})") from None


def read_model(path: str | os.PathLike[str], cell: tuple[float, ...] | None = None
               ) -> AtomicModel:
    """Read and check a PDB or mmCIF file.

    Args:
        path: the model file.
        cell: a, b, c (A), alpha, beta, gamma (deg) to use when the file has no unit cell.

    Raises:
        InputError: gemmi missing, unreadable file, no atoms, an atom of unknown element,
            no unit cell (and no ``cell``), no or an unknown space group.
    """
    where = f"model file '{path}'"
    gemmi = require("gemmi", where)
    raw = read_bytes(path, "model file")
    st = _structure(gemmi, os.fspath(path), raw)
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise InputError(f"{where}: no atoms")
    while len(st) > 1:
        del st[len(st) - 1]
    for cra in st[0].all():
        if cra.atom.element.name == "X":
            raise InputError(f"{where}: atom '{cra.atom.name}' of residue {cra.residue.name} "
                             f"{cra.residue.seqid} has no known element")
    if not st.cell.is_crystal():
        if cell is None:
            raise InputError(f"{where}: no unit cell (CRYST1 or _cell); give -cell or -mat")
        st.cell = gemmi.UnitCell(*cell)
    name = st.spacegroup_hm.strip()
    if not name:
        raise InputError(f"{where}: no space group (CRYST1 or _symmetry.space_group_name_H-M)")
    spacegroup = gemmi.find_spacegroup_by_name(name, alpha=st.cell.alpha, gamma=st.cell.gamma)
    if spacegroup is None:
        raise InputError(f"{where}: unknown space group '{name}'")
    st.spacegroup_hm = spacegroup.xhm()
    st.setup_cell_images()
    return AtomicModel(st, spacegroup, hashlib.sha256(raw).hexdigest(), os.fspath(path))


def check_cell(model_cell: tuple[float, ...], given: tuple[float, ...], flag: str,
               what: str) -> None:
    """Raise InputError naming the first cell parameter that differs beyond the tolerance.

    Args:
        model_cell, given: a, b, c (A), alpha, beta, gamma (deg).
        flag: where ``given`` comes from (``-cell``, ``-mat``).
        what: the model file, for the message.
    """
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    for index, (mine, theirs, name) in enumerate(zip(model_cell, given, names)):
        if index < 3:
            bad = not abs(mine - theirs) <= CELL_LENGTH_TOLERANCE * mine
            limit, unit = f"{100 * CELL_LENGTH_TOLERANCE:g}%", " A"
        else:
            bad = not abs(mine - theirs) <= CELL_ANGLE_TOLERANCE
            limit, unit = f"{CELL_ANGLE_TOLERANCE:g} deg", " deg"
        if bad:
            raise InputError(f"{flag}: {name} = {theirs:.6g}{unit} but {what} has "
                             f"{mine:.6g}{unit} (more than {limit} apart)")


def cell_from_reciprocal(matrix) -> tuple[float, ...]:
    """a, b, c (A), alpha, beta, gamma (deg) of reciprocal axes (columns of ``matrix``, 1/A)."""
    import numpy as np

    real = np.linalg.inv(np.asarray(matrix, dtype=np.float64))  # rows: a, b, c
    lengths = [float(np.linalg.norm(v)) for v in real]

    def angle(u, v) -> float:
        return math.degrees(math.acos(float(np.dot(u, v)) / float(np.linalg.norm(u)
                                                                  * np.linalg.norm(v))))

    return (*lengths, angle(real[1], real[2]), angle(real[0], real[2]), angle(real[0], real[1]))
