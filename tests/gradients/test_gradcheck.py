"""Gradients of the image with respect to continuous physical inputs (float64 gradcheck).

Each input is passed in a natural unit (mm, Angstrom, degrees) and converted inside the
function, so that gradcheck's finite-difference step (1e-6) is a small, sensible change.
A tiny 5x6 detector with large pixels keeps every check fast.
"""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.render.simulate import simulate

DEG = math.pi / 180


def _render(distance_mm, beam_x_mm, cell_A, misset_deg, wavelength_A, cells, rotx_deg,
            twotheta_deg, fluence_scale, mosaic_deg=None, shape="square"):
    cfg = SimulationConfig(
        detector=DetectorConfig(
            fpixels=6, spixels=5, pixel_size=2e-3, distance=distance_mm * 1e-3,
            beam_center=(beam_x_mm * 1e-3, None), rotx=rotx_deg * DEG,
            twotheta=twotheta_deg * DEG, oversample=1),
        crystal=CrystalConfig(
            cell=(cell_A * 1e-10, cell_A * 1.1e-10, cell_A * 0.9e-10,
                  math.pi / 2, 1.6, math.pi / 2),
            N=(cells, cells, cells), default_F=100.0, shape=shape,
            misset=(misset_deg * DEG, 0.1, 0.2)),
        beam=BeamConfig(wavelength=wavelength_A * 1e-10, fluence=1e24 * fluence_scale),
    )
    return simulate(cfg, dtype=torch.float64).image


BASE = {"distance_mm": 100.0, "beam_x_mm": 6.0, "cell_A": 50.0, "misset_deg": 17.0,
        "wavelength_A": 1.2, "cells": 4.5, "rotx_deg": 3.0, "twotheta_deg": 2.0,
        "fluence_scale": 1.0}


@pytest.mark.parametrize("name", sorted(BASE))
@pytest.mark.parametrize("shape", ["square", "round", "gauss"])
def test_gradcheck_single_input(name, shape):
    fixed = dict(BASE)

    def image_of(value):
        fixed[name] = value
        return _render(**fixed, shape=shape)

    start = torch.tensor(BASE[name], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(image_of, (start,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradient_reaches_every_input_at_once():
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in BASE.items()}
    _render(**params).sum().backward()
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad != 0, name


@pytest.mark.parametrize("name", ["mosaic_deg", "osc_deg", "phi0_deg"])
def test_gradcheck_mosaic_spread_and_spindle(name):
    values = {"mosaic_deg": 0.8, "osc_deg": 2.0, "phi0_deg": 5.0}

    def image_of(value):
        chosen = dict(values, **{name: value})
        cfg = SimulationConfig(
            detector=DetectorConfig(fpixels=6, spixels=5, pixel_size=2e-3, distance=0.1,
                                    oversample=1),
            crystal=CrystalConfig(cell=(50e-10,) * 3 + (math.pi / 2,) * 3, N=(4, 4, 4),
                                  default_F=100.0, misset=(0.3, 0.1, 0.2),
                                  mosaic_spread=chosen["mosaic_deg"] * DEG, mosaic_domains=4,
                                  phi0=chosen["phi0_deg"] * DEG, osc=chosen["osc_deg"] * DEG,
                                  phisteps=3),
            beam=BeamConfig(wavelength=1.2e-10, fluence=1e24),
        )
        return simulate(cfg, dtype=torch.float64).image

    start = torch.tensor(values[name], dtype=torch.float64, requires_grad=True)
    # without c_rounding the domain angles are the spread times fixed fractions, so the
    # image is smooth in the spread and the default step and tolerances apply
    assert torch.autograd.gradcheck(image_of, (start,))
