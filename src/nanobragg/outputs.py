"""Turn a rendered float image into the C program's statistics and output images.

Pure numpy on the float32 image (the C stores and scales the float32 values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .io.streaming import row_blocks

#: Largest value of an unsigned 16-bit pixel.
MAX_COUNT = 65535.0


@dataclass(frozen=True)
class ImageStats:
    """Statistics the C prints after rendering.

    Attributes:
        max_I: largest rendered pixel (photons).
        max_pixel: (slow, fast) index of that pixel.
        mean, rms: over rendered pixels (inside ROI, not masked).
        rmsd: deviation from the mean over every pixel inside the ROI.
        rendered: number of rendered pixels.
    """

    max_I: float
    max_pixel: tuple[int, int]
    mean: float
    rms: float
    rmsd: float
    rendered: int


def image_stats(image: np.ndarray, rendered: np.ndarray, roi: np.ndarray) -> ImageStats:
    """The C's max/mean/rms/rmsd of a float32 image.

    Args:
        image: float32 photons, shape (slow, fast).
        rendered: pixels the C visited (bool, same shape).
        roi: pixels inside the ROI (bool, same shape); masked pixels count for rmsd.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _stats(image, rendered, roi)


def _stats(image: np.ndarray, rendered: np.ndarray, roi: np.ndarray) -> ImageStats:
    """Two passes over blocks of rows, so no float64 copy of the whole image is made."""
    count, total, squares, maxima = 0, 0.0, 0.0, []
    blocks = list(row_blocks(image.shape[0], image.shape[1], 8))
    for rows in blocks:
        values = image[rows][rendered[rows]].astype(np.float64)
        count += values.size
        total += float(values.sum())
        squares += float((values * values).sum())
        maxima.append(float(values.max()) if values.size else -math.inf)
    max_i = float(np.max(maxima)) if count else 0.0
    where = _first_max(image, rendered, blocks, maxima, max_i) if count and max_i > 0 else 0
    mean = total / max(count, 1)
    rms = math.sqrt(squares / (max(count, 2) - 1))
    deviation, inside = 0.0, 0
    for rows in blocks:
        values = image[rows][roi[rows]].astype(np.float64)
        inside += values.size
        deviation += float(((values - mean) ** 2).sum())
    rmsd = math.sqrt(deviation / (max(inside, 2) - 1))
    return ImageStats(max_i, divmod(where, image.shape[1]), mean, rms, rmsd, count)


def _first_max(image, rendered, blocks, maxima, max_i) -> int:
    """Flat index of the first rendered pixel equal to ``max_i``."""
    for rows, block_max in zip(blocks, maxima):
        if block_max == max_i:
            flat = np.flatnonzero(rendered[rows].reshape(-1))
            values = image[rows][rendered[rows]]
            return rows.start * image.shape[1] + int(flat[int(values.argmax())])
    return 0


def int_image(image: np.ndarray, roi: np.ndarray, scale: float, adc: float) -> np.ndarray:
    """The C's noiseless SMV pixels: ``floorf(clip(float*scale + adc) + 0.5)``; 0 outside ROI.

    Non-finite pixels (an overflowed image) have no defined value in the C; they become 0.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        value = np.clip(image.astype(np.float64) * scale + adc, 0.0, MAX_COUNT)
        rounded = np.floor((value + 0.5).astype(np.float32))
        return np.where(roi & np.isfinite(rounded), rounded, 0).astype(np.uint16)


def auto_int_scale(max_I: float) -> float:
    """55000 / max_I (1 when the image is empty), the C's default ``-scale``."""
    return 55000.0 / max_I if max_I > 0 else 1.0


def pgm_pixels(image: np.ndarray, roi: np.ndarray, scale: float) -> np.ndarray:
    """8-bit PGM pixels ``min(float*scale, 255)`` truncated; 0 outside the ROI."""
    with np.errstate(invalid="ignore", over="ignore"):
        value = np.minimum(image.astype(np.float64) * scale, 255.0)
        return np.where(roi & np.isfinite(value), value, 0).astype(np.uint8)


def auto_pgm_scale(stats: ImageStats, int_scale: float) -> float:
    """250 / (5 * rmsd), or the int-image scale when rmsd is 0 (the C's rule)."""
    return 250.0 / (5.0 * stats.rmsd) if stats.rmsd > 0 else int_scale


def smv_fields(report: dict, fpixels: int, spixels: int, wavelength: float, phi0: float,
               osc: float) -> dict:
    """SMV header keys and values in the C's order (lengths in mm, angles in degrees).

    Args:
        report: the detector model's report (m and pixels).
        fpixels, spixels: image size.
        wavelength: central wavelength (m).
        phi0, osc: spindle start and range (rad).
    """
    pixel, fbeam, sbeam = report["pixel_size"], report["fbeam"], report["sbeam"]
    return {
        "HEADER_BYTES": 512, "DIM": 2, "BYTE_ORDER": "little_endian",
        "TYPE": "unsigned_short", "SIZE1": fpixels, "SIZE2": spixels,
        "PIXEL_SIZE": pixel * 1000.0, "DISTANCE": report["distance"] * 1000.0,
        "WAVELENGTH": wavelength * 1e10,
        "BEAM_CENTER_X": report["xbeam"] * 1000.0, "BEAM_CENTER_Y": report["ybeam"] * 1000.0,
        "ADXV_CENTER_X": fbeam * 1000.0,
        "ADXV_CENTER_Y": (report["detsize_s"] - sbeam) * 1000.0,
        "MOSFLM_CENTER_X": (sbeam - 0.5 * pixel) * 1000.0,
        "MOSFLM_CENTER_Y": (fbeam - 0.5 * pixel) * 1000.0,
        "DENZO_X_BEAM": sbeam * 1000.0, "DENZO_Y_BEAM": fbeam * 1000.0,
        "DIALS_ORIGIN": tuple(report["dials_origin"]),
        "XDS_ORGX": report["orgx"], "XDS_ORGY": report["orgy"],
        "CLOSE_DISTANCE": report["close_distance"] * 1000.0,
        "PHI": math.degrees(phi0), "OSC_START": math.degrees(phi0),
        "OSC_RANGE": math.degrees(osc), "TWOTHETA": report["twotheta_deg"],
        "DETECTOR_SN": "000", "BEAMLINE": "fake",
    }
