"""Scattering of amorphous material (water, ice, air, ...) from an F(sin(theta)/lambda) table.

The reference nonBragg's model: every molecule of the sample scatters ``F(s)^2``
electrons' worth, with ``s = |k_out - k_in| / 2`` (sin(theta)/lambda) and F from a
4-point polynomial through the nearest table points; a pixel receives

    photons = sum over sub-pixels and sources of sign(F) F^2 * polar * omega
              * r_e^2 * fluence * molecules / steps,

with ``molecules = thickness * width * height * density * N_A / MW`` and ``steps`` the
number of sub-pixels times sources. Everything is torch and differentiable in the
geometry, the thickness, density and molecular weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .polarization import polarization_factor
from .vectors import unit

AVOGADRO = 6.02214179e23
#: Thomson cross section (m^2) as the reference writes it.
R_E_SQR = 7.94079248018965e-30


@dataclass(frozen=True)
class FGrid:
    """An F(sin(theta)/lambda) table as the interpolation uses it.

    Attributes:
        s: sin(theta)/lambda of the points (1/m), increasing, shape (n,), float64, with
            two far points at either end (the reference's padding).
        F: structure factor at each point, shape (n,), float64.
    """

    s: torch.Tensor
    F: torch.Tensor

    @classmethod
    def of(cls, padded: tuple, device=None) -> FGrid:
        """From padded ``(s, F)`` arrays (e.g. ``StolTable.padded()``)."""
        return cls(*(torch.as_tensor(v, dtype=torch.float64, device=device) for v in padded))


@dataclass
class AmorphousSample:
    """An amorphous sample: size, density and molecular weight (tensors may need grad).

    Attributes:
        thickness: along the beam (m). width, height: across it (m), already cut to
            the beam size where the beam is smaller (the reference clips them).
        density: g/m^3 (1 g/cm^3 is 1e6). molecular_weight: g/mol.
        table: the material's F(s).
    """

    table: FGrid
    thickness: torch.Tensor | float = 1e-4
    width: torch.Tensor | float = 1e-4
    height: torch.Tensor | float = 1e-4
    density: torch.Tensor | float = 1.0e6
    molecular_weight: torch.Tensor | float = 18.0

    def molecules(self):
        """Molecules in the illuminated volume (the reference's formula)."""
        volume = self.thickness * self.width * self.height
        return volume * self.density * AVOGADRO / self.molecular_weight


def structure_factor(table: FGrid, stol: torch.Tensor) -> torch.Tensor:
    """F at sin(theta)/lambda ``stol`` (1/m), the reference's 4-point interpolation.

    The four points are the last table point at or below ``stol`` (k), its
    predecessor and the next two (the table is padded with far points at either end).
    Computed in float64 (the padding overflows float32).

    Args:
        table: the material.
        stol: any shape; may require grad.

    Returns:
        F, same shape, float64.
    """
    xs, ys = table.s.to(stol.device), table.F.to(stol.device)
    x = stol.to(torch.float64)
    k = torch.searchsorted(xs, x.detach().contiguous(), right=True) - 1
    k = k.clamp(1, xs.numel() - 3)
    pts = [xs[k + i] for i in (-1, 0, 1, 2)]
    vals = [ys[k + i] for i in (-1, 0, 1, 2)]
    total = torch.zeros_like(x)
    for i in range(4):
        others = [j for j in range(4) if j != i]
        num = (x - pts[others[0]]) * (x - pts[others[1]]) * (x - pts[others[2]]) * vals[i]
        den = ((pts[i] - pts[others[0]]) * (pts[i] - pts[others[1]])
               * (pts[i] - pts[others[2]]))
        total = total + num / den
    return total


def pixel_positions(fdet, sdet, pix0, spixels: int, fpixels: int, pixel_size,
                    oversample: int, rows: slice | None = None) -> torch.Tensor:
    """Sub-pixel centres (m) from the sample, shape (rows, F, oversample^2, 3).

    ``Fdet = sub*(f*oversample + subF) + sub/2`` (likewise Sdet) with ``sub =
    pixel/oversample``; position ``Fdet*fdet + Sdet*sdet + pix0``; sub-pixels in the
    reference's order (subS outer, subF inner).
    """
    dtype, device = fdet.dtype, fdet.device
    rows = rows or slice(0, spixels)
    sub = pixel_size / oversample
    steps = torch.arange(oversample, dtype=dtype, device=device)
    s_idx = torch.arange(rows.start, rows.stop, dtype=dtype, device=device)
    f_idx = torch.arange(fpixels, dtype=dtype, device=device)
    sdist = sub * (s_idx[:, None] * oversample + steps[None, :]) + sub / 2.0  # (R, os)
    fdist = sub * (f_idx[:, None] * oversample + steps[None, :]) + sub / 2.0  # (F, os)
    s_part = sdist[:, None, :, None, None] * sdet  # (R, 1, os, 1, 3)
    f_part = fdist[None, :, None, :, None] * fdet  # (1, F, 1, os, 3)
    pos = f_part + s_part + pix0
    return pos.reshape(pos.shape[0], fpixels, oversample * oversample, 3)


def amorphous_pixels(pos: torch.Tensor, incident: torch.Tensor, wavelength: torch.Tensor,
                     weight: torch.Tensor, table: FGrid, *, pixel_size, close_distance,
                     polar_axis: torch.Tensor, kahn, nopolar: bool = False,
                     point_pixel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Unscaled amorphous intensity of pixels: sum of sign(F) F^2 polar omega I_source.

    Args:
        pos: sub-pixel positions (..., P, 3) (P sub-pixels of each pixel).
        incident: unit incident directions of the sources (S, 3).
        wavelength: (S,) m. weight: (S,) source intensities.
        table: F(s).
        pixel_size, close_distance: for the solid angle ``pixel^2/R^2 * close/R``.
        polar_axis: unit polarization axis (3,); kahn: Kahn factor.
        nopolar: polarization factor 1. point_pixel: solid angle 1/R^2.

    Returns:
        ``(intensity, omega)``: (...) summed over sub-pixels and sources, and the
        solid angles (..., P) of the sub-pixels.
    """
    airpath = torch.linalg.vector_norm(pos, dim=-1)
    diffracted = pos / airpath[..., None]
    if point_pixel:
        omega = 1.0 / airpath / airpath
    else:
        omega = pixel_size * pixel_size / airpath / airpath * close_distance / airpath
    d = diffracted[..., None, :]  # (..., P, 1, 3)
    scattering = (d - incident) / wavelength[:, None]  # (..., P, S, 3)
    stol = 0.5 * torch.linalg.vector_norm(scattering, dim=-1)
    F = structure_factor(table, stol).to(pos.dtype)
    sign = torch.where(F < 0, -torch.ones_like(F), torch.ones_like(F))
    if nopolar:
        polar = torch.ones_like(F)
    else:
        comps = tuple(diffracted[..., i][..., None, :] for i in range(3))  # (..., 1, P)
        polar = polarization_factor(incident, comps, polar_axis, kahn)  # (..., S, P)
        polar = polar.transpose(-1, -2)
    terms = sign * F * F * polar * omega[..., None] * weight
    return terms.sum(dim=(-1, -2)), omega


def incident_directions(source_positions: torch.Tensor) -> torch.Tensor:
    """Unit incident directions from the source positions (S, 3): towards the sample."""
    return unit(-source_positions)


def last_structure_factor(pos: torch.Tensor, incident: torch.Tensor,
                          wavelength: torch.Tensor, table: FGrid) -> torch.Tensor:
    """F of each pixel's last sub-pixel and last source (the reference's ``-Fmap``)."""
    diffracted = unit(pos[..., -1, :])
    stol = 0.5 * torch.linalg.vector_norm((diffracted - incident[-1]) / wavelength[-1], dim=-1)
    return structure_factor(table, stol)


def scale_to_photons(intensity: torch.Tensor, sample: AmorphousSample, fluence,
                     steps: int) -> torch.Tensor:
    """Photons per pixel: ``intensity * r_e^2 * fluence * molecules / steps``."""
    return intensity * R_E_SQR * fluence * sample.molecules() / steps
