"""The random stages of a detector response, bit-compatible with the reference noisify.

Two seed variables draw from one ``ran1`` shuffle table (:mod:`nanobragg.models.rng`): the
shot seed (beam flicker, Poisson counts, read-out noise) and the calibration seed
(the per-pixel calibration error). All Gaussian draws share one Box-Muller spare, so
which seed variable a Gaussian consumes depends on the order of the draws, exactly as
in the reference. A :class:`DetectorNoiseState` carries that shared state from one
stage to the next.

The compiled library (:mod:`nanobragg.native.build`) runs the stages when a compiler is
available; the pure-Python twins give the same numbers, slowly.
"""

from __future__ import annotations

import ctypes
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from nanobragg.models.rng import NTAB, Ran1, ShuffleTable, f32, gammln

from ..native import build

_STATE = 37
_MAX16, _MAX32 = 65535.0, 2147483647.0


@dataclass
class DetectorNoiseState:
    """The reference's random state between the stages.

    Attributes:
        shot: idum of the shot seed (negated ``-seed``).
        calibration: idum of the calibration seed (negated ``-calib_seed``; the
            reference's default is the positive 123456789).
        table: the shared shuffle table.
        spare: the Gaussian spare deviate, None when none is held.
    """

    shot: int
    calibration: int = 123456789
    table: ShuffleTable = field(default_factory=ShuffleTable)
    spare: float | None = None

    def packed(self) -> np.ndarray:
        """The state as the compiled stages read it (int64, 37 entries)."""
        bits = struct.unpack("<I", struct.pack("<f", self.spare or 0.0))[0]
        return np.array([self.shot, self.calibration, self.table.iy, *self.table.iv,
                         int(self.spare is not None), bits], dtype=np.int64)

    def unpack(self, state: np.ndarray) -> None:
        """Take back the state the compiled stages wrote."""
        self.shot, self.calibration, self.table.iy = (int(v) for v in state[:3])
        self.table.iv[:] = [int(v) for v in state[3:3 + NTAB]]
        spare = struct.unpack("<f", struct.pack("<I", int(state[36]) & 0xFFFFFFFF))[0]
        self.spare = spare if state[35] else None


def photon_counts(photons: np.ndarray, flicker: float, calibration: float,
                  state: DetectorNoiseState) -> tuple[np.ndarray, float]:
    """Flicker, calibration error and seeded Poisson counts, pixel by pixel in C order.

    Args:
        photons: (slow, fast) expected photons per pixel, float32.
        flicker: fractional beam flicker (Gaussian, shot seed); 0 turns it off.
        calibration: fractional per-pixel calibration error (calibration seed); 0 off.
        state: random state, advanced in place.

    Returns:
        ``(counts, total)``: float32 counts of the same shape and their sum (double).
    """
    means = np.ascontiguousarray(photons, dtype=np.float32)
    lib = build.load()
    if lib is None:
        counts, total = _python_counts(means.ravel().tolist(), flicker, calibration, state)
        return np.asarray(counts, dtype=np.float32).reshape(means.shape), total
    counts = np.empty_like(means)
    packed = state.packed()
    total = lib.nb_dn_counts(_ptr(means), ctypes.c_int64(means.size),
                             ctypes.c_double(flicker), ctypes.c_double(calibration),
                             _ptr(packed), _ptr(counts))
    state.unpack(packed)
    return counts, float(total)


def readout(photons: np.ndarray, gain: float, adc: float, noise: float, bits: int,
            state: DetectorNoiseState) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Detector units of a photon image: gain, offset, read-out noise, clipping.

    Args:
        photons: (slow, fast) photon signal, float32.
        gain: ADU per photon.
        adc: offset added to every pixel (ADU).
        noise: read-out noise (ADU rms, Gaussian on the shot seed); 0 turns it off.
        bits: 16 or 32, the width whose clipped pixels count as overloads.
        state: random state, advanced in place.

    Returns:
        ``(pixels16, pixels32, total, overloads)``: uint16 and uint32 images (clipped
        at 65535 and 2147483647, converted like the reference build), the sum of the
        photon signal and the number of overloads.
    """
    signal = np.ascontiguousarray(photons, dtype=np.float32)
    lib = build.load()
    if lib is None:
        return _python_readout(signal, gain, adc, noise, bits, state)
    out16 = np.empty(signal.shape, dtype=np.uint16)
    out32 = np.empty(signal.shape, dtype=np.uint32)
    packed = state.packed()
    overloads = ctypes.c_int64(0)
    total = lib.nb_dn_readout(_ptr(signal), ctypes.c_int64(signal.size),
                              ctypes.c_double(gain), ctypes.c_double(adc),
                              ctypes.c_double(noise), ctypes.c_int64(bits), _ptr(packed),
                              _ptr(out16), _ptr(out32), ctypes.byref(overloads))
    state.unpack(packed)
    return out16, out32, float(total), int(overloads.value)


def noiseless_pixels(photons: np.ndarray, gain: float, adc: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The reference's noiseless int images: both widths clipped at 65535.

    Returns:
        ``(pixels16, pixels32)`` of the (slow, fast) float32 ``photons``.
    """
    adu = photons.astype(np.float64) * gain + adc
    adu = np.minimum(np.minimum(adu, _MAX32), _MAX16)
    return to_uint16(adu), to_uint32(adu)


def to_uint16(adu: np.ndarray) -> np.ndarray:
    """``(unsigned short)`` of doubles as the reference build converts (via int32)."""
    ok = adu > -2147483649.0
    return np.where(ok, np.trunc(np.where(ok, adu, 0.0)), 0.0).astype(np.int64).astype(
        np.uint16)


def to_uint32(adu: np.ndarray) -> np.ndarray:
    """``(unsigned int)`` of doubles as the reference build converts (via int64)."""
    ok = (adu > -9.223372036854775808e18) & (adu < 9.223372036854775808e18)
    return np.where(ok, np.trunc(np.where(ok, adu, 0.0)), 0.0).astype(np.int64).astype(
        np.uint32)


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return array.ctypes.data_as(ctypes.c_void_p)


class _Draws:
    """Pure-Python twin of the compiled stages' generator (two seeds, one table)."""

    def __init__(self, state: DetectorNoiseState) -> None:
        self.state = state
        self.rngs = (Ran1(state.shot, state.table), Ran1(state.calibration, state.table))

    def close(self) -> None:
        self.state.shot, self.state.calibration = self.rngs[0].idum, self.rngs[1].idum

    def gauss(self, which: int) -> float:
        state = self.state
        if state.spare is not None:
            spare, state.spare = state.spare, None
            return spare
        uniform = self.rngs[which].next
        while True:
            v1 = f32(2.0 * uniform() - 1.0)
            v2 = f32(2.0 * uniform() - 1.0)
            rsq = f32(f32(v1 * v1) + f32(v2 * v2))
            if rsq < 1.0 and rsq != 0.0:
                break
        fac = f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
        state.spare = f32(v1 * fac)
        return f32(v2 * fac)

    def poisson(self, xm: float) -> float:
        xm = f32(xm)
        if xm > 1.0e6:
            return f32(xm + math.sqrt(xm) * self.gauss(0))
        uniform = self.rngs[0].next
        if xm < 12.0:
            g = f32(math.exp(-xm))
            em, t = -1.0, 1.0
            while True:
                em += 1.0
                t = f32(t * uniform())
                if not t > g:
                    return em
        sq, alxm = f32(math.sqrt(2.0 * xm)), f32(math.log(xm))
        g = f32(f32(xm * alxm) - gammln(xm + 1.0))
        while True:
            while True:
                y = f32(math.tan(math.pi * uniform()))
                em = f32(f32(sq * y) + xm)
                if not em < 0.0:
                    break
            em = float(math.floor(em))
            ratio = f32(f32(f32(em * alxm) - gammln(em + 1.0)) - g)
            t = f32(0.9 * (1.0 + f32(y * y)) * math.exp(ratio))
            if not uniform() > t:
                return em


def _python_counts(means: list[float], flicker: float, calibration: float,
                   state: DetectorNoiseState) -> tuple[list[float], float]:
    draws = _Draws(state)
    counts, total = [], 0.0
    for mean in means:
        photons0 = mean
        if flicker > 0.0:
            photons0 *= 1.0 + flicker * draws.gauss(0)
        if calibration > 0.0:
            photons0 *= 1.0 + calibration * draws.gauss(1)
        count = draws.poisson(photons0)
        counts.append(count)
        total += count
    draws.close()
    return counts, total


def _python_readout(signal: np.ndarray, gain: float, adc: float, noise: float, bits: int,
                    state: DetectorNoiseState) -> tuple[np.ndarray, np.ndarray, float, int]:
    adu = signal.astype(np.float64).ravel() * gain + adc
    if noise > 0.0:
        draws = _Draws(state)
        adu = adu + noise * np.array([draws.gauss(0) for _ in range(adu.size)])
        draws.close()
    over32 = adu > _MAX32
    adu = np.minimum(adu, _MAX32)
    pixels32 = to_uint32(adu)
    over16 = adu > _MAX16
    pixels16 = to_uint16(np.minimum(adu, _MAX16))
    overloads = int((over32 if bits == 32 else over16).sum()) if bits in (16, 32) else 0
    total = float(sum(signal.astype(np.float64).ravel().tolist()))  # in order, like the C
    shape = signal.shape
    return pixels16.reshape(shape), pixels32.reshape(shape), total, overloads
