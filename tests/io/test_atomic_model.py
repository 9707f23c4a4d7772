"""Structure factors of atomic models (nanobragg.io.atomic_model, model_sf, sf_files, sf_cache)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from nanobragg.config import CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.errors import InputError
from nanobragg.io import model_sf, sf_cache
from nanobragg.io.atomic_model import read_model
from nanobragg.io.structure_factors import read_structure_factors

gemmi = pytest.importorskip("gemmi")

CELL = (31.0, 37.0, 43.0, 90.0, 90.0, 90.0)
#: element, fractional position, occupancy, B (A^2); values exact in PDB columns
ATOMS = [("C", (0.1, 0.2, 0.3), 1.0, 12.5), ("N", (0.62, 0.14, 0.77), 0.75, 20.0),
         ("O", (0.33, 0.81, 0.52), 0.5, 8.0), ("S", (0.9, 0.45, 0.05), 1.0, 30.25),
         ("FE", (0.47, 0.58, 0.91), 0.25, 15.0)]


def make_structure(atoms=ATOMS, cell=CELL, spacegroup="P 21 21 21"):
    """A gemmi Structure of ``atoms`` (positions rounded to the PDB's 0.001 A)."""
    st = gemmi.Structure()
    st.cell = gemmi.UnitCell(*cell)
    st.spacegroup_hm = spacegroup
    model, chain = gemmi.Model("1"), gemmi.Chain("A")
    for index, (element, frac, occ, b) in enumerate(atoms):
        residue = gemmi.Residue()
        residue.name, residue.seqid = "LIG", gemmi.SeqId(index + 1, " ")
        residue.het_flag = "H"
        atom = gemmi.Atom()
        atom.name, atom.element = element, gemmi.Element(element)
        pos = st.cell.orthogonalize(gemmi.Fractional(*frac))
        atom.pos = gemmi.Position(*(round(v, 3) for v in (pos.x, pos.y, pos.z)))
        atom.occ, atom.b_iso = occ, b
        residue.add_atom(atom)
        chain.add_residue(residue)
    model.add_chain(chain)
    st.add_model(model)
    return st


def write_model(st, path):
    """Write ``st`` as PDB or mmCIF by the file name."""
    if str(path).endswith(".cif"):
        st.make_mmcif_document().write_file(str(path))
    else:
        st.write_pdb(str(path))
    return path


def direct_sum(st, hkl: np.ndarray) -> np.ndarray:
    """|F| by summing every atom of every symmetry copy (numpy, IT92 from gemmi)."""
    cell, ops = st.cell, list(gemmi.find_spacegroup_by_name(st.spacegroup_hm).operations())
    s2 = np.array([cell.calculate_1_d2(list(map(int, h))) for h in hkl])
    total = np.zeros(len(hkl), dtype=complex)
    for cra in st[0].all():
        atom, coef = cra.atom, cra.atom.element.it92
        f = sum(a * np.exp(-b * s2 / 4) for a, b in zip(coef.a, coef.b)) + coef.c
        f = f * atom.occ * np.exp(-atom.b_iso * s2 / 4)
        x = np.array(cell.fractionalize(atom.pos).tolist())
        for op in ops:
            mate = np.array(op.apply_to_xyz(x.tolist()))
            total += f * np.exp(2j * np.pi * hkl @ mate)
    return np.abs(total)


def expected_sphere(cell, dmin: float) -> set:
    uc = gemmi.UnitCell(*cell)
    n = [int(cell[i] / dmin) + 1 for i in range(3)]
    return {(h, k, l) for h in range(-n[0], n[0] + 1) for k in range(-n[1], n[1] + 1)
            for l in range(-n[2], n[2] + 1)
            if (h, k, l) == (0, 0, 0) or uc.calculate_d([h, k, l]) >= dmin}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBRAGG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", ["model.pdb", "model.cif"])
def test_model_F_equals_direct_sum(tmp_path, name):
    st = make_structure()
    path = write_model(st, tmp_path / name)
    model = read_model(path)
    refl = model_sf.model_structure_factors(model, 3.0, method="direct")
    assert {tuple(h) for h in refl.hkl.tolist()} == expected_sphere(CELL, 3.0)
    assert len({tuple(h) for h in refl.hkl.tolist()}) == len(refl)
    want = direct_sum(st, refl.hkl.astype(float))
    ops = gemmi.find_spacegroup_by_name("P 21 21 21").operations()
    absent = np.array([ops.is_systematically_absent(list(h)) for h in refl.hkl.tolist()])
    assert absent.any() and np.all(refl.F[absent] == 0.0)
    F000 = 4 * sum(occ * (sum(gemmi.Element(e).it92.a) + gemmi.Element(e).it92.c)
                   for e, _, occ, _ in ATOMS)
    zero = np.all(refl.hkl == 0, axis=1)
    assert refl.F[zero][0] == pytest.approx(F000, rel=1e-12)
    # 1e-6 relative per reflection; reflections weaker than 1e-9 F000 (none expected)
    # may differ by rounding of the cancelling sum
    present = ~absent
    assert np.all(np.abs(refl.F[present] - want[present])
                  <= 1e-6 * want[present] + 1e-9 * F000)


def test_fft_route_agrees_with_direct_sum(tmp_path):
    model = read_model(write_model(make_structure(), tmp_path / "m.pdb"))
    direct = model_sf.model_structure_factors(model, 2.5, method="direct")
    fft = model_sf.model_structure_factors(model, 2.5, method="fft")
    np.testing.assert_array_equal(direct.hkl, fft.hkl)
    F000 = direct.F.max()
    # gemmi grids are single precision: measured max |dF| 5e-6 F000 on this model
    assert np.abs(direct.F - fft.F).max() <= 2e-5 * F000


def test_anisotropic_atom_matches_between_routes(tmp_path):
    st = make_structure()
    atom = st[0][0][1][0]
    atom.aniso = gemmi.SMat33f(0.25, 0.15, 0.35, 0.02, -0.03, 0.01)
    model = read_model(write_model(st, tmp_path / "aniso.cif"))
    direct = model_sf.model_structure_factors(model, 3.0, method="direct")
    fft = model_sf.model_structure_factors(model, 3.0, method="fft")
    iso = model_sf.model_structure_factors(read_model(write_model(make_structure(),
                                                                  tmp_path / "iso.cif")), 3.0)
    assert np.abs(direct.F - fft.F).max() <= 2e-5 * direct.F.max()
    assert np.abs(direct.F - iso.F).max() > 1e-2  # the U tensor is used


def test_bulk_solvent_adds_its_volume_to_F000(tmp_path):
    st = make_structure()
    model = read_model(write_model(st, tmp_path / "m.pdb"))
    plain = model_sf.model_structure_factors(model, 3.0)
    solvent = model_sf.model_structure_factors(model, 3.0, k_sol=0.35, b_sol=46.5)
    grid = gemmi.FloatGrid()
    grid.setup_from(model.structure, spacing=0.7)
    gemmi.SolventMasker(gemmi.AtomicRadiiSet.Cctbx).put_mask_on_float_grid(grid, st[0])
    volume = np.array(grid, copy=False).mean() * st.cell.volume
    zero = np.all(plain.hkl == 0, axis=1)
    assert solvent.F[zero][0] - plain.F[zero][0] == pytest.approx(0.35 * volume, rel=1e-5)
    low = (np.abs(plain.hkl).max(axis=1) == 1) & (plain.F > 0)
    assert np.abs(solvent.F[low] - plain.F[low]).max() > 1.0


def _config(cell=(31e-10, 37e-10, 43e-10) + (math.pi / 2,) * 3, distance=0.05):
    return SimulationConfig(detector=DetectorConfig(distance=distance, fpixels=100,
                                                    spixels=100, pixel_size=1e-4),
                            crystal=CrystalConfig(cell=cell))


def test_resolution_of_detector_corners(tmp_path):
    from nanobragg.io.sf_files import table_dmin
    from nanobragg.models.resolution import render_resolution

    config = _config()
    # MOSFLM: the beam at (detsize + pixel)/2 + pixel/2 from the first corner
    corner = math.hypot(0.0051, 0.0051)
    two_theta = math.atan2(corner, 0.05)
    assert render_resolution(config) == pytest.approx(1e-10 / (2 * math.sin(two_theta / 2)),
                                                      rel=1e-9)
    model = read_model(write_model(make_structure(), tmp_path / "m.pdb"))
    d = table_dmin(config, model)
    margin = 2 * (1 / 31 + 1 / 37 + 1 / 43)
    assert 1 / d == pytest.approx(1 / (1e10 * render_resolution(config)) + margin)


def test_read_structure_factors_checks_cell(tmp_path):
    path = write_model(make_structure(), tmp_path / "m.cif")
    table = read_structure_factors(path, config=_config())
    assert table.loaded and table.F.max() > 0
    close = (31.2e-10, 37e-10, 43e-10) + (math.pi / 2,) * 3
    read_structure_factors(path, dmin=4e-10, config=_config(cell=close))
    far = (33e-10, 37e-10, 43e-10) + (math.pi / 2,) * 3
    with pytest.raises(InputError, match=r"-cell: a = 33 A but model file .* has 31 A"):
        read_structure_factors(path, dmin=4e-10, config=_config(cell=far))
    with pytest.raises(InputError, match="give dmin"):
        read_structure_factors(path)


@pytest.mark.parametrize("text, problem", [
    ("CRYST1   31.000   37.000   43.000  90.00  90.00  90.00 P 21 21 21\nEND\n", "no atoms"),
    ("CRYST1   31.000   37.000   43.000  90.00  90.00  90.00 X 9 9\n", "unknown space group"),
    ("this is not a model\n", "no atoms"),
])
def test_bad_pdb_files(tmp_path, text, problem):
    st = make_structure()
    if "X 9 9" in text:
        lines = [line for line in st.make_pdb_string().splitlines()
                 if not line.startswith("CRYST1")]
        text = text + "\n".join(lines) + "\n"
    path = tmp_path / "bad.pdb"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as err:
        read_model(path)
    assert "\n" not in str(err.value)


def test_corrupt_mmcif_and_missing_cell(tmp_path):
    path = tmp_path / "bad.cif"
    path.write_text("data_x\nloop_\n_atom_site.id\n'unterminated\n")
    with pytest.raises(InputError, match="cannot read it"):
        read_model(path)
    st = make_structure()
    lines = [line for line in st.make_pdb_string().splitlines() if not line.startswith("CRYST1")]
    nocell = tmp_path / "nocell.pdb"
    nocell.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="no unit cell"):
        read_model(nocell)


def test_cache_is_used_and_checked(tmp_path, monkeypatch):
    path = write_model(make_structure(), tmp_path / "m.pdb")
    first = read_structure_factors(path, dmin=3e-10)
    files = list(sf_cache.cache_folder().glob("sf-*.npz"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o077) == 0

    def refuse(*_args, **_kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(model_sf, "model_structure_factors", refuse)
    again = read_structure_factors(path, dmin=3e-10)
    assert np.array_equal(first.F.numpy(), again.F.numpy())
    os.chmod(files[0], 0o666)
    with pytest.raises(AssertionError, match="recomputed"):
        read_structure_factors(path, dmin=3e-10)  # a file others may write is not trusted
    with pytest.raises(AssertionError, match="recomputed"):
        read_structure_factors(path, dmin=3.5e-10)  # other settings, other key


def test_missing_gemmi_is_one_line_error(tmp_path, monkeypatch):
    import sys

    path = write_model(make_structure(), tmp_path / "m.pdb")
    monkeypatch.setitem(sys.modules, "gemmi", None)
    with pytest.raises(InputError, match=r"pip install 'nanobragg\[models\]'"):
        read_model(path)


def test_simulate_reads_the_model_file_of_the_configuration(tmp_path):
    import nanobragg as nb

    path = write_model(make_structure(), tmp_path / "model.pdb")
    config = nb.from_command_line(["-pdb", str(path), "-N", "2", "-lambda", "1",
                                   "-distance", "60", "-detpixels", "24", "-pixel", "0.5"])
    assert config.structure_factors is not None
    table = read_structure_factors(path, config=config)
    assert torch.equal(nb.simulate(config).image, nb.simulate(config, table).image)
