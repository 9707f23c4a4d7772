"""Bit-compatible port of the reference program's random-number machinery.

The reference draws every random number from the Numerical-Recipes ``ran1``
generator (Park-Miller "minimal standard" multiplier with a 32-entry
Bays-Durham shuffle) and builds Poisson/Gaussian deviates and random
rotation matrices on top of it, mixing single (``float``) and double
precision.  This module reproduces those values exactly: every place where
the reference rounds to single precision is rounded to float32 here too, so
the same seed gives the same numbers.

Seeds are the reference's internal ``idum`` values, i.e. the *negated*
command-line value: ``-seed 12345`` means ``idum = -12345``; the default
``mosaic_seed`` is ``-12345678``.

Shared state in the reference (what :class:`ShuffleTable` models):

* ``ran1`` keeps its shuffle table (``iy`` and ``iv[32]``) in function-static
  storage, one per process, while each caller passes its own ``idum``
  variable.  A call re-initialises the table whenever the caller's
  ``idum <= 0`` (or the table was never filled), and afterwards the caller's
  ``idum`` is positive.  The program's three users (random misset, mosaic
  domains, noise image; in that order) each start from a seed variable that
  is ``<= 0`` for the usual non-negative command-line seeds, so each of them
  starts from a freshly loaded table and behaves like an independent
  generator.  Only when a seed flag is given a *negative* value (making
  ``idum`` positive) does that user continue with the table the previous
  user left behind; if no earlier user filled the table, a positive ``idum``
  is replaced by 1.  Pass one :class:`ShuffleTable` to consecutive
  generators to reproduce that; the default (a private table) is correct
  for ``idum <= 0``.
* ``poidev`` caches values derived from the last mean and ``gaussdev`` keeps
  a spare deviate, both process-wide.  Only the noise image uses them, so a
  fresh :class:`PoissonSampler` per noise image matches the reference.
  The ``poidev`` cache only saves work; it never changes a result.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

IA = 16807
IM = 2147483647
IQ = 127773
IR = 2836
NTAB = 32
NDIV = 1 + (IM - 1) // NTAB
AM = 1.0 / IM
RNMX = 1.0 - 1.2e-7

_WARMUP = 8  # steps discarded before the shuffle table is filled
_FILL_CHUNK = 16384
_SAMPLER_BLOCK = 4096
_GAMMLN_COF = (
    76.18009172947146,
    -86.50532032941677,
    24.01409824083091,
    -1.231739572450155,
    0.1208650973866179e-2,
    -0.5395239384953e-5,
)
_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """Round a double to the nearest float32 (ties to even), as a C cast does.

    Args:
        x: Any Python float.

    Returns:
        The float32 value, held in a Python float (+-inf beyond float32 range).
    """
    try:
        return _F32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


_RNMX_F32 = f32(RNMX)


def _schrage_step(idum: int) -> int:
    """One Park-Miller step ``IA * idum mod IM`` via Schrage's factorisation."""
    k = idum // IQ
    idum = IA * (idum - k * IQ) - IR * k
    return idum + IM if idum < 0 else idum


def _uniform_from_iy(iy: int) -> float:
    """Map a shuffle-table output to the float32 value ``ran1`` returns."""
    temp = f32(AM * iy)
    return _RNMX_F32 if temp > RNMX else temp


@dataclass
class ShuffleTable:
    """The Bays-Durham shuffle state that ``ran1`` keeps in static storage.

    Attributes:
        iy: Last output of the table; 0 means "never loaded".
        iv: The 32 shuffle slots.
    """

    iy: int = 0
    iv: list[int] = field(default_factory=lambda: [0] * NTAB)


class Ran1:
    """The reference ``ran1`` uniform generator on (0, 1).

    Args:
        seed: The reference's ``idum`` (negated command-line seed). ``idum <= 0``
            (re)loads the shuffle table from ``-idum`` (0 is used as 1); a
            positive ``idum`` continues ``table``, or starts from 1 if that
            table was never loaded.
        table: Shuffle table shared with earlier generators, modelling the
            reference's static table; a private fresh one if omitted.

    Attributes:
        idum: Current Park-Miller state (the reference's seed variable).
        table: The shuffle table in use.
    """

    def __init__(self, seed: int, table: ShuffleTable | None = None) -> None:
        self.idum = int(seed)
        self.table = ShuffleTable() if table is None else table

    def _load_table(self) -> None:
        """Seed the generator and fill the shuffle table, as on first use."""
        idum = 1 if -self.idum < 1 else -self.idum
        iv = self.table.iv
        for j in range(NTAB + _WARMUP - 1, -1, -1):
            idum = _schrage_step(idum)
            if j < NTAB:
                iv[j] = idum
        self.idum = idum
        self.table.iy = iv[0]

    def next(self) -> float:
        """Draw one uniform deviate.

        Returns:
            The float32 value the reference returns, as a Python float in
            (0, 1 - 1.2e-7] (0.0 only once for the degenerate seed ``-IM``).
        """
        table = self.table
        if self.idum <= 0 or not table.iy:
            self._load_table()
        self.idum = _schrage_step(self.idum)
        j = table.iy // NDIV
        table.iy = table.iv[j]
        table.iv[j] = self.idum
        return _uniform_from_iy(table.iy)

    def _can_jump(self) -> bool:
        """Whether the state is regular, so that steps are plain products."""
        table = self.table
        return 0 < self.idum < IM and table.iy > 0 and min(table.iv) > 0

    def fill(self, n: int) -> list[float]:
        """Draw ``n`` deviates at once; same values and final state as ``n`` ``next()``.

        Args:
            n: Number of deviates.

        Returns:
            List of ``n`` float32 values as Python floats.
        """
        out: list[float] = []
        while len(out) < n and not self._can_jump():
            out.append(self.next())
        while len(out) < n:
            out.extend(self._fill_regular(min(n - len(out), _FILL_CHUNK)))
        return out

    def _fill_regular(self, n: int) -> list[float]:
        """Vectorised draw of ``n <= _FILL_CHUNK`` deviates from a regular state."""
        idums = (_ia_powers()[:n] * self.idum) % IM
        iv = self.table.iv
        iy = self.table.iy
        outputs = []
        push = outputs.append
        for idum in idums.tolist():
            j = iy // NDIV
            iy = iv[j]
            iv[j] = idum
            push(iy)
        self.table.iy = iy
        self.idum = int(idums[-1])
        values = (np.asarray(outputs, dtype=np.float64) * AM).astype(np.float32)
        values[values.astype(np.float64) > RNMX] = _RNMX_F32
        return values.tolist()


@functools.cache
def _ia_powers() -> np.ndarray:
    """``IA**k mod IM`` for ``k = 1 .. _FILL_CHUNK`` as int64 (computed once)."""
    powers = np.empty(_FILL_CHUNK, dtype=np.int64)
    value = 1
    for k in range(_FILL_CHUNK):
        value = value * IA % IM
        powers[k] = value
    return powers


def gammln(xx: float) -> float:
    """Natural log of the gamma function, Lanczos form, as in the reference.

    Args:
        xx: Argument (> 0); rounded to float32 like the reference's parameter.

    Returns:
        ``ln Gamma(xx)`` rounded to float32 (computed in double inside).
    """
    x = y = f32(xx)
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for cof in _GAMMLN_COF:
        y += 1.0
        ser += cof / y
    return f32(-tmp + math.log(2.5066282746310005 * ser / x))


def _floor(x: float) -> float:
    """``floor`` that passes NaN through, like C."""
    return float(math.floor(x)) if x == x else x


def _exp_neg_f32(x: float) -> float:
    """``(float) exp(-x)``, giving inf instead of raising on overflow."""
    try:
        return f32(math.exp(-x))
    except OverflowError:
        return math.inf


class PoissonSampler:
    """Poisson and Gaussian deviates exactly as the reference's noise stage.

    Holds the reference's process-wide ``poidev``/``gaussdev`` state: the
    cached quantities for the last mean and the spare Box-Muller deviate.
    It draws uniforms from ``rng`` in blocks, so ``rng`` must not be used
    directly once it is handed to a sampler.

    Args:
        rng: Uniform generator (seeded with the noise ``idum``).
    """

    def __init__(self, rng: Ran1) -> None:
        self._uniform = self._stream(rng).__next__
        self._spare: float | None = None
        self._oldm = -1.0
        self._g = 0.0
        self._sq = 0.0
        self._alxm = 0.0
        self._buf = array("f", [0.0])

    @staticmethod
    def _stream(rng: Ran1) -> Iterator[float]:
        """Endless stream of ``ran1`` deviates drawn in blocks."""
        while True:
            yield from rng.fill(_SAMPLER_BLOCK)

    def uniform(self) -> float:
        """Next ``ran1`` deviate (float32 value)."""
        return self._uniform()

    def gaussdev(self) -> float:
        """Standard normal deviate (polar Box-Muller, float32 arithmetic).

        Returns:
            float32 value; every second call returns the cached spare.
        """
        if self._spare is not None:
            spare, self._spare = self._spare, None
            return spare
        uniform = self._uniform
        while True:
            v1 = f32(2.0 * uniform() - 1.0)
            v2 = f32(2.0 * uniform() - 1.0)
            rsq = f32(f32(v1 * v1) + f32(v2 * v2))
            if rsq < 1.0 and rsq != 0.0:
                break
        fac = f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
        self._spare = f32(v1 * fac)
        return f32(v2 * fac)

    def poidev(self, xm: float) -> float:
        """Poisson deviate with mean ``xm`` (photons), as the reference draws it.

        Means below 12 use the product-of-uniforms method, means up to 1e6 the
        Lorentzian rejection method, larger means ``xm + sqrt(xm) * gauss``.

        Args:
            xm: Mean; rounded to float32 like the reference's parameter.

        Returns:
            The deviate as a float32 value (integral except in the Gaussian
            regime; NaN for a NaN mean).
        """
        buf = self._buf
        buf[0] = xm
        xm = buf[0]
        if xm > 1.0e6:
            return f32(xm + math.sqrt(xm) * self.gaussdev())
        if xm < 12.0:
            return self._poidev_direct(xm)
        return self._poidev_rejection(xm)

    def _poidev_direct(self, xm: float) -> float:
        """Count uniforms until their float32 running product drops to exp(-xm)."""
        if xm != self._oldm:
            self._oldm = xm
            self._g = _exp_neg_f32(xm)
        g = self._g
        uniform = self._uniform
        buf = self._buf
        em = -1.0
        t = 1.0
        while True:
            em += 1.0
            buf[0] = t * uniform()
            t = buf[0]
            if not t > g:
                return em

    def _poidev_rejection(self, xm: float) -> float:
        """Rejection sampling against a Lorentzian, float32 like the reference."""
        if xm != self._oldm:
            self._oldm = xm
            self._sq = f32(math.sqrt(2.0 * xm))
            self._alxm = f32(math.log(xm))
            self._g = f32(f32(xm * self._alxm) - gammln(xm + 1.0))
        sq, alxm, g = self._sq, self._alxm, self._g
        uniform = self._uniform
        while True:
            while True:
                y = f32(math.tan(math.pi * uniform()))
                em = f32(f32(sq * y) + xm)
                if not em < 0.0:
                    break
            em = _floor(em)
            log_ratio = f32(f32(f32(em * alxm) - gammln(em + 1.0)) - g)
            t = f32(0.9 * (1.0 + f32(y * y)) * math.exp(log_ratio))
            if not uniform() > t:
                return em


@functools.lru_cache(maxsize=1)
def _c_powf():
    """The C math library's single-precision ``powf``, or None where it cannot be loaded."""
    try:
        name = ctypes.util.find_library("m")
        function = (ctypes.CDLL(name) if name else ctypes.CDLL(None)).powf
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_float
    function.argtypes = (ctypes.c_float, ctypes.c_float)
    return function


def powf(x: float, y: float) -> float:
    """C ``powf(x, y)`` on float32 arguments, from the C math library itself.

    glibc's ``powf`` is not correctly rounded: for x in [0, 1] and y = float(1/3) it
    differs from the correctly rounded power in the last bit for 679522 of the
    1065353217 float32 inputs, so a double ``pow`` rounded to float32 cannot stand in
    for it. Where no C math library can be loaded, that rounded double power is used.

    Args:
        x, y: float32 values (held in Python floats).

    Returns:
        The float32 result, held in a Python float.
    """
    function = _c_powf()
    if function is None:
        return f32(math.pow(x, y))
    return float(function(x, y))
