"""Structure-factor lookups form one family: one signature, found by name."""

import pytest
import torch

from nanobragg.physics.structure_factors import (
    LOOKUPS,
    FTable,
    nearest_F,
    structure_factor_lookup,
)


def _table(dtype=torch.float64) -> FTable:
    """A table in the working dtype (the simulator casts the table to it)."""
    g = torch.Generator().manual_seed(3)
    return FTable((torch.rand((8, 8, 8), generator=g, dtype=torch.float64) * 50).to(dtype),
                  (-4, -4, -4), 9.0, True)


def _indices(values, k=0.5, l=-0.25):
    """(T, O, S, F, M, P) = (1, 1, 1, 1, len, 1): the C's order is the evaluation order."""
    h = torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, 1, -1, 1)
    hkl = (h, h * k, h * l)
    return hkl, tuple(torch.ceil(x - 0.5) for x in hkl)


def test_unknown_lookup_is_a_value_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown lookup 'linear'; known: nearest, tricubic"):
        structure_factor_lookup("linear")


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_one_signature_same_shape_and_dtype(name):
    hkl, hkl0 = _indices([0.2, 1.4, -0.7])
    F_cell, failed = structure_factor_lookup(name).cell(_table(torch.float32), hkl, hkl0,
                                                        None, torch.float32)
    assert F_cell.shape == hkl[0].shape and F_cell.dtype == torch.float32
    assert (failed is not None) == LOOKUPS[name].stops


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_without_a_table_every_lookup_gives_default_F(name):
    empty = FTable(torch.zeros((1, 1, 1)), (0, 0, 0), 7.5, loaded=False)
    hkl, hkl0 = _indices([0.2, 3.1])
    F_cell, failed = LOOKUPS[name].cell(empty, hkl, hkl0, None, torch.float64)
    assert float(F_cell) == 7.5 and failed is None


def test_tricubic_at_whole_indices_is_the_table_value():
    hkl, hkl0 = _indices([0.0, 1.0, -1.0], k=1.0, l=-1.0)
    table = _table()
    F_cell, failed = LOOKUPS["tricubic"].cell(table, hkl, hkl0, None, torch.float64)
    torch.testing.assert_close(F_cell, nearest_F(table, hkl0), rtol=1e-12, atol=1e-12)
    assert not bool(failed.any())


def test_tricubic_stops_at_the_first_evaluation_that_leaves_the_grid():
    """From the first out-of-grid evaluation (C order) on, F_cell is the nearest one,
    even for later evaluations back inside; unreached evaluations do not count."""
    table = _table()
    hkl, hkl0 = _indices([0.3, 0.6, 3.4, 0.3, 0.6])
    nearest = nearest_F(table, hkl0)
    F_cell, failed = LOOKUPS["tricubic"].cell(table, hkl, hkl0, None, torch.float64)
    assert bool(failed.all())
    assert torch.equal(F_cell[..., 2:, :], nearest[..., 2:, :])
    assert not torch.equal(F_cell[..., :2, :], nearest[..., :2, :])
    reached = torch.tensor([True, True, False, True, True]).reshape(hkl[0].shape)
    F_cell, failed = LOOKUPS["tricubic"].cell(table, hkl, hkl0, reached, torch.float64)
    assert not bool(failed.any())
    assert not torch.equal(F_cell[..., 3:, :], nearest[..., 3:, :])
