"""The reference noisify's PSF: per-pixel rendering radii and the lost photons added back.

The reference spreads every pixel with a kernel cut to a radius that depends on the
pixel's own photons (unless a radius is given), counts the photons that fall beyond
that radius ("lost photons") and adds their total back evenly over the image. Its
bounds test also lets the column just right of the image wrap onto the first column
of the next row; that is kept, since it changes the first column.

Here the same sum is done by FFT. The kernel is split into rings (ring rho holds the
offsets with (rho-1)^2 < dx^2 + dy^2 <= rho^2); sources whose radius covers a whole
band of rings are convolved with that band at once. With one band per distinct radius
the result is the reference's sum (up to rounding); when there are more distinct radii
than ``max_bands``, neighbouring radii share a band and a source whose radius ends
inside a band takes the fraction of the band's kernel mass that lies within its radius
(photon totals stay exact, their placement within the band is approximate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .detector_response import FIBER_G_PER_FWHM, fft_size, psf_kernel, wrap_kernel

#: Bands (FFT convolutions) above which neighbouring radii are merged.
MAX_BANDS = 12
#: Distinct radii up to this value always get their own band.
EXACT_RADIUS = 8
_LOST_FRACTION = 10.0  # the reference's photonloss_factor


@dataclass
class PsfResult:
    """Blurred image, the lines the reference prints, and the photons added back."""

    image: np.ndarray
    notes: list[str] = field(default_factory=list)
    lost: float = 0.0
    exact: bool = True


def _c_int(value: float) -> int | None:
    """C's (int) of a double, None where it is undefined (NaN, out of range)."""
    if not math.isfinite(value) or abs(value) >= 2.0**31:
        return None
    return int(value)


def auto_radius(kind: str, photons: np.ndarray, fwhm_pixels: float) -> np.ndarray:
    """The reference's radius per pixel from its photons (float64 array in, int64 out).

    Radius ``1 + ceil(...)`` beyond which about a tenth of the pixel's photon noise is
    lost; where the reference's formula is undefined (a Gaussian PSF on a pixel below
    0.01 photons, where the reference reads out of bounds) radius 1 is used.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.sqrt(photons) / _LOST_FRACTION
        if kind == "gauss":
            reach = np.sqrt(-np.log(lost / photons) / math.log(16)) * fwhm_pixels
        else:
            reach = fwhm_pixels * FIBER_G_PER_FWHM * (photons / lost)
        radius = 1.0 + np.ceil(reach)
    radius = np.where(np.isfinite(radius) & (radius < 2.0**31), radius, 1.0)
    return radius.astype(np.int64)


def lost_photons(kind: str, photons: np.ndarray, radius: np.ndarray,
                 fwhm_pixels: float) -> np.ndarray:
    """Photons of each source beyond its radius, as the reference estimates them."""
    r = radius.astype(np.float64)
    if kind == "gauss":
        return photons * np.exp(-math.log(16) * (r / fwhm_pixels) ** 2)
    g = fwhm_pixels * FIBER_G_PER_FWHM
    return photons * g / np.sqrt(g * g + r * r)


def _global_radius(kind: str, image: np.ndarray, fwhm_pixels: float,
                   notes: list[str]) -> int | None:
    """The automatic kernel radius from the brightest pixel; None: no photons at all."""
    finite = image[np.isfinite(image)]
    max_i = float(finite.max()) if finite.size else 0.0
    max_i = max(max_i, 0.0) if finite.size else 0.0
    notes.append(f"  maximum input photon/pixel: {max_i:g}")
    if max_i <= 0.0:
        notes.append("WARNING: no photons, PSF skipped")
        return None
    lost = math.sqrt(max_i) / _LOST_FRACTION
    if kind == "gauss":
        reach = math.sqrt(-math.log(lost / max_i) / math.log(4) / 2) if lost < max_i else 0.0
        radius = _c_int(1 + math.ceil(reach * fwhm_pixels)) or 1
    else:
        radius = _c_int(1 + math.ceil(fwhm_pixels * FIBER_G_PER_FWHM * (max_i / lost))) or 1
    notes.append(f"  auto-selected psf_radius = {radius} pixels")
    return radius


def _ring_of_offsets(radius: int) -> np.ndarray:
    """Ring index of each kernel offset, (2r+1, 2r+1) int64: (ring-1)^2 < d^2 <= ring^2."""
    offsets = np.arange(-radius, radius + 1, dtype=np.int64)
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    ring = np.ceil(np.sqrt(d2.astype(np.float64))).astype(np.int64)
    ring += ring * ring < d2
    ring -= (ring > 0) & ((ring - 1) * (ring - 1) >= d2)
    return ring


def _band_edges(radii: np.ndarray, max_bands: int) -> list[int]:
    """Outer rings of the bands: every distinct radius, merged when there are too many."""
    distinct = np.unique(radii[radii >= 0])
    if distinct.size <= max_bands:
        return [int(v) for v in distinct]
    small = [int(v) for v in distinct if v <= EXACT_RADIUS]
    large = distinct[distinct > EXACT_RADIUS].astype(np.float64)
    slots = max(1, max_bands - len(small))
    span = math.log(large[-1] / large[0]) if large.size > 1 else 0.0
    bins = np.zeros(large.size, dtype=np.int64) if span == 0.0 else np.minimum(
        np.floor(np.log(large / large[0]) / span * slots), slots - 1).astype(np.int64)
    last = np.r_[bins[1:] != bins[:-1], True]
    return small + [int(v) for v in large[last]]


def _band_weights(radii: np.ndarray, lo: int, hi: int, cumulative: np.ndarray) -> np.ndarray:
    """Fraction of the band (lo, hi]'s kernel mass within each source's radius."""
    total = cumulative[hi] - (cumulative[lo] if lo >= 0 else 0.0)
    reach = np.clip(radii, lo, hi)
    inside = cumulative[np.maximum(reach, 0)] - (cumulative[lo] if lo >= 0 else 0.0)
    inside = np.where(reach <= lo, 0.0, inside)
    if total <= 0.0:
        return (radii >= hi).astype(np.float64)
    return np.clip(inside / total, 0.0, 1.0)


def _spread(image: np.ndarray, radii: np.ndarray, kernel: np.ndarray,
            max_bands: int, dtype: torch.dtype) -> tuple[np.ndarray, bool]:
    """Sum of each source times the kernel cut to its radius, (S + 1, F + 1) float64."""
    rows, cols = image.shape
    big = kernel.shape[0] // 2
    ring = _ring_of_offsets(big)
    mass = np.bincount(ring.ravel(), weights=kernel.ravel(), minlength=big + 1)
    cumulative = np.cumsum(mass)
    edges = _band_edges(radii, max_bands)
    spectra: dict[tuple[int, int], torch.Tensor] = {}
    lo = -1
    for hi in edges:
        weights = _band_weights(radii, lo, hi, cumulative)
        if weights.any():
            window = (slice(big - hi, big + hi + 1), slice(big - hi, big + hi + 1))
            inside = (ring[window] > lo) & (ring[window] <= hi)
            band = torch.from_numpy(np.where(inside, kernel[window], 0.0)).to(dtype)
            size = (fft_size(rows + hi + 2), fft_size(cols + hi + 2))
            source = torch.from_numpy(image * weights).to(dtype)
            spectrum = torch.fft.rfft2(source, s=size) * torch.fft.rfft2(wrap_kernel(band, size))
            spectra[size] = spectrum + spectra[size] if size in spectra else spectrum
        lo = hi
    out = torch.zeros((rows + 1, cols + 1), dtype=torch.float64)
    for size, spectrum in spectra.items():
        out += torch.fft.irfft2(spectrum, s=size)[: rows + 1, : cols + 1].to(torch.float64)
    exact = len(edges) == np.unique(radii[radii >= 0]).size
    return out.numpy(), exact


def reference_psf(image: np.ndarray, kind: str, fwhm_pixels: float, user_radius: int,
                  max_bands: int = MAX_BANDS, dtype: str = "float64") -> PsfResult:
    """Blur a (slow, fast) float32 photon image the way the reference noisify does.

    Args:
        image: photons per pixel (float32).
        kind: ``"gauss"`` or ``"fiber"``.
        fwhm_pixels: PSF FWHM in pixels (> 0).
        user_radius: ``-psf_radius`` (0: automatic, per pixel; < 0: no spreading, only
            the lost photons are added back, as in the reference).
        max_bands: FFT convolutions at most (see the module docstring).
        dtype: ``"float64"`` or ``"float32"``, the precision of the convolutions.

    Returns:
        PsfResult with the float32 image, the reference's printed lines and the total
        of the photons added back.
    """
    notes: list[str] = []
    rows, cols = image.shape
    radius = user_radius
    if radius <= 0:
        radius = _global_radius(kind, image, fwhm_pixels, notes)
        if radius is None:
            return PsfResult(np.zeros_like(image, dtype=np.float32), notes)
    radius = min(radius, max(rows, cols))
    values = image.astype(np.float64)
    sources = values > 0.0
    if user_radius != 0:
        radii = np.full(values.shape, user_radius, dtype=np.int64)
    else:
        radii = auto_radius(kind, np.where(sources, values, 1.0), fwhm_pixels)
    radii = np.minimum(np.where(radii == 0, 1, radii), radius)
    lost = np.where(sources, lost_photons(kind, np.where(sources, values, 0.0), radii,
                                          fwhm_pixels), 0.0)
    total_lost = float(np.cumsum(lost.ravel())[-1]) if lost.size else 0.0
    kernel = psf_kernel(kind, fwhm_pixels, radius).numpy()
    spread, exact = _spread(np.where(sources, values, 0.0), np.where(sources, radii, -1),
                            kernel, max_bands, getattr(torch, dtype))
    blurred = spread[:rows, :cols].copy()
    blurred[1:, 0] += spread[: rows - 1, cols]
    notes.append(f"adding back {total_lost:g} lost photons")
    per_pixel = total_lost / (rows * cols)
    result = (blurred.astype(np.float32).astype(np.float64) + per_pixel).astype(np.float32)
    return PsfResult(result, notes, total_lost, exact)
