"""The amorphous-material term of a render (``SimulationConfig.amorphous``).

nonBragg's scattering (:mod:`nanobragg.physics.amorphous`) on the render's own detector
and beam models: every sub-pixel of the render's oversampling, every source (source
weights are ignored, as the Bragg term ignores them), the render's polarization and
solid-angle choices, the front face of the sensor (no absorption). The result is in
photons per pixel and is added to the Bragg image; it is differentiable in the sample's
thickness, width, height, density and molecular weight and in the geometry.
"""

from __future__ import annotations

import functools

import torch

from ..config import AmorphousConfig, SimulationConfig
from ..errors import InputError
from ..io.stol import STOL_UNITS, read_stol
from ..models.setup import Setup
from ..physics.amorphous import (
    R_E_SQR,
    AmorphousSample,
    FGrid,
    amorphous_pixels,
    pixel_positions,
)
from ..physics.vectors import value_of

#: Sub-pixel x source evaluations per chunk of rows.
CHUNK_EVALUATIONS = 1 << 21


@functools.lru_cache(maxsize=8)
def _grid(path: str, unit: str) -> FGrid:
    return FGrid.of(read_stol(path, STOL_UNITS[unit], unit).padded())


def amorphous_sample(cfg: AmorphousConfig, beamsize) -> AmorphousSample:
    """The sample of ``cfg`` with its width and height cut to the beam (as nonBragg)."""
    width, height = cfg.width, cfg.height
    if value_of(beamsize) >= 0:
        width = beamsize if value_of(beamsize) < value_of(width) else width
        height = beamsize if value_of(beamsize) < value_of(height) else height
    return AmorphousSample(_grid(str(cfg.stol), cfg.stol_unit), cfg.thickness, width, height,
                           cfg.density, cfg.molecular_weight)


def with_amorphous(config: SimulationConfig, setup: Setup, image: torch.Tensor,
                   rendered: torch.Tensor) -> torch.Tensor:
    """``image`` (S, F) plus the configuration's amorphous scattering on the pixels of
    the (S, F) mask ``rendered``; ``image`` itself when the configuration has none."""
    if config.amorphous is None:
        return image
    return image + amorphous_image(config, setup, rendered.expand(image.shape))


def amorphous_image(config: SimulationConfig, setup: Setup,
                    rendered: torch.Tensor | None = None) -> torch.Tensor:
    """Photons per pixel of the configuration's amorphous material, (S, F), setup.dtype.

    Args:
        config: with ``amorphous`` set.
        setup: the render's models (its detector, beam and sampling).
        rendered: (S, F) bool mask of the pixels to fill (others are 0), or None.

    Raises:
        InputError: a multi-panel or curved detector (not supported for this term).
    """
    if config.detector.panels is not None or setup.sampling.curved:
        raise InputError("-stol: amorphous scattering needs a flat single-panel detector")
    det, beam, s = setup.detector, setup.beam, setup.sampling
    sample = amorphous_sample(config.amorphous, config.beam.beamsize)
    grid = FGrid(sample.table.s.to(setup.device), sample.table.F.to(setup.device))
    sources = beam.sources
    steps = sources * s.oversample * s.oversample
    weight = torch.ones(sources, dtype=s.dtype, device=setup.device)
    per_row = det.fpixels * s.oversample * s.oversample * sources
    rows = max(1, CHUNK_EVALUATIONS // max(1, per_row))
    parts = []
    for start in range(0, det.spixels, rows):
        block = slice(start, min(start + rows, det.spixels))
        pos = pixel_positions(det.fdet, det.sdet, det.pix0, det.spixels, det.fpixels,
                              det.pixel_size, s.oversample, block)
        intensity, _ = amorphous_pixels(
            pos, beam.incident, beam.wavelength, weight, grid, pixel_size=det.pixel_size,
            close_distance=det.close_distance, polar_axis=beam.polar_vector, kahn=beam.kahn,
            nopolar=s.nopolar, point_pixel=s.point_pixel)
        parts.append(intensity)
    image = torch.cat(parts) * (R_E_SQR * beam.fluence * sample.molecules() / steps)
    image = image.to(s.dtype)
    return image if rendered is None else torch.where(rendered, image, torch.zeros_like(image))
