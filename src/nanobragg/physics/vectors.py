"""Small vector helpers shared by models and physics.

Dot products and norms are written out component by component, in the C program's
order of operations, so that float64 setup values (which feed discrete choices such as
the auto-selected oversample) round exactly as the C's do.
"""

from __future__ import annotations

import torch


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a . b`` over the last axis (size 3), as ``a0*b0 + a1*b1 + a2*b2``."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def norm(v: torch.Tensor) -> torch.Tensor:
    """Euclidean length over the last axis, ``sqrt(x*x + y*y + z*z)``."""
    return dot(v, v).sqrt()


def unit(v: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the last axis; zero vectors stay zero (as the C ``unitize``).

    Gradient-safe at zero: the division never sees a zero norm.
    """
    length = norm(v)[..., None]
    safe = torch.where(length > 0, length, torch.ones_like(length))
    return torch.where(length > 0, v / safe, torch.zeros_like(v))


def value_of(x) -> float:
    """Plain float of a number or scalar tensor, without touching the autograd graph."""
    if isinstance(x, torch.Tensor):
        return float(x.detach())
    return float(x)
