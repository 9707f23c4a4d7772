"""MTZ files -> P1 amplitudes (nanobragg.io.mtz)."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.mtz import read_mtz
from nanobragg.io.structure_factors import read_structure_factors

gemmi = pytest.importorskip("gemmi")


def asu_reflections(spacegroup: str, cell, dmin: float) -> np.ndarray:
    """Indices of the reciprocal asymmetric unit to dmin (no absences, no 000)."""
    sg = gemmi.find_spacegroup_by_name(spacegroup)
    uc, asu = gemmi.UnitCell(*cell), gemmi.ReciprocalAsu(sg)
    n = [int(cell[i] / dmin) + 1 for i in range(3)]
    rows = [(h, k, l) for h in range(-n[0], n[0] + 1) for k in range(-n[1], n[1] + 1)
            for l in range(-n[2], n[2] + 1)
            if (h, k, l) != (0, 0, 0) and asu.is_in([h, k, l])
            and not sg.operations().is_systematically_absent([h, k, l])
            and uc.calculate_d([h, k, l]) >= dmin]
    return np.array(rows, dtype=float)


def write_mtz(path, spacegroup, cell, hkl, columns: dict):
    """An MTZ file with H K L and ``columns`` {label: (type, values)}."""
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = gemmi.find_spacegroup_by_name(spacegroup)
    mtz.set_cell_for_all(gemmi.UnitCell(*cell))
    mtz.add_dataset("sim")
    for label, (kind, _) in columns.items():
        mtz.add_column(label, kind)
    data = np.column_stack([hkl] + [values for _, values in columns.values()])
    mtz.set_data(data.astype(np.float32))
    mtz.write_to_file(str(path))
    return path


def expanded(spacegroup, hkl, F_plus, F_minus) -> dict:
    """P1 list by gemmi's operators one reflection at a time (the independent check)."""
    plus, minus = {}, {}
    for h, fp, fm in zip(hkl.astype(int).tolist(), F_plus, F_minus):
        for op in gemmi.find_spacegroup_by_name(spacegroup).operations():
            mate = tuple(op.apply_to_hkl(h))
            plus[mate] = float(np.float32(fp))
            minus[tuple(-v for v in mate)] = float(np.float32(fm))
    return minus | plus  # F(+) wins where a centric F(-) lands on an F(+) mate


def as_dict(reflections) -> dict:
    return {tuple(h): f for h, f in zip(reflections.hkl.tolist(), reflections.F.tolist())}


@pytest.mark.parametrize("spacegroup, cell", [
    ("P 21 21 21", (31.0, 37.0, 43.0, 90, 90, 90)),
    ("P 32 2 1", (40.0, 40.0, 55.0, 90, 90, 120)),
    ("C 1 2 1", (50.0, 30.0, 35.0, 90, 104, 90)),
])
def test_p1_expansion_equals_independent_list(tmp_path, spacegroup, cell):
    hkl = asu_reflections(spacegroup, cell, 4.0)
    F = np.random.default_rng(3).uniform(1, 100, len(hkl))
    path = write_mtz(tmp_path / "x.mtz", spacegroup, cell, hkl, {"FP": ("F", F)})
    got = as_dict(read_mtz(path))
    assert got == expanded(spacegroup, hkl, F, F)


def test_anomalous_pair_kept_apart(tmp_path):
    spacegroup, cell = "P 21 21 21", (31.0, 37.0, 43.0, 90, 90, 90)
    hkl = asu_reflections(spacegroup, cell, 5.0)
    rng = np.random.default_rng(4)
    plus, minus = rng.uniform(1, 100, len(hkl)), rng.uniform(1, 100, len(hkl))
    minus[0] = np.nan  # not measured: F(+) stands in
    path = write_mtz(tmp_path / "a.mtz", spacegroup, cell, hkl,
                     {"FP": ("F", (plus + minus) / 2), "F(+)": ("G", plus),
                      "F(-)": ("G", minus)})
    got = as_dict(read_mtz(path))
    filled = np.where(np.isnan(minus), plus, minus)
    assert got == expanded(spacegroup, hkl, plus, filled)
    h = next(tuple(row) for row in hkl.astype(int).tolist() if all(row))  # acentric
    assert got[h] != got[tuple(-v for v in h)]
    plain = as_dict(read_mtz(path, column="FP"))
    assert plain[h] == plain[tuple(-v for v in h)]
    assert as_dict(read_mtz(path, column="F(-)")) == got  # the partner is found by name
    assert as_dict(read_mtz(path, column="F")) == got  # the stem of F(+)/F(-)


def test_default_label_order_and_ambiguity(tmp_path):
    spacegroup, cell = "P 1", (20.0, 20.0, 20.0, 90, 90, 90)
    hkl = asu_reflections(spacegroup, cell, 6.0)
    ones, twos = np.ones(len(hkl)), 2 * np.ones(len(hkl))
    path = write_mtz(tmp_path / "d.mtz", spacegroup, cell, hkl,
                     {"FP": ("F", ones), "FC": ("F", twos)})
    assert set(read_mtz(path).F.tolist()) == {2.0}  # FC comes before FP
    odd = write_mtz(tmp_path / "o.mtz", spacegroup, cell, hkl,
                    {"FOO": ("F", ones), "BAR": ("F", twos)})
    with pytest.raises(InputError, match="more than one set of amplitudes.*FOO, BAR.*"
                                         "-mtz_column"):
        read_mtz(odd)
    assert set(read_mtz(odd, column="BAR").F.tolist()) == {2.0}
    with pytest.raises(InputError, match="no column 'NOPE'.*FOO, BAR"):
        read_mtz(odd, column="NOPE")


def test_intensities_only_is_an_error(tmp_path):
    spacegroup, cell = "P 1", (20.0, 20.0, 20.0, 90, 90, 90)
    hkl = asu_reflections(spacegroup, cell, 6.0)
    path = write_mtz(tmp_path / "i.mtz", spacegroup, cell, hkl,
                     {"IMEAN": ("J", np.ones(len(hkl))), "SIGIMEAN": ("Q", np.ones(len(hkl)))})
    with pytest.raises(InputError, match=r"intensities \(IMEAN\) but no amplitudes.*"
                                         r"amplitude column \(type F"):
        read_mtz(path)
    with pytest.raises(InputError, match="'IMEAN' .* is an intensity column"):
        read_mtz(path, column="IMEAN")


def test_unknown_space_group_and_corrupt_file(tmp_path):
    spacegroup, cell = "P 21 21 21", (31.0, 37.0, 43.0, 90, 90, 90)
    hkl = asu_reflections(spacegroup, cell, 6.0)
    good = write_mtz(tmp_path / "g.mtz", spacegroup, cell, hkl, {"FP": ("F", np.ones(len(hkl)))})
    raw = good.read_bytes()
    bad = tmp_path / "sg.mtz"
    bad.write_bytes(raw.replace(b"'P 21 21 21'", b"'Q 99 99 99'"))
    with pytest.raises(InputError, match="unknown space group 'Q 99 99 99'"):
        read_mtz(bad)
    cut = tmp_path / "cut.mtz"
    cut.write_bytes(raw[:200])
    with pytest.raises(InputError, match="cannot read it") as err:
        read_mtz(cut)
    assert "\n" not in str(err.value)


def test_table_from_mtz_is_the_table_of_its_p1_text(tmp_path):
    spacegroup, cell = "P 32 2 1", (40.0, 40.0, 55.0, 90, 90, 120)
    hkl = asu_reflections(spacegroup, cell, 5.0)
    F = np.random.default_rng(5).uniform(1, 100, len(hkl))
    path = write_mtz(tmp_path / "t.mtz", spacegroup, cell, hkl, {"FP": ("F", F)})
    text = tmp_path / "p1.hkl"
    text.write_text("".join(f"{h} {k} {l} {f!r}\n" for (h, k, l), f in
                            expanded(spacegroup, hkl, F, F).items()))
    mine, theirs = read_structure_factors(path, 7.0), read_structure_factors(text, 7.0)
    assert mine.mins == theirs.mins
    assert np.array_equal(mine.F.numpy(), theirs.F.numpy())
