"""Structure factors of the unit cell: nearest-neighbour look-up and tricubic interpolation.

The two lookups are one family (:data:`LOOKUPS`, keyed by name) with one signature,
``cell(table, hkl, hkl0, reached, dtype) -> (F_cell, failed)``, as the lattice shapes are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FTable:
    """A structure-factor grid on one device and dtype.

    Attributes:
        F: amplitudes, shape (h_range, k_range, l_range); ``F[h-h_min, k-k_min, l-l_min]``.
        mins: (h_min, k_min, l_min).
        default_F: amplitude of reflections outside the grid.
        loaded: False when no table was read (every reflection gets default_F).
    """

    F: torch.Tensor
    mins: tuple[int, int, int]
    default_F: float
    loaded: bool

    @property
    def ranges(self) -> tuple[int, int, int]:
        """Grid extent (h_range, k_range, l_range)."""
        return tuple(int(n) for n in self.F.shape)


def nearest_F(table: FTable, hkl0: tuple) -> torch.Tensor:
    """F of the nearest reflection, default_F outside the grid.

    Args:
        table: the structure factors.
        hkl0: integer-valued indices ``(h, k, l)`` (float tensors of one shape).

    Returns:
        Amplitudes in the table's dtype, shape of the indices.
    """
    default = torch.tensor(table.default_F, dtype=table.F.dtype, device=hkl0[0].device)
    if not table.loaded:
        return default.expand(hkl0[0].shape)
    index = torch.zeros(hkl0[0].shape, dtype=torch.long, device=hkl0[0].device)
    inside = torch.ones(hkl0[0].shape, dtype=torch.bool, device=hkl0[0].device)
    for value, low, size in zip(hkl0, table.mins, table.ranges):
        local = value.long() - low
        inside &= (local >= 0) & (local < size)
        index = index * size + local.clamp(0, size - 1)
    return torch.where(inside, table.F.reshape(-1)[index], default)


def interpolation_out_of_range(table: FTable, hkl: tuple) -> torch.Tensor:
    """The C's test that a 4x4x4 neighbourhood would leave the grid (bool, index shape)."""
    outside = torch.zeros(hkl[0].shape, dtype=torch.bool, device=hkl[0].device)
    for value, low, size in zip(hkl, table.mins, table.ranges):
        outside |= (value - low + 3 > size) | (value - 2 < low)
    return outside


def tricubic_F(table: FTable, hkl: tuple) -> torch.Tensor:
    """Tricubic Lagrange interpolation of F over the 4x4x4 neighbours floor(h)-1..floor(h)+2.

    Callers must only use points for which ``interpolation_out_of_range`` is False;
    other points give clamped, meaningless values.

    Args:
        table: the structure factors.
        hkl: fractional indices ``(h, k, l)``, tensors of one shape.

    Returns:
        Interpolated amplitudes, that shape.
    """
    hkl = torch.stack(hkl, -1)
    base = torch.floor(hkl) - 1.0  # (..., 3)
    offsets = torch.arange(4, dtype=hkl.dtype, device=hkl.device)
    nodes = base[..., None] + offsets  # (..., 3, 4)
    weights = _lagrange_weights(hkl, nodes)  # (..., 3, 4)
    mins = torch.tensor(table.mins, device=hkl.device)
    ranges = torch.tensor(table.ranges, device=hkl.device)
    local = (nodes.long() - mins[:, None]).clamp(min=0)
    local = torch.minimum(local, (ranges - 1)[:, None])
    kr, lr = table.ranges[1], table.ranges[2]
    flat = (local[..., 0, :, None, None] * (kr * lr) + local[..., 1, None, :, None] * lr
            + local[..., 2, None, None, :])  # (..., 4, 4, 4)
    values = table.F.reshape(-1)[flat].to(hkl.dtype)
    w = (weights[..., 0, :, None, None] * weights[..., 1, None, :, None]
         * weights[..., 2, None, None, :])
    return (values * w).sum((-1, -2, -3))


def _lagrange_weights(x: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """Weights of the cubic Lagrange polynomial through 4 nodes, shape (..., 3, 4)."""
    diff = x[..., None] - nodes  # (..., 3, 4)
    weights = []
    for i in range(4):
        num = torch.ones_like(diff[..., 0])
        den = torch.ones_like(diff[..., 0])
        for j in range(4):
            if j != i:
                num = num * diff[..., j]
                den = den * (nodes[..., i] - nodes[..., j])
        weights.append(num / den)
    return torch.stack(weights, -1)


#: ``cell(table, hkl, hkl0, reached, dtype) -> (F_cell, failed pixels or None)``.
CellFactor = Callable[[FTable, tuple, "tuple | None", "torch.Tensor | None", torch.dtype], tuple]


@dataclass(frozen=True)
class StructureFactorLookup:
    """One way to get F_cell from the fractional Miller indices.

    Attributes:
        name: the lookup's name (``Sampling.lookup``).
        cell: ``(table, hkl, hkl0, reached, dtype) -> (F_cell, failed)``. ``hkl`` are the
            fractional indices (float64) and ``hkl0`` the nearest integers, each
            (T, O, S, F, M, P) with the pixel axis last; ``reached`` marks the evaluations
            the C gets to F_cell for (None: all). F_cell is in ``dtype`` (a scalar tensor
            without a loaded table); ``failed`` is per pixel (P,) whether the lookup left
            its grid (None for a lookup that cannot).
        neighbours: table values read per evaluation (sizes the pixel chunks).
        stops: leaving the grid switches the lookup off for the rest of the image, in the
            C's pixel order (the render then continues with ``"nearest"``).
    """

    name: str
    cell: CellFactor
    neighbours: int
    stops: bool


def _default_only(table: FTable, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(table.default_F, dtype=dtype, device=like.device)


def nearest_cell(table: FTable, hkl: tuple, hkl0, reached, dtype: torch.dtype) -> tuple:
    """F_cell of the nearest reflection (see :class:`StructureFactorLookup`)."""
    if not table.loaded:
        return _default_only(table, hkl[0], dtype), None
    return nearest_F(table, hkl0), None


def tricubic_cell(table: FTable, hkl: tuple, hkl0: tuple, reached, dtype: torch.dtype
                  ) -> tuple:
    """F_cell by tricubic interpolation, stopping as the C does.

    The first evaluation (in the C's pixel-major loop order) in ``reached`` whose
    neighbourhood leaves the grid, and every later one, uses the nearest reflection.
    """
    if not table.loaded:
        return _default_only(table, hkl[0], dtype), None
    nearest = nearest_F(table, hkl0)
    outside = interpolation_out_of_range(table, hkl)
    if reached is not None:
        outside = outside & reached
    in_c_order = outside.movedim(-1, 0)
    still_on = torch.cumsum(in_c_order.reshape(-1).to(torch.int32), 0) == 0
    still_on = still_on.reshape(in_c_order.shape).movedim(0, -1)
    interpolated = tricubic_F(table, hkl).to(dtype)
    failed_pixels = outside.reshape(-1, outside.shape[-1]).any(0)
    return torch.where(still_on, interpolated, nearest), failed_pixels


#: Every structure-factor lookup by name.
LOOKUPS: dict[str, StructureFactorLookup] = {
    "nearest": StructureFactorLookup("nearest", nearest_cell, neighbours=1, stops=False),
    "tricubic": StructureFactorLookup("tricubic", tricubic_cell, neighbours=64, stops=True),
}


def structure_factor_lookup(name: str) -> StructureFactorLookup:
    """The lookup called ``name``.

    Raises:
        ValueError: no such lookup (the message lists the known ones).
    """
    try:
        return LOOKUPS[name]
    except KeyError:
        raise ValueError(f"structure factors: unknown lookup {name!r}; "
                         f"known: {', '.join(LOOKUPS)}") from None
