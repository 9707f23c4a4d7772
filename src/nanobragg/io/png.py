"""PNG pictures with no extra dependency: a zlib writer, grey-scale stretches, rings.

One PNG path for the project: nb-compare's previews and the ``-pngfile`` preview both
use :func:`write_png`. The preview stretch is asinh between two percentiles of the
rendered pixels (its knee at the 90th percentile), drawn dark on white like
crystallographers' viewers; resolution rings are one-pixel contours of constant
d-spacing computed from the panel geometry.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ._atomic import atomic_write
from .geometry import ImageGeometry, resolution_map
from .product import ImageProduct

#: zlib level: on a 2048x2048 RGB preview, 3 compressed 4 times faster than 6, same size.
_ZLIB_LEVEL = 3


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale (H, W) or RGB (H, W, 3) image as PNG, atomically.

    Args:
        path: output file.
        pixels: uint8 array; row 0 is the top of the picture.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        color_type, channels = 0, 1
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"PNG pixels must be (H, W) or (H, W, 3), not {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    data += _chunk(b"IDAT", zlib.compress(raw, _ZLIB_LEVEL)) + _chunk(b"IEND", b"")
    atomic_write(path, [data], "PNG file")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def preview(image: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Grayscale preview (uint8) of a photon image: sqrt scaling up to ``vmax``.

    Args:
        image: (slow, fast) float image.
        vmax: value shown white; default the 99.9th percentile of positive pixels.
    """
    image = np.nan_to_num(np.asarray(image, dtype=np.float64))
    if vmax is None:
        positive = image[image > 0]
        vmax = float(np.percentile(positive, 99.9)) if positive.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    scaled = np.sqrt(np.clip(image / vmax, 0.0, 1.0))
    return np.round(scaled * 255.0).astype(np.uint8)


def diverging(diff: np.ndarray, limit: float | None = None) -> np.ndarray:
    """Blue-white-red heat map (uint8 RGB) of a signed difference image.

    Args:
        diff: (slow, fast) differences.
        limit: magnitude shown fully saturated; default the largest |diff|.
    """
    diff = np.nan_to_num(np.asarray(diff, dtype=np.float64))
    if limit is None:
        limit = float(np.abs(diff).max()) if diff.size else 1.0
    limit = limit if limit > 0 else 1.0
    t = np.clip(diff / limit, -1.0, 1.0)
    fade = np.round((1.0 - np.abs(t)) * 255.0).astype(np.uint8)
    rgb = np.empty(diff.shape + (3,), np.uint8)
    rgb[..., 0] = np.where(t >= 0, 255, fade)
    rgb[..., 1] = fade
    rgb[..., 2] = np.where(t <= 0, 255, fade)
    return rgb


#: Percentile of the valid pixels where the asinh stretch turns from linear to logarithmic.
KNEE_PERCENTILE = 90.0
#: Bounds of the stretch's beta (range / knee): 1 is nearly linear, 1e4 nearly logarithmic.
BETA_RANGE = (1.0, 1.0e4)
#: d-spacings (Angstrom) that automatic rings are chosen from.
NICE_D = (20.0, 15.0, 10.0, 8.0, 6.0, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 1.8, 1.6, 1.5, 1.4,
          1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
RING_COLOUR = (230, 90, 0)


def asinh_stretch(image: np.ndarray, valid: np.ndarray | None = None,
                  percentiles: tuple[float, float] = (1.0, 99.9)) -> np.ndarray:
    """Grey levels (uint8, 255 = no signal, 0 = strongest) of a photon image.

    ``t = clip((x - lo) / (hi - lo), 0, 1)`` is shown as ``asinh(beta t) / asinh(beta)``,
    where lo and hi are the given percentiles of the valid pixels and ``beta = (hi - lo) /
    (knee - lo)`` with knee the ``KNEE_PERCENTILE`` (clipped to ``BETA_RANGE``): linear
    below the typical background, logarithmic above it, so faint spots and strong ones
    both show. A constant image is white.

    Args:
        image: (slow, fast) photons.
        valid: pixels that count for the percentiles (default all finite pixels).
        percentiles: (low, high) percentiles.
    """
    image = np.asarray(image, dtype=np.float64)
    keep = np.isfinite(image) if valid is None else (valid & np.isfinite(image))
    values = image[keep]
    if values.size == 0:
        return np.full(image.shape, 255, np.uint8)
    lo, knee, hi = np.percentile(values, (percentiles[0], KNEE_PERCENTILE, percentiles[1]))
    if hi <= lo:
        hi = float(values.max())
    span = hi - lo if hi > lo else 1.0
    beta = float(np.clip(span / (knee - lo), *BETA_RANGE)) if knee > lo else BETA_RANGE[1]
    t = np.clip((np.nan_to_num(image, nan=lo) - lo) / span, 0.0, 1.0)
    shown = np.arcsinh(beta * t) / np.arcsinh(beta)
    return np.round(255.0 * (1.0 - shown)).astype(np.uint8)


def auto_rings(d_map: np.ndarray, count: int = 4) -> tuple[float, ...]:
    """Up to ``count`` d-spacings (m) from ``NICE_D`` spread over the detector's range.

    Args:
        d_map: resolution of every pixel (m), e.g. from ``resolution_map``.
    """
    finite = d_map[np.isfinite(d_map)]
    if finite.size == 0:
        return ()
    inner, outer = 1.0 / finite.max(), 1.0 / finite.min()  # 1/d range (1/m)
    targets = inner + (outer - inner) * (np.arange(1, count + 1) / count)
    candidates = np.array(NICE_D) * 1e-10
    chosen = {float(candidates[np.argmin(np.abs(1.0 / candidates - q))]) for q in targets}
    return tuple(sorted(d for d in chosen if inner <= 1.0 / d <= outer)[::-1])


def ring_pixels(d_map: np.ndarray, d_spacings) -> np.ndarray:
    """Pixels (bool, shape of ``d_map``) where 1/d crosses one of ``d_spacings`` (m).

    A pixel is on a ring when 1/d - 1/d_ring changes sign between it and its right or
    lower neighbour, which draws a one-pixel contour.
    """
    q = 1.0 / d_map
    on = np.zeros(d_map.shape, dtype=bool)
    for d in d_spacings:
        above = q > 1.0 / d
        on[:, :-1] |= above[:, :-1] != above[:, 1:]
        on[:-1, :] |= above[:-1, :] != above[1:, :]
    return on


def preview_pixels(product: ImageProduct, rings=None) -> np.ndarray:
    """Preview of the float image: grey (uint8, (slow, fast)), or RGB (slow, fast, 3) with rings.

    Args:
        product: the image and its geometry.
        rings: None for none, ``"auto"`` for :func:`auto_rings`, or d-spacings (m).
    """
    grey = asinh_stretch(product.image, product.valid)
    if rings is None:
        return grey
    rgb = np.repeat(grey[..., None], 3, axis=2)
    d_map = _panel_resolution(product.geometry, product.image.shape)
    rgb[ring_pixels(d_map, ring_spacings(product, rings, d_map))] = RING_COLOUR
    return rgb


def ring_spacings(product: ImageProduct, rings, d_map: np.ndarray | None = None
                  ) -> tuple[float, ...]:
    """The ring d-spacings (m): ``rings`` itself, or :func:`auto_rings` for ``"auto"``."""
    if not isinstance(rings, str):
        return tuple(float(d) for d in rings)
    if d_map is None:
        d_map = _panel_resolution(product.geometry, product.image.shape)
    return auto_rings(d_map)


def _panel_resolution(geometry: ImageGeometry, shape: tuple[int, int]) -> np.ndarray:
    """Resolution (m) of every image pixel from the panels that cover it (inf elsewhere)."""
    d_map = np.full(shape, np.inf)
    for panel in geometry.panels:
        s0, f0 = panel.data_origin
        d_map[s0:s0 + panel.size[1], f0:f0 + panel.size[0]] = resolution_map(
            panel, geometry.beam, geometry.wavelength)
    return d_map


def write_preview(path: str | os.PathLike[str], product: ImageProduct, rings=None) -> None:
    """Write :func:`preview_pixels` as a PNG file atomically."""
    write_png(path, preview_pixels(product, rings))
