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
from collections.abc import Iterator, Sequence
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
_ONE_THIRD_F32 = f32(1.0 / 3.0)


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


def mosaic_axis_angle(mosaicity: float, rng: Ran1) -> tuple[tuple[float, float, float], float]:
    """Random rotation axis and angle on a spherical cap, as the reference draws them.

    Draws three uniforms: an axis uniform on the sphere and the angle
    ``mosaicity * (1 - r3**2)**(1/3)``, formed in float32 like the reference.

    Args:
        mosaicity: Cap size in radians (rounded to float32 like the reference's
            ``float`` parameter).
        rng: Uniform generator; three deviates are consumed.

    Returns:
        The unit axis ``(v1, v2, v3)`` and the angle (rad).
    """
    r1 = 2.0 * rng.next() - 1.0
    r2 = 2.0 * rng.next() - 1.0
    r3 = 2.0 * rng.next() - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    power = powf(f32(1.0 - r3 * r3), _ONE_THIRD_F32)
    rot = f32(f32(mosaicity) * power)
    return (xyrad * math.sin(math.pi * r1), xyrad * math.cos(math.pi * r1), r2), rot


def axis_angle_matrix(axis: Sequence[float], rot: float) -> np.ndarray:
    """Rotation matrix about a unit axis, in the reference's operation order, (3, 3)."""
    v1, v2, v3 = axis
    c = math.cos(rot)
    s = math.sin(rot)
    omc = 1.0 - c
    omc_v1 = omc * v1
    omc_v1v2 = omc_v1 * v2
    omc_v1v3 = omc_v1 * v3
    omc_v2v3 = omc * v2 * v3
    return np.array(
        [
            [c + omc * (v1 * v1), omc_v1v2 - s * v3, omc_v1v3 + s * v2],
            [omc_v1v2 + s * v3, c + omc * (v2 * v2), omc_v2v3 - s * v1],
            [omc_v1v3 - s * v2, omc_v2v3 + s * v1, c + omc * (v3 * v3)],
        ],
        dtype=np.float64,
    )


def mosaic_rotation_umat(mosaicity: float, rng: Ran1) -> np.ndarray:
    """Random rotation on a spherical cap, exactly as the reference builds it.

    Args:
        mosaicity: Cap size in radians.
        rng: Uniform generator; three deviates are consumed.

    Returns:
        (3, 3) float64 rotation matrix, row-major like the reference's
        ``umat[0..8]`` (``[0, 1]`` is ``uxy``).
    """
    return axis_angle_matrix(*mosaic_axis_angle(mosaicity, rng))


def mosaic_domain_axes(
    spread_rad: float, domains: int, seed: int, table: ShuffleTable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Axes (domains, 3) and angles (domains,) of all mosaic domains; domain 0 has angle 0.

    Domain 0 is the unrotated crystal in the reference, but its three deviates are
    still consumed.

    Args:
        spread_rad: Mosaic spread in radians.
        domains: Number of domains (>= 1).
        seed: The reference's ``mosaic_seed`` idum (default ``-12345678``).
        table: Shared shuffle table (see module docstring); fresh if omitted.
    """
    rng = Ran1(seed, table)
    draws = [mosaic_axis_angle(spread_rad, rng) for _ in range(domains)]
    axes = np.array([axis for axis, _ in draws], dtype=np.float64)
    angles = np.array([rot for _, rot in draws], dtype=np.float64)
    angles[0] = 0.0
    return axes, angles


def mosaic_umats(
    spread_rad: float, domains: int, seed: int, table: ShuffleTable | None = None
) -> np.ndarray:
    """Orientation matrices of all mosaic domains, as the reference makes them.

    Args:
        spread_rad: Mosaic spread in radians.
        domains: Number of domains (>= 1).
        seed: The reference's ``mosaic_seed`` idum (default ``-12345678``).
        table: Shared shuffle table (see module docstring); fresh if omitted.

    Returns:
        (domains, 3, 3) float64 matrices; domain 0 is the identity.
    """
    axes, angles = mosaic_domain_axes(spread_rad, domains, seed, table)
    return np.stack([axis_angle_matrix(a, r) for a, r in zip(axes, angles)])


def _dot3(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _scaled_down(v: list[float], norm: float) -> list[float]:
    """``v / norm`` when ``norm > 0``, else ``v`` unchanged."""
    return [v[0] / norm, v[1] / norm, v[2] / norm] if norm > 0 else v


def _unit_cross(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Normalised ``a x b`` (left unnormalised when it has zero length)."""
    c = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return _scaled_down(c, math.sqrt(_dot3(c, c)))


def umat2misset(umat: np.ndarray | Sequence[float]) -> tuple[float, float, float]:
    """Missetting angles of a rotation matrix, as the reference derives them.

    Rows are normalised, zero rows are rebuilt from cross products of the
    others (twice), rows are normalised again, then XYZ angles are read off.

    Args:
        umat: (3, 3) row-major rotation matrix, or its 9 elements.

    Returns:
        ``(rotx, roty, rotz)`` in radians.
    """
    flat = [float(v) for v in np.asarray(umat, dtype=np.float64).reshape(9)]
    rows = [flat[0:3], flat[3:6], flat[6:9]]
    norms = [math.sqrt(_dot3(r, r)) for r in rows]
    rows = [_scaled_down(r, n) for r, n in zip(rows, norms, strict=True)]
    empty = [n <= 0 for n in norms]
    unit_rows = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    for axis in range(3):
        others = [i for i in range(3) if i != axis]
        if norms[axis] >= 0 and all(empty[i] for i in others):
            for i in others:
                rows[i] = list(unit_rows[i])
    for _ in range(2):
        x_cross_y = _unit_cross(rows[0], rows[1])
        y_cross_z = _unit_cross(rows[1], rows[2])
        z_cross_x = _unit_cross(rows[2], rows[0])
        for i, replacement in enumerate((y_cross_z, z_cross_x, x_cross_y)):
            if empty[i]:
                rows[i] = replacement
    rows = [_scaled_down(r, math.sqrt(_dot3(r, r))) for r in rows]
    (uxx, uxy, _), (uyx, uyy, _), (uzx, uzy, uzz) = rows
    if uzx * uzx < 1.0:
        return (
            math.atan2(uzy, uzz),
            math.atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz)),
            math.atan2(uyx, uxx),
        )
    return (math.atan2(1, 1) * 4, math.atan2(1, 1) * 2, math.atan2(uxy, -uyy))


def random_misset(seed: int, table: ShuffleTable | None = None) -> tuple[float, float, float]:
    """Random crystal orientation for ``-misset random``, as the reference draws it.

    The reference passes a cap size of ``90.0`` to the rotation generator,
    which takes radians, so the cap is "90 radians" rather than 90 degrees;
    kept as is for bit-compatibility.

    Args:
        seed: The reference's ``misset_seed`` idum (negated ``-misset_seed``).
            Note: the reference initialises it from the time-based default
            noise seed before parsing flags, so ``-seed`` does not change it.
        table: Shared shuffle table (see module docstring); fresh if omitted.

    Returns:
        ``(rotx, roty, rotz)`` in radians.
    """
    return umat2misset(mosaic_rotation_umat(90.0, Ran1(seed, table)))
