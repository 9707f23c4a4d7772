"""Beam model: the list of sources (directions and wavelengths), polarization, fluence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import BeamConfig
from ..physics.vectors import unit, value_of
from ..units import AVOGADRO, R_E_SQR, WATER_F, WATER_MW
from .rotations import rotate_axis

#: Distance of generated and default sources from the sample (m), as in the C.
SOURCE_DISTANCE = 10.0


@dataclass(frozen=True)
class Beam:
    """Tensors describing the incident beam.

    Attributes:
        incident: unit vectors along the incident rays (towards the sample), shape (S, 3).
        wavelength: per-source wavelength (m), shape (S,).
        polar_vector: unit E-vector reference axis, shape (3,).
        kahn: Kahn polarization factor (scalar tensor).
        fluence: photons/m^2 (scalar tensor).
        water_size: water thickness (m) (scalar tensor).
    """

    incident: torch.Tensor
    wavelength: torch.Tensor
    polar_vector: torch.Tensor
    kahn: torch.Tensor
    fluence: torch.Tensor
    water_size: torch.Tensor

    @property
    def sources(self) -> int:
        """Number of sources."""
        return int(self.wavelength.shape[0])

    def background_intensity(self) -> torch.Tensor:
        """The C's water background term ``I_bg`` (it already contains r_e^2 * fluence)."""
        return (WATER_F**2 * R_E_SQR * self.fluence * self.water_size**3 * 1e6 * AVOGADRO
                / WATER_MW)


def build_beam(
    cfg: BeamConfig, beam_vector: torch.Tensor, polar_vector: torch.Tensor
) -> Beam:
    """Build the sources: from the user's source list, else the divergence x dispersion grid.

    Args:
        cfg: beam configuration.
        beam_vector: unit beam direction of the convention, shape (3,).
        polar_vector: unit polarization axis of the convention, shape (3,).

    Returns:
        The beam model on the dtype and device of ``beam_vector``.
    """
    like = beam_vector
    wavelength0 = torch.as_tensor(cfg.wavelength, dtype=like.dtype, device=like.device)
    if cfg.sources:
        positions, wavelengths = _listed_sources(cfg, beam_vector, wavelength0)
    else:
        positions, wavelengths = _generated_sources(
            cfg, beam_vector, polar_vector, wavelength0)
    directions = unit(positions)

    def scalar(value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)

    return Beam(
        incident=-directions, wavelength=wavelengths,
        polar_vector=polar_vector, kahn=scalar(cfg.polarization),
        fluence=scalar(cfg.fluence), water_size=scalar(cfg.water_size),
    )


def _listed_sources(cfg: BeamConfig, beam_vector: torch.Tensor, wavelength0: torch.Tensor):
    """Sources from a source file; missing entries default as in the C (weights ignored)."""
    rows = torch.as_tensor(cfg.sources, dtype=beam_vector.dtype, device=beam_vector.device)
    default_pos = -SOURCE_DISTANCE * beam_vector
    positions = torch.where(torch.isnan(rows[:, :3]), default_pos, rows[:, :3])
    wavelengths = torch.where(torch.isnan(rows[:, 4]), wavelength0, rows[:, 4])
    return positions, wavelengths


def _generated_sources(cfg, beam_vector, polar_vector, wavelength0):
    """Divergence grid (optionally cut to an ellipse) times dispersion steps, C order.

    Ranges and steps given as tensors keep their gradients (the grid points move with
    them); the counts and the ellipse cut are decided on their values.
    """
    hsteps, hstep, hrange = source_axis_steps(cfg.hdivrange, cfg.hdivstep, cfg.hdivsteps)
    vsteps, vstep, vrange = source_axis_steps(cfg.vdivrange, cfg.vdivstep, cfg.vdivsteps)
    dsteps, dstep, drange = source_axis_steps(cfg.dispersion, cfg.dispstep, cfg.dispsteps)
    hstep_t, hrange_t = traced_source_axis(cfg.hdivrange, cfg.hdivstep, hstep, hrange)
    vstep_t, vrange_t = traced_source_axis(cfg.vdivrange, cfg.vdivstep, vstep, vrange)
    dstep_t, drange_t = traced_source_axis(cfg.dispersion, cfg.dispstep, dstep, drange)
    vert = torch.linalg.cross(beam_vector, polar_vector)
    vert = unit(vert)
    start = -SOURCE_DISTANCE * beam_vector
    positions, wavelengths = [], []
    for ih in range(hsteps):
        for iv in range(vsteps):
            hdiv = hstep * ih - hrange / 2.0
            vdiv = vstep * iv - vrange / 2.0
            if cfg.round_div and _outside_ellipse(hdiv, hstep, hsteps, hrange,
                                                  vdiv, vstep, vsteps, vrange):
                continue
            hdiv, vdiv = hstep_t * ih - hrange_t / 2.0, vstep_t * iv - vrange_t / 2.0
            direction = rotate_axis(rotate_axis(start, polar_vector, vdiv), vert, hdiv)
            for idisp in range(dsteps):
                positions.append(direction)
                wavelengths.append(wavelength0 * (1.0 + dstep_t * idisp - drange_t / 2.0))
    return torch.stack(positions), torch.stack(wavelengths)


def traced_source_axis(rng_given, step_given, step: float, rng: float):
    """Step and range of one sampling axis, as the given tensors where they need gradients.

    A step (or range) that the C rules derive from a tensor range (or step) is that
    tensor times the fixed ratio, so it follows it.

    Args:
        rng_given, step_given: the configured range and step (float, tensor or None).
        step, rng: their values after the C rules (see :func:`source_axis_steps`).

    Returns:
        ``(step, range)``, floats or scalar tensors.
    """
    def traced(x) -> bool:
        return isinstance(x, torch.Tensor) and x.requires_grad

    if rng <= 0 or step <= 0:
        return step, rng
    rng_t, step_t = rng, step
    if traced(rng_given):
        rng_t = rng_given
    elif traced(step_given) and rng_given is None:
        rng_t = step_given * (rng / step)
    if traced(step_given):
        step_t = step_given
    elif traced(rng_given) and step_given is None:
        step_t = rng_given * (step / rng)
    return step_t, rng_t


def _outside_ellipse(h, hstep, hsteps, hrange, v, vstep, vsteps, vrange) -> bool:
    """The C's -round_div test; a zero range makes the test NaN, i.e. never outside."""
    nan = float("nan")
    th = (h * h - hstep * hstep / 4.0 * (1 - hsteps % 2)) / hrange / hrange if hrange else nan
    tv = (v * v - vstep * vstep / 4.0 * (1 - vsteps % 2)) / vrange / vrange if vrange else nan
    return (th + tv) * 4.0 > 1.1


def source_axis_steps(rng, step, steps) -> tuple[int, float, float]:
    """Step count, step and full range of a divergence axis (rad) or of the spectrum
    (fraction of the wavelength), completed from what the user gave by the C's rules."""
    rng = -1.0 if rng is None else value_of(rng)
    step = -1.0 if step is None else value_of(step)
    steps = -1 if steps is None else int(steps)
    steps, step, rng = _auto_steps(rng, step, steps, full_default=1.0)
    if rng <= 0 or step <= 0 or steps <= 0:
        return 1, 0.0, 0.0
    return steps, step, rng


def _auto_steps(rng: float, step: float, steps: int, full_default: float):
    """Shared C logic that completes (range, step, steps) from what the user gave."""
    if steps <= 0:
        if rng < 0:
            return (1, 0.0, 0.0) if step <= 0 else (2, step, step)
        if step <= 0:
            return 2, rng, rng
        return math.ceil(rng / step), step, rng
    if rng < 0:
        if step <= 0:
            return steps, full_default / steps, full_default
        return 2, step, step
    if step <= 0:
        steps = max(steps, 2)
        return steps, rng / (steps - 1), rng
    return steps, step, rng
