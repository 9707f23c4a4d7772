"""What the output writers receive: pixels, their validity, scales, geometry and times.

A plain record of numpy arrays and numbers; :func:`nanobragg.products.product.image_product`
builds it from a render.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .geometry import ImageGeometry


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True, eq=False)
class ImageProduct:
    """A rendered image ready for writing.

    Attributes:
        image: float photons per pixel, shape (slow, fast) (the float image).
        counts: integer counts, shape (frames, slow, fast): the int image (or one int
            image per phi step of a rotation series), values 0..65535; None where no
            writer of the run needs them (the SMV writer converts block by block).
        valid: rendered pixels (inside the ROI and not masked), bool, shape (slow, fast).
        geometry: panels, beam, spindle, exposure (None for stacked panels).
        start_time, end_time: when the render began and ended (UTC).
        roi: pixels inside the ROI, bool (slow, fast); the C's int and PGM images are 0
            outside it.
        scale: counts per photon of the int image; adc: its offset.
        pgm_scale: 8-bit preview value per photon.
        smv_header: the SMV header bytes of the int and noise images.
        noise: the Poisson-noise int image (uint16, slow x fast), its photon total and
            overload count; None when no noise image is written.
        config: the ``SimulationConfig`` (for the experiment list); image_names: the image
            files an experiment list refers to.
    """

    image: np.ndarray
    counts: np.ndarray | None = None
    valid: np.ndarray | None = None
    geometry: ImageGeometry | None = None
    start_time: datetime.datetime = field(default_factory=_now)
    end_time: datetime.datetime = field(default_factory=_now)
    roi: np.ndarray | None = None
    scale: float = 1.0
    adc: float = 40.0
    pgm_scale: float = 1.0
    smv_header: bytes = b""
    noise: tuple[np.ndarray, float, int] | None = None
    config: Any = None
    image_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.counts is None:
            return
        if self.counts.ndim != 3 or self.counts.shape[1:] != self.image.shape:
            raise ValueError(f"counts must be (frames, {self.image.shape}), "
                             f"not {self.counts.shape}")
        if self.geometry is not None and self.counts.shape[0] != self.geometry.frames:
            raise ValueError(f"{self.counts.shape[0]} count frames but the geometry has "
                             f"{self.geometry.frames}")
