"""A thin ``torch.nn.Module`` around the simulator, for refining parameters by gradient descent.

The module holds the chosen continuous inputs of a :class:`SimulationConfig` as
``nn.Parameter``s in natural units (Angstrom, degrees, mm, pixels: see
:mod:`nanobragg.parameters`), so that one learning rate or L-BFGS without tuning serves
them all, and renders the image in ``forward``; the physics stays in the pure
functions. Example::

    model = DiffractionModel(config, refine=["detector.distance", "crystal.cell_lengths"])
    optimiser = torch.optim.LBFGS(model.parameters())
    loss = poisson_nll(model(), measured)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ..config import SimulationConfig
from ..parameters import Parameter, lookup
from ..physics.structure_factors import FTable
from ..physics.vectors import value_of
from ..render.simulate import simulate
from .defaults import derived_default, pin_derived

#: Names that stand for several table entries.
ALIASES = {"crystal.cell": ("crystal.cell_lengths", "crystal.cell_angles")}


class DiffractionModel(nn.Module):
    """Render the image of a configuration whose chosen fields are trainable.

    Args:
        config: the starting configuration (SI units).
        refine: names from the parameter table, e.g. ``"detector.distance"``,
            ``"crystal.cell_lengths"``, ``"crystal.cell_angles"``, ``"crystal.misset"``,
            ``"detector.beam_center"``; ``"crystal.cell"`` means lengths and angles.
        table: structure factors (None: default_F everywhere).
        mask: uint16 (slow, fast) pixel mask, 0 = skip.
        dtype: working precision of the render.
        scales: SI value of one refinement unit per name, overriding the table's
            natural unit (e.g. ``{"beam.fluence": 1e28}``).

    Raises:
        ValueError: a name is not in the table, is not differentiable, or its value is
            not set in ``config`` and has no derived default
            (:data:`nanobragg.refine.defaults.DERIVED`: beam centre, distances, XDS
            origin, misset start from the values the render derives).
    """

    def __init__(self, config: SimulationConfig, refine: list[str],
                 table: FTable | None = None, mask: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64, scales: dict | None = None):
        super().__init__()
        self.names = [n for name in refine for n in ALIASES.get(name, (name,))]
        self.entries = [_refinable(name) for name in self.names]
        config = pin_derived(config, self.names)
        self.config, self.table, self.mask, self.dtype = config, table, mask, dtype
        self.scales = [_scale(entry, config, scales or {}) for entry in self.entries]
        self.values = nn.ParameterList(
            nn.Parameter(torch.tensor(_start_value(config, e), dtype=torch.float64) / s)
            for e, s in zip(self.entries, self.scales))

    def si_values(self) -> dict[str, torch.Tensor]:
        """The refined values in SI units (differentiable), by name."""
        return {name: value * scale
                for name, value, scale in zip(self.names, self.values, self.scales)}

    def natural_values(self) -> dict[str, list[float]]:
        """The refined values in their refinement units, as plain floats, by name."""
        return {name: value.detach().reshape(-1).tolist()
                for name, value in zip(self.names, self.values)}

    def current_config(self) -> SimulationConfig:
        """The configuration with the parameters' current (differentiable) values."""
        config = self.config
        for entry, value in zip(self.entries, self.si_values().values()):
            config = with_value(config, entry, value)
        return config

    def forward(self) -> torch.Tensor:
        """The rendered image, photons per pixel, shape (slow, fast)."""
        device = self.values[0].device if len(self.values) else torch.device("cpu")
        return simulate(self.current_config(), self.table, self.mask, dtype=self.dtype,
                        device=device).image


def with_value(config: SimulationConfig, entry: Parameter, value: torch.Tensor):
    """A copy of ``config`` with a table entry set to ``value`` (SI; its elements if a view)."""
    part, _, field = entry.field.rpartition(".")
    section = getattr(config, part) if part else config
    if entry.indices is None:
        new = value.reshape(())
    else:
        current = list(getattr(section, field))
        for i, v in zip(entry.indices, value.reshape(-1).unbind()):
            current[i] = v
        new = tuple(current)
    if not part:
        return dataclasses.replace(config, **{field: new})
    return dataclasses.replace(config, **{part: dataclasses.replace(section, **{field: new})})


def _refinable(name: str) -> Parameter:
    entry = lookup(name)
    if entry.field.startswith("detector.panels."):
        raise ValueError(f"refine: {name} is not held by DiffractionModel: give the panels "
                         f"tensors with requires_grad and render with simulate_panels")
    if not entry.differentiable:
        raise ValueError(f"refine: {name} is not differentiable ({entry.doc})")
    return entry


def _scale(entry: Parameter, config: SimulationConfig, overrides: dict) -> float:
    """SI value of one refinement unit: the override, the table's, or one pixel."""
    if entry.name in overrides:
        return float(overrides[entry.name])
    if entry.scale is None:
        return value_of(config.detector.pixel_size)
    return entry.scale


def _start_value(config: SimulationConfig, entry: Parameter):
    """The configured value of an entry, or the one the render derives, as floats (SI)."""
    part, _, field = entry.field.rpartition(".")
    value = getattr(getattr(config, part) if part else config, field)
    if entry.indices is None:
        return derived_default(config, entry.name) if value is None else value_of(value)
    if value is None or all(i >= len(value) or value[i] is None for i in entry.indices):
        return derived_default(config, entry.name)
    if any(i >= len(value) or value[i] is None for i in entry.indices):
        raise ValueError(f"refine: {entry.name} needs all {entry.size} values set to start from")
    return [value_of(value[i]) for i in entry.indices]
