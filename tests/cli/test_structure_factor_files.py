"""The nanoBragg command with MTZ files and atomic models (-hkl F.mtz, -pdb, -hklout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanobragg.cli.main import run

gemmi = pytest.importorskip("gemmi")

GEOMETRY = ["-N", "3", "-lambda", "1", "-distance", "60", "-detpixels", "48", "-pixel", "0.4",
            "-nopgm", "-nonoise", "-oversample", "1"]
OUTPUTS = ("floatimage.bin", "intimage.img", "P1.hkl", "Fdump.bin")


def make_model(path: Path, spacegroup="P 21 21 21", cell=(31.0, 37.0, 43.0, 90, 90, 90),
               atoms=(("C", (3.1, 7.4, 12.9), 1.0, 12.0), ("O", (20.0, 3.3, 30.1), 0.8, 20.0),
                      ("S", (11.0, 25.0, 8.0), 1.0, 25.0))) -> Path:
    """A few-atom model as PDB or mmCIF (by the suffix)."""
    st = gemmi.Structure()
    st.cell, st.spacegroup_hm = gemmi.UnitCell(*cell), spacegroup
    model, chain = gemmi.Model("1"), gemmi.Chain("A")
    for index, (element, xyz, occ, b) in enumerate(atoms):
        residue = gemmi.Residue()
        residue.name, residue.seqid, residue.het_flag = "LIG", gemmi.SeqId(index + 1, " "), "H"
        atom = gemmi.Atom()
        atom.name, atom.element, atom.pos = element, gemmi.Element(element), gemmi.Position(*xyz)
        atom.occ, atom.b_iso = occ, b
        residue.add_atom(atom)
        chain.add_residue(residue)
    model.add_chain(chain)
    st.add_model(model)
    if path.suffix == ".cif":
        st.make_mmcif_document().write_file(str(path))
    else:
        st.write_pdb(str(path))
    return path


def make_mtz(path: Path, columns: dict, spacegroup="P 32 2 1",
             cell=(40.0, 40.0, 55.0, 90, 90, 120)) -> Path:
    """An MTZ of the asymmetric unit to 4 A with ``columns`` {label: (type, value fn)}."""
    sg = gemmi.find_spacegroup_by_name(spacegroup)
    uc, asu = gemmi.UnitCell(*cell), gemmi.ReciprocalAsu(sg)
    hkl = np.array([(h, k, l) for h in range(-11, 12) for k in range(-11, 12)
                    for l in range(-14, 15) if (h, k, l) != (0, 0, 0) and asu.is_in([h, k, l])
                    and not sg.operations().is_systematically_absent([h, k, l])
                    and uc.calculate_d([h, k, l]) >= 4.0], dtype=float)
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup, mtz.cell = sg, uc
    mtz.set_cell_for_all(uc)
    mtz.add_dataset("sim")
    values = [hkl]
    for label, (kind, fn) in columns.items():
        mtz.add_column(label, kind)
        values.append(fn(hkl)[:, None])
    mtz.set_data(np.hstack(values).astype(np.float32))
    mtz.write_to_file(str(path))
    return path


def _run(argv, cwd: Path, monkeypatch, capsys):
    monkeypatch.chdir(cwd)
    status = run(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBRAGG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", ["model.pdb", "model.cif"])
def test_render_from_model_equals_render_from_its_hklout(tmp_path, monkeypatch, capsys, name):
    model = make_model(tmp_path / name)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    status, out, err = _run([*GEOMETRY, "-pdb", str(model), "-hklout", "P1.hkl"], first,
                            monkeypatch, capsys)
    assert status == 0, err
    assert "unit cell from" in out and "computed" in out
    status, _, err = _run([*GEOMETRY, "-hkl", str(first / "P1.hkl"), "-cell", "31", "37", "43",
                           "90", "90", "90"], second, monkeypatch, capsys)
    assert status == 0, err
    image = (first / "floatimage.bin").read_bytes()
    assert image == (second / "floatimage.bin").read_bytes()
    assert np.frombuffer(image, np.float32).max() > 0
    assert (first / "Fdump.bin").read_bytes() == (second / "Fdump.bin").read_bytes()


def test_render_from_mtz_equals_render_from_p1_text(tmp_path, monkeypatch, capsys):
    mtz = make_mtz(tmp_path / "x.mtz", {"FP": ("F", lambda hkl: 30 + hkl[:, 0] ** 2 + hkl[:, 2])})
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    status, out, err = _run([*GEOMETRY, "-hkl", str(mtz), "-hklout", "P1.hkl"], one,
                            monkeypatch, capsys)
    assert status == 0, err
    # the P1 text written here independently, by gemmi's own expansion
    data = gemmi.read_mtz_file(str(mtz))
    data.expand_to_p1()
    rows = {}
    for h, k, l, f in np.array(data.array)[:, :4].tolist():
        rows[(int(h), int(k), int(l))] = f
        rows[(-int(h), -int(k), -int(l))] = f
    (two / "p1.hkl").write_text("".join(f"{h} {k} {l} {f!r}\n" for (h, k, l), f in rows.items()))
    status, _, err = _run([*GEOMETRY, "-hkl", "p1.hkl", "-cell", "40", "40", "55", "90", "90",
                           "120"], two, monkeypatch, capsys)
    assert status == 0, err
    assert (one / "floatimage.bin").read_bytes() == (two / "floatimage.bin").read_bytes()
    written = {tuple(map(int, line.split()[:3])): float(line.split()[3])
               for line in (one / "P1.hkl").read_text().splitlines()}
    assert written == rows


def _bad_inputs(tmp_path: Path) -> dict:
    model = make_model(tmp_path / "m.pdb")
    amplitudes = {"FP": ("F", lambda hkl: np.full(len(hkl), 5.0))}
    good_mtz = make_mtz(tmp_path / "good.mtz", amplitudes)
    bad_sg = tmp_path / "sg.mtz"
    bad_sg.write_bytes(good_mtz.read_bytes().replace(b"'P 32 2 1'", b"'Q 9 9 99'"))
    corrupt = tmp_path / "corrupt.mtz"
    corrupt.write_bytes(good_mtz.read_bytes()[:300])
    empty = tmp_path / "empty.pdb"
    empty.write_text("CRYST1   31.000   37.000   43.000  90.00  90.00  90.00 P 21 21 21\nEND\n")
    unknown = tmp_path / "unknown.pdb"
    unknown.write_text(model.read_text().replace("P 21 21 21", "X 9 9     "))
    broken_cif = tmp_path / "broken.cif"
    broken_cif.write_text("data_x\nloop_\n_atom_site.id\n'unterminated\n")
    intens = make_mtz(tmp_path / "i.mtz", {"IMEAN": ("J", lambda hkl: np.ones(len(hkl)))})
    return {
        "missing column": (["-hkl", str(good_mtz), "-mtz_column", "NOPE"], "no column 'NOPE'"),
        "no amplitudes": (["-hkl", str(intens)], "intensities"),
        "unknown space group (mtz)": (["-hkl", str(bad_sg)], "unknown space group"),
        "unknown space group (pdb)": (["-pdb", str(unknown)], "unknown space group"),
        "model with no atoms": (["-pdb", str(empty)], "no atoms"),
        "corrupt mtz": (["-hkl", str(corrupt)], "cannot read"),
        "corrupt mmcif": (["-pdb", str(broken_cif)], "cannot read"),
        "cell disagrees": (["-pdb", str(model), "-cell", "35", "37", "43", "90", "90", "90"],
                           "-cell: a = 35"),
        "both -hkl and -pdb": (["-pdb", str(model), "-hkl", str(good_mtz)], "not both"),
        "-mtz_column without mtz": (["-pdb", str(model), "-mtz_column", "FP"], "-mtz_column"),
        "-ksol without model": (["-hkl", str(good_mtz), "-ksol", "0.3"], "-ksol"),
        "-hklout without source": (["-default_F", "1", "-cell", "30", "30", "30", "90", "90",
                                    "90", "-hklout", "P1.hkl"], "-hklout"),
        "-pdb missing file": (["-pdb", str(tmp_path / "nothere.pdb")], "-pdb: cannot read"),
    }


def test_bad_inputs_are_one_line_errors_with_no_output(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    for case, (argv, message) in _bad_inputs(tmp_path).items():
        status, _, err = _run([*GEOMETRY, *argv, "-hklout", "P1.hkl"] if "-hklout" not in argv
                              and "-default_F" not in argv else [*GEOMETRY, *argv], work,
                              monkeypatch, capsys)
        assert status == 2, case
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nanoBragg: error:"), (case, err)
        assert message in lines[0], (case, lines[0])
        assert sorted(p.name for p in work.iterdir()) == [], case


def test_exit_status_and_no_traceback_in_a_real_process(tmp_path):
    empty = tmp_path / "empty.cif"
    empty.write_text("data_x\n_cell.length_a 10\n")
    done = subprocess.run([sys.executable, "-m", "nanobragg", *GEOMETRY, "-pdb", str(empty)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "no atoms" in done.stderr
    assert not any(p.name in OUTPUTS for p in tmp_path.iterdir())
