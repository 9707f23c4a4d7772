"""Which reflections an image is made of: the ones worth refining the amplitude of."""

from __future__ import annotations

import numpy as np
import torch

from ..config import SimulationConfig
from ..physics.structure_factors import FTable
from ..render.simulate import simulate


def strongest_reflections(config: SimulationConfig, table: FTable, count: int,
                          friedel: bool = True) -> list[tuple[int, int, int]]:
    """The ``count`` reflections that put the most photons on the image.

    A reflection's share is ``F * d(total photons)/dF`` (half the photons it scatters,
    since the intensity goes as F squared), from one differentiable render; with
    ``friedel`` a Friedel pair counts once, under the index listed first by share.

    Args:
        config: the experiment.
        table: its structure factors.
        count: how many to return (fewer if fewer reflections reach the detector).
        friedel: merge each reflection with its mate (-h, -k, -l).

    Returns:
        Miller indices, largest share first.
    """
    F = table.F.detach().to(torch.float64).clone().requires_grad_(True)
    image = simulate(config, FTable(F, table.mins, table.default_F, table.loaded),
                     dtype=torch.float64).image
    (grad,) = torch.autograd.grad(image.sum(), F)
    share = (grad * F).detach().numpy()
    if friedel:
        share = share + share[::-1, ::-1, ::-1] * _mate_inside(table)
    chosen: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for flat in np.argsort(share, axis=None)[::-1]:
        if share.flat[flat] <= 0 or len(chosen) == count:
            break
        hkl = tuple(int(i) + lo for i, lo in zip(np.unravel_index(flat, share.shape),
                                                 table.mins))
        if hkl in seen:
            continue
        chosen.append(hkl)
        seen |= {hkl, tuple(-i for i in hkl)} if friedel else {hkl}
    return chosen


def _mate_inside(table: FTable) -> float:
    """1 when the grid is symmetric about the origin (mates at the flipped index)."""
    return float(all(lo == -(n - 1 + lo) for lo, n in zip(table.mins, table.ranges)))
