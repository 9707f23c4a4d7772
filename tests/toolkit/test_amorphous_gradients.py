"""Gradients of the amorphous term of a render: sample thickness, density, geometry."""

import dataclasses
import math

import pytest
import torch

from nanobragg.config import (
    AmorphousConfig,
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    SimulationConfig,
)
from nanobragg.render.simulate import simulate

F64 = torch.float64


@pytest.fixture
def water_like(tmp_path):
    """A smooth made-up table: F falls from 2.6 to 0.2 electrons over s = 0-1.2 1/A."""
    path = tmp_path / "made_up.stol"
    rows = [f"{0.05 * k:.2f} {2.6 - 2.0 * (0.05 * k) ** 0.5:.4f}" for k in range(25)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _config(stol, thickness, density, distance=0.05):
    return SimulationConfig(
        detector=DetectorConfig(fpixels=6, spixels=5, pixel_size=2e-3, distance=distance,
                                oversample=1),
        crystal=CrystalConfig(cell=(1e-9, 1e-9, 1e-9, math.pi / 2, math.pi / 2, math.pi / 2),
                              N=(1, 1, 1), default_F=0.0),
        beam=BeamConfig(wavelength=1e-10),
        amorphous=AmorphousConfig(stol=stol, thickness=thickness, density=density),
    )


def test_gradcheck_in_thickness_and_density(water_like):
    def image(thickness_mm, density_g_cm3):
        cfg = _config(water_like, thickness_mm * 1e-3, density_g_cm3 * 1e6)
        return simulate(cfg, dtype=F64).image

    thickness = torch.tensor(0.3, dtype=F64, requires_grad=True)
    density = torch.tensor(0.92, dtype=F64, requires_grad=True)
    assert float(image(thickness, density).detach().max()) > 0
    assert torch.autograd.gradcheck(image, (thickness, density))


def test_term_is_linear_in_the_molecules(water_like):
    base = simulate(_config(water_like, 1e-4, 1e6), dtype=F64).image
    doubled = simulate(_config(water_like, 2e-4, 1e6), dtype=F64).image
    denser = simulate(_config(water_like, 1e-4, 3e6), dtype=F64).image
    assert torch.allclose(doubled, 2 * base, rtol=1e-14, atol=0)
    assert torch.allclose(denser, 3 * base, rtol=1e-14, atol=0)


def test_gradient_in_distance(water_like):
    distance = torch.tensor(0.05, dtype=F64, requires_grad=True)
    cfg = _config(water_like, 1e-4, 1e6)
    cfg = dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector,
                                                                distance=distance))
    simulate(cfg, dtype=F64).image.sum().backward()
    h = 1e-6
    plus = simulate(_config(water_like, 1e-4, 1e6, 0.05 + h), dtype=F64).image.sum()
    minus = simulate(_config(water_like, 1e-4, 1e6, 0.05 - h), dtype=F64).image.sum()
    assert float(distance.grad) == pytest.approx(float(plus - minus) / (2 * h), rel=1e-6)
