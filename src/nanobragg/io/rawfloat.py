"""Raw float images: little-endian float32, no header, fast index varying fastest."""

from __future__ import annotations

import os

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import atomic_write, read_bytes
from nanobragg.io.streaming import array_chunks


def float_image_chunks(image: np.ndarray):
    """The bytes of a float image file, a block of rows at a time.

    Args:
        image: Real array, shape (slow, fast); converted to float32.
    """
    if image.ndim != 2:
        raise ValueError(f"write_float_image needs a 2-D array, got shape {image.shape}")
    return array_chunks(image, "<f4")


def write_float_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a 2-D image as raw little-endian float32, atomically.

    Args:
        path: Destination file.
        image: Real array, shape (slow, fast); converted to float32.
    """
    atomic_write(path, float_image_chunks(image), "float image")


def read_float_image(path: str | os.PathLike[str], width: int, height: int) -> np.ndarray:
    """Read a raw little-endian float32 image.

    Args:
        path: Image file.
        width: Fast-axis pixels.
        height: Slow-axis pixels.

    Returns:
        float32 array, shape (height, width).

    Raises:
        InputError: Unreadable file or size other than 4*width*height bytes.
    """
    raw = read_bytes(path, "float image")
    expected = 4 * width * height
    if len(raw) != expected:
        raise InputError(f"float image '{path}': size is {len(raw)} bytes, expected {expected} "
                         f"for {width}x{height} float32 pixels")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(height, width)
