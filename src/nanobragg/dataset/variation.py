"""The per-shot variation of a data set: which values change from shot to shot, and how.

A value that varies is a :class:`Distribution`, written in a description as a plain
number (fixed) or a one-key mapping ``{uniform: [low, high]}``, ``{normal: [mean, sd]}``
or ``{log_uniform: [low, high]}``. Units are in the key names (``_deg``, ``_mm``,
``_A``, ``_um``); ``fluence`` is in photons/m^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

KINDS = ("uniform", "normal", "log_uniform")
ORIENTATIONS = ("fixed", "random")
NOISES = ("none", "poisson")


class DescriptionError(InputError):
    """A data-set description that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Distribution:
    """A scalar drawn once per shot.

    Attributes:
        kind: ``"fixed"`` or one of ``KINDS``.
        a, b: fixed value; low and high (uniform, log_uniform); mean and sd (normal).
    """

    kind: str
    a: float
    b: float = 0.0

    def draw(self, rng: np.random.Generator) -> float:
        """One value; a fixed distribution consumes no random numbers."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return float(self.a + (self.b - self.a) * rng.random())
        if self.kind == "normal":
            return float(self.a + self.b * rng.standard_normal())
        return float(math.exp(math.log(self.a) + (math.log(self.b) - math.log(self.a))
                              * rng.random()))

    def to_doc(self) -> Any:
        """The description form (a number or a one-key mapping)."""
        return self.a if self.kind == "fixed" else {self.kind: [self.a, self.b]}


@dataclass(frozen=True)
class Variation:
    """What changes per shot; ``None`` or 0 means "as in the experiment".

    Attributes:
        orientation: ``"random"``: uniform on SO(3) (replaces the experiment's misset).
        cell_length_sigma: relative sd of each cell length (normal).
        cell_angle_sigma_deg: sd of each cell angle (deg, normal).
        mosaic_spread_deg: mosaic spread (deg); mosaic_domains: domains per shot.
        N: unit cells per axis (same on all three, rounded, at least 1).
        crystal_size_um: crystal edge (um, a cube); the C rule turns it into N.
        wavelength_A: central wavelength (Angstrom).
        spectrum_bandwidth: relative sd of the wavelength lines of a shot (normal).
        spectrum_lines: wavelength lines per shot (1 = monochromatic).
        beam_center_sigma_mm: sd of the beam centre along both detector axes (mm).
        distance_sigma_mm: sd of the detector distance (mm).
        fluence: photons/m^2.
        noise: ``"poisson"`` adds seeded Poisson counts per shot.
    """

    orientation: str = "fixed"
    cell_length_sigma: float = 0.0
    cell_angle_sigma_deg: float = 0.0
    mosaic_spread_deg: Distribution | None = None
    mosaic_domains: int | None = None
    N: Distribution | None = None
    crystal_size_um: Distribution | None = None
    wavelength_A: Distribution | None = None
    spectrum_bandwidth: float = 0.0
    spectrum_lines: int = 1
    beam_center_sigma_mm: float = 0.0
    distance_sigma_mm: float = 0.0
    fluence: Distribution | None = None
    noise: str = "none"


_DISTRIBUTIONS = ("mosaic_spread_deg", "N", "crystal_size_um", "wavelength_A", "fluence")
_SIGMAS = ("cell_length_sigma", "cell_angle_sigma_deg", "beam_center_sigma_mm",
           "distance_sigma_mm")
KEYS = ("orientation", "mosaic_domains", "spectrum", "noise") + _DISTRIBUTIONS + _SIGMAS


def parse_variation(doc: Any, key: str = "variation") -> Variation:
    """Read the ``variation`` mapping of a description.

    Raises:
        DescriptionError: unknown key or bad value (the message names the key).
    """
    if doc is None:
        return Variation()
    if not isinstance(doc, dict):
        raise DescriptionError(f"{key}: expected a mapping, got {type(doc).__name__}")
    for name in doc:
        if name not in KEYS:
            raise DescriptionError(f"{key}.{name}: unknown key (known: {', '.join(KEYS)})")
    values: dict[str, Any] = {}
    for name in _DISTRIBUTIONS:
        if name in doc:
            values[name] = parse_distribution(doc[name], f"{key}.{name}")
    for name in _SIGMAS:
        if name in doc:
            values[name] = number(doc[name], f"{key}.{name}", low=0.0)
    values["orientation"] = choice(doc.get("orientation", "fixed"), f"{key}.orientation",
                                   ORIENTATIONS)
    values["noise"] = choice(doc.get("noise", "none"), f"{key}.noise", NOISES)
    if "mosaic_domains" in doc:
        values["mosaic_domains"] = integer(doc["mosaic_domains"], f"{key}.mosaic_domains", 1)
    values.update(_spectrum(doc.get("spectrum"), f"{key}.spectrum"))
    if "N" in values and "crystal_size_um" in values:
        raise DescriptionError(f"{key}.crystal_size_um: give either N or crystal_size_um")
    _check_positive_ranges(values, key)
    return Variation(**values)


def parse_distribution(value: Any, key: str) -> Distribution:
    """A number (fixed) or ``{kind: [a, b]}``."""
    if not isinstance(value, dict):
        return Distribution("fixed", number(value, key))
    if len(value) != 1 or next(iter(value)) not in KINDS:
        raise DescriptionError(f"{key}: expected a number or one of "
                               f"{{{', '.join(KINDS)}: [a, b]}}, got {value!r}")
    kind, pair = next(iter(value.items()))
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise DescriptionError(f"{key}.{kind}: expected two numbers [a, b], got {pair!r}")
    a, b = (number(v, f"{key}.{kind}") for v in pair)
    if kind == "normal" and b < 0:
        raise DescriptionError(f"{key}.normal: sd must not be negative (got {b:g})")
    if kind != "normal" and b < a:
        raise DescriptionError(f"{key}.{kind}: high {b:g} is below low {a:g}")
    if kind == "log_uniform" and a <= 0:
        raise DescriptionError(f"{key}.log_uniform: bounds must be positive (got {a:g})")
    return Distribution(kind, a, b)


def _spectrum(doc: Any, key: str) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict) or set(doc) - {"bandwidth", "lines"}:
        raise DescriptionError(f"{key}: expected {{bandwidth: relative sd, lines: count}}")
    return {"spectrum_bandwidth": number(doc.get("bandwidth", 0.0), f"{key}.bandwidth", 0.0),
            "spectrum_lines": integer(doc.get("lines", 1), f"{key}.lines", 1)}


def _check_positive_ranges(values: dict[str, Any], key: str) -> None:
    """Distributions of sizes must stay positive where they are bounded."""
    for name in _DISTRIBUTIONS:
        dist = values.get(name)
        if dist is None:
            continue
        low = dist.a - 5 * dist.b if dist.kind == "normal" else dist.a
        if name != "mosaic_spread_deg" and low <= 0:
            raise DescriptionError(f"{key}.{name}: values must stay positive (lowest {low:g})")
        if name == "mosaic_spread_deg" and low < 0 and dist.kind != "normal":
            raise DescriptionError(f"{key}.{name}: must not be negative (got {low:g})")


def number(value: Any, key: str, low: float | None = None) -> float:
    """A finite real number (bools are not numbers), at least ``low`` if given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DescriptionError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise DescriptionError(f"{key}: expected a finite number, got {value!r}")
    if low is not None and value < low:
        raise DescriptionError(f"{key}: must be at least {low:g} (got {value:g})")
    return float(value)


def integer(value: Any, key: str, low: int) -> int:
    """A whole number of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DescriptionError(f"{key}: expected a whole number, got {value!r}")
    if value < low:
        raise DescriptionError(f"{key}: must be at least {low} (got {value})")
    return value


def choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise DescriptionError(f"{key}: {value!r} is not one of {', '.join(choices)}")
    return value
