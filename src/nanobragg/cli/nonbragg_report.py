"""nonBragg's printed statistics, progress lines and pixel conversions (the C's rules)."""

from __future__ import annotations

import math

import numpy as np


def _rendered_values(image: np.ndarray, rendered: np.ndarray) -> np.ndarray:
    return image[rendered].astype(np.float32)


def _max_position(image: np.ndarray, rendered: np.ndarray, pixel: float,
                  oversample: int) -> tuple[float, float, float]:
    """The first strict maximum above 0 and the last sub-pixel position of its pixel."""
    values = np.where(rendered, image, 0.0).ravel()
    index = int(np.argmax(values)) if values.size else 0
    max_i = float(values[index]) if values.size else 0.0
    if not max_i > 0.0:
        return 0.0, 0.0, 0.0
    sub = pixel / oversample
    slow, fast = divmod(index, image.shape[1])
    last = oversample - 1
    return (max_i, sub * (fast * oversample + last) + sub / 2.0,
            sub * (slow * oversample + last) + sub / 2.0)


def _spread(image: np.ndarray, rendered: np.ndarray) -> tuple[float, float, float]:
    """mean, rms and rmsd as the C computes them (including its off-by-one pixel)."""
    values = _rendered_values(image, rendered)
    n = values.size
    total = float(np.cumsum(values.astype(np.float64))[-1]) if n else 0.0
    squares = float(np.cumsum((values * values).astype(np.float64))[-1]) if n else 0.0
    avg = total / (n if n > 0 else 1)
    rms = math.sqrt(squares / ((n if n > 1 else 2) - 1))
    shifted = np.append(image.ravel(), np.float32(0.0))[1:].reshape(image.shape)
    deviations = shifted[rendered].astype(np.float64) - avg
    sumsqr = float(np.cumsum(deviations * deviations)[-1]) if n else 0.0
    rmsd = math.sqrt(sumsqr / ((n if n > 1 else 2) - 1))
    return avg, rms, rmsd


def stats_lines(image: np.ndarray, rendered: np.ndarray, opts, oversample: int
                ) -> tuple[list[str], float, float]:
    """The four report lines (max, mean, int scale, pgm scale) and the two scales."""
    max_i, x, y = _max_position(image, rendered, opts.pixel, oversample)
    avg, rms, rmsd = _spread(image, rendered)
    int_scale = opts.int_scale
    if int_scale <= 0.0:
        int_scale = 55000.0 / max_i if max_i > 0.0 else 1.0
    pgm_scale = opts.pgm_scale
    if pgm_scale <= 0.0:
        pgm_scale = 250.0 / (5.0 * rmsd) if rmsd > 0.0 else int_scale
    return ([f"max_I = {max_i:g}  at {x:g} {y:g}",
             f"mean= {avg:g} rms= {rms:g} rmsd= {rmsd:g}",
             f"intfile_scale = {int_scale:g}", f"pgm_scale = {pgm_scale:g}"],
            int_scale, pgm_scale)


def progress_lines(opts, roi: tuple[int, int, int, int], rendered: np.ndarray) -> list[str]:
    """The C's "N% done" lines for the rendered pixels (none with -noprogress)."""
    if not opts.progress or opts.printout:
        return []
    xmin, xmax, ymin, ymax = roi
    planned = (xmax - xmin + 1) * (ymax - ymin + 1)
    if planned // 100 <= 0:
        return []
    done = np.arange(int(rendered.sum()), dtype=np.int64)
    show = (done % (planned // 20) == 0) | (((10 * done < planned) | (10 * done > 9 * planned))
                                            & (done % (planned // 100) == 0))
    return [f"{v * 100 // planned}% done" for v in done[show].tolist()]


def to_uint16_rounded(test: np.ndarray) -> np.ndarray:
    """``(unsigned short) floorf(test + 0.5)`` after clipping to [0, 65535] (NaN -> 0)."""
    clipped = np.where(test > 65535.0, 65535.0, np.where(test < 0.0, 0.0, test))
    rounded = np.floor((clipped + 0.5).astype(np.float32)).astype(np.float64)
    return np.where(np.isfinite(rounded), rounded, 0.0).astype(np.int64).astype(np.uint16)


def to_uint8(test: np.ndarray) -> np.ndarray:
    """``(unsigned char)`` of doubles clipped above at 255, converted through int32."""
    clipped = np.where(test > 255.0, 255.0, test)
    ok = clipped > -2147483649.0
    whole = np.trunc(np.where(ok, clipped, 0.0))
    return (whole.astype(np.int64) & 0xFF).astype(np.uint8)
