"""A render packaged for the output writers: float image, scales, counts, noise, geometry."""

from __future__ import annotations

import datetime

import numpy as np
import torch

from ..io.geometry import geometry_from_setup
from ..io.product import ImageProduct
from ..render.simulate import rendered_mask
from .images import ImageStats, auto_int_scale, auto_pgm_scale, image_stats, int_image


def image_product(result, config, *, scale: float | None = None, adc: float = 40.0,
                  exposure: float = 1.0, frames: np.ndarray | None = None,
                  start_time: datetime.datetime | None = None,
                  end_time: datetime.datetime | None = None, with_counts: bool = True,
                  stats: ImageStats | None = None, pgm_scale: float | None = None,
                  noise_seed: int | None = None, smv_header: bytes = b"",
                  image_names: tuple[str, ...] = ()) -> ImageProduct:
    """Package a rendered image (``render.simulate.SimulationResult``) for the writers.

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
        with_counts: compute the counts and the geometry (the NeXus, CBF and PNG writers
            read them); without, only the C's outputs can be written.
        stats: the image statistics when already computed.
        pgm_scale: preview value per photon; default the C's rule from the statistics.
        noise_seed: C ``idum`` of the noise image; None: no noise image.
        smv_header: header bytes of the int and noise images.
        image_names: the files an experiment list of the run refers to.

    Returns:
        The product.
    """
    image = result.image.detach().to("cpu", torch.float32).numpy()
    valid = result.rendered.cpu().numpy()
    roi = rendered_mask(config, None, torch.device("cpu")).numpy()
    if (scale is None or pgm_scale is None) and stats is None:
        stats = image_stats(image, valid, roi)
    scale = auto_int_scale(stats.max_I) if scale is None else scale
    pgm_scale = auto_pgm_scale(stats, scale) if pgm_scale is None else pgm_scale
    counts = geometry = None
    if with_counts:
        stack = image[None] if frames is None else np.asarray(frames, dtype=np.float32)
        counts = np.stack([int_image(frame, roi, scale, adc) for frame in stack])
        geometry = geometry_from_setup(result.setup, config, exposure=exposure,
                                       frames=counts.shape[0])
    noise = None
    if noise_seed is not None:
        from .noise import poisson_noise_image  # only a run with a noise image needs it

        noise = poisson_noise_image(image, noise_seed, adc, config.detector.roi)
    now = datetime.datetime.now(datetime.timezone.utc)
    return ImageProduct(image=image, counts=counts, valid=valid, geometry=geometry,
                        start_time=start_time or now, end_time=end_time or now, roi=roi,
                        scale=scale, adc=adc, pgm_scale=pgm_scale, smv_header=smv_header,
                        noise=noise, config=config, image_names=tuple(image_names))
