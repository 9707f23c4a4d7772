"""Crystal model: unit cell, misset, size, spindle and mosaic rotations as tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import CrystalConfig
from ..errors import InputError
from ..physics.vectors import dot, norm, value_of
from ..units import ANGSTROM
from .rotations import axis_rotation_matrix, rotate_xyz


@dataclass(frozen=True)
class Crystal:
    """Tensors describing the crystal for one dtype and device.

    Attributes:
        real_rows: rows a, b, c (m) for every phi step and mosaic domain, shape (P, M, 3, 3).
        recip_rows: rows a*, b*, c* (1/Angstrom) at phi = 0 without mosaic, shape (3, 3).
        N: unit cells along a, b, c, shape (3,).
        fudge: scale factor of the lattice transform (scalar tensor).
        phi: spindle angles (rad), shape (P,).
        xtal_size: crystal size along a, b, c (m) as the C computes it (|a| times Na), floats.
    """

    real_rows: torch.Tensor
    recip_rows: torch.Tensor
    N: torch.Tensor
    fudge: torch.Tensor
    phi: torch.Tensor
    xtal_size: tuple[float, float, float]

    @property
    def phisteps(self) -> int:
        """Number of spindle steps."""
        return int(self.phi.shape[0])

    @property
    def domains(self) -> int:
        """Number of mosaic domains."""
        return int(self.real_rows.shape[1])


def build_crystal(
    cfg: CrystalConfig, spindle: torch.Tensor, dtype: torch.dtype, device: torch.device
) -> Crystal:
    """Build the crystal tensors from configuration.

    Args:
        cfg: crystal configuration.
        spindle: unit spindle axis of the convention (or the user's), shape (3,).
        dtype, device: where the tensors live.

    Returns:
        The crystal model.
    """
    def scalar(value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=dtype, device=device)

    recip = initial_reciprocal(cfg, dtype, device)
    misset = resolve_misset(cfg)
    if misset is not None:
        recip = rotate_xyz(recip, *(scalar(a) for a in misset))
    real_A, recip = real_from_reciprocal(recip, cfg, dtype, device)
    base = ANGSTROM * real_A
    N = crystal_cells(cfg, base, dtype, device)
    phi = phi_angles(cfg, dtype, device)
    spread, domains = mosaic_settings(cfg)
    umats = mosaic_matrices(cfg.mosaic_spread if spread > 0 else 0.0, domains,
                            cfg.mosaic_seed, dtype, device, cfg.c_rounding)
    rot = axis_rotation_matrix(spindle, phi)  # (P, 3, 3)
    real_rows = base @ rot.transpose(-1, -2)  # rows rotated by phi: (P, 3, 3)
    real_rows = real_rows[:, None] @ umats.transpose(-1, -2)[None]  # (P, M, 3, 3)
    xtal_size = tuple(value_of(x) * value_of(n) for n, x in zip(N, norm(base)))
    return Crystal(
        real_rows=real_rows, recip_rows=recip, N=N,
        fudge=scalar(cfg.fudge), phi=phi, xtal_size=xtal_size,
    )


def initial_reciprocal(cfg: CrystalConfig, dtype, device) -> torch.Tensor:
    """Reciprocal vectors a*, b*, c* (1/Angstrom) before misset, as rows of a (3, 3) tensor.

    From ``-cell`` the C's standard orientation (a* along x, b* in the xy plane); a matrix
    (its columns) takes precedence, as in the C, where ``-cell`` then only fixes the lengths.
    """
    if cfg.reciprocal_matrix is not None:
        mat = torch.as_tensor(cfg.reciprocal_matrix, dtype=dtype, device=device)
        return mat.transpose(0, 1).clone()
    a, b, c, al, be, ga = _cell_tensors(cfg, dtype, device)
    v_star = 1.0 / cell_volume(a, b, c, al, be, ga)
    a_s, b_s, c_s = b * c * al.sin() * v_star, c * a * be.sin() * v_star, a * b * ga.sin() * v_star
    cos_al_s = (be.cos() * ga.cos() - al.cos()) / (be.sin() * ga.sin())
    cos_be_s = (ga.cos() * al.cos() - be.cos()) / (ga.sin() * al.sin())
    cos_ga_s = (al.cos() * be.cos() - ga.cos()) / (al.sin() * be.sin())
    sin_ga_s = c * v_star / a_s / b_s
    zero = torch.zeros_like(a)
    rows = [
        torch.stack([a_s, zero, zero]),
        torch.stack([b_s * cos_ga_s, b_s * sin_ga_s, zero]),
        torch.stack([c_s * cos_be_s, c_s * (cos_al_s - cos_be_s * cos_ga_s) / sin_ga_s,
                     c_s * cell_volume(a, b, c, al, be, ga) / (a * b * c * sin_ga_s)]),
    ]
    return torch.stack(rows)


def _cell_tensors(cfg: CrystalConfig, dtype, device) -> list[torch.Tensor]:
    """Cell lengths (Angstrom) and angles (rad) as scalar tensors."""
    values = [torch.as_tensor(v, dtype=dtype, device=device) for v in cfg.cell]
    return [v / ANGSTROM for v in values[:3]] + values[3:]


def cell_volume(a, b, c, al, be, ga) -> torch.Tensor:
    """Cell volume (Angstrom^3) from lengths and angles, the C's half-angle formula."""
    s = (al + be + ga) / 2
    skew = (s.sin() * (s - al).sin() * (s - be).sin() * (s - ga).sin()).abs()
    return 2.0 * a * b * c * skew.sqrt()


def real_from_reciprocal(recip: torch.Tensor, cfg: CrystalConfig, dtype, device):
    """Real-space rows a, b, c (Angstrom) and regenerated reciprocal rows (1/Angstrom).

    With ``-cell`` the cross products are rescaled so the real lengths are exactly the
    user's, as the C does.
    """
    a_s, b_s, c_s = recip[0], recip[1], recip[2]
    crosses = [torch.linalg.cross(b_s, c_s), torch.linalg.cross(c_s, a_s),
               torch.linalg.cross(a_s, b_s)]
    if cfg.cell is not None:
        cell = _cell_tensors(cfg, dtype, device)
        v_cell = cell_volume(*cell)
        crosses = [length / v_cell / norm(x) * x for x, length in zip(crosses, cell[:3])]
        v_star = 1.0 / v_cell
    else:
        v_star = dot(a_s, crosses[0])
    v_cell = 1.0 / v_star
    real = torch.stack([v_cell * x for x in crosses])
    a, b, c = real[0], real[1], real[2]
    new_recip = torch.stack([v_star * torch.linalg.cross(b, c), v_star * torch.linalg.cross(c, a),
                             v_star * torch.linalg.cross(a, b)])
    return real, new_recip


def resolve_misset(cfg: CrystalConfig) -> tuple | None:
    """Misset angles (rad): the user's, or the C generator's for ``-misset random``."""
    if cfg.misset_random_seed is not None:
        from .orientations import random_misset  # the C's generator, only for a random misset

        return random_misset(-int(cfg.misset_random_seed))
    return cfg.misset


def crystal_cells(cfg: CrystalConfig, base: torch.Tensor, dtype, device) -> torch.Tensor:
    """Unit cells along a, b, c: from the sample size when given, at least 1 (C rule).

    An N that requires a gradient is kept as the real number it is (no clamp at 1), so
    the image follows it smoothly through N <= 1.
    """
    cells = []
    for n, size, axis in zip(cfg.N, cfg.sample_size, base):
        if value_of(size) > 0:
            n = math.ceil(value_of(size) / value_of(norm(axis)))
        n = torch.as_tensor(n, dtype=dtype, device=device)
        cells.append(n if n.requires_grad else torch.where(n <= 1, torch.ones_like(n), n))
    return torch.stack(cells)


def phi_sampling(cfg: CrystalConfig) -> tuple[int, float, float]:
    """Number of spindle steps, step (rad) and oscillation range (rad), the C's rules."""
    osc = -1.0 if cfg.osc is None else value_of(cfg.osc)
    step = -1.0 if cfg.phistep is None else value_of(cfg.phistep)
    steps = -1 if cfg.phisteps is None else int(cfg.phisteps)
    if steps < 0:
        if osc < 0:
            return (1, 0.0, 0.0) if step <= 0 else (2, step, step)
        if step <= 0:
            return 2, osc / 2.0, osc
        return math.ceil(osc / step), step, osc
    steps = max(steps, 1)
    if osc < 0:
        if step <= 0:
            return steps, math.radians(1.0) / steps, math.radians(1.0)
        return 2, step, step
    if step < 0:
        return steps, osc / steps, osc
    return steps, step, osc


def phi_angles(cfg: CrystalConfig, dtype, device) -> torch.Tensor:
    """Spindle angles phi0 + i*phistep (rad), shape (P,).

    phi0, the step, and the oscillation range when the step is derived from it, keep
    their gradients when given as tensors.

    Raises:
        InputError: the rules give no step at all (a zero range with a step given); the C
            then renders an image of NaNs.
    """
    steps, step, osc = phi_sampling(cfg)
    if steps <= 0:
        raise InputError(f"-osc/-phistep: an oscillation of {math.degrees(osc):g} deg in steps "
                         f"of {math.degrees(value_of(step)):g} deg gives no phi steps")
    if isinstance(cfg.phistep, torch.Tensor) and cfg.phistep.requires_grad:
        step = cfg.phistep.to(dtype)
    elif isinstance(cfg.osc, torch.Tensor) and cfg.phistep is None and osc != 0:
        step = cfg.osc.to(dtype) * (step / osc)
    index = torch.arange(steps, dtype=dtype, device=device)
    return torch.as_tensor(cfg.phi0, dtype=dtype, device=device) + index * step


def mosaic_settings(cfg: CrystalConfig) -> tuple[float, int]:
    """Mosaic spread (rad) and domain count after the C's defaults."""
    spread = -1.0 if cfg.mosaic_spread is None else value_of(cfg.mosaic_spread)
    domains = 0 if cfg.mosaic_domains is None else int(cfg.mosaic_domains)
    if spread < 0:
        return 0.0, 1
    if spread == 0:
        return 0.0, 1
    return spread, domains if domains > 0 else 10


def mosaic_matrices(spread, domains: int, seed: int, dtype, device,
                    c_rounding: bool = True) -> torch.Tensor:
    """Domain rotation matrices from the C generator, shape (M, 3, 3); identity if no spread.

    The axes are the C's. With ``c_rounding`` the angles are the C's too (formed in
    float32 from the spread, so they are a staircase in it, with the spread's gradient
    taken along the staircase's slope); otherwise each angle is the spread times the
    domain's fixed fraction of it, a smooth function of the spread.
    """
    spread_value = value_of(spread)
    if spread_value <= 0:
        return torch.eye(3, dtype=dtype, device=device)[None]
    from .orientations import mosaic_domain_axes  # the C's generator, only for mosaic domains

    if c_rounding:
        axes, angles = mosaic_domain_axes(spread_value, domains, -int(seed))
        fractions = torch.as_tensor(angles / spread_value, dtype=dtype, device=device)
    else:
        axes, fractions = mosaic_domain_axes(1.0, domains, -int(seed))
        fractions = torch.as_tensor(fractions, dtype=dtype, device=device)
    axes = torch.as_tensor(axes, dtype=dtype, device=device)
    if c_rounding and not (isinstance(spread, torch.Tensor) and spread.requires_grad):
        return _axis_angle_matrices(axes, torch.as_tensor(angles, dtype=dtype, device=device))
    angles = torch.as_tensor(spread, dtype=dtype, device=device) * fractions
    return _axis_angle_matrices(axes, angles)


def _axis_angle_matrices(axes: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotations about unit axes (M, 3) by angles (M,), in the C's operation order."""
    v1, v2, v3 = axes.unbind(-1)
    c, s = angles.cos(), angles.sin()
    omc = 1.0 - c
    omc_v1v2, omc_v1v3, omc_v2v3 = omc * v1 * v2, omc * v1 * v3, omc * v2 * v3
    rows = [
        [c + omc * (v1 * v1), omc_v1v2 - s * v3, omc_v1v3 + s * v2],
        [omc_v1v2 + s * v3, c + omc * (v2 * v2), omc_v2v3 - s * v1],
        [omc_v1v3 - s * v2, omc_v2v3 + s * v1, c + omc * (v3 * v3)],
    ]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)
