"""MTZ reflection files -> the P1 amplitudes nanoBragg needs (gemmi, the ``[models]`` extra).

An MTZ file holds the reflections of one asymmetric unit. The amplitude column is
expanded to every reflection of P1 with the space group's rotations and Friedel's law;
an anomalous pair (F(+), F(-)) is kept apart: F(+) goes to ``h`` and its symmetry mates,
F(-) to ``-h`` and its mates (where one of the two is missing, the other stands in).

Without ``column`` the amplitudes are chosen by label, first match wins:
:data:`DEFAULT_PAIRS` (anomalous pairs), then :data:`DEFAULT_LABELS`; when none of those
is there, the only amplitude column (or the only anomalous pair) of the file; several
candidates are an error that lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._optional import require
from nanobragg.io.reflections import ReflectionList

#: Anomalous amplitude pairs (F(+), F(-)) looked for first, in this order.
DEFAULT_PAIRS = (("F(+)", "F(-)"), ("FPLUS", "FMINUS"), ("F-model(+)", "F-model(-)"),
                 ("F-obs(+)", "F-obs(-)"), ("FMODEL(+)", "FMODEL(-)"))
#: Amplitude labels looked for next, in this order.
DEFAULT_LABELS = ("FMODEL", "F-model", "FC", "FCALC", "F", "FP", "FOBS", "F-obs", "FMEAN",
                  "F_meas")
#: MTZ column types: amplitude, anomalous amplitude, intensity, anomalous intensity.
AMPLITUDE, ANOMALOUS, INTENSITY, ANOMALOUS_INTENSITY = "F", "G", "J", "K"


@dataclass(frozen=True)
class AmplitudeChoice:
    """The column(s) to read: ``plus`` for h (and ``minus`` for -h, when anomalous)."""

    plus: str
    minus: str | None = None

    def describe(self) -> str:
        """``"FP"`` or ``"F(+)/F(-)"``."""
        return self.plus if self.minus is None else f"{self.plus}/{self.minus}"


def open_mtz(path: str | os.PathLike[str], with_data: bool = True):
    """The gemmi Mtz object of ``path`` with a known space group.

    Raises:
        InputError: gemmi missing, unreadable or corrupt file, unknown space group.
    """
    gemmi = require("gemmi", f"mtz file '{path}'")
    try:
        mtz = gemmi.read_mtz_file(str(path), with_data=with_data)
    except (RuntimeError, ValueError, OSError) as err:
        problem = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise InputError(f"mtz file '{path}': cannot read it ({problem})") from None
    if len(mtz.columns) == 0:
        raise InputError(f"mtz file '{path}': cannot read it (no column headers: truncated "
                         f"or not an MTZ file)")
    if mtz.spacegroup is None:
        raise InputError(f"mtz file '{path}': unknown space group '{mtz.spacegroup_name.strip()}'"
                         f" (number {mtz.spacegroup_number})")
    return mtz


def mtz_cell(path: str | os.PathLike[str]) -> tuple[float, ...]:
    """Unit cell of an MTZ file: a, b, c (Angstrom), alpha, beta, gamma (degrees)."""
    cell = open_mtz(path, with_data=False).cell
    return (cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)


#: Markers of the two halves of an anomalous pair, most specific first.
_PAIR_MARKERS = (("(+)", "(-)"), ("PLUS", "MINUS"), ("plus", "minus"), ("+", "-"))


def _partner(label: str, labels: set[str]) -> tuple[str, bool] | None:
    """The other half of an anomalous pair named like ``label`` (if the file has it) and
    whether ``label`` is the F(+) half."""
    for plus, minus in _PAIR_MARKERS:
        if plus in label and label.replace(plus, minus) in labels:
            return label.replace(plus, minus), True
        if minus in label and label.replace(minus, plus) in labels:
            return label.replace(minus, plus), False
    return None


def _named_choice(mtz, name: str, path: object) -> AmplitudeChoice:
    """The amplitudes ``-mtz_column NAME`` means: a column, ``PLUS,MINUS`` or a pair's stem."""
    types = {column.label: column.type for column in mtz.columns}
    names = [part.strip() for part in name.split(",")]
    if len(names) == 2:
        for label in names:
            _check_amplitude(types, label, path)
        return AmplitudeChoice(names[0], names[1])
    if name not in types and f"{name}(+)" in types and f"{name}(-)" in types:
        return AmplitudeChoice(f"{name}(+)", f"{name}(-)")
    _check_amplitude(types, name, path)
    if types[name] == ANOMALOUS:
        found = _partner(name, set(types))
        if found is None:
            raise InputError(f"-mtz_column: '{name}' of '{path}' is one half of an anomalous "
                             f"pair and its partner is not in the file; give both as "
                             f"-mtz_column 'PLUS,MINUS'")
        other, is_plus = found
        return AmplitudeChoice(name, other) if is_plus else AmplitudeChoice(other, name)
    return AmplitudeChoice(name)


def _check_amplitude(types: dict[str, str], label: str, path: object) -> None:
    if label not in types:
        raise InputError(f"-mtz_column: no column '{label}' in '{path}' (amplitude columns: "
                         f"{_listing(types, (AMPLITUDE, ANOMALOUS))})")
    if types[label] in (INTENSITY, ANOMALOUS_INTENSITY):
        raise InputError(f"-mtz_column: '{label}' of '{path}' is an intensity column; give an "
                         f"amplitude column (type F or G: "
                         f"{_listing(types, (AMPLITUDE, ANOMALOUS))})")
    if types[label] not in (AMPLITUDE, ANOMALOUS):
        raise InputError(f"-mtz_column: '{label}' of '{path}' is a column of type "
                         f"'{types[label]}', not amplitudes (type F or G: "
                         f"{_listing(types, (AMPLITUDE, ANOMALOUS))})")


def _listing(types: dict[str, str], kinds: tuple[str, ...]) -> str:
    labels = [label for label, kind in types.items() if kind in kinds]
    return ", ".join(labels) if labels else "none"


def choose_amplitudes(mtz, path: object, column: str | None = None) -> AmplitudeChoice:
    """The amplitude column(s) to read (see the module docstring for the rule).

    Raises:
        InputError: the named column is missing or not amplitudes, the file has only
            intensities, no amplitudes at all, or several candidates and no ``column``.
    """
    if column is not None:
        return _named_choice(mtz, column, path)
    types = {c.label: c.type for c in mtz.columns}
    for plus, minus in DEFAULT_PAIRS:
        if types.get(plus) == ANOMALOUS and types.get(minus) == ANOMALOUS:
            return AmplitudeChoice(plus, minus)
    for label in DEFAULT_LABELS:
        if types.get(label) == AMPLITUDE:
            return AmplitudeChoice(label)
    plain = [label for label, kind in types.items() if kind == AMPLITUDE]
    pairs = _anomalous_pairs(types)
    candidates = plain + [choice.describe() for choice in pairs]
    if len(candidates) == 1:
        return AmplitudeChoice(plain[0]) if plain else pairs[0]
    if candidates:
        raise InputError(f"mtz file '{path}': more than one set of amplitudes "
                         f"({', '.join(candidates)}); choose one with -mtz_column")
    intensities = _listing(types, (INTENSITY, ANOMALOUS_INTENSITY))
    if intensities != "none":
        raise InputError(f"mtz file '{path}': holds intensities ({intensities}) but no "
                         f"amplitudes; nanobragg needs amplitudes: give an amplitude column "
                         f"(type F, e.g. from French-Wilson/ctruncate) with -mtz_column")
    raise InputError(f"mtz file '{path}': no amplitude column (type F or G) among "
                     f"{', '.join(types) or 'no columns'}")


def _anomalous_pairs(types: dict[str, str]) -> list[AmplitudeChoice]:
    """Every (F(+), F(-)) pair of G columns that name each other."""
    labels = {label for label, kind in types.items() if kind == ANOMALOUS}
    pairs = []
    for label in sorted(labels):
        found = _partner(label, labels)
        if found is not None and found[1]:
            pairs.append(AmplitudeChoice(label, found[0]))
    return pairs


def rotations(spacegroup) -> np.ndarray:
    """Integer rotation matrices of the space group's operators, shape (n_ops, 3, 3).

    ``h @ R`` is the symmetry mate of the row vector ``h`` (``h' = h R``).
    """
    ops = list(spacegroup.operations())
    return np.array([np.array(op.rot, dtype=np.int64) // op.DEN for op in ops])


def _distinct(hkl: np.ndarray, F: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct indices of ``hkl`` with their F; InputError when one gets two values."""
    unique, first, inverse = np.unique(hkl, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    chosen = F[first]
    clash = np.flatnonzero(F != chosen[inverse])
    if clash.size:
        h, k, l = hkl[clash[0]]
        raise InputError(f"{what}: reflection {h} {k} {l} gets two different amplitudes "
                         f"({chosen[inverse[clash[0]]]:g} and {F[clash[0]]:g}) from "
                         f"symmetry-equivalent entries (unmerged data?)")
    return unique, chosen


def expand_to_p1(hkl: np.ndarray, F_plus: np.ndarray, F_minus: np.ndarray, spacegroup,
                 what: str) -> ReflectionList:
    """Every P1 reflection of the asymmetric-unit amplitudes (NaN = not measured).

    ``F_plus[i]`` goes to ``hkl[i] R`` for every rotation R, ``F_minus[i]`` to
    ``-hkl[i] R`` where no F(+) went (a centric reflection is its own Friedel mate);
    where one of the two is NaN the other is used. A reflection reached from two listed
    reflections with different amplitudes is an error (unmerged data).

    Args:
        hkl: int64 (n, 3) listed indices; F_plus, F_minus: float64 (n,).
        spacegroup: gemmi SpaceGroup of the file.
        what: file description for messages.
    """
    F_plus = np.where(np.isnan(F_plus), F_minus, F_plus)
    F_minus = np.where(np.isnan(F_minus), F_plus, F_minus)
    keep = ~np.isnan(F_plus)
    hkl, F_plus, F_minus = hkl[keep], F_plus[keep], F_minus[keep]
    mates = np.concatenate([hkl @ rot for rot in rotations(spacegroup)])
    copies = len(mates) // max(len(hkl), 1)
    plus_hkl, plus_F = _distinct(mates, np.tile(F_plus, copies), what)
    minus_hkl, minus_F = _distinct(-mates, np.tile(F_minus, copies), what)
    taken = {tuple(h) for h in plus_hkl.tolist()}
    extra = np.array([tuple(h) not in taken for h in minus_hkl.tolist()], dtype=bool)
    all_hkl = np.concatenate([plus_hkl, minus_hkl[extra]]) if len(taken) else minus_hkl
    all_F = np.concatenate([plus_F, minus_F[extra]]) if len(taken) else minus_F
    order = np.lexsort(all_hkl.T[::-1])
    return ReflectionList(all_hkl[order].astype(np.int64), all_F[order].astype(np.float64))


def read_mtz(path: str | os.PathLike[str], column: str | None = None) -> ReflectionList:
    """The P1 amplitudes of an MTZ file (see the module docstring).

    Args:
        path: the MTZ file.
        column: ``-mtz_column``: an amplitude label, an anomalous label (its partner is
            found by name), ``PLUS,MINUS``, or the stem of ``STEM(+)``/``STEM(-)``.

    Returns:
        Distinct P1 reflections with finite amplitudes.

    Raises:
        InputError: see :func:`open_mtz` and :func:`choose_amplitudes`; no amplitude
            value in the file; non-finite or negative amplitudes.
    """
    mtz = open_mtz(path)
    choice = choose_amplitudes(mtz, path, column)
    what = f"mtz file '{path}' column {choice.describe()}"
    hkl = np.asarray(mtz.make_miller_array(), dtype=np.int64).reshape(-1, 3)
    F_plus = np.asarray(mtz.column_with_label(choice.plus).array, dtype=np.float64)
    minus = choice.minus or choice.plus
    F_minus = np.asarray(mtz.column_with_label(minus).array, dtype=np.float64)
    for values in (F_plus, F_minus):
        if np.isinf(values).any() or (values < 0).any():
            raise InputError(f"{what}: amplitudes must be finite and not negative")
    if np.isnan(F_plus).all() and np.isnan(F_minus).all():
        raise InputError(f"{what}: no amplitude values (every entry is missing)")
    return expand_to_p1(hkl, F_plus, F_minus, mtz.spacegroup, what)
