"""Time the structure factors of a synthetic 20,000-atom model to 2 A (gemmi's FFT route).

Usage: python benchmarks/structure_factor_bench.py [--atoms N] [--dmin A] [--spacegroup SG]

The model is random atoms (C, N, O, S) in a protein-sized cell, written as mmCIF to a
temporary folder; the script prints the time to read it and compute every P1 reflection
(no cache: the cache folder is a fresh temporary one) and the time of a second, cached read.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def synthetic_model(path: Path, atoms: int, spacegroup: str, seed: int = 1) -> None:
    """Write ``atoms`` random atoms (B 10-40 A^2) in a cell of ~60 A^3 per atom per copy."""
    import gemmi
    import numpy as np

    copies = len(list(gemmi.find_spacegroup_by_name(spacegroup).operations()))
    edge = (atoms * copies * 50.0) ** (1 / 3)
    st = gemmi.Structure()
    st.cell, st.spacegroup_hm = gemmi.UnitCell(edge, edge * 1.1, edge * 0.9, 90, 90, 90), spacegroup
    model, chain = gemmi.Model("1"), gemmi.Chain("A")
    rng = np.random.default_rng(seed)
    positions = rng.random((atoms, 3)) * [edge, edge * 1.1, edge * 0.9] / np.cbrt(copies)
    elements = rng.choice(["C", "C", "C", "N", "O", "S"], atoms)
    for start in range(0, atoms, 10):
        residue = gemmi.Residue()
        residue.name, residue.seqid = "UNK", gemmi.SeqId(start // 10 + 1, " ")
        for i in range(start, min(start + 10, atoms)):
            atom = gemmi.Atom()
            atom.name, atom.element = str(elements[i]), gemmi.Element(str(elements[i]))
            atom.pos = gemmi.Position(*positions[i])
            atom.b_iso, atom.occ = float(rng.uniform(10, 40)), 1.0
            residue.add_atom(atom)
        chain.add_residue(residue)
    model.add_chain(chain)
    st.add_model(model)
    st.make_mmcif_document().write_file(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=20000)
    parser.add_argument("--dmin", type=float, default=2.0, help="resolution (A)")
    parser.add_argument("--spacegroup", default="P 21 21 21")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NANOBRAGG_CACHE_DIR"] = str(Path(folder) / "cache")
        from nanobragg.io.structure_factors import read_structure_factors

        path = Path(folder) / "synthetic.cif"
        synthetic_model(path, args.atoms, args.spacegroup)
        started = time.perf_counter()
        table = read_structure_factors(path, dmin=args.dmin * 1e-10)
        computed = time.perf_counter() - started
        started = time.perf_counter()
        read_structure_factors(path, dmin=args.dmin * 1e-10)
        cached = time.perf_counter() - started
    print(f"{args.atoms} atoms ({args.spacegroup}) to {args.dmin:g} A: grid "
          f"{'x'.join(map(str, table.ranges))}, computed in {computed:.2f} s, "
          f"cached read {cached:.2f} s (torch threads {os.environ.get('OMP_NUM_THREADS', '-')})")


if __name__ == "__main__":
    main()
