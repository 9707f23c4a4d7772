"""Rotations of 3-vectors, written as tensor functions (differentiable, batched).

Vectors are tensors of shape ``(..., 3)``; angles are tensors (or floats) in radians.
The formulas follow the C program's operation order so float64 results round alike.
"""

from __future__ import annotations

import torch

from ..physics.vectors import dot


def rotate_xyz(v: torch.Tensor, rx, ry, rz) -> torch.Tensor:
    """Rotate about lab x, then y, then z (right-handed, extrinsic), as the C ``rotate``.

    Args:
        v: vectors, shape (..., 3).
        rx, ry, rz: angles (rad), scalars or tensors broadcastable to ``v[..., 0]``.

    Returns:
        Rotated vectors, shape (..., 3).
    """
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    rx, ry, rz = (torch.as_tensor(a, dtype=v.dtype, device=v.device) for a in (rx, ry, rz))
    c, s = rx.cos(), rx.sin()
    y, z = y * c + z * -s, y * s + z * c
    c, s = ry.cos(), ry.sin()
    x, z = x * c + z * s, x * -s + z * c
    c, s = rz.cos(), rz.sin()
    x, y = x * c + y * -s, x * s + y * c
    return torch.stack(torch.broadcast_tensors(x, y, z), -1)


def rotation_xyz(rx, ry, rz, like: torch.Tensor) -> torch.Tensor:
    """Matrices ``(Rx, Ry, Rz)`` of the x, y and z rotations, each shape (3, 3).

    ``rotate_xyz(v) == Rz @ Ry @ Rx @ v`` up to rounding.
    """
    rx, ry, rz = (torch.as_tensor(a, dtype=like.dtype, device=like.device) for a in (rx, ry, rz))
    one, zero = torch.ones_like(rx), torch.zeros_like(rx)
    cx, sx, cy, sy, cz, sz = rx.cos(), rx.sin(), ry.cos(), ry.sin(), rz.cos(), rz.sin()
    mx = _matrix(one, zero, zero, zero, cx, -sx, zero, sx, cx)
    my = _matrix(cy, zero, sy, zero, one, zero, -sy, zero, cy)
    mz = _matrix(cz, -sz, zero, sz, cz, zero, zero, zero, one)
    return mx, my, mz


def rotate_axis(v: torch.Tensor, axis: torch.Tensor, phi) -> torch.Tensor:
    """Rotate vectors about a unit axis by angle phi (Rodrigues), as the C ``rotate_axis``.

    Args:
        v: vectors, shape (..., 3).
        axis: unit axis, shape (..., 3) broadcastable to ``v``.
        phi: angle (rad), scalar or tensor broadcastable to ``v[..., 0]``.

    Returns:
        Rotated vectors, shape (..., 3).
    """
    phi = torch.as_tensor(phi, dtype=v.dtype, device=v.device)
    cos, sin = phi.cos()[..., None], phi.sin()[..., None]
    axis, v = torch.broadcast_tensors(axis, v)
    along = dot(axis, v)[..., None] * (1.0 - cos)
    return axis * along + v * cos + torch.linalg.cross(axis, v, dim=-1) * sin


def axis_rotation_matrix(axis: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Matrices of the rotation by ``phi`` about ``axis``.

    Args:
        axis: unit axis, shape (3,).
        phi: angles (rad), shape (n,).

    Returns:
        Rotation matrices, shape (n, 3, 3), with ``R @ v == rotate_axis(v, axis, phi)``.
    """
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    columns = rotate_axis(eye[None, :, :], axis, phi[:, None])
    return columns.transpose(-1, -2)


def _matrix(*entries: torch.Tensor) -> torch.Tensor:
    return torch.stack(entries, -1).reshape(entries[0].shape + (3, 3))
