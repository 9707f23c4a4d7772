"""Poisson-noise integer image, bit-compatible with the reference program.

The same float image, seed, ADC offset and ROI always give the same noise
image, identical to the reference's ``-noisefile`` output for the same
``-seed``.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from nanobragg.models.rng import NTAB, PoissonSampler, Ran1, ShuffleTable

from ..native import build

#: Pixels above which the compiled sampler is built if it is not yet (about a second).
COMPILE_PIXELS = 1 << 16
#: Pixels above which a helper thread fills the sampler's stream and per-pixel values.
HELPER_PIXELS = 1 << 15

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
            a positive ``seed``; see :mod:`nanobragg.models.rng`).

    Returns:
        ``(noise, photons, overloads)``: the (slow, fast) uint16 image, the sum
        of the Poisson deviates before the offset (a double, printed by the
        reference with ``%.0f``), and the number of clipped pixels.
    """
    values = np.asarray(image, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"image must be 2-D (slow, fast), got shape {values.shape}")
    rows, cols = _roi_slices(values.shape, roi)
    means = np.ascontiguousarray(values[rows, cols])
    lib = build.load(build=means.size > COMPILE_PIXELS)
    if lib is None:
        counts, photons, overloads = _python_noise(means.ravel().tolist(), seed, adc, table)
    else:
        counts, photons, overloads = _compiled_noise(lib, means, seed, adc, table)
    noise = np.zeros(values.shape, dtype=np.uint16)
    noise[rows, cols] = counts.reshape(means.shape)
    return noise, photons, overloads


def _compiled_noise(lib, means: np.ndarray, seed: int, adc: float,
                    table: ShuffleTable | None, helper: bool | None = None,
                    ) -> tuple[np.ndarray, float, int]:
    """The same draws as :func:`_python_noise`, in the compiled library.

    Args:
        helper: Run a helper thread that fills the uniform stream and the per-pixel
            values ahead of the sequential draw; None: where there are several CPUs and
            enough pixels. The result is the same either way.
    """
    table = ShuffleTable() if table is None else table
    state = np.array([seed, table.iy, *table.iv], dtype=np.int64)
    means = np.ascontiguousarray(means, dtype=np.float32).ravel()
    counts = np.empty(means.size, dtype=np.uint16)
    overloads = ctypes.c_int64(0)
    pointers = (means.ctypes.data_as(ctypes.c_void_p), state.ctypes.data_as(ctypes.c_void_p),
                counts.ctypes.data_as(ctypes.c_void_p), ctypes.byref(overloads))
    if helper is None:
        helper = means.size >= HELPER_PIXELS and _cpus() > 1
    if helper:
        photons = _draw_with_helper(lib, means.size, adc, *pointers)
    else:
        photons = lib.nb_noise(pointers[0], ctypes.c_int64(means.size), ctypes.c_double(adc),
                               *pointers[1:])
    if overloads.value < 0:
        raise MemoryError("no memory for the noise sampler")
    table.iy, table.iv[:] = int(state[1]), [int(v) for v in state[2:2 + NTAB]]
    return counts, float(photons), int(overloads.value)


def _draw_with_helper(lib, n: int, adc: float, means, state, counts, overloads) -> float:
    """The sampler's draw on this thread while a second thread fills ahead."""
    _declare(lib)
    ctx = lib.nb_noise_open(means, n, state)
    if not ctx:
        raise MemoryError("no memory for the noise sampler")
    worker = threading.Thread(target=lib.nb_noise_help, args=(ctx,), daemon=True)
    worker.start()
    try:
        lib.nb_noise_draw(ctx, adc, counts)
    finally:
        lib.nb_noise_stop(ctx)
        worker.join()
        photons = lib.nb_noise_close(ctx, state, overloads)
    return photons


def _declare(lib) -> None:
    """Argument and result types of the sampler's entry points."""
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.nb_noise_open.argtypes, lib.nb_noise_open.restype = (ptr, i64, ptr), ptr
    lib.nb_noise_help.argtypes, lib.nb_noise_help.restype = (ptr,), None
    lib.nb_noise_stop.argtypes, lib.nb_noise_stop.restype = (ptr,), None
    lib.nb_noise_draw.argtypes, lib.nb_noise_draw.restype = (ptr, ctypes.c_double, ptr), None
    lib.nb_noise_close.argtypes, lib.nb_noise_close.restype = (ptr, ptr, ptr), ctypes.c_double


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _python_noise(means: list[float], seed: int, adc: float,
                  table: ShuffleTable | None) -> tuple[np.ndarray, float, int]:
    """Noise counts of the means in order, the photon sum and the overload count."""
    poidev = PoissonSampler(Ran1(seed, table)).poidev
    counts = []
    push = counts.append
    photons = 0.0
    overloads = 0
    for mean in means:
        deviate = poidev(mean)
        photons += deviate
        value = deviate + adc
        if value > _MAX_COUNT:
            value = _MAX_COUNT
            overloads += 1
        push(_to_ushort(value))
    return np.asarray(counts, dtype=np.uint16), photons, overloads
