"""Lattice transforms at hand-computed points, and float32 accuracy near Bragg peaks."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.physics.lattice import (
    gauss_lattice,
    reciprocal_distance_sqr,
    round_lattice,
    sinc3,
    sincg,
    square_lattice,
    tophat_lattice,
)

F64 = torch.float64


def _direct(h: float, n: float) -> float:
    return math.sin(math.pi * n * h) / math.sin(math.pi * h)


@pytest.mark.parametrize("c_formula", [False, True])
@pytest.mark.parametrize("n", [2.0, 3.0, 5.0, 8.0])
@pytest.mark.parametrize("h", [0.1, 0.37, -1.26, 2.5, 7.9, -12.03, 3.001, -4.0004])
def test_sincg_matches_the_direct_formula(h, n, c_formula):
    value = sincg(torch.tensor(h, dtype=F64), torch.tensor(n, dtype=F64), c_formula=c_formula)
    assert float(value) == pytest.approx(_direct(h, n), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n", [4.0, 5.0])
@pytest.mark.parametrize("h", [0.0, 3.0, -2.0])
def test_sincg_at_whole_indices_is_plus_or_minus_n(h, n):
    value = float(sincg(torch.tensor(h, dtype=F64), torch.tensor(n, dtype=F64)))
    assert value == pytest.approx((-1) ** int(abs(h) * (n - 1)) * n)


def test_sincg_float32_is_accurate_next_to_peaks():
    # offsets of 1e-6..1e-2 from large indices: where sin(pi*N*h) in float32 loses digits
    h = torch.tensor([40 + 1e-6, -37 + 3e-5, 25 + 1e-3, 50 - 1e-2], dtype=F64)
    n = torch.tensor(50.0, dtype=F64)
    exact = sincg(h, n)
    single = sincg(h, n, dtype=torch.float32).double()
    # the offset from the peak is taken in float64 before the cast, so float32 keeps
    # about 1e-6 relative
    assert torch.allclose(single, exact, rtol=1e-5)


def test_square_lattice_skips_axes_with_one_cell():
    hkl = tuple(torch.tensor([0.3], dtype=F64) for _ in range(3))
    a, b, c = square_lattice(hkl, torch.tensor([1.0, 3.0, 1.0], dtype=F64))
    assert a is None and c is None
    assert float(b[0]) == pytest.approx(_direct(0.3, 3.0))


def test_sinc3_series_joins_the_direct_formula():
    x = torch.tensor([0.0, 0.0999999, 0.1, 0.5, 2.0], dtype=F64)
    direct = [3 * (math.sin(v) / v - math.cos(v)) / v**2 if v else 1.0 for v in x.tolist()]
    assert torch.allclose(sinc3(x), torch.tensor(direct, dtype=F64), rtol=1e-12)


def test_round_shape_peak_height_and_first_zero():
    N = torch.tensor([5.0, 5.0, 5.0], dtype=F64)
    zero = torch.zeros(1, dtype=F64)
    peak = round_lattice((zero, zero, zero), N, 1.0)
    assert float(peak) == pytest.approx(125 * 0.723601254558268)
    # sinc3 vanishes at x = 4.4934 (tan x = x): |dh| * N = x / pi
    x0 = 4.493409457909064
    edge = round_lattice((torch.tensor([x0 / math.pi / 5], dtype=F64), zero, zero), N, 1.0)
    assert abs(float(edge)) < 1e-9


def test_gauss_and_tophat_use_the_reciprocal_distance():
    recip = torch.eye(3, dtype=F64) * 0.01  # a* = b* = c* = 0.01 1/A
    N = torch.tensor([2.0, 3.0, 4.0], dtype=F64)
    dhkl = tuple(torch.tensor([v], dtype=F64) for v in (0.5, 0.0, 0.0))
    rad = reciprocal_distance_sqr(dhkl, recip, N)
    assert float(rad) == pytest.approx((0.005 * 24) ** 2)
    assert float(gauss_lattice(rad, N, 1.0)) == pytest.approx(24 * math.exp(-(0.12**2) / 0.63))
    assert float(tophat_lattice(rad, N, 1.0)) == 24.0
    assert float(tophat_lattice(rad, N, 30.0)) == 0.0
