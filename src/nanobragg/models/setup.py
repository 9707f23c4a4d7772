"""The kernel's inputs: the detector, crystal and beam models, the sampling and the F table.

Nothing is copied out of the models: the kernel reads the tensors where the models hold
them and the static choices from :class:`~nanobragg.models.sampling.Sampling`. Derived
per-render values (the scale and the water background) are computed from the models
when used (:func:`scale`, :func:`background`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..physics.structure_factors import FTable
from ..units import R_E_SQR
from .beam import Beam
from .crystal import Crystal
from .detector import Detector
from .sampling import Sampling

#: The tensor models of a setup, by attribute name.
TENSOR_MODELS = ("detector", "crystal", "beam")


@dataclass(frozen=True)
class Setup:
    """Everything one render needs, as typed models on one device.

    Attributes:
        detector: detector frame, pixel size, sensor layers (float64 tensors).
        crystal: crystal rows per phi step and mosaic domain, N, fudge (float64 tensors).
        beam: sources, wavelengths, polarization, fluence, water (float64 tensors).
        sampling: the static choices (Python values only).
        table: structure factors in the working dtype.
    """

    detector: Detector
    crystal: Crystal
    beam: Beam
    sampling: Sampling
    table: FTable

    @property
    def oversample(self) -> int:
        """Sub-pixels per pixel edge."""
        return self.sampling.oversample

    @property
    def steps(self) -> int:
        """The C's normalisation count (sources x domains x phi steps x oversample^2)."""
        return self.sampling.steps

    @property
    def device(self) -> torch.device:
        """Where the tensors live."""
        return self.detector.pix0.device

    @property
    def dtype(self) -> torch.dtype:
        """Working precision of the kernel."""
        return self.sampling.dtype

    @property
    def layers(self) -> int:
        """T: sensor layers evaluated."""
        return int(self.detector.layer_offsets.shape[0])

    @property
    def evaluations_per_pixel(self) -> int:
        """T * O * S * F * M: kernel evaluations per pixel."""
        rows = self.crystal.real_rows
        return (self.layers * self.sampling.subpixel_count * int(self.beam.incident.shape[0])
                * int(rows.shape[0]) * int(rows.shape[1]))


def scale(setup: Setup) -> torch.Tensor:
    """``r_e^2 * fluence / steps`` (m^2 per photon and step), scalar in the working dtype."""
    return (R_E_SQR * setup.beam.fluence / setup.sampling.steps).to(setup.sampling.dtype)


def background(setup: Setup) -> torch.Tensor:
    """The C's water background ``I_bg`` (before scaling), scalar in the working dtype."""
    return setup.beam.background_intensity().to(setup.sampling.dtype)


def with_lookup(setup: Setup, lookup: str) -> Setup:
    """The setup with another structure-factor lookup (e.g. ``"nearest"`` once tricubic
    interpolation has left the grid)."""
    return dataclasses.replace(setup, sampling=dataclasses.replace(setup.sampling, lookup=lookup))


def tensor_fields(setup: Setup) -> list[tuple[str, str]]:
    """``(model, field)`` of every tensor the detector, crystal and beam models hold."""
    out = []
    for model in TENSOR_MODELS:
        value = getattr(setup, model)
        out += [(model, f.name) for f in dataclasses.fields(value)
                if isinstance(getattr(value, f.name), torch.Tensor)]
    return out


def requires_grad(setup: Setup) -> bool:
    """Whether any tensor of the models or the F table requires grad."""
    return setup.table.F.requires_grad or any(
        getattr(getattr(setup, model), name).requires_grad
        for model, name in tensor_fields(setup))


def replace_fields(setup: Setup, values: dict[tuple[str, str], torch.Tensor]) -> Setup:
    """The setup with some model fields replaced, keyed by ``(model, field)``."""
    changes: dict[str, dict] = {}
    for (model, name), value in values.items():
        changes.setdefault(model, {})[name] = value
    return dataclasses.replace(setup, **{
        model: dataclasses.replace(getattr(setup, model), **fields)
        for model, fields in changes.items()})
