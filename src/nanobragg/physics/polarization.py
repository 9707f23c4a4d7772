"""Polarization factor of the scattered beam (Kahn's formula as used by the C)."""

from __future__ import annotations

import torch

from .vectors import unit


def polarization_factor(incident: torch.Tensor, diffracted: tuple,
                        axis: torch.Tensor, kahn) -> torch.Tensor:
    """``0.5*(1 + cos^2(2theta) - kahn*cos(2psi)*sin^2(2theta))``.

    psi is the angle of the diffracted ray projected on the plane spanned by the
    incident E-vector (closest to ``axis``) and B = axis x incident. The value is
    computed as the C does; its derivatives come from the equivalent
    ``0.5*(1 + cos^2(2theta) - kahn*(e^2 - b^2))`` (e, b the diffracted direction's
    components along E and B), which is smooth at the direct beam where psi is undefined.

    Args:
        incident: unit incident directions, shape (S, 3).
        diffracted: unit diffracted direction as components ``(x, y, z)``, tensors whose
            shape broadcasts against (S, 1) in the last two axes (e.g. (..., 1, P)).
        axis: unit polarization axis, shape (3,).
        kahn: Kahn factor (scalar or tensor).

    Returns:
        Polarization factor, shape (..., S, P) (the broadcast shape).
    """
    b_in = unit(torch.linalg.cross(axis.expand_as(incident), incident, dim=-1))
    e_in = unit(torch.linalg.cross(incident, b_in, dim=-1))
    cos2t = _dot_with(incident, diffracted)
    e_out = _dot_with(e_in, diffracted)
    b_out = _dot_with(b_in, diffracted)
    sin2t_sqr = 1.0 - cos2t * cos2t
    norm = e_out * e_out + b_out * b_out
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    cos2psi = torch.where(norm > 0, (e_out * e_out - b_out * b_out) / safe, torch.ones_like(norm))
    value = 0.5 * (1.0 + cos2t * cos2t - kahn * cos2psi * sin2t_sqr)
    if not value.requires_grad:
        return value
    smooth = 0.5 * (1.0 + cos2t * cos2t - kahn * (e_out * e_out - b_out * b_out))
    return value.detach() + (smooth - smooth.detach())


def _dot_with(vectors: torch.Tensor, components: tuple) -> torch.Tensor:
    """``v_s . d`` for per-source vectors (S, 3) and direction components (..., 1, P)."""
    x, y, z = components
    return vectors[:, 0, None] * x + vectors[:, 1, None] * y + vectors[:, 2, None] * z
