"""gradcheck (default tolerances) of every differentiable entry of the parameter table at a
generic point, exactly on a Bragg peak, 1e-6 pixel from it and at the direct beam."""

from __future__ import annotations

import pytest
import torch
from gradient_scenes import DIFFERENTIABLE, POINTS, render, scene, start_tensor, with_input


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradcheck_every_parameter(name, point):
    values = scene(name, point)

    def image_of(x):
        return render(with_input(values, name, x))

    assert torch.autograd.gradcheck(image_of, (start_tensor(values, name),))


@pytest.mark.parametrize("name", ["crystal.misset", "crystal.cell_lengths",
                                  "crystal.cell_angles"])
def test_gradgradcheck_orientation_and_cell_at_a_peak(name):
    values = scene(name, "peak")

    def image_of(x):  # second derivatives: the eager engine (the fused one has none)
        return render(with_input(values, name, x), engine="eager")

    assert torch.autograd.gradgradcheck(image_of, (start_tensor(values, name),))


@pytest.mark.parametrize("point", ["peak", "near"])
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_float32_gradients_match_float64_next_to_peaks(name, point):
    values = scene(name, point)
    grads = {}
    for dtype in (torch.float64, torch.float32):
        x = start_tensor(values, name)
        image = render(with_input(values, name, x), dtype=dtype)
        # a fixed random weighting of the pixels, so every pixel's gradient counts
        weights = torch.linspace(0.5, 1.5, image.numel(), dtype=dtype).reshape(image.shape)
        (grad,) = torch.autograd.grad((image * weights).sum(), x)
        grads[dtype] = grad
    exact, single = grads[torch.float64], grads[torch.float32]
    assert torch.all((single - exact).abs() <= 1e-3 * exact.abs().max())


@pytest.mark.parametrize("point", ["peak", "near", "beam"])
@pytest.mark.parametrize("shape", ["round", "gauss"])
@pytest.mark.parametrize("name", ["crystal.cell_lengths", "crystal.misset",
                                  "detector.distance", "crystal.N", "crystal.fudge"])
def test_gradcheck_other_spot_shapes_on_and_next_to_peaks(name, shape, point):
    values = dict(scene(name, point), shape=shape)

    def image_of(x):
        return render(with_input(values, name, x))

    assert torch.autograd.gradcheck(image_of, (start_tensor(values, name),))


@pytest.mark.parametrize("point", ["near", "beam"])
@pytest.mark.parametrize("name", ["detector.distance", "crystal.cell_lengths",
                                  "detector.beam_center"])
def test_c_rounding_gradients_agree_with_the_accurate_mode(name, point):
    # With c_rounding the float64 values are the C's direct formula, whose rounding next
    # to a peak (about 1e-16 * h / |h - m| relative, 1e-8 here) defeats finite
    # differences; the derivatives are the accurate form's, times the C's values, so
    # they agree with the default mode to that rounding (at the peak itself the C's
    # value, and so the gradient, is off: refine with c_rounding=False)
    grads = []
    for c_rounding in (False, True):
        values = dict(scene(name, point), c_rounding=c_rounding)
        x = start_tensor(values, name)
        render(with_input(values, name, x)).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[1], grads[0], rtol=1e-6, atol=0.0)


def test_c_rounding_mosaic_spread_gradient_follows_the_staircase_slope():
    values = dict(scene("crystal.mosaic_spread", "near"), c_rounding=True)

    def image_of(x):
        return render(with_input(values, "crystal.mosaic_spread", x))

    # the C's float32 domain angles make the image a staircase in the spread (steps of
    # about 1e-9 rad); a 1e-4 degree step (about 1500 float32 steps of the angle) measures
    # its slope, which the analytic gradient follows
    x = start_tensor(values, "crystal.mosaic_spread")
    assert torch.autograd.gradcheck(image_of, (x,), eps=1e-4)


@pytest.mark.parametrize("n", [0.6, 1.0, 1.4, 3.7])
def test_gradcheck_real_N_through_one(n):
    values = dict(scene("crystal.N", "near"))
    values["crystal.N"] = [n, 4.0, 3.0]

    def image_of(x):
        return render(with_input(values, "crystal.N", x))

    x = start_tensor(values, "crystal.N")
    assert torch.autograd.gradcheck(image_of, (x,))
    render(with_input(values, "crystal.N", x)).sum().backward()
    assert float(x.grad[0]) != 0.0
