"""The losses: values against a direct formula, and finite gradients where pixels are empty."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.refine.losses import least_squares, poisson_nll


def test_poisson_deviance_equals_its_formula_and_is_zero_at_a_perfect_fit():
    mu = torch.tensor([[2.0, 0.5], [3.0, 1e-3]], dtype=torch.float64)
    n = torch.tensor([[1.0, 0.0], [4.0, 2.0]], dtype=torch.float64)
    expected = sum(m - k - (k * math.log(m / k) if k > 0 else 0.0)
                   for m, k in zip(mu.reshape(-1).tolist(), n.reshape(-1).tolist()))
    assert float(poisson_nll(mu, n)) == pytest.approx(expected, rel=1e-14)
    assert float(poisson_nll(n + (n == 0), n, mask=n > 0)) == 0.0


def test_pixels_with_no_count_and_no_prediction_give_a_finite_gradient():
    mu = torch.tensor([0.0, 0.0, 2.0, 5.0], dtype=torch.float64, requires_grad=True)
    n = torch.tensor([0.0, 0.0, 1.0, 7.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad(poisson_nll(mu, n), mu)
    assert torch.equal(grad, 1 - n / torch.where(n > 0, mu.detach(), 1.0))


def test_least_squares_with_weights():
    mu = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert float(least_squares(mu, [0.0, 4.0], weights=[2.0, 0.5])) == 2.0 + 2.0
