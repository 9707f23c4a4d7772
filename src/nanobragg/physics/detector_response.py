"""Detector response: point-spread function, gain, calibration, ADC offset.

Everything here is torch and differentiable (gradients flow to the image, the PSF
width, the gain and the calibration map), and applies to any rendered image of shape
(slow, fast) or (..., slow, fast).

The point-spread functions are those of the reference ``noisify`` program, integrated
over each pixel of the kernel:

* ``gauss``: a 2-D Gaussian of the given FWHM;
* ``fiber``: the fiber-optic taper profile ``g / (2 pi (g^2 + r^2)^(3/2))`` with
  ``g = fwhm * 0.652383013252053`` (that profile's FWHM is ``fwhm``).

The kernel is cut to a disc of ``radius`` pixels (offsets with ``dx^2 + dy^2 <=
radius^2``). Convolutions are linear (zero outside the image) and done by FFT.
"""

from __future__ import annotations

import math

import torch

#: fwhm -> g of the fiber profile: fwhm = 2 sqrt(2^(2/3) - 1) g.
FIBER_G_PER_FWHM = 0.652383013252053
PSF_KINDS = ("gauss", "fiber")
_SQRT_LOG16 = math.sqrt(math.log(16.0))


def _pixel_integrals(integral, offsets: torch.Tensor) -> torch.Tensor:
    """Integral over each unit pixel centred on the grid of ``offsets`` (both axes).

    The cumulative ``integral(x, y)`` is evaluated once per pixel corner and the four
    corners of each pixel are combined: I(+,+) - I(+,-) - I(-,+) + I(-,-).
    """
    corners = torch.cat([offsets - 0.5, offsets[-1:] + 0.5])
    cy, cx = torch.meshgrid(corners, corners, indexing="ij")
    grid = integral(cx, cy)
    return grid[1:, 1:] - grid[:-1, 1:] - grid[1:, :-1] + grid[:-1, :-1]


def psf_kernel(kind: str, fwhm_pixels: torch.Tensor | float, radius: int,
               dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The PSF integrated over each pixel, cut to a disc.

    Args:
        kind: ``"gauss"`` or ``"fiber"``.
        fwhm_pixels: full width at half maximum in pixels (> 0); may require grad.
        radius: disc radius in pixels (>= 0).
        dtype, device: of the result (taken from ``fwhm_pixels`` if it is a tensor).

    Returns:
        (2 radius + 1, 2 radius + 1) tensor; entry [radius + dy, radius + dx] is the
        fraction of a point's photons that lands dy rows and dx columns away.
    """
    if kind not in PSF_KINDS:
        raise ValueError(f"unknown PSF kind {kind!r} (one of {', '.join(PSF_KINDS)})")
    if isinstance(fwhm_pixels, torch.Tensor):
        dtype, device = fwhm_pixels.dtype, fwhm_pixels.device
    fwhm = torch.as_tensor(fwhm_pixels, dtype=dtype, device=device)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    if kind == "gauss":
        def integral(x, y):
            return 0.25 * torch.erf(x / fwhm * _SQRT_LOG16) * torch.erf(y / fwhm * _SQRT_LOG16)
    else:
        g = fwhm * FIBER_G_PER_FWHM

        def integral(x, y):
            return torch.atan(x * y / (g * torch.sqrt(g * g + x * x + y * y))) / (2 * math.pi)
    values = _pixel_integrals(integral, offsets)
    return torch.where(dx * dx + dy * dy <= radius * radius, values, torch.zeros_like(values))


def fft_size(n: int) -> int:
    """Smallest size >= n whose only prime factors are 2, 3 and 5 (fast FFT lengths)."""
    size = max(1, n)
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def convolve(image: torch.Tensor, kernel: torch.Tensor, extra: int = 0) -> torch.Tensor:
    """Linear 2-D convolution of the last two axes with a centred odd kernel, by FFT.

    Args:
        image: (..., S, F) values.
        kernel: (2r+1, 2r+1), centre at [r, r].
        extra: rows and columns beyond the image to return as well.

    Returns:
        (..., S + extra, F + extra): ``out[y, x] = sum image[y', x'] kernel[r + y - y',
        r + x - x']`` for 0 <= y < S + extra, 0 <= x < F + extra.
    """
    rows, cols = image.shape[-2:]
    r = (kernel.shape[-1] - 1) // 2
    size = (fft_size(rows + extra + r + 1), fft_size(cols + extra + r + 1))
    spectrum = (torch.fft.rfft2(image.to(kernel.dtype), s=size)
                * torch.fft.rfft2(wrap_kernel(kernel, size)))
    out = torch.fft.irfft2(spectrum, s=size)
    return out[..., : rows + extra, : cols + extra]


def wrap_kernel(kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The kernel placed on a periodic grid of ``size`` with its centre at [0, 0]
    (``size`` at least the kernel's in both axes)."""
    r = (kernel.shape[-1] - 1) // 2
    grid = kernel.new_zeros(size)
    grid[: r + 1, : r + 1] = kernel[r:, r:]
    grid[: r + 1, size[1] - r:] = kernel[r:, :r]
    grid[size[0] - r:, : r + 1] = kernel[:r, r:]
    grid[size[0] - r:, size[1] - r:] = kernel[:r, :r]
    return grid


def apply_psf(image: torch.Tensor, kind: str, fwhm_pixels: torch.Tensor | float,
              radius: int) -> torch.Tensor:
    """Blur an image with a PSF cut to ``radius`` pixels (same shape, differentiable).

    Photons that the cut kernel loses are not added back; use a radius that holds
    enough of the PSF (a Gaussian needs about 1.5 FWHM, a fiber PSF much more).
    """
    kernel = psf_kernel(kind, fwhm_pixels, radius, dtype=_real_dtype(image, fwhm_pixels),
                        device=image.device)
    return convolve(image, kernel)


def _real_dtype(*values) -> torch.dtype:
    for value in values:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.dtype
    return torch.float64


def detector_signal(photons: torch.Tensor, gain: torch.Tensor | float = 1.0,
                    adc: torch.Tensor | float = 0.0,
                    calibration: torch.Tensor | None = None,
                    psf: tuple[str, torch.Tensor | float, int] | None = None) -> torch.Tensor:
    """Expected detector value (ADU) of a photon image, in the reference's order.

    ``adu = gain * PSF(calibration * photons) + adc``: the calibration error scales the
    photons a pixel receives, the PSF spreads the detected photons, the gain converts
    them to detector units and the offset is added.

    Args:
        photons: (..., S, F) expected photons per pixel.
        gain: ADU per photon (scalar or broadcastable tensor).
        adc: offset in ADU.
        calibration: per-pixel factor (S, F) (1 + error), or None for none.
        psf: ``(kind, fwhm_pixels, radius)`` or None for no blur.

    Returns:
        (..., S, F) expected ADU; differentiable in every tensor argument.
    """
    return detected_photons(photons, calibration, psf) * gain + adc


def detected_photons(photons: torch.Tensor, calibration: torch.Tensor | None = None,
                     psf: tuple[str, torch.Tensor | float, int] | None = None) -> torch.Tensor:
    """Expected photons each pixel detects, (..., S, F): ``PSF(calibration * photons)``,
    the Poisson mean of the counts behind the gain (arguments as :func:`detector_signal`)."""
    signal = photons if calibration is None else photons * calibration
    if psf is None:
        return signal
    kind, fwhm_pixels, radius = psf
    return apply_psf(signal, kind, fwhm_pixels, radius)


class DetectorResponse(torch.nn.Module):
    """:func:`detector_signal` with its gain, offset and PSF width as parameters.

    The PSF width is used as its absolute value, so an optimiser step through zero
    cannot make it negative.

    Args:
        gain: ADU per photon.
        adc: offset (ADU).
        psf: ``(kind, fwhm_pixels, radius)`` or None.
        calibration: per-pixel factor (S, F) or None (a buffer, not fitted).
        fit: names among ``"gain"``, ``"adc"``, ``"fwhm"`` that are trainable.
    """

    def __init__(self, gain: float = 1.0, adc: float = 0.0,
                 psf: tuple[str, float, int] | None = None,
                 calibration: torch.Tensor | None = None,
                 fit: tuple[str, ...] = ("gain", "fwhm")) -> None:
        super().__init__()
        f64 = torch.float64
        self.gain = torch.nn.Parameter(torch.tensor(gain, dtype=f64),
                                       requires_grad="gain" in fit)
        self.adc = torch.nn.Parameter(torch.tensor(adc, dtype=f64), requires_grad="adc" in fit)
        self.kind, self.radius = (psf[0], int(psf[2])) if psf else (None, 0)
        fwhm = psf[1] if psf else 1.0
        self.fwhm = torch.nn.Parameter(torch.tensor(float(fwhm), dtype=f64),
                                       requires_grad=psf is not None and "fwhm" in fit)
        self.register_buffer("calibration", calibration)

    def detected(self, photons: torch.Tensor) -> torch.Tensor:
        """Expected photons each pixel detects, (..., S, F): the calibration factor, then
        the PSF (the Poisson mean of the counts behind the gain)."""
        psf = (self.kind, self.fwhm.abs(), self.radius) if self.kind else None
        return detected_photons(photons, self.calibration, psf)

    def forward(self, photons: torch.Tensor) -> torch.Tensor:
        """Expected ADU of a (..., S, F) photon image."""
        return self.detected(photons) * self.gain + self.adc

    def natural_values(self) -> dict[str, list[float]]:
        """The trainable values (gain in ADU/photon, adc in ADU, fwhm in pixels)."""
        values = {"gain": self.gain, "adc": self.adc, "fwhm": self.fwhm.abs()}
        return {name: [float(value.detach())] for name, value in values.items()
                if getattr(self, name).requires_grad}
