"""What the image-format writers receive: pixels, their validity, geometry and times."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
import torch

from ..outputs import auto_int_scale, image_stats, int_image
from ..simulator import rendered_mask
from .geometry import ImageGeometry, geometry_from_setup


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True, eq=False)
class ImageProduct:
    """A rendered image ready for writing.

    Attributes:
        image: float photons per pixel, shape (slow, fast) (the float image).
        counts: integer counts, shape (frames, slow, fast): the int image (or one int
            image per phi step of a rotation series), values 0..65535.
        valid: rendered pixels (inside the ROI and not masked), bool, shape (slow, fast).
        geometry: panels, beam, spindle, exposure.
        start_time, end_time: when the render began and ended (UTC).
    """

    image: np.ndarray
    counts: np.ndarray
    valid: np.ndarray
    geometry: ImageGeometry
    start_time: datetime.datetime = field(default_factory=_now)
    end_time: datetime.datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.counts.ndim != 3 or self.counts.shape[1:] != self.image.shape:
            raise ValueError(f"counts must be (frames, {self.image.shape}), "
                             f"not {self.counts.shape}")
        if self.counts.shape[0] != self.geometry.frames:
            raise ValueError(f"{self.counts.shape[0]} count frames but the geometry has "
                             f"{self.geometry.frames}")


def image_product(result, config, *, scale: float | None = None, adc: float = 40.0,
                  exposure: float = 1.0, frames: np.ndarray | None = None,
                  start_time: datetime.datetime | None = None,
                  end_time: datetime.datetime | None = None) -> ImageProduct:
    """Package a rendered image (``simulator.SimulationResult``) for the writers.

    The counts are the C's noiseless int image ``floor(photons * scale + adc + 0.5)``
    clipped to 0..65535, zero outside the ROI, exactly like the SMV ``-intfile``.

    Args:
        result: the render.
        config: its ``SimulationConfig``.
        scale: counts per photon; default the C's 55000 / max_I.
        adc: offset added to every rendered pixel.
        exposure: exposure time of the whole image (s).
        frames: float images of a rotation series, shape (n, slow, fast), whose sum is
            the image; they are scaled with the same ``scale``. None: one frame.
        start_time, end_time: UTC times recorded in the file (default now).

    Returns:
        The product.
    """
    image = result.image.detach().to("cpu", torch.float32).numpy()
    valid = result.rendered.cpu().numpy()
    roi = rendered_mask(config, None, torch.device("cpu")).numpy()
    if scale is None:
        scale = auto_int_scale(image_stats(image, valid, roi).max_I)
    stack = image[None] if frames is None else np.asarray(frames, dtype=np.float32)
    counts = np.stack([int_image(frame, roi, scale, adc) for frame in stack])
    geometry = geometry_from_setup(result.setup, config, exposure=exposure,
                                   frames=counts.shape[0])
    now = _now()
    return ImageProduct(image=image, counts=counts, valid=valid, geometry=geometry,
                        start_time=start_time or now, end_time=end_time or now)
