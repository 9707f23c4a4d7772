"""The lattice shapes form one family: one signature, found by name."""

import math

import pytest
import torch

from nanobragg.config import SHAPES as CONFIG_SHAPES
from nanobragg.physics.lattice import (
    ROUND_SCALE,
    SHAPES,
    LatticeParams,
    gauss_lattice,
    lattice_shape,
    reciprocal_distance_sqr,
    round_lattice,
    sincg,
    tophat_lattice,
)


def _params(dtype=torch.float64):
    recip = torch.eye(3, dtype=torch.float64) / 50.0
    return LatticeParams(torch.tensor([5.0, 4.0, 3.0], dtype=torch.float64), 1.0, recip, dtype)


def _indices():
    hkl = tuple(torch.tensor([0.0, 0.1, 1.02, -2.49], dtype=torch.float64) * s
                for s in (1.0, 0.7, 1.3))
    return hkl, tuple(torch.ceil(h - 0.5) for h in hkl)


def test_every_configurable_shape_has_an_entry():
    assert set(SHAPES) == set(CONFIG_SHAPES)
    for name in CONFIG_SHAPES:
        assert lattice_shape(name).name == name


def test_unknown_shape_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match="crystal.shape: unknown lattice shape 'cube'"):
        lattice_shape("cube")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_one_signature_same_shape_and_dtype(name):
    hkl, hkl0 = _indices()
    shape = lattice_shape(name)
    F_latt, axes = shape.factor(hkl, hkl0 if shape.needs_nearest else None, _params())
    assert F_latt.shape == hkl[0].shape and F_latt.dtype == torch.float64
    assert (axes is not None) == shape.per_axis


def test_square_is_the_product_of_per_axis_sincg():
    hkl, _ = _indices()
    p = _params()
    F_latt, axes = lattice_shape("square").factor(hkl, None, p)
    expected = [sincg(hkl[i], p.N[i]) for i in range(3)]
    for got, want in zip(axes, expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(F_latt, expected[0] * expected[1] * expected[2],
                               rtol=1e-12, atol=1e-12)


def test_other_shapes_use_offsets_from_the_nearest_reflection():
    hkl, hkl0 = _indices()
    p = _params()
    d = tuple(h - h0 for h, h0 in zip(hkl, hkl0))
    rad = reciprocal_distance_sqr(d, p.recip_rows, p.N)
    want = {"round": round_lattice(d, p.N, p.fudge),
            "gauss": gauss_lattice(rad, p.N, p.fudge),
            "tophat": tophat_lattice(rad, p.N, p.fudge)}
    for name, value in want.items():
        got, _ = lattice_shape(name).factor(hkl, hkl0, p)
        torch.testing.assert_close(got, value, rtol=1e-12, atol=1e-12)
    # at an exact reflection the spots peak at Na*Nb*Nc (the round one at the C's
    # sphere-to-cube volume ratio of it)
    peak = tuple(torch.tensor([2.0], dtype=torch.float64) for _ in range(3))
    heights = {"round": 60.0 * ROUND_SCALE, "gauss": 60.0, "tophat": 60.0}
    for name, height in heights.items():
        got, _ = lattice_shape(name).factor(peak, peak, p)
        assert math.isclose(float(got), height, rel_tol=1e-12), name


def test_float32_factors_come_out_in_float32():
    hkl, hkl0 = _indices()
    for name, shape in SHAPES.items():
        got, _ = shape.factor(hkl, hkl0 if shape.needs_nearest else None,
                              _params(torch.float32))
        assert got.dtype == torch.float32, name
