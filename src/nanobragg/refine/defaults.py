"""Starting values of refined fields the configuration leaves unset: the derived defaults.

A field such as the beam centre is usually not given: the convention derives it from the
detector size, and the render uses the derived value. A refinement of it starts from that
value, so that the first render of the model equals the render of the configuration.
"""

from __future__ import annotations

import dataclasses

import torch

from ..config import SimulationConfig
from ..models.crystal import resolve_misset
from ..models.panels import build_detector
from ..products.reports import detector_report


def _report(config: SimulationConfig) -> dict:
    detector = build_detector(config.detector, config.beam, torch.float64, torch.device("cpu"))
    return detector_report(detector, config)


def _misset(config: SimulationConfig) -> list[float]:
    angles = resolve_misset(config.crystal)
    return [0.0, 0.0, 0.0] if angles is None else [float(a) for a in angles]


#: table name -> the value (SI) the render derives when the field is unset
DERIVED = {
    "detector.beam_center": lambda cfg: [_report(cfg)[k] for k in ("xbeam", "ybeam")],
    "detector.distance": lambda cfg: _report(cfg)["distance"],
    "detector.org": lambda cfg: [_report(cfg)[k] for k in ("orgx", "orgy")],
    "crystal.misset": _misset,
}


def derived_default(config: SimulationConfig, name: str) -> float | list[float]:
    """The value (SI) the render uses for the unset field ``name``.

    Raises:
        ValueError: the field has no derived default (giving it a value would change
            the render's sampling, e.g. a phi range or a divergence).
    """
    try:
        rule = DERIVED[name]
    except KeyError:
        raise ValueError(f"refine: {name} is not set and has no derived default "
                         f"(setting it changes the sampling); give it a starting value "
                         f"in the configuration") from None
    return rule(config)


def pin_derived(config: SimulationConfig, names: list[str]) -> SimulationConfig:
    """``config`` with each unset field of ``names`` that has a derived default set to it.

    A pinned misset also drops the random-misset seed, which would otherwise win.
    """
    for name in names:
        if name not in DERIVED:
            continue
        part, _, field = name.partition(".")
        section = getattr(config, part)
        value = getattr(section, field)
        if not (value is None or (isinstance(value, tuple) and all(v is None for v in value))):
            continue
        derived = derived_default(config, name)
        changes = {field: tuple(derived) if isinstance(derived, list) else derived}
        if name == "crystal.misset":
            changes["misset_random_seed"] = None
        config = dataclasses.replace(config, **{part: dataclasses.replace(section, **changes)})
    return config
