"""Turn a rendered float image into the C program's statistics and output images.

Pure numpy on the float32 image (the C stores and scales the float32 values).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

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


#: Pixels per block of the statistics pass (bounds its float64 temporaries).
_STATS_BLOCK = 1 << 20


def _stats(image: np.ndarray, rendered: np.ndarray, roi: np.ndarray) -> ImageStats:
    """The C's statistics: max_I starts at 0 and takes a pixel only when it is greater
    (NaN never wins, the first of equal maxima does)."""
    lib = _built_library() if image.dtype == np.float32 else None
    if lib is not None:
        max_i, where, total, squares, count = _compiled_sums(lib, image, rendered)
    else:
        max_i, where, total, squares, count = _numpy_sums(image, rendered)
    mean = total / max(count, 1)
    rms = math.sqrt(squares / (max(count, 2) - 1))
    if lib is not None:
        deviations, inside = _compiled_deviations(lib, image, roi, mean)
    else:
        deviations, inside = _numpy_deviations(image, roi, mean)
    rmsd = math.sqrt(deviations / (max(inside, 2) - 1))
    return ImageStats(max_i, divmod(where, image.shape[1]), mean, rms, rmsd, count)


def _pointers(image: np.ndarray, use: np.ndarray):
    """Flat float32 image and uint8 selection (None: every pixel) for the library."""
    flat = np.ascontiguousarray(image.reshape(-1))
    if use.all():
        return flat, None
    return flat, np.ascontiguousarray(use.reshape(-1), dtype=np.uint8)


def _compiled_sums(lib, image: np.ndarray, rendered: np.ndarray):
    flat, use = _pointers(image, rendered)
    out = np.zeros(3, dtype=np.float64)
    where = np.zeros(2, dtype=np.int64)
    lib.nb_image_sums(flat.ctypes.data_as(ctypes.c_void_p),
                      None if use is None else use.ctypes.data_as(ctypes.c_void_p),
                      ctypes.c_int64(flat.size), out.ctypes.data_as(ctypes.c_void_p),
                      where.ctypes.data_as(ctypes.c_void_p))
    return float(out[0]), int(where[0]), float(out[1]), float(out[2]), int(where[1])


def _compiled_deviations(lib, image: np.ndarray, roi: np.ndarray, mean: float):
    flat, use = _pointers(image, roi)
    total = lib.nb_image_deviations(
        flat.ctypes.data_as(ctypes.c_void_p),
        None if use is None else use.ctypes.data_as(ctypes.c_void_p),
        ctypes.c_int64(flat.size), ctypes.c_double(mean))
    return float(total), flat.size if use is None else int(np.count_nonzero(use))


def _numpy_deviations(image: np.ndarray, roi: np.ndarray, mean: float):
    """The numpy twin of ``nb_image_deviations``: the sum and the pixel count."""
    values = image.reshape(-1) if roi.all() else image[roi]
    return _sums(values, mean)[1], values.size


def _numpy_sums(image: np.ndarray, rendered: np.ndarray):
    """The numpy twin of the library's ``nb_image_sums`` (same maximum rule)."""
    everything = rendered.all()
    values = image.reshape(-1) if everything else image[rendered]
    max_i = float(np.fmax.reduce(values, initial=0.0))
    where = 0
    if max_i > 0:
        first = int(np.argmax(values == max_i))
        where = first if everything else int(np.flatnonzero(rendered.reshape(-1))[first])
    total, squares = _sums(values, 0.0)
    return max_i, where, total, squares, values.size


def _sums(values: np.ndarray, offset: float) -> tuple[float, float]:
    """``sum(v)`` and ``sum((v - offset)^2)`` in float64 without a whole float64 copy."""
    total = float(np.add.reduce(values, dtype=np.float64))
    if not offset:
        return total, float(np.einsum("i,i->", values, values, dtype=np.float64))
    squares = 0.0
    for start in range(0, values.size, _STATS_BLOCK):
        block = np.subtract(values[start:start + _STATS_BLOCK], offset, dtype=np.float64)
        squares += float(np.einsum("i,i->", block, block))
    return total, squares


def int_image(image: np.ndarray, roi: np.ndarray, scale: float, adc: float) -> np.ndarray:
    """The C's noiseless SMV pixels: ``floorf(clip(float*scale + adc) + 0.5)``; 0 outside ROI.

    Non-finite pixels (an overflowed image) have no defined value in the C; they become 0.
    Computed block by block so the float64 temporaries stay small.
    """
    flat, inside = image.reshape(-1), roi.reshape(-1)
    out = np.empty(flat.size, dtype=np.uint16)
    lib = _built_library()
    if lib is not None and flat.dtype == np.float32:
        flat, inside = np.ascontiguousarray(flat), np.ascontiguousarray(inside, dtype=np.uint8)
        lib.nb_int_image(flat.ctypes.data_as(ctypes.c_void_p),
                         inside.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(flat.size),
                         ctypes.c_double(scale), ctypes.c_double(adc),
                         out.ctypes.data_as(ctypes.c_void_p))
        return out.reshape(image.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, flat.size, _STATS_BLOCK):
            part = slice(start, start + _STATS_BLOCK)
            value = flat[part].astype(np.float64)
            value *= scale
            value += adc
            np.clip(value, 0.0, MAX_COUNT, out=value)
            value += 0.5
            rounded = np.floor(value.astype(np.float32))
            keep = inside[part] & np.isfinite(rounded)
            out[part] = np.where(keep, rounded, 0)
    return out.reshape(image.shape)


def _built_library():
    """The compiled helpers if they are already built (never compiles for this)."""
    from ..native import build

    return build.load(build=False)


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
        report: the detector's reported values (m and pixels), from
            :func:`nanobragg.products.reports.detector_report`.
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
