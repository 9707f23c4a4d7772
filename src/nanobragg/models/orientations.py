"""Crystal orientations drawn with the reference program's generator: mosaic domains, random misset.

Every draw goes through :class:`~nanobragg.models.rng.Ran1` with the reference's float32
roundings, so the same seed gives the same rotations as the C program.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .rng import Ran1, ShuffleTable, f32, powf

_ONE_THIRD_F32 = f32(1.0 / 3.0)


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
