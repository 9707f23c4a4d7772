"""A data-set description's ``hkl:`` with MTZ and model files."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.cli.dataset import flags_to_config
from nanobragg.dataset.description import parse_description
from nanobragg.io.structure_factors import read_structure_factors

gemmi = pytest.importorskip("gemmi")

DETECTOR = {"distance": 0.06, "fpixels": 32, "spixels": 32, "pixel_size": 4e-4}


def _model(path):
    st = gemmi.Structure()
    st.cell, st.spacegroup_hm = gemmi.UnitCell(25, 28, 31, 90, 90, 90), "P 21 21 21"
    model, chain, residue = gemmi.Model("1"), gemmi.Chain("A"), gemmi.Residue()
    residue.name, residue.seqid = "LIG", gemmi.SeqId(1, " ")
    for name, xyz in (("C", (1.0, 2.0, 3.0)), ("O", (5.0, 9.0, 2.5))):
        atom = gemmi.Atom()
        atom.name, atom.element, atom.pos, atom.b_iso = name, gemmi.Element(name), \
            gemmi.Position(*xyz), 15.0
        residue.add_atom(atom)
    chain.add_residue(residue)
    model.add_chain(chain)
    st.add_model(model)
    st.write_pdb(str(path))
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBRAGG_CACHE_DIR", str(tmp_path / "cache"))


def test_config_hkl_takes_a_model_and_its_cell(tmp_path):
    path = _model(tmp_path / "m.pdb")
    doc = {"seed": 1, "shots": 2, "experiment": {"config": {"detector": DETECTOR},
                                                 "hkl": "m.pdb"}}
    desc = parse_description(doc, base=tmp_path)
    assert desc.config.crystal.cell[:3] == pytest.approx((25e-10, 28e-10, 31e-10))
    assert desc.config.structure_factors.kind == "model"
    direct = read_structure_factors(path, config=desc.config)
    assert desc.table.mins == direct.mins
    assert np.array_equal(desc.table.F.numpy(), direct.F.numpy())


def test_flags_take_pdb(tmp_path):
    _model(tmp_path / "m.pdb")
    flags = "-pdb m.pdb -N 2 -lambda 1 -distance 60 -detpixels 32 -pixel 0.4"
    desc = parse_description({"seed": 1, "shots": 1, "experiment": {"flags": flags}},
                             base=tmp_path, flags_parser=flags_to_config)
    assert desc.table is not None and desc.table.loaded
    assert float(desc.table.F.max()) > 0
