"""The finest resolution a render reaches: the detector corners seen by every source."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..config import SimulationConfig
from ..physics.vectors import value_of
from .beam import build_beam
from .detector import frame_vectors
from .panels import build_detector


def _corner_positions(det, layers_depth: float, curved: bool) -> torch.Tensor:
    """Sample-to-corner vectors (m) of the pixel area, front and back face, shape (8, 3).

    A curved detector's corners are moved out to the larger angle its arc gives
    (``|y| + |z|`` over the distance, an upper bound of the C's two rotations).
    """
    width_f = det.pixel_size * det.fpixels
    width_s = det.pixel_size * det.spixels
    corners = []
    for f in (0.0, 1.0):
        for s in (0.0, 1.0):
            for depth in (0.0, layers_depth):
                corners.append(det.pix0 + f * width_f * det.fdet + s * width_s * det.sdet
                               + depth * det.odet)
    points = torch.stack(corners)
    if not curved:
        return points
    distance = det.distance.abs()
    angle = (points[:, 1].abs() + points[:, 2].abs()) / distance
    angle = angle.clamp(max=math.pi)
    beam = det.beam / torch.linalg.norm(det.beam)
    side = points - (points @ beam)[:, None] * beam
    side = side / torch.linalg.norm(side, dim=1, keepdim=True).clamp(min=1e-300)
    return torch.cos(angle)[:, None] * beam + torch.sin(angle)[:, None] * side


def _panel_configs(config: SimulationConfig) -> list[SimulationConfig]:
    det = config.detector
    if det.panels is None or len(det.panels) <= 1:
        return [config]
    from .panels import single_panel

    return [dataclasses.replace(config, detector=single_panel(det, i))
            for i in range(len(det.panels))]


def render_resolution(config: SimulationConfig) -> float:
    """Smallest d-spacing (m) any corner of the detector reaches with any source.

    ``d = 1/|s|`` with ``s = (d_out - d_in)/lambda`` over the four corners of every panel
    (front and back of the sensor) and every source direction and wavelength; the
    scattering angle on a flat panel is largest at a corner.
    """
    finest = math.inf
    for single in _panel_configs(config):
        det_cfg, cry_cfg = single.detector, single.crystal
        geometry, cpu = torch.float64, torch.device("cpu")
        frame = frame_vectors(det_cfg, single.beam, geometry, cpu, cry_cfg.spindle_axis)
        det = build_detector(det_cfg, single.beam, geometry, cpu)
        beam = build_beam(single.beam, frame["beam"], frame["polar"])
        curved = bool(det_cfg.curved) and det_cfg.panels is None
        points = _corner_positions(det, float(value_of(det_cfg.thickness)), curved)
        out = points / torch.linalg.norm(points, dim=1, keepdim=True)
        scatter = (out[:, None, :] - beam.incident[None, :, :]) / beam.wavelength[None, :, None]
        reach = float(torch.linalg.norm(scatter, dim=2).max())
        if reach > 0:
            finest = min(finest, 1.0 / reach)
    return finest
