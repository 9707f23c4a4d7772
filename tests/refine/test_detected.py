"""Refinement through the detector: the render, its PSF and gain, scored on ADU frames."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.config import (
    DEFAULT_FLUENCE,
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    SimulationConfig,
)
from nanobragg.physics.detector_response import DetectorResponse, apply_psf
from nanobragg.refine.detected import DetectedModel
from nanobragg.refine.fit import fit
from nanobragg.refine.module import DiffractionModel

GAIN, ADC, FWHM, READOUT = 2.5, 40.0, 1.3, 4.0


def _config(distance: float) -> SimulationConfig:
    # a hundredth of the C's default fluence: a few photons between the spots, hundreds on them
    return SimulationConfig(
        detector=DetectorConfig(fpixels=24, spixels=24, pixel_size=1e-3, distance=distance,
                                oversample=1),
        crystal=CrystalConfig(cell=(60e-10, 60e-10, 60e-10) + (math.pi / 2,) * 3, N=(5, 5, 5),
                              default_F=100.0, misset=(0.2, 0.3, 0.1)),
        beam=BeamConfig(wavelength=1e-10, fluence=DEFAULT_FLUENCE / 100),
    )


def _frame(seed: int = 3) -> torch.Tensor:
    """gain * Poisson(PSF(render)) + Normal(0, readout) + adc, in ADU."""
    photons = DiffractionModel(_config(0.05), refine=[])().detach()
    detected = apply_psf(photons, "gauss", FWHM, 4).clamp_min(0)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.poisson(detected, generator=generator)
    noise = torch.randn(counts.shape, generator=generator, dtype=counts.dtype) * READOUT
    return counts * GAIN + noise + ADC


def _model(distance: float, gain: float, fwhm: float) -> DetectedModel:
    diffraction = DiffractionModel(_config(distance), refine=["detector.distance"])
    response = DetectorResponse(gain=gain, adc=ADC, psf=("gauss", fwhm, 4),
                                fit=("gain", "fwhm"))
    return DetectedModel(diffraction, response, readout=READOUT)


def test_fit_recovers_distance_gain_and_psf_width_from_a_noisy_frame():
    frame = _frame()
    model = _model(0.0502, 2.0, 1.0)
    result = fit(model, frame, loss=model.loss)
    assert result.converged and result.losses[-1] < result.losses[0]
    values = result.values
    assert list(values) == ["detector.distance", "response.gain", "response.fwhm"]
    # from 200 um, 20 % and 23 % off, the fit lands on the likelihood's maximum: the
    # same values as a fit started at the truth
    truth = _model(0.05, GAIN, FWHM)
    at_truth = fit(truth, frame, loss=truth.loss)
    for name, value in values.items():
        assert value[0] == pytest.approx(at_truth.values[name][0], rel=1e-5), name
    # that maximum lies within the noise of the truth: over five seeds the estimates spread
    # by 15 um in distance, 4 % in gain and 2.5 % in width, so these bounds are ~3 sigma
    assert values["detector.distance"][0] == pytest.approx(50.0, abs=0.05)
    assert values["response.gain"][0] == pytest.approx(GAIN, rel=0.12)
    assert values["response.fwhm"][0] == pytest.approx(FWHM, rel=0.08)


def test_the_truth_scores_better_than_a_wrong_gain_or_width():
    frame = _frame()
    truth = _model(0.05, GAIN, FWHM)
    best = float(truth.loss(truth(), frame).detach())
    for wrong in (_model(0.05, GAIN * 1.1, FWHM), _model(0.05, GAIN, FWHM * 1.3)):
        assert float(wrong.loss(wrong(), frame).detach()) > best


def test_expected_frame_is_gain_times_detected_plus_offset():
    model = _model(0.05, GAIN, FWHM)
    with torch.no_grad():
        torch.testing.assert_close(model.expected_frame(), model() * GAIN + ADC,
                                   rtol=1e-14, atol=1e-10)


def test_gradients_reach_every_refined_value():
    model = _model(0.05, GAIN, FWHM)
    model.loss(model(), _frame()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert len(grads) == 3
    assert all(g is not None and torch.isfinite(g).all() and float(g.abs().sum()) > 0
               for g in grads)


def test_readout_must_be_positive():
    with pytest.raises(ValueError, match="readout"):
        DetectedModel(DiffractionModel(_config(0.05), refine=[]), DetectorResponse(), 0.0)
