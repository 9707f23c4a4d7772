"""Poisson-noise integer image, bit-compatible with the reference program.

The same float image, seed, ADC offset and ROI always give the same noise
image, identical to the reference's ``-noisefile`` output for the same
``-seed``.
"""

from __future__ import annotations

import numpy as np

from nanobragg.rng import PoissonSampler, Ran1, ShuffleTable

_MAX_COUNT = 65535.0
_INT32_FLOOR = -2147483649.0


def _to_ushort(value: float) -> int:
    """Convert like the reference build's ``(unsigned short)`` cast of a double.

    Truncates toward zero through a 32-bit integer and keeps the low 16 bits,
    so negative values wrap (-3.7 -> 65533) and NaN or values below the int32
    range become 0.
    """
    if not value > _INT32_FLOOR:
        return 0
    return int(value) & 0xFFFF


def _roi_slices(
    shape: tuple[int, int], roi: tuple[int, int, int, int] | None
) -> tuple[slice, slice]:
    """Slow and fast slices of the pixels inside an inclusive ROI."""
    if roi is None:
        return slice(None), slice(None)
    xmin, xmax, ymin, ymax = roi
    slow, fast = shape
    return (
        slice(max(ymin, 0), max(min(ymax + 1, slow), 0)),
        slice(max(xmin, 0), max(min(xmax + 1, fast), 0)),
    )


def poisson_noise_image(
    image: np.ndarray,
    seed: int,
    adc: float = 40.0,
    roi: tuple[int, int, int, int] | None = None,
    table: ShuffleTable | None = None,
) -> tuple[np.ndarray, float, int]:
    """Draw the reference's noise image from a float image.

    Pixels are visited in C order (slow, then fast).  Each pixel inside the
    ROI gets ``poidev(pixel) + adc``, clipped to 65535 (counted as an
    overload) and cast to uint16 by truncation; pixels outside the ROI are 0
    and consume no random numbers.

    Args:
        image: (slow, fast) float image in photons; converted to float32 like
            the reference's float image.
        seed: The reference's noise ``idum``, i.e. the negated ``-seed`` value
            (``-seed 12345`` -> ``-12345``).
        adc: ADC offset added to every noisy pixel (counts).
        roi: Inclusive ``(xmin, xmax, ymin, ymax)`` bounds on (fast, slow)
            pixel indices, or None for the whole image.
        table: Shuffle table shared with earlier generators (only matters for
            a positive ``seed``; see :mod:`nanobragg.rng`).

    Returns:
        ``(noise, photons, overloads)``: the (slow, fast) uint16 image, the sum
        of the Poisson deviates before the offset (a double, printed by the
        reference with ``%.0f``), and the number of clipped pixels.
    """
    values = np.asarray(image, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"image must be 2-D (slow, fast), got shape {values.shape}")
    rows, cols = _roi_slices(values.shape, roi)
    poidev = PoissonSampler(Ran1(seed, table)).poidev
    noise = np.zeros(values.shape, dtype=np.uint16)
    inside = noise[rows, cols]
    photons = 0.0
    overloads = 0
    for index, row in enumerate(values[rows, cols]):
        counts = []
        for mean in row.tolist():
            deviate = poidev(mean)
            photons += deviate
            value = deviate + adc
            if value > _MAX_COUNT:
                value = _MAX_COUNT
                overloads += 1
            counts.append(_to_ushort(value))
        inside[index] = counts
    return noise, photons, overloads
