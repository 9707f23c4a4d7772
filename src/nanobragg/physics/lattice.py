"""Lattice transforms (spot shapes) of a finite crystal, gradient-safe.

Miller indices come as a tuple ``(h, k, l)`` of same-shape tensors (one per axis, so
each stays contiguous); results have that shape.
"""

from __future__ import annotations

import math

import torch

from ..vectors import value_of

#: Volume correction between cube and sphere used by the C for round crystals.
ROUND_SCALE = 0.723601254558268
#: The C's Gaussian width and top-hat cut-off (in units of Na*Nb*Nc*|dq|^2).
GAUSS_WIDTH = 0.63
TOPHAT_CUT = 0.3969


def sincg(h: torch.Tensor, n: torch.Tensor, reduced: bool = True) -> torch.Tensor:
    """``sin(pi*N*h) / sin(pi*h)``, the transform of N unit cells along one axis.

    With ``reduced`` the argument is reduced so that float32 keeps its accuracy next to
    Bragg peaks: with ``h = m + d`` (m the nearest integer) and ``N*m mod 2 = q + r``
    (q in {0, 1}, 0 <= r < 1; r = 0 for whole N) the value is
    ``(-1)^(q+m) * sin(pi*(r + N*d)) / sin(pi*d)``, and ``(-1)^(q+m) * N * cos(pi*r)`` at
    ``d = 0``; same sign as the direct formula. Without it the C's direct formula is used
    (N at h = 0), which float64 evaluates to the C's last digits.

    Args:
        h: fractional index, any shape.
        n: number of cells (broadcastable to h).
        reduced: use the argument-reduced form.

    Returns:
        The lattice factor, shape of h.
    """
    if not reduced:
        x = math.pi * h
        at_zero = x == 0
        safe = torch.where(at_zero, 0.5, x)
        return torch.where(at_zero, n.to(x.dtype), torch.sin(n * safe) / torch.sin(safe))
    m = torch.round(h)
    d = h - m
    if _fixed_whole_number(n):
        return _sincg_whole(m, d, n)
    phase = torch.remainder(n * m, 2.0)
    whole = torch.floor(phase)
    frac = phase - whole
    sign = (1.0 - 2.0 * whole) * (1.0 - 2.0 * torch.remainder(m, 2.0))
    at_peak = d == 0
    safe_d = torch.where(at_peak, 0.25, d)
    ratio = sign * torch.sin(math.pi * (frac + n * safe_d)) / torch.sin(math.pi * safe_d)
    limit = sign * n * torch.cos(math.pi * frac)
    return torch.where(at_peak, limit, ratio)


def _fixed_whole_number(n: torch.Tensor) -> bool:
    """True for a whole number of cells that needs no gradient."""
    return not n.requires_grad and value_of(n) == round(value_of(n))


def _sincg_whole(m: torch.Tensor, d: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Reduced sincg for whole N: ``(-1)^((N-1)*m) * sin(pi*N*d) / sin(pi*d)``."""
    at_peak = d == 0
    safe_d = torch.where(at_peak, 0.25, d)
    ratio = torch.sin((math.pi * n) * safe_d) / torch.sin(math.pi * safe_d)
    if round(value_of(n)) % 2 == 1:
        return torch.where(at_peak, n.to(d.dtype), ratio)
    sign = 1.0 - 2.0 * (m - 2.0 * torch.floor(0.5 * m))
    return sign * torch.where(at_peak, n.to(d.dtype), ratio)


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """``3*(sin(x)/x - cos(x))/x^2``, the transform of a sphere, with a series near 0."""
    small = x.abs() < 0.1
    xs = torch.where(small, torch.ones_like(x), x)
    direct = 3.0 * (torch.sin(xs) / xs - torch.cos(xs)) / (xs * xs)
    x2 = torch.where(small, x * x, torch.zeros_like(x))
    series = 1.0 - x2 / 10.0 + x2 * x2 / 280.0 - x2 * x2 * x2 / 15120.0
    return torch.where(small, series, direct)


def square_lattice(hkl: tuple, N: torch.Tensor, reduced: bool = True) -> list:
    """Parallelepiped crystal: sincg per axis; an axis with N <= 1 is skipped (C rule).

    Args:
        hkl: fractional indices ``(h, k, l)``, tensors of one shape.
        N: cells per axis, shape (3,).
        reduced: argument-reduced sincg (see :func:`sincg`).

    Returns:
        Three per-axis factors of that shape, None for a skipped axis (factor 1).
    """
    return [sincg(hkl[axis], N[axis], reduced) if value_of(N[axis]) > 1 else None
            for axis in range(3)]


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
    safe = torch.where(arg > 0, arg, torch.ones_like(arg))
    radius = torch.where(arg > 0, safe.sqrt(), torch.zeros_like(arg))
    return N.prod() * ROUND_SCALE * sinc3(math.pi * radius)


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
