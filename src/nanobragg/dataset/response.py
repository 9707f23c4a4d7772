"""Detector frames of rendered shots: the ``detector`` section of a description.

The stages follow the C ``noisify`` program: the shot's beam flicker factor and the data
set's per-pixel calibration map scale the photons, Poisson counts are drawn (shot stream
``noise``), the PSF spreads the counts, the gain converts them to ADU, Gaussian read-out
noise is added (shot stream ``readout_noise``) and the offset last. Without
``variation.noise: poisson`` the frame is the expected one: no Poisson counts and no
read-out noise. Unlike ``noisify``, the flicker is one factor per shot (the beam's
intensity), not a draw per pixel, and no value is clipped to an integer range.

Everything runs on the CPU in float64, one shot at a time, so a shot's frame has the same
bits alone and in any batch.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..physics.detector_response import apply_psf
from ..physics.vectors import value_of
from .description import DatasetDescription
from .draws import STREAMS, ShotParameters, stream


@functools.lru_cache(maxsize=4)
def calibration_map(desc: DatasetDescription) -> np.ndarray | None:
    """The per-pixel calibration factor ``1 + calibration * z`` (spixels, fpixels),
    float64, the same for every shot; None without a calibration error.

    ``z`` is standard normal from the stream ``SeedSequence(calibration_seed,
    spawn_key=(STREAMS["calibration"],))``, apart from every shot's streams.
    """
    section = desc.detector
    if section is None or section.calibration == 0:
        return None
    seed = desc.seed if section.calibration_seed is None else section.calibration_seed
    sequence = np.random.SeedSequence(seed, spawn_key=(STREAMS["calibration"],))
    rng = np.random.Generator(np.random.Philox(sequence))
    shape = (desc.config.detector.spixels, desc.config.detector.fpixels)
    return 1.0 + section.calibration * rng.standard_normal(shape)


def detector_frame(desc: DatasetDescription, shot: ShotParameters,
                   photons: np.ndarray) -> np.ndarray:
    """The detector frame of one shot.

    Args:
        desc: with a ``detector`` section.
        shot: the shot's parameters (its detector values).
        photons: (spixels, fpixels) expected photons per pixel.

    Returns:
        (spixels, fpixels) float32 frame in ADU.
    """
    values = shot.detector
    noisy = desc.variation.noise == "poisson"
    signal = detected_photons(desc, shot, photons)
    if noisy:
        signal = stream(desc.seed, shot.index, "noise").poisson(signal).astype(np.float64)
    signal = _blurred(desc, values, signal)
    adu = signal * values["gain"]
    if noisy and values["readout"] > 0:
        noise = stream(desc.seed, shot.index, "readout_noise").standard_normal(adu.shape)
        adu = adu + values["readout"] * noise
    return (adu + values["adc"]).astype(np.float32)


def detected_photons(desc: DatasetDescription, shot: ShotParameters,
                     photons: np.ndarray) -> np.ndarray:
    """Photons the pixels receive: flicker and calibration applied, NaN and negative
    values made 0; (spixels, fpixels) float64 (the Poisson means)."""
    means = np.nan_to_num(photons.astype(np.float64), nan=0.0, posinf=0.0)
    means = means * shot.detector["flicker_scale"]
    calibration = calibration_map(desc)
    if calibration is not None:
        means = means * calibration
    return means.clip(min=0.0)


def _blurred(desc: DatasetDescription, values: dict[str, float],
             signal: np.ndarray) -> np.ndarray:
    """``signal`` spread by the section's PSF (unchanged without one), float64."""
    section = desc.detector
    if section.psf_kind is None:
        return signal
    fwhm_pixels = values["psf_fwhm_um"] * 1e-6 / value_of(desc.config.detector.pixel_size)
    blurred = apply_psf(torch.from_numpy(signal), section.psf_kind, fwhm_pixels,
                        section.psf_radius)
    return blurred.numpy()
