"""Minimal PNG writer (zlib + struct) and image previews, with no extra dependency."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale (H, W) or RGB (H, W, 3) image as PNG.

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
    data += _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    Path(path).write_bytes(data)


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
