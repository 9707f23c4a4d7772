"""Kahn polarization factor at hand-computed geometries."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.physics.polarization import polarization_factor

F64 = torch.float64
INCIDENT = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)  # one source
AXIS = torch.tensor([0.0, 0.0, 1.0], dtype=F64)  # E-vector along z


def _diffracted(two_theta: float, azimuth: float) -> tuple:
    """Components (each shape (1,): one pixel) of the unit vector at 2theta from +x,
    azimuth measured from +z towards +y."""
    values = (math.cos(two_theta), math.sin(two_theta) * math.sin(azimuth),
              math.sin(two_theta) * math.cos(azimuth))
    return tuple(torch.tensor([v], dtype=F64) for v in values)


@pytest.mark.parametrize("two_theta", [0.0, 0.3, 1.0, math.pi / 2])
def test_unpolarized_beam(two_theta):
    value = polarization_factor(INCIDENT, _diffracted(two_theta, 0.7), AXIS, 0.0)
    assert float(value) == pytest.approx(0.5 * (1 + math.cos(two_theta) ** 2))


def test_fully_polarized_beam_in_and_out_of_the_e_plane():
    tt = 0.8
    in_plane = polarization_factor(INCIDENT, _diffracted(tt, 0.0), AXIS, 1.0)
    across = polarization_factor(INCIDENT, _diffracted(tt, math.pi / 2), AXIS, 1.0)
    assert float(in_plane) == pytest.approx(math.cos(tt) ** 2)
    assert float(across) == pytest.approx(1.0)


def test_forward_direction_has_no_polarization_loss():
    forward = tuple(INCIDENT[0, c : c + 1] for c in range(3))
    assert float(polarization_factor(INCIDENT, forward, AXIS, 0.9)) == pytest.approx(1.0)
