"""Write large images a block of rows at a time, so no whole-image byte copy is made."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

#: Bytes of converted pixels per written block.
BLOCK_BYTES = 1 << 22


def row_blocks(height: int, width: int, bytes_per_pixel: int) -> Iterator[slice]:
    """Consecutive slices of rows covering ``height`` rows, about ``BLOCK_BYTES`` each."""
    rows = max(1, BLOCK_BYTES // max(1, width * bytes_per_pixel))
    for start in range(0, height, rows):
        yield slice(start, min(start + rows, height))


def image_chunks(shape: tuple[int, int], dtype: str,
                 rows_of: Callable[[slice], np.ndarray]) -> Iterator[memoryview]:
    """Bytes of a (slow, fast) image as ``dtype`` (e.g. ``"<f4"``), block by block.

    Args:
        shape: (slow, fast) pixel counts.
        dtype: numpy dtype string of the written pixels.
        rows_of: maps a slice of rows to those rows' pixels, shape (rows, fast).
    """
    height, width = shape
    size = np.dtype(dtype).itemsize
    for rows in row_blocks(height, width, size):
        yield memoryview(np.ascontiguousarray(rows_of(rows), dtype=dtype)).cast("B")


def array_chunks(image: np.ndarray, dtype: str) -> Iterator[memoryview]:
    """Bytes of a 2-D array as ``dtype``, block by block (see :func:`image_chunks`)."""
    return image_chunks(image.shape, dtype, image.__getitem__)
