"""Sampling model: the static choices of one render, as plain Python values.

The detector, beam and crystal models hold tensors (what gradients flow through); this
model holds everything else the kernel branches on: the lattice shape and structure-factor
lookup by name, the geometry and polarization options, the oversampling and its step
count, the running-product flags, the resolution cut, the working dtype. It is frozen and
hashable, so two renders with equal sampling share one code path (the data-set batcher
groups shots by it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import SimulationConfig
from ..physics.vectors import value_of
from .beam import Beam
from .crystal import Crystal
from .detector import Detector


@dataclass(frozen=True)
class Sampling:
    """Static choices of one render (no tensors).

    Attributes:
        oversample: sub-pixels per pixel edge.
        steps: the C's normalisation ``sources * domains * phisteps * oversample^2``.
        shape: lattice shape name (a key of :data:`nanobragg.physics.lattice.SHAPES`).
        lookup: structure-factor lookup name (a key of
            :data:`nanobragg.physics.structure_factors.LOOKUPS`).
        dtype: working precision of the per-evaluation work.
        c_formula: float64 lattice values by the C's direct formula (bit parity).
        thick: the sensor has a thickness (absorption per layer).
        curved: the detector is curved (pixels on a sphere).
        point_pixel: solid angle ``1/R^2`` instead of the pixel's.
        nopolar: no polarization correction.
        water: a water background is present.
        dmin: resolution cut-off (m), 0 = off.
        oversample_thick, oversample_polar, oversample_omega: the C's running-product
            factors (multiplied into the running sum after every addition).
        subpixels: (first, stop) range of the flattened sub-pixels to evaluate (None: all).
        first_layer: index of the detector model's first layer among all sensor layers.
    """

    oversample: int
    steps: int
    shape: str
    lookup: str
    dtype: torch.dtype
    c_formula: bool
    thick: bool
    curved: bool
    point_pixel: bool
    nopolar: bool
    water: bool
    dmin: float
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    subpixels: tuple[int, int] | None = None
    first_layer: int = 0

    @property
    def subpixel_count(self) -> int:
        """O: sub-pixels evaluated per pixel."""
        if self.subpixels is None:
            return self.oversample**2
        return self.subpixels[1] - self.subpixels[0]

    @property
    def running_products(self) -> bool:
        """Whether any ``-oversample_*`` factor multiplies the running sum."""
        return self.oversample_thick or self.oversample_polar or self.oversample_omega


def build_sampling(config: SimulationConfig, detector: Detector, crystal: Crystal, beam: Beam,
                   table_loaded: bool, dtype: torch.dtype) -> Sampling:
    """The sampling of a configuration, given its models.

    Args:
        config: the simulation configuration.
        detector, crystal, beam: its models.
        table_loaded: a structure-factor table was read (else every F is default_F).
        dtype: working precision.

    Returns:
        The sampling model.
    """
    det, cry = config.detector, config.crystal
    oversample = choose_oversample(det.oversample, crystal, detector, config.beam.wavelength)
    interpolate = interpolation_on(cry.interpolate, cry.N, table_loaded)
    return Sampling(
        oversample=oversample,
        steps=beam.sources * crystal.domains * crystal.phisteps * oversample**2,
        shape=cry.shape, lookup="tricubic" if interpolate else "nearest", dtype=dtype,
        c_formula=bool(cry.c_rounding), thick=detector.thickness > 0,
        curved=bool(det.curved) and det.panels is None,  # a panel is always flat
        point_pixel=bool(det.point_pixel), nopolar=bool(config.beam.nopolar),
        water=value_of(beam.water_size) != 0.0, dmin=value_of(config.dmin),
        oversample_thick=bool(det.oversample_thick),
        oversample_polar=bool(det.oversample_polar),
        oversample_omega=bool(det.oversample_omega),
    )


def choose_oversample(requested: int | None, crystal: Crystal, detector: Detector,
                      wavelength) -> int:
    """The user's oversample, or the C's ``ceil(3*max crystal size / (lambda*d/pixel))``."""
    if requested is not None and requested > 0:
        return int(requested)
    size = max(crystal.xtal_size)
    pixel = value_of(detector.pixel_size)
    reciprocal_pixel = value_of(wavelength) * value_of(detector.distance) / pixel
    return max(1, math.ceil(3.0 * size / reciprocal_pixel))


def interpolation_on(requested: bool | None, cells, table_loaded: bool) -> bool:
    """The C's rule: auto-on when any N given on the command line is <= 2 (checked before
    the crystal size sets N); never without a loaded table."""
    if not table_loaded:
        return False
    if requested is None:
        return any(value_of(n) <= 2 for n in cells)
    return bool(requested)
