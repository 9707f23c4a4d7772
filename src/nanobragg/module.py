"""A thin ``torch.nn.Module`` around the simulator, for refining parameters by gradient descent.

The module holds the chosen continuous inputs of a :class:`SimulationConfig` as
``nn.Parameter``s and renders the image in ``forward``; the physics stays in the pure
functions. Example::

    model = DiffractionModel(config, refine=["detector.distance", "crystal.cell"])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss = ((model() - measured) ** 2).mean()
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from .config import SimulationConfig
from .errors import InputError
from .physics.structure_factors import FTable
from .simulator import simulate

#: Tuple-valued fields, whose parameter is a vector of this length.
_VECTOR_FIELDS = {"crystal.cell": 6, "crystal.misset": 3, "crystal.N": 3,
                  "detector.beam_center": 2}


class DiffractionModel(nn.Module):
    """Render the image of a configuration whose chosen fields are trainable.

    Args:
        config: the starting configuration (SI units).
        refine: dotted field names to make trainable, e.g. ``"detector.distance"``,
            ``"crystal.cell"`` (6 values), ``"crystal.misset"``, ``"beam.wavelength"``.
        table: structure factors (None: default_F everywhere).
        mask: uint16 (slow, fast) pixel mask, 0 = skip.
        dtype: working precision of the render.
    """

    def __init__(self, config: SimulationConfig, refine: list[str],
                 table: FTable | None = None, mask: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.config, self.table, self.mask, self.dtype = config, table, mask, dtype
        self.names = list(refine)
        self.values = nn.ParameterList(
            nn.Parameter(torch.as_tensor(_start_value(config, name), dtype=torch.float64))
            for name in self.names)

    def current_config(self) -> SimulationConfig:
        """The configuration with the parameters' current (differentiable) values."""
        config = self.config
        for name, value in zip(self.names, self.values):
            part, field = name.split(".")
            entry = tuple(value.unbind()) if name in _VECTOR_FIELDS else value
            section = dataclasses.replace(getattr(config, part), **{field: entry})
            config = dataclasses.replace(config, **{part: section})
        return config

    def forward(self) -> torch.Tensor:
        """The rendered image, photons per pixel, shape (slow, fast)."""
        device = self.values[0].device if len(self.values) else torch.device("cpu")
        return simulate(self.current_config(), self.table, self.mask, dtype=self.dtype,
                        device=device).image


def _start_value(config: SimulationConfig, name: str):
    """The configured value of a dotted field, as floats (checked to be refinable)."""
    part, _, field = name.partition(".")
    section = getattr(config, part, None)
    if section is None or not hasattr(section, field):
        raise InputError(f"refine: '{name}' is not a configuration field")
    value = getattr(section, field)
    expected = _VECTOR_FIELDS.get(name)
    if expected is not None:
        if value is None or len(value) != expected or any(v is None for v in value):
            raise InputError(f"refine: '{name}' needs all {expected} values set to start from")
        return [float(v) for v in value]
    if value is None or isinstance(value, (bool, str, tuple)):
        raise InputError(f"refine: '{name}' is not a continuous value with a starting point")
    return float(value)
