"""8-bit binary PGM (P5) preview images."""

from __future__ import annotations

import os

import numpy as np

from nanobragg.io._atomic import atomic_write
from nanobragg.io.streaming import array_chunks


def pgm_header(width: int, height: int, scale: float) -> bytes:
    """The C program's PGM header, e.g. ``b"P5\\n256 256\\n# pixels scaled by 6.19983\\n255\\n"``.

    Args:
        width: Fast-axis pixels.
        height: Slow-axis pixels.
        scale: Intensity scale factor, printed with ``%g``.
    """
    return f"P5\n{width:d} {height:d}\n# pixels scaled by {float(scale):g}\n255\n".encode("ascii")


def write_pgm(path: str | os.PathLike[str], pixels: np.ndarray, scale: float) -> None:
    """Write a P5 PGM image atomically.

    Args:
        path: Destination file.
        pixels: uint8 pixel values, shape (slow, fast).
        scale: The scale used to make the pixels (only recorded in the header comment).
    """
    atomic_write(path, pgm_chunks(pixels, scale), "PGM file")


def pgm_chunks(pixels: np.ndarray, scale: float):
    """The bytes of a PGM file: its header, then the pixels a block of rows at a time.

    Args:
        pixels: uint8 pixel values, shape (slow, fast).
        scale: The scale used to make the pixels (only recorded in the header comment).
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"write_pgm needs a 2-D uint8 array, got {pixels.dtype} {pixels.shape}")
    yield pgm_header(pixels.shape[1], pixels.shape[0], scale)
    yield from array_chunks(pixels, "u1")
