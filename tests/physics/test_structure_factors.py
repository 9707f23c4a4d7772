"""Nearest-neighbour look-up and tricubic interpolation of structure factors."""

from __future__ import annotations

import torch

from nanobragg.physics.structure_factors import (
    FTable,
    interpolation_out_of_range,
    nearest_F,
    tricubic_F,
)

F64 = torch.float64


def _table(fn, lo=-4, hi=4, default=7.0) -> FTable:
    idx = torch.arange(lo, hi + 1, dtype=F64)
    h, k, l = torch.meshgrid(idx, idx, idx, indexing="ij")
    return FTable(fn(h, k, l), (lo, lo, lo), default, loaded=True)


def _cubic(h, k, l):
    """A polynomial of degree <= 3 in each index: tricubic reproduces it exactly."""
    return 3.0 + 2.0 * h - k**2 + 0.5 * h * k * l + 0.25 * l**3 - 0.1 * h**3 * k**2


def test_tricubic_reproduces_a_cubic_polynomial():
    table = _table(_cubic)
    points = torch.tensor([[0.3, -0.7, 1.2], [-1.9, 1.01, 0.5], [0.0, 0.0, 0.0]], dtype=F64)
    hkl = tuple(points.unbind(-1))
    assert not interpolation_out_of_range(table, hkl).any()
    expected = _cubic(*hkl)
    assert torch.allclose(tricubic_F(table, hkl), expected, rtol=1e-12, atol=1e-12)


def test_out_of_range_test_is_the_c_one():
    table = _table(_cubic)  # indices -4..4, range 9
    inside = torch.tensor([[-2.0, 0, 0], [1.999, 0, 0]], dtype=F64)
    outside = torch.tensor([[-2.01, 0, 0], [2.01, 0, 0]], dtype=F64)
    assert not interpolation_out_of_range(table, tuple(inside.unbind(-1))).any()
    assert interpolation_out_of_range(table, tuple(outside.unbind(-1))).all()


def test_nearest_uses_the_grid_and_default_outside():
    table = _table(lambda h, k, l: 100 * h + 10 * k + l)
    hkl0 = torch.tensor([[1.0, -2.0, 3.0], [5.0, 0.0, 0.0], [-4.0, -4.0, -4.0]], dtype=F64)
    assert nearest_F(table, tuple(hkl0.unbind(-1))).tolist() == [83.0, 7.0, -444.0]
