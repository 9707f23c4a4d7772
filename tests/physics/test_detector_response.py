"""The differentiable detector response: PSF kernels, the FFT blur, gain and calibration."""

import math

import pytest
import torch

from nanobragg.physics.detector_response import (
    DetectorResponse,
    apply_psf,
    convolve,
    detector_signal,
    psf_kernel,
)

F64 = torch.float64


def direct_convolution(image, kernel):
    """out[y, x] = sum image[y', x'] kernel[r + y - y', r + x - x'], zero outside."""
    rows, cols = image.shape
    r = (kernel.shape[0] - 1) // 2
    out = torch.zeros_like(image)
    for y in range(rows):
        for x in range(cols):
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if 0 <= y - dy < rows and 0 <= x - dx < cols:
                        out[y, x] += image[y - dy, x - dx] * kernel[r + dy, r + dx]
    return out


@pytest.mark.parametrize("kind", ["gauss", "fiber"])
def test_kernel_holds_the_psf_mass(kind):
    # a disc of 40 FWHM holds all of a Gaussian and most of the slow fiber tail
    kernel = psf_kernel(kind, 1.5, 60)
    assert kernel.shape == (121, 121)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-9 if kind == "gauss" else 0.02)
    # symmetric up to the rounding of the corner differences (1e-17 measured)
    for mirrored in (kernel.flip(0), kernel.flip(1), kernel.T):
        assert torch.allclose(kernel, mirrored, rtol=0, atol=1e-15)


def test_gauss_kernel_fwhm():
    # a pixel-integrated Gaussian: the centre-row ratio at the half width is near 1/2
    fwhm = 12.0
    kernel = psf_kernel("gauss", fwhm, 20)
    centre = kernel[20]
    half = fwhm / 2
    below, above = centre[20 + int(half)], centre[20 + int(half) + 1]
    at_half = below + (above - below) * (half - int(half))
    assert float(at_half / centre[20]) == pytest.approx(0.5, abs=0.01)


def test_fft_convolution_equals_the_direct_sum():
    image = torch.rand(9, 11, dtype=F64, generator=torch.Generator().manual_seed(0))
    kernel = psf_kernel("fiber", 1.3, 3)
    assert torch.allclose(convolve(image, kernel), direct_convolution(image, kernel),
                          rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["gauss", "fiber"])
def test_psf_gradcheck_in_image_and_width(kind):
    image = torch.rand(6, 7, dtype=F64, generator=torch.Generator().manual_seed(1),
                       requires_grad=True)
    fwhm = torch.tensor(1.4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda im, w: apply_psf(im, kind, w, 3), (image, fwhm))


def test_signal_gradcheck_in_gain_offset_and_calibration():
    g = torch.Generator().manual_seed(2)
    photons = torch.rand(5, 6, dtype=F64, generator=g, requires_grad=True)
    calibration = (1 + 0.05 * torch.randn(5, 6, dtype=F64, generator=g)).requires_grad_()
    gain = torch.tensor(1.7, dtype=F64, requires_grad=True)
    adc = torch.tensor(10.0, dtype=F64, requires_grad=True)
    fwhm = torch.tensor(1.2, dtype=F64, requires_grad=True)

    def signal(p, c, k, a, w):
        return detector_signal(p, k, a, c, ("gauss", w, 2))

    assert torch.autograd.gradcheck(signal, (photons, calibration, gain, adc, fwhm))


def test_signal_order_calibration_then_psf_then_gain():
    g = torch.Generator().manual_seed(3)
    photons = torch.rand(5, 6, dtype=F64, generator=g)
    calibration = 1 + 0.1 * torch.rand(5, 6, dtype=F64, generator=g)
    got = detector_signal(photons, 2.0, 5.0, calibration, ("fiber", 1.1, 2))
    want = 2.0 * apply_psf(photons * calibration, "fiber", 1.1, 2) + 5.0
    assert torch.allclose(got, want, rtol=1e-15, atol=0)
    assert torch.equal(detector_signal(photons, 3.0, 1.0), photons * 3.0 + 1.0)


def test_response_module_trains_named_fields_and_keeps_width_positive():
    response = DetectorResponse(gain=2.0, adc=1.0, psf=("gauss", -1.5, 3), fit=("fwhm",))
    assert [n for n, p in response.named_parameters() if p.requires_grad] == ["fwhm"]
    photons = torch.rand(4, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(response.detected(photons), apply_psf(photons, "gauss", 1.5, 3))
    assert response.natural_values() == {"fwhm": [1.5]}
    assert torch.allclose(response(photons), 2.0 * response.detected(photons) + 1.0)


def test_bad_kind():
    with pytest.raises(ValueError, match="unknown PSF kind"):
        psf_kernel("lorentz", 1.0, 2)
    assert math.isfinite(float(psf_kernel("gauss", 1.0, 0).sum()))
