"""Polarization factor of the scattered beam (Kahn's formula as used by the C)."""

from __future__ import annotations

import torch

from ..vectors import dot, unit


def polarization_factor(incident: torch.Tensor, diffracted: torch.Tensor,
                        axis: torch.Tensor, kahn) -> torch.Tensor:
    """``0.5*(1 + cos^2(2theta) - kahn*cos(2psi)*sin^2(2theta))``.

    psi is the angle of the diffracted ray projected on the plane spanned by the
    incident E-vector (closest to ``axis``) and B = axis x incident.

    Args:
        incident: unit incident directions, shape (..., 3).
        diffracted: unit diffracted directions, shape (..., 3) (broadcastable).
        axis: unit polarization axis, shape (3,).
        kahn: Kahn factor (scalar or tensor).

    Returns:
        Polarization factor, broadcast shape without the last axis.
    """
    cos2t = dot(incident, diffracted)
    sin2t_sqr = 1.0 - cos2t * cos2t
    b_in = unit(torch.linalg.cross(axis.expand_as(incident), incident, dim=-1))
    e_in = unit(torch.linalg.cross(incident, b_in, dim=-1))
    e_out = dot(diffracted, e_in)
    b_out = dot(diffracted, b_in)
    norm = e_out * e_out + b_out * b_out
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    cos2psi = torch.where(norm > 0, (e_out * e_out - b_out * b_out) / safe, torch.ones_like(norm))
    return 0.5 * (1.0 + cos2t * cos2t - kahn * cos2psi * sin2t_sqr)

