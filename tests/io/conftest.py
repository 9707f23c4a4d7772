"""Small renders shared by the image-format tests."""

from __future__ import annotations

import math

import pytest

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.render.simulate import simulate

CELL = (60e-10,) * 3 + (math.pi / 2,) * 3


def small_config(**detector) -> SimulationConfig:
    """A 40x32-pixel detector, 3x3x3 cells, 1 deg oscillation in 2 steps, oversample 1."""
    options = dict(fpixels=40, spixels=32, pixel_size=3e-4, distance=0.06,
                   beam_center=(0.0041, 0.0057), oversample=1)
    options.update(detector)
    return SimulationConfig(
        detector=DetectorConfig(**options),
        crystal=CrystalConfig(cell=CELL, N=(3, 3, 3), default_F=100,
                              misset=(0.1, 0.2, 0.3), osc=math.radians(1.0), phisteps=2),
        beam=BeamConfig(wavelength=1.2e-10))


@pytest.fixture(scope="module")
def mosflm_render():
    """(config, result) of the MOSFLM test detector."""
    cfg = small_config()
    return cfg, simulate(cfg)


@pytest.fixture(scope="module")
def tilted_render():
    """(config, result) of a rotated, two-theta-swung detector with an ROI."""
    cfg = small_config(rotx=0.05, roty=-0.08, rotz=0.3, twotheta=0.2, roi=(2, 30, 3, 25))
    return cfg, simulate(cfg)


@pytest.fixture(scope="session")
def make_config():
    """The :func:`small_config` builder."""
    return small_config


@pytest.fixture(scope="module")
def xds_render():
    """(config, result) of the XDS convention (beam along +z, sample pivot), rotated."""
    cfg = small_config(convention="XDS", beam_center=(None, None), org=(17.5, 12.25),
                       distance=None, close_distance=0.07, roty=0.1)
    return cfg, simulate(cfg)
