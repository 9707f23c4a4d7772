"""Source grids, spindle steps, mosaic settings and sensor capture fractions."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig
from nanobragg.models.beam import build_beam, source_axis_steps
from nanobragg.models.crystal import mosaic_settings, phi_sampling

F64 = torch.float64
BEAM = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
POLAR = torch.tensor([0.0, 0.0, 1.0], dtype=F64)


@pytest.mark.parametrize("given,expected", [
    ((None, None, None), (1, 0.0, 0.0)),
    ((2e-3, None, None), (2, 2e-3, 2e-3)),
    ((2e-3, 5e-4, None), (4, 5e-4, 2e-3)),
    ((2e-3, None, 3), (3, 1e-3, 2e-3)),
    ((2e-3, None, 1), (2, 2e-3, 2e-3)),
    ((None, None, 4), (4, 0.25, 1.0)),
    ((None, 1e-3, None), (2, 1e-3, 1e-3)),
])
def test_divergence_and_dispersion_step_rules(given, expected):
    assert source_axis_steps(*given) == pytest.approx(expected)


def test_round_divergence_drops_the_corners_of_a_3x3_grid():
    cfg = BeamConfig(hdivrange=2e-3, vdivrange=2e-3, hdivsteps=3, vdivsteps=3)
    assert build_beam(cfg, BEAM, POLAR).sources == 5
    square = BeamConfig(hdivrange=2e-3, vdivrange=2e-3, hdivsteps=3, vdivsteps=3,
                        round_div=False)
    assert build_beam(square, BEAM, POLAR).sources == 9


def test_generated_sources_are_unit_and_centred_on_the_beam():
    cfg = BeamConfig(hdivrange=2e-3, vdivrange=2e-3, hdivsteps=3, vdivsteps=3,
                     dispersion=0.05, dispsteps=3, round_div=False)
    beam = build_beam(cfg, BEAM, POLAR)
    assert beam.sources == 27
    assert torch.allclose(beam.incident.norm(dim=-1), torch.ones(27, dtype=F64))
    assert torch.allclose(beam.incident.mean(0), BEAM, atol=1e-6)
    lambdas = sorted(set(round(x * 1e15) for x in beam.wavelength.tolist()))
    assert [x / 1e15 for x in lambdas] == pytest.approx([0.975e-10, 1e-10, 1.025e-10])


def test_source_file_rows_default_like_the_c():
    nan = float("nan")
    cfg = BeamConfig(wavelength=1.5e-10, sources=((nan, nan, nan, 1.0, nan),
                                                  (-10.0, 0.0, 1.0, 0.0, 1.2e-10)))
    beam = build_beam(cfg, BEAM, POLAR)
    assert beam.incident[0].tolist() == [1.0, 0.0, 0.0]
    assert beam.wavelength.tolist() == [1.5e-10, 1.2e-10]
    assert float(beam.incident[1].norm()) == pytest.approx(1.0)


@pytest.mark.parametrize("osc,step,steps,expected", [
    (None, None, None, (1, 0.0, 0.0)),
    (0.1, None, None, (2, 0.05, 0.1)),
    (0.1, 0.03, None, (4, 0.03, 0.1)),
    (0.1, None, 5, (5, 0.02, 0.1)),
    (None, None, 4, (4, math.radians(1) / 4, math.radians(1))),
    (None, 0.02, 3, (2, 0.02, 0.02)),
    (0.1, None, 0, (1, 0.1, 0.1)),
])
def test_phi_step_rules(osc, step, steps, expected):
    cfg = CrystalConfig(cell=(1e-8,) * 3 + (math.pi / 2,) * 3, osc=osc, phistep=step,
                        phisteps=steps)
    assert phi_sampling(cfg) == pytest.approx(expected)


@pytest.mark.parametrize("spread,domains,expected", [
    (None, None, (0.0, 1)), (None, 5, (0.0, 1)), (0.0, 5, (0.0, 1)),
    (0.01, None, (0.01, 10)), (0.01, 4, (0.01, 4)),
])
def test_mosaic_rules(spread, domains, expected):
    cfg = CrystalConfig(cell=(1e-8,) * 3 + (math.pi / 2,) * 3, mosaic_spread=spread,
                        mosaic_domains=domains)
    assert mosaic_settings(cfg) == expected
