"""The declared table of continuous inputs: unit, place in the configuration, gradients.

Every continuous value of a :class:`~nanobragg.config.SimulationConfig` is listed once in
:data:`PARAMETERS` with its SI unit (the unit of the configuration), the natural unit a
refinement works in, and whether the image is differentiable with respect to it.
:func:`check_gradient_requests` enforces the table: a tensor that requires grad on a
field that is not differentiable (or at a value where the gradient does not exist) is
a ``ValueError`` naming the field, never a silent detach.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

DEG = math.pi / 180.0


@dataclass(frozen=True)
class Parameter:
    """One continuous input.

    Attributes:
        name: dotted name, e.g. ``"detector.distance"`` (what ``DiffractionModel`` refines).
        field: dotted configuration field holding it (differs for views such as
            ``crystal.cell_lengths``, which is ``crystal.cell[0:3]``); ``detector.panels.X``
            is field ``X`` of every panel.
        indices: the elements of a tuple field it covers, or None for a scalar field.
        unit: SI unit of the configuration value.
        natural_unit: unit a refinement works in.
        scale: SI value of one natural unit; None means one pixel (the pixel size).
        differentiable: whether the image has a gradient with respect to it.
        doc: what it is, and for a non-differentiable one, why not.
    """

    name: str
    field: str
    indices: tuple[int, ...] | None
    unit: str
    natural_unit: str
    scale: float | None
    differentiable: bool
    doc: str

    @property
    def size(self) -> int:
        """Number of values (1 for a scalar field)."""
        return 1 if self.indices is None else len(self.indices)


def _p(name, unit, natural, scale, diff, doc, field=None, indices=None) -> Parameter:
    return Parameter(name, field or name, indices, unit, natural, scale, diff, doc)


_VECTOR = "a direction: give cell, misset or rotations to refine orientation"
#: Every continuous input, once.
PARAMETERS: tuple[Parameter, ...] = (
    _p("detector.pixel_size", "m", "mm", 1e-3, True, "pixel edge"),
    _p("detector.detsize_f", "m", "mm", 1e-3, True, "detector size along fast"),
    _p("detector.detsize_s", "m", "mm", 1e-3, True, "detector size along slow"),
    _p("detector.distance", "m", "mm", 1e-3, True, "sample to detector along the beam"),
    _p("detector.close_distance", "m", "mm", 1e-3, True, "sample to detector plane"),
    _p("detector.beam_center", "m", "pixel", None, True, "(Xbeam, Ybeam)", indices=(0, 1)),
    _p("detector.close_center", "m", "pixel", None, True, "(Xclose, Yclose)", indices=(0, 1)),
    _p("detector.org", "pixel", "pixel", 1.0, True, "(ORGX, ORGY) XDS origin", indices=(0, 1)),
    _p("detector.rotx", "rad", "deg", DEG, True, "detector rotation about x"),
    _p("detector.roty", "rad", "deg", DEG, True, "detector rotation about y"),
    _p("detector.rotz", "rad", "deg", DEG, True, "detector rotation about z"),
    _p("detector.twotheta", "rad", "deg", DEG, True, "detector swing"),
    _p("detector.thickness", "m", "um", 1e-6, True, "sensor thickness (> 0 for a gradient)"),
    _p("detector.mu", "1/m", "1/mm", 1e3, True, "sensor attenuation (needs a thickness)"),
    _p("detector.twotheta_axis", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("detector.fdet_vector", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("detector.sdet_vector", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("detector.odet_vector", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("detector.panels.origin", "m", "mm", 1e-3, True,
       "each PanelConfig.origin (multi-panel detectors, through simulate_panels)"),
    _p("detector.panels.rotation", "rad", "deg", DEG, True,
       "each PanelConfig.rotation about its fast, slow, normal axes (simulate_panels)"),
    _p("crystal.cell_lengths", "m", "A", 1e-10, True, "a, b, c", "crystal.cell", (0, 1, 2)),
    _p("crystal.cell_angles", "rad", "deg", DEG, True, "alpha, beta, gamma", "crystal.cell",
       (3, 4, 5)),
    _p("crystal.reciprocal_matrix", "1/A", "1/A", 1.0, False,
       "an orientation matrix: refine cell and misset instead", indices=tuple(range(9))),
    _p("crystal.misset", "rad", "deg", DEG, True, "misset about x, y, z", indices=(0, 1, 2)),
    _p("crystal.N", "cells", "cells", 1.0, True, "cells along a, b, c (real, > 0)",
       indices=(0, 1, 2)),
    _p("crystal.sample_size", "m", "um", 1e-6, False,
       "sets N by rounding up: refine crystal.N instead", indices=(0, 1, 2)),
    _p("crystal.fudge", "1", "1", 1.0, True, "spot-shape scale"),
    _p("crystal.default_F", "electrons", "electrons", 1.0, False,
       "structure factor constant: refine beam.fluence for the overall scale"),
    _p("crystal.mosaic_spread", "rad", "deg", DEG, True, "mosaic spread (> 0 for a gradient)"),
    _p("crystal.phi0", "rad", "deg", DEG, True, "spindle start"),
    _p("crystal.osc", "rad", "deg", DEG, True, "oscillation range"),
    _p("crystal.phistep", "rad", "deg", DEG, True, "spindle step"),
    _p("crystal.spindle_axis", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("beam.wavelength", "m", "A", 1e-10, True, "central wavelength"),
    _p("beam.dispersion", "1", "1", 1.0, True, "spectral width / wavelength (> 0)"),
    _p("beam.dispstep", "1", "1", 1.0, True, "spectral step / wavelength"),
    _p("beam.hdivrange", "rad", "mrad", 1e-3, True, "horizontal divergence (> 0)"),
    _p("beam.vdivrange", "rad", "mrad", 1e-3, True, "vertical divergence (> 0)"),
    _p("beam.hdivstep", "rad", "mrad", 1e-3, True, "horizontal divergence step"),
    _p("beam.vdivstep", "rad", "mrad", 1e-3, True, "vertical divergence step"),
    _p("beam.fluence", "photons/m^2", "1e24 photons/m^2", 1e24, True, "photons per area"),
    _p("beam.polarization", "1", "1", 1.0, True, "Kahn polarization factor"),
    _p("beam.beam_vector", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("beam.polar_vector", "1", "1", 1.0, False, _VECTOR, indices=(0, 1, 2)),
    _p("beam.water_size", "m", "um", 1e-6, True, "water thickness around the crystal"),
    _p("beam.beamsize", "m", "um", 1e-6, False, "clips the sample size, which sets N"),
    _p("beam.sources", "m", "m", 1.0, False, "listed source rows: give a beam model instead"),
    _p("dmin", "m", "A", 1e-10, False, "a resolution cut-off (a step in the image)"),
)

#: The table by name.
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}


def lookup(name: str) -> Parameter:
    """The entry of a dotted name.

    Raises:
        ValueError: no continuous input has that name.
    """
    if name not in BY_NAME:
        raise ValueError(f"{name}: not a continuous input (see nanobragg.parameters.PARAMETERS)")
    return BY_NAME[name]


def entry_for(field: str, index: int | None) -> Parameter | None:
    """The entry covering element ``index`` of a configuration field (None: not listed)."""
    for p in PARAMETERS:
        if p.field == field and (p.indices is None or index is None or index in p.indices):
            return p
    return None


def traced_leaves(value):
    """``(index, tensor)`` for every tensor that requires grad in a value or (nested) tuple.

    The index counts the elements of the flattened tuple (None for a scalar value).
    """
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            yield None, value
        return
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(_flat(value)):
            if isinstance(item, torch.Tensor) and item.requires_grad:
                yield i, item


def _flat(value) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _flat(item)]
    return [value]


def requested(config) -> list[tuple[Parameter | None, str, int | None]]:
    """Every element of the configuration that requires grad: (entry, field, index)."""
    found = []
    for section_name, section in _sections(config):
        for f in dataclasses.fields(section):
            field = f"{section_name}.{f.name}" if section_name else f.name
            if section_name == "" and dataclasses.is_dataclass(getattr(section, f.name)):
                continue
            for index, _ in traced_leaves(getattr(section, f.name)):
                found.append((entry_for(field, index), field, index))
    return found


def _sections(config):
    yield "", config
    for name in ("detector", "crystal", "beam"):
        yield name, getattr(config, name)


def check_gradient_requests(config) -> None:
    """Refuse every gradient request the table (or the value) cannot honour.

    Args:
        config: a SimulationConfig whose values may be tensors.

    Raises:
        ValueError: naming the field, when a tensor requires grad on a field that is not
            differentiable, or where the gradient does not exist (see :func:`_domain`).
    """
    for entry, field, index in requested(config):
        where = field if index is None else f"{field}[{index}]"
        if entry is None:
            raise ValueError(f"{where}: not a continuous input, it cannot take a gradient")
        if not entry.differentiable:
            raise ValueError(f"{entry.name}: not differentiable ({entry.doc})")
        problem = _domain(config, entry.name, index)
        if problem:
            raise ValueError(f"{entry.name}: {problem}")


def _value(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _domain(config, name: str, index: int | None) -> str | None:
    """Why the gradient of a differentiable field does not exist at this configuration."""
    det, cry, beam = config.detector, config.crystal, config.beam
    rules = {
        "detector.thickness": lambda: _value(det.thickness) <= 0
        and "the gradient needs a thickness > 0 (0 means no sensor)",
        "detector.mu": lambda: _value(det.thickness) <= 0
        and "mu has no effect without a sensor thickness > 0",
        "detector.distance": lambda: det.close_distance is not None
        and "ignored when detector.close_distance is given",
        "crystal.mosaic_spread": lambda: _value(cry.mosaic_spread) <= 0
        and "the gradient needs a spread > 0 (0 means no mosaic domains)",
        "crystal.N": lambda: _n_problem(cry, index),
        "crystal.misset": lambda: cry.misset_random_seed is not None
        and "ignored when misset_random_seed is set",
        "crystal.cell_angles": lambda: cry.reciprocal_matrix is not None
        and "ignored when reciprocal_matrix is given (it fixes the angles)",
        "crystal.osc": lambda: cry.phistep is not None
        and "with phistep given the range only sets the step count",
        "crystal.fudge": lambda: cry.shape == "square"
        and "only used by the round, gauss and tophat shapes",
    }
    for axis in ("hdivrange", "vdivrange", "dispersion"):
        rules[f"beam.{axis}"] = lambda axis=axis: _range_problem(beam, axis)
    rules.update(_centre_rules(det))
    rule = rules.get(name)
    return (rule() or None) if rule else None


def _n_problem(cry, index) -> str | bool:
    if _value(cry.N[index]) <= 0:
        return f"N[{index}] must be > 0 for a gradient"
    if _value(cry.sample_size[index]) > 0:
        return f"N[{index}] is set from sample_size[{index}] (rounded up), not used"
    return False


def _range_problem(beam, axis: str) -> str | bool:
    value = getattr(beam, axis)
    if beam.sources:
        return "ignored when sources are listed"
    if _value(value) <= 0:
        return "the gradient needs a range > 0 (0 means a single source)"
    return False


_SAMPLE_PIVOT = ("XDS", "DIALS")
_BEAM_CENTRE_DEFAULTS = ("MOSFLM", "DENZO", "ADXV")


def _centre_rules(det) -> dict:
    """Which of the beam-centre inputs a convention really uses (see conventions.py)."""
    conv, given = det.convention, all(v is not None for v in det.beam_center)
    return {
        "detector.beam_center": lambda: conv in _SAMPLE_PIVOT
        and f"not used by {conv} (its pivot is the sample): refine detector.org",
        "detector.close_center": lambda: (conv != "CUSTOM" or given)
        and "only used by the CUSTOM convention without a beam_center",
        "detector.org": lambda: (conv in _BEAM_CENTRE_DEFAULTS
                                 and f"not used by {conv}: refine detector.beam_center")
        or (conv == "CUSTOM" and given
            and "ignored by CUSTOM when a beam_center is given: refine detector.beam_center"),
        "detector.detsize_f": lambda: _detsize_unused(det),
        "detector.detsize_s": lambda: _detsize_unused(det),
    }


def _detsize_unused(det) -> str | bool:
    conv = det.convention
    if conv in _BEAM_CENTRE_DEFAULTS and all(v is not None for v in det.beam_center):
        return "only sets the default beam centre, and beam_center is given"
    if conv in _SAMPLE_PIVOT and all(v is not None for v in det.org):
        return "only sets the default origin, and org is given"
    return False
