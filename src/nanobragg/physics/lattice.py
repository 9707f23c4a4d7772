"""Lattice transforms (spot shapes) of a finite crystal, with accurate values and gradients.

Miller indices come as a tuple ``(h, k, l)`` of same-shape tensors (one per axis, so
each stays contiguous); results have that shape.

Every removable singularity (``sin(N x)/sin(x)`` at a Bragg peak, the sphere transform
and the square root at the centre of a spot) is evaluated with a series near the
singular point, so that autograd's first and second derivatives stay accurate there in
float32 and float64. Where bit parity with the C program is asked for (``c_formula``),
the value is the C's direct formula and only the derivatives come from the accurate form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: Volume correction between cube and sphere used by the C for round crystals.
ROUND_SCALE = 0.723601254558268
#: The C's Gaussian width and top-hat cut-off (in units of Na*Nb*Nc*|dq|^2).
GAUSS_WIDTH = 0.63
TOPHAT_CUT = 0.3969
#: |pi*d| * max(N, 1) below which sin(N x)/sin(x) is evaluated by its series.
SINCG_SERIES_LIMIT = 0.1
#: Taylor coefficients of sin(u)/u in u^2, and of x/sin(x) in x^2.
_SIN_OVER = (1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800)
_OVER_SIN = (1.0, 1 / 6, 7 / 360, 31 / 15120, 127 / 604800, 73 / 3421440)
#: Taylor coefficients of sinc3 in x^2: 3*(-1)^(k+1)*2k/(2k+1)! for k = 1, 2, ...
_SINC3 = tuple(3.0 * (-1) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 9))
#: x below which sinc3 uses its series (the C's direct formula cancels below it).
SINC3_SERIES_LIMIT = {torch.float64: 0.1, torch.float32: 0.5}


def _polynomial(coefficients, v: torch.Tensor) -> torch.Tensor:
    """``sum c_k v^k`` by Horner's rule."""
    total = torch.full_like(v, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        total = total * v + c
    return total


def _with_c_value(c_value: torch.Tensor, accurate: torch.Tensor) -> torch.Tensor:
    """The C's value with the derivatives (first and higher) of the accurate form.

    ``accurate - accurate.detach()`` is exactly 0 for finite values, so the value keeps
    the C's bits.
    """
    if not accurate.requires_grad:
        return c_value
    return c_value.detach() + (accurate - accurate.detach())


def sincg(h: torch.Tensor, n: torch.Tensor, dtype: torch.dtype | None = None,
          c_formula: bool = False) -> torch.Tensor:
    """``sin(pi*N*h) / sin(pi*h)``, the transform of N unit cells along one axis.

    With ``h = m + d`` (m the nearest integer) it is evaluated as
    ``(-1)^((N0-1)*m) * sin(pi*N*d) / sin(pi*d)`` (N0 = N rounded), with a series for
    small ``N*d``: exact for whole N, and for real N a continuation that is smooth in N
    and h (its square, which is what the image uses, is smooth except where h is a half
    integer). The reduction is done in the precision of ``h`` (float64 in the kernel)
    before the result is cast to ``dtype``, so float32 keeps its accuracy at peaks. The
    series is only needed for the derivatives: without a gradient the closed form (each
    sine rounded once) is used.

    Args:
        h: fractional index, any shape.
        n: number of cells, a scalar tensor, whole or real.
        dtype: precision of the result (default: that of h).
        c_formula: value by the C's direct formula (N at h = 0), which float64 evaluates
            to the C's last digits; derivatives still from the accurate form.

    Returns:
        The lattice factor, shape of h.
    """
    dtype = dtype or h.dtype
    needs_grad = torch.is_grad_enabled() and (h.requires_grad or n.requires_grad)
    if c_formula and not needs_grad:
        return _sincg_direct(h, n).to(dtype)
    m = torch.round(h)
    d = (h - m).to(dtype)
    n = n.to(dtype)
    whole = float(torch.round(n.detach()))
    ratio = sin_ratio(d, n) if needs_grad else _sin_ratio_value(d, n)
    if whole % 2 == 1:  # (-1)^((N0-1)*m) = 1
        accurate = ratio
    else:
        accurate = (1.0 - 2.0 * torch.remainder(m, 2.0)).to(dtype) * ratio
    if c_formula:
        return _with_c_value(_sincg_direct(h, n).to(dtype), accurate)
    return accurate


def _sin_ratio_value(d: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``sin(pi*N*d) / sin(pi*d)`` without its derivatives: accurate in closed form
    (numerator and denominator are each rounded once), N at d = 0."""
    x = math.pi * d
    at_peak = d == 0
    safe = torch.where(at_peak, torch.full_like(x, 0.25), x)
    return torch.where(at_peak, n, torch.sin(n * safe) / torch.sin(safe))


def _sincg_direct(h: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The C's ``sincg(pi*h, N)``: ``sin(N*x)/sin(x)``, N at x = 0."""
    x = math.pi * h.detach()
    n = n.detach().to(x.dtype)
    at_zero = x == 0
    safe = torch.where(at_zero, 0.5, x)
    return torch.where(at_zero, n, torch.sin(n * safe) / torch.sin(safe))


def sin_ratio(d: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``sin(pi*N*d) / sin(pi*d)`` for ``|d| <= 1/2``, N at d = 0, with a series near 0.

    Near 0 it is ``N * [sin(u)/u] * [x/sin(x)]`` (x = pi*d, u = N*x), both factors as
    Taylor polynomials in x^2, so that autograd's derivatives do not cancel.

    Args:
        d: offset from the nearest integer, any shape.
        n: number of cells, broadcastable to d.

    Returns:
        The ratio, shape of d.
    """
    x = math.pi * d
    small = x.abs() * torch.clamp(n.detach(), min=1.0) < SINCG_SERIES_LIMIT
    safe = torch.where(small, torch.full_like(x, 0.25), x)
    closed = torch.sin(n * safe) / torch.sin(safe)
    x_small = torch.where(small, x, torch.zeros_like(x))
    v = x_small * x_small
    series = n * _polynomial(_SIN_OVER, n * n * v) * _polynomial(_OVER_SIN, v)
    return torch.where(small, series, closed)


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """``3*(sin(x)/x - cos(x))/x^2``, the transform of a sphere, with a series near 0."""
    return sinc3_of_square(x * x, x)


def sinc3_of_square(x2: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """sinc3 as a function of ``x^2`` (smooth there, so no square root at the centre).

    Args:
        x2: the squared argument, any shape, >= 0.
        x: the argument itself if known (else ``sqrt(x2)`` where the series is not used).

    Returns:
        sinc3, shape of x2.
    """
    limit = SINC3_SERIES_LIMIT.get(x2.dtype, 0.1)
    small = x2 < limit * limit
    big = torch.where(small, torch.ones_like(x2), x2)
    xs = big.sqrt() if x is None else torch.where(small, torch.ones_like(x), x)
    direct = 3.0 * (torch.sin(xs) / xs - torch.cos(xs)) / (xs * xs)
    series = _polynomial(_SINC3, torch.where(small, x2, torch.zeros_like(x2)))
    return torch.where(small, series, direct)


def square_lattice(hkl: tuple, N: torch.Tensor, dtype: torch.dtype | None = None,
                   c_formula: bool = False) -> list:
    """Parallelepiped crystal: sincg per axis.

    An axis with a fixed N <= 1 is skipped (factor 1, the C rule); an N that requires a
    gradient is always evaluated, so the factor follows it smoothly through N = 1.

    Args:
        hkl: fractional indices ``(h, k, l)``, tensors of one shape (float64 in the kernel).
        N: cells per axis, shape (3,).
        dtype: precision of the factors (default: that of the indices).
        c_formula: the C's direct formula for the values (see :func:`sincg`).

    Returns:
        Three per-axis factors of that shape, None for a skipped axis (factor 1).
    """
    fixed = N.detach().tolist()
    return [sincg(hkl[axis], N[axis], dtype, c_formula)
            if N.requires_grad or fixed[axis] > 1 else None for axis in range(3)]


def round_lattice(dhkl: tuple, N: torch.Tensor, fudge) -> torch.Tensor:
    """Ellipsoidal crystal: ``Na*Nb*Nc*0.7236*sinc3(pi*sqrt(sum (dh*N)^2 * fudge))``.

    Args:
        dhkl: offsets ``(dh, dk, dl)`` from the nearest integer indices.
        N: cells per axis, shape (3,).
        fudge: scale of the radius.
    """
    dh, dk, dl = dhkl
    hrad_sqr = dh * dh * N[0] * N[0] + dk * dk * N[1] * N[1] + dl * dl * N[2] * N[2]
    arg = hrad_sqr * fudge
    positive = arg > 0
    safe = torch.where(positive, arg, torch.ones_like(arg))
    x = math.pi * torch.where(positive, safe.sqrt(), torch.zeros_like(arg))
    return N.prod() * ROUND_SCALE * sinc3_of_square(math.pi * math.pi * arg, x)


def reciprocal_distance_sqr(dhkl: tuple, recip_rows: torch.Tensor,
                            N: torch.Tensor) -> torch.Tensor:
    """``|dh*a* + dk*b* + dl*c*|^2 * (Na*Nb*Nc)^2`` with a*, b*, c* (rows) in 1/Angstrom."""
    dh, dk, dl = dhkl
    total = None
    for c in range(3):
        dq = dh * recip_rows[0, c] + dk * recip_rows[1, c] + dl * recip_rows[2, c]
        total = dq * dq if total is None else total + dq * dq
    return total * (N[0] * N[0] * N[1] * N[1] * N[2] * N[2])


def gauss_lattice(rad_star_sqr: torch.Tensor, N: torch.Tensor, fudge) -> torch.Tensor:
    """Gaussian spots: ``Na*Nb*Nc*exp(-rad_star_sqr/0.63*fudge)``."""
    return N.prod() * torch.exp(-(rad_star_sqr / GAUSS_WIDTH * fudge))


def tophat_lattice(rad_star_sqr: torch.Tensor, N: torch.Tensor, fudge) -> torch.Tensor:
    """Flat-top spots of the same height: ``Na*Nb*Nc`` inside the cut-off, else 0."""
    inside = rad_star_sqr * fudge < TOPHAT_CUT
    return torch.where(inside, N.prod(), torch.zeros_like(rad_star_sqr))


@dataclass(frozen=True)
class LatticeParams:
    """What a lattice shape needs besides the Miller indices.

    Attributes:
        N: cells per axis, shape (3,).
        fudge: scale of the spot radius (round, gauss and tophat shapes).
        recip_rows: a*, b*, c* (1/Angstrom) as rows, shape (3, 3) (gauss and tophat).
        dtype: precision of the factors.
        c_formula: the C's direct formula for the values (bit parity; the square shape
            in float64 only, the round shape in both precisions).
    """

    N: torch.Tensor
    fudge: torch.Tensor | float
    recip_rows: torch.Tensor
    dtype: torch.dtype
    c_formula: bool = False


#: ``factor(hkl, hkl0, params) -> (F_latt, per-axis factors or None)``.
ShapeFactor = Callable[[tuple, "tuple | None", LatticeParams], tuple]


@dataclass(frozen=True)
class LatticeShape:
    """One crystal shape: how F_latt follows from the fractional Miller indices.

    Attributes:
        name: the shape's name (``CrystalConfig.shape``).
        factor: ``(hkl, hkl0, params) -> (F_latt, axes)``; hkl are the fractional indices
            (float64), hkl0 the nearest integers (None unless ``needs_nearest``); axes
            is the list of three per-axis factors (None for a skipped axis) or None.
        needs_nearest: the factor uses the offsets from the nearest integer indices.
        per_axis: F_latt is the product of three per-axis factors (traced per axis).
    """

    name: str
    factor: ShapeFactor
    needs_nearest: bool
    per_axis: bool


def _offsets(hkl: tuple, hkl0: tuple, dtype: torch.dtype) -> tuple:
    """Offsets from the nearest integer indices, taken in float64, then in ``dtype``."""
    return tuple((h - h0).to(dtype) for h, h0 in zip(hkl, hkl0))


def _square_factor(hkl: tuple, hkl0, p: LatticeParams) -> tuple:
    axes = square_lattice(hkl, p.N, p.dtype, p.c_formula and p.dtype == torch.float64)
    present = [a for a in axes if a is not None]
    F_latt = present[0] if present else torch.ones_like(hkl[0], dtype=p.dtype)
    for factor in present[1:]:
        F_latt = F_latt * factor
    return F_latt, axes


def _round_factor(hkl: tuple, hkl0: tuple, p: LatticeParams) -> tuple:
    accurate = round_lattice(_offsets(hkl, hkl0, p.dtype), p.N, p.fudge)
    if not p.c_formula:
        return accurate, None
    c_value = round_lattice_direct(_offsets(hkl, hkl0, torch.float64), p.N, p.fudge)
    return _with_c_value(c_value.to(p.dtype), accurate), None


def round_lattice_direct(dhkl: tuple, N: torch.Tensor, fudge) -> torch.Tensor:
    """The C's round-crystal arithmetic in float64 (values only, no derivatives):
    ``Na*Nb*Nc*0.7236*sinc3(pi*sqrt(hrad_sqr*fudge))`` with the C's direct ``sinc3``,
    1 at 0 and ``3*(sin(x)/x - cos(x))/(x*x)`` elsewhere, which cancels to 0 (or a few
    ulps) for tiny x, as at the direct beam of an N = 1 crystal."""
    dh, dk, dl = (d.detach().to(torch.float64) for d in dhkl)
    n = [float(v) for v in N.detach().to(torch.float64)]
    fudge = float(fudge.detach()) if isinstance(fudge, torch.Tensor) else float(fudge)
    hrad_sqr = dh * dh * n[0] * n[0] + dk * dk * n[1] * n[1] + dl * dl * n[2] * n[2]
    x = math.pi * torch.sqrt(hrad_sqr * fudge)
    at_zero = x == 0
    safe = torch.where(at_zero, torch.ones_like(x), x)
    direct = 3.0 * (torch.sin(safe) / safe - torch.cos(safe)) / (safe * safe)
    value = torch.where(at_zero, torch.ones_like(x), direct)
    return n[0] * n[1] * n[2] * ROUND_SCALE * value


def _gauss_factor(hkl: tuple, hkl0: tuple, p: LatticeParams) -> tuple:
    rad = reciprocal_distance_sqr(_offsets(hkl, hkl0, p.dtype), p.recip_rows, p.N)
    return gauss_lattice(rad, p.N, p.fudge), None


def _tophat_factor(hkl: tuple, hkl0: tuple, p: LatticeParams) -> tuple:
    rad = reciprocal_distance_sqr(_offsets(hkl, hkl0, p.dtype), p.recip_rows, p.N)
    return tophat_lattice(rad, p.N, p.fudge), None


#: Every lattice shape by name; adding a shape is one entry here (plus its factor).
SHAPES: dict[str, LatticeShape] = {
    "square": LatticeShape("square", _square_factor, needs_nearest=False, per_axis=True),
    "round": LatticeShape("round", _round_factor, needs_nearest=True, per_axis=False),
    "gauss": LatticeShape("gauss", _gauss_factor, needs_nearest=True, per_axis=False),
    "tophat": LatticeShape("tophat", _tophat_factor, needs_nearest=True, per_axis=False),
}


def lattice_shape(name: str) -> LatticeShape:
    """The shape called ``name``.

    Raises:
        ValueError: no such shape (the message lists the known ones).
    """
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"crystal.shape: unknown lattice shape {name!r}; "
                         f"known: {', '.join(SHAPES)}") from None
