"""Small vector helpers shared by models and physics."""

from __future__ import annotations

import torch


def unit(v: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the last axis; zero vectors stay zero (as the C ``unitize``).

    Gradient-safe at zero: the division never sees a zero norm.
    """
    norm = v.norm(dim=-1, keepdim=True)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return torch.where(norm > 0, v / safe, torch.zeros_like(v))


def value_of(x) -> float:
    """Plain float of a number or scalar tensor, without touching the autograd graph."""
    if isinstance(x, torch.Tensor):
        return float(x.detach())
    return float(x)
