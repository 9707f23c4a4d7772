"""Refinement through the nn.Module wrapper in natural units, and its request checks."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.refine.module import DiffractionModel


def _config(distance: float, cell: float) -> SimulationConfig:
    return SimulationConfig(
        detector=DetectorConfig(fpixels=24, spixels=24, pixel_size=1e-3, distance=distance,
                                oversample=1),
        crystal=CrystalConfig(cell=(cell, cell, cell, math.pi / 2, math.pi / 2, math.pi / 2),
                              N=(5, 5, 5), default_F=100.0, misset=(0.2, 0.3, 0.1)),
        beam=BeamConfig(wavelength=1e-10),
    )


def test_adam_with_one_learning_rate_recovers_distance_and_misset():
    target = DiffractionModel(_config(0.05, 60e-10), refine=[])().detach()
    start = _config(0.0502, 60e-10)
    start = dataclasses.replace(start, crystal=dataclasses.replace(start.crystal,
                                                                   misset=(0.205, 0.3, 0.1)))
    model = DiffractionModel(start, refine=["detector.distance", "crystal.misset"])
    # natural units: mm and degrees, so one learning rate serves both
    assert float(model.values[0].detach()) == pytest.approx(50.2)
    assert float(model.values[1][0].detach()) == pytest.approx(math.degrees(0.205))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    scale = float(target.max())
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = (((model() - target) / scale) ** 2).mean()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.02 * losses[0]
    assert abs(float(model.values[0].detach()) - 50.0) < 0.02  # mm, from 0.2 mm off
    assert abs(float(model.values[1][0].detach()) - math.degrees(0.2)) < 0.03  # from 0.29


def test_cell_lengths_and_angles_are_separate_parameters_in_A_and_degrees():
    model = DiffractionModel(_config(0.05, 60e-10), refine=["crystal.cell_lengths"])
    assert model.values[0].detach().tolist() == pytest.approx([60.0, 60.0, 60.0])
    both = DiffractionModel(_config(0.05, 60e-10), refine=["crystal.cell"])
    assert both.names == ["crystal.cell_lengths", "crystal.cell_angles"]
    assert both.values[1].detach().tolist() == pytest.approx([90.0, 90.0, 90.0])
    cell = both.current_config().crystal.cell
    assert float(cell[0].detach()) == pytest.approx(60e-10)
    assert float(cell[3].detach()) == pytest.approx(math.pi / 2)
    image = both()
    image.sum().backward()
    assert both.values[0].grad is not None and both.values[1].grad is not None




def test_unknown_half_set_or_non_differentiable_fields_are_refused():
    with pytest.raises(ValueError, match="detector.nothing: not a continuous input"):
        DiffractionModel(_config(0.05, 60e-10), refine=["detector.nothing"])
    half = _config(0.05, 60e-10)
    half = dataclasses.replace(half, detector=dataclasses.replace(half.detector,
                                                                   beam_center=(1e-3, None)))
    with pytest.raises(ValueError, match="needs all 2 values"):
        DiffractionModel(half, refine=["detector.beam_center"])
    with pytest.raises(ValueError, match="crystal.default_F is not differentiable"):
        DiffractionModel(_config(0.05, 60e-10), refine=["crystal.default_F"])


def test_beam_centre_is_refined_in_pixels():
    cfg = _config(0.05, 60e-10)
    cfg = dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector,
                                                                beam_center=(0.012, 0.011)))
    model = DiffractionModel(cfg, refine=["detector.beam_center"])
    assert model.values[0].detach().tolist() == pytest.approx([12.0, 11.0])  # 1 mm pixels
