"""A diffraction model seen through a detector: PSF, calibration, gain and read-out noise.

:class:`DetectedModel` predicts the Poisson mean of each pixel's detected photons (the
render blurred by the PSF) and scores detector frames (ADU) with the Poisson-Gaussian
likelihood, so a fit can refine the crystal and geometry together with the gain, the
offset and the PSF width::

    model = DetectedModel(DiffractionModel(config, ["detector.distance"]),
                          DetectorResponse(gain=1.8, psf=("gauss", 1.0, 4)), readout=3.0)
    fit(model, frame, loss=model.loss)
"""

from __future__ import annotations

import torch
from torch import nn

from ..physics.detector_response import DetectorResponse
from .losses import poisson_gaussian_nll


class DetectedModel(nn.Module):
    """A :class:`~nanobragg.refine.module.DiffractionModel` followed by a detector response.

    Args:
        diffraction: renders photons per pixel, (S, F). Render it without a pixel mask
            (the PSF carries light out of masked pixels); give the mask to the loss.
        response: calibration, PSF, gain and offset; its trainable fields are refined.
        readout: read-out noise, ADU rms (> 0): a scalar or an (S, F) map, not refined.
    """

    def __init__(self, diffraction: nn.Module, response: DetectorResponse,
                 readout: float | torch.Tensor) -> None:
        super().__init__()
        self.diffraction, self.response = diffraction, response
        self.register_buffer("readout", torch.as_tensor(readout, dtype=torch.float64))
        if bool((self.readout <= 0).any()):
            raise ValueError("readout: the read-out noise must be > 0 ADU")

    def forward(self) -> torch.Tensor:
        """Expected detected photons per pixel, (S, F) (before the gain)."""
        return self.response.detected(self.diffraction())

    def loss(self, predicted: torch.Tensor, measured, mask=None) -> torch.Tensor:
        """-log likelihood of the measured frame (ADU), :func:`poisson_gaussian_nll` with
        this detector's read-out noise, gain and offset."""
        return poisson_gaussian_nll(predicted, measured, self.readout, self.response.gain,
                                    self.response.adc, mask)

    def expected_frame(self) -> torch.Tensor:
        """The expected detector frame in ADU, (S, F)."""
        return self.response(self.diffraction())

    def natural_values(self) -> dict[str, list[float]]:
        """The diffraction model's refined values, then ``response.gain``/``adc``/``fwhm``."""
        values = dict(self.diffraction.natural_values())
        values.update({f"response.{name}": value
                       for name, value in self.response.natural_values().items()})
        return values
