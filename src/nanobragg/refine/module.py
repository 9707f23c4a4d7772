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

#: Key of the refined amplitudes in :meth:`DiffractionModel.natural_values`.
F_NAME = "structure_factors.F"

#: Fields that must stay > 0: they are used as |parameter|, so a line search that steps
#: past 0 is reflected back instead of leaving the domain.
POSITIVE = frozenset({"crystal.mosaic_spread", "crystal.N", "crystal.fudge",
                      "detector.thickness", "beam.dispersion", "beam.hdivrange",
                      "beam.vdivrange", "beam.fluence"})

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
        refine_F: Miller indices ``(h, k, l)`` whose amplitudes in ``table`` are refined
            too (electrons; each index with its Friedel mate unless ``friedel=False``).
        engine: render engine (:mod:`nanobragg.render.engines`): ``"auto"`` takes the
            fused kernel and its adjoint where they apply; second derivatives (Hessian-
            vector products, gradgradcheck) need ``"eager"``.

    Raises:
        ValueError: a name is not in the table, is not differentiable, or its value is
            not set in ``config`` and has no derived default
            (:data:`nanobragg.refine.defaults.DERIVED`: beam centre, distances, XDS
            origin, misset start from the values the render derives); a reflection of
            ``refine_F`` is not in the table.
    """

    def __init__(self, config: SimulationConfig, refine: list[str],
                 table: FTable | None = None, mask: np.ndarray | None = None,
                 dtype: torch.dtype = torch.float64, scales: dict | None = None,
                 refine_F=(), friedel: bool = True, engine: str = "auto"):
        super().__init__()
        self.engine = engine
        self.names = [n for name in refine for n in ALIASES.get(name, (name,))]
        self.entries = [_refinable(name) for name in self.names]
        config = pin_derived(config, self.names)
        self.config, self.table, self.mask, self.dtype = config, table, mask, dtype
        self.scales = [_scale(entry, config, scales or {}) for entry in self.entries]
        self.values = nn.ParameterList(
            nn.Parameter(torch.tensor(_start_value(config, e), dtype=torch.float64) / s)
            for e, s in zip(self.entries, self.scales))
        self.reflections = [tuple(int(i) for i in hkl) for hkl in refine_F]
        self.F_positions, self.F_owner, start = _F_positions(table, self.reflections, friedel)
        self.F_values = nn.Parameter(start) if self.reflections else None

    def _refined(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """A parameter's value as used: |value| for the fields that must stay > 0."""
        return value.abs() if name in POSITIVE else value

    def si_values(self) -> dict[str, torch.Tensor]:
        """The refined values in SI units (differentiable), by name."""
        return {name: self._refined(name, value) * scale
                for name, value, scale in zip(self.names, self.values, self.scales)}

    def natural_values(self) -> dict[str, list[float]]:
        """The refined values in their refinement units, as plain floats, by name."""
        values = {name: self._refined(name, value).detach().reshape(-1).tolist()
                  for name, value in zip(self.names, self.values)}
        if self.F_values is not None:
            values[F_NAME] = self.F_values.detach().tolist()
        return values

    def current_table(self) -> FTable | None:
        """The structure factors with the refined amplitudes in place (differentiable)."""
        if self.F_values is None:
            return self.table
        table = self.table
        F = table.F.to(self.F_values.dtype).index_put(self.F_positions,
                                                      self.F_values[self.F_owner])
        return FTable(F, table.mins, table.default_F, table.loaded)

    def current_config(self) -> SimulationConfig:
        """The configuration with the parameters' current (differentiable) values."""
        config = self.config
        for entry, value in zip(self.entries, self.si_values().values()):
            config = with_value(config, entry, value)
        return config

    def forward(self) -> torch.Tensor:
        """The rendered image, photons per pixel, shape (slow, fast)."""
        device = self.values[0].device if len(self.values) else torch.device("cpu")
        return simulate(self.current_config(), self.current_table(), self.mask,
                        dtype=self.dtype, device=device, engine=self.engine).image


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


def _F_positions(table: FTable | None, reflections: list[tuple[int, int, int]],
                 friedel: bool) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
    """Grid indices of the refined reflections (and mates), which value each takes, starts.

    Returns:
        ``(h, k, l)`` index tensors of the grid points, shape (m,) each; the owner
        (index into ``reflections``) of each point, shape (m,); the starting amplitudes,
        shape (len(reflections),) float64.

    Raises:
        ValueError: no table, a reflection outside it or given twice (also as a mate),
            or a Friedel mate whose amplitude differs (refine those with friedel=False).
    """
    if not reflections:
        empty = torch.zeros(0, dtype=torch.long)
        return (empty, empty, empty), empty, torch.zeros(0, dtype=torch.float64)
    if table is None or not table.loaded:
        raise ValueError("refine_F: needs a structure-factor table (an HKL or MTZ file)")
    F = table.F.detach()
    points: dict[tuple[int, int, int], int] = {}
    for owner, hkl in enumerate(reflections):
        mates = [hkl, tuple(-i for i in hkl)] if friedel and any(hkl) else [hkl]
        for mate in mates:
            index = tuple(m - lo for m, lo in zip(mate, table.mins))
            if not all(0 <= i < n for i, n in zip(index, table.ranges)):
                if mate == hkl:
                    raise ValueError(f"refine_F: reflection {hkl} is outside the table")
                continue
            if index in points:
                raise ValueError(f"refine_F: reflection {mate} is refined twice "
                                 f"(list each Friedel pair once)")
            if float(F[index]) != _amplitude(F, table.mins, hkl):
                raise ValueError(f"refine_F: F{hkl} = {_amplitude(F, table.mins, hkl):g} but "
                                 f"its Friedel mate F{mate} = {float(F[index]):g}; give "
                                 f"friedel=False to refine them apart")
            points[index] = owner
    grid = torch.tensor(list(points), dtype=torch.long).T
    owner = torch.tensor(list(points.values()), dtype=torch.long)
    start = torch.tensor([_amplitude(F, table.mins, hkl) for hkl in reflections],
                         dtype=torch.float64)
    return tuple(grid), owner, start


def _amplitude(F: torch.Tensor, mins: tuple[int, int, int], hkl: tuple[int, int, int]) -> float:
    return float(F[tuple(m - lo for m, lo in zip(hkl, mins))])
