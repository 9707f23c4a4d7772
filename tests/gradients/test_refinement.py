"""Gradient-descent refinement through the nn.Module wrapper recovers perturbed inputs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.errors import InputError
from nanobragg.module import DiffractionModel


def _config(distance: float, cell: float) -> SimulationConfig:
    return SimulationConfig(
        detector=DetectorConfig(fpixels=24, spixels=24, pixel_size=1e-3, distance=distance,
                                oversample=1),
        crystal=CrystalConfig(cell=(cell, cell, cell, math.pi / 2, math.pi / 2, math.pi / 2),
                              N=(5, 5, 5), default_F=100.0, misset=(0.2, 0.3, 0.1)),
        beam=BeamConfig(wavelength=1e-10),
    )


def test_adam_recovers_distance_and_misset():
    target = DiffractionModel(_config(0.05, 60e-10), refine=[])().detach()
    start = _config(0.0502, 60e-10)
    start = dataclasses.replace(start, crystal=dataclasses.replace(start.crystal,
                                                                   misset=(0.205, 0.3, 0.1)))
    model = DiffractionModel(start, refine=["detector.distance", "crystal.misset"])
    scale = float(target.max())
    # steps in natural units: 0.1 mm of distance, 1 mrad of orientation
    optimiser = torch.optim.Adam([{"params": [model.values[0]], "lr": 1e-4},
                                  {"params": [model.values[1]], "lr": 1e-3}])
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = (((model() - target) / scale) ** 2).mean()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.02 * losses[0]
    assert abs(float(model.values[0].detach()) - 0.05) < 0.1 * 0.0002
    assert abs(float(model.values[1][0].detach()) - 0.2) < 0.1 * 0.005


def test_unknown_or_unset_fields_are_refused():
    with pytest.raises(InputError, match="not a configuration field"):
        DiffractionModel(_config(0.05, 60e-10), refine=["detector.nothing"])
    with pytest.raises(InputError, match="needs all 2 values"):
        DiffractionModel(_config(0.05, 60e-10), refine=["detector.beam_center"])
