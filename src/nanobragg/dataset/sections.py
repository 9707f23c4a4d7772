"""The ``background`` and ``detector`` sections of a data-set description.

``background`` adds amorphous scattering (water, ice, air ...: the C ``nonBragg`` term,
:class:`nanobragg.config.AmorphousConfig`) to every shot's Bragg render::

    background:
      stol: water.stol          # F(sin(theta)/lambda) table, relative to the description
      stol_unit: stol           # or 4stol, Q: how its first column reads
      thickness_mm: {uniform: [0.05, 0.2]}
      width_mm: 0.1             # across the beam; the beam size clips width and height
      height_mm: 0.1
      density_g_cm3: 1.0
      molecular_weight: 18

``detector`` turns each shot's photons into a detector frame (ADU) in the order of the C
``noisify`` program: beam flicker and calibration error scale the photons, Poisson
counts, PSF, gain, read-out noise, offset::

    detector:
      gain: 1.5                 # ADU per photon
      readout: 3.0              # read-out noise, ADU rms
      adc: 10                   # offset, ADU
      psf: {kind: gauss, fwhm_um: 100, radius: 3}   # or kind: fiber
      flicker: 0.05             # relative sd of the beam intensity, one draw per shot
      calibration: 0.03         # relative sd of the per-pixel calibration error
      calibration_seed: 1       # seed of that map (default: the master seed)

The frames are the data set's ``counts`` (float32); ``images`` stay the noiseless
photons. Poisson counts and read-out noise need ``variation.noise: poisson``; without it
the frame is the expected one (:mod:`nanobragg.dataset.response`).

Every number except ``flicker``, ``calibration``, ``radius`` and ``calibration_seed`` is
fixed or a per-shot distribution, as in ``variation``. ``flicker`` and ``calibration`` are
plain numbers: the per-shot draw is the flicker itself, and the calibration map is the
same for every shot of the data set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import AmorphousConfig
from ..errors import InputError
from ..io.stol import STOL_UNITS, read_stol
from ..physics.detector_response import PSF_KINDS
from .variation import DescriptionError, Distribution, choice, integer, number, parse_distribution

#: Varied background quantities (label units) and their defaults (AmorphousConfig's).
BACKGROUND_VALUES = {"thickness_mm": 0.1, "width_mm": 0.1, "height_mm": 0.1,
                     "density_g_cm3": 1.0, "molecular_weight": 18.0}
_POSITIVE = ("molecular_weight",)
BACKGROUND_KEYS = ("stol", "stol_unit") + tuple(BACKGROUND_VALUES)
STOL_UNIT_NAMES = tuple(unit.lstrip("-") for unit in STOL_UNITS)
DETECTOR_KEYS = ("gain", "readout", "adc", "psf", "flicker", "calibration",
                 "calibration_seed")
PSF_KEYS = ("kind", "fwhm_um", "radius")


@dataclass(frozen=True)
class Background:
    """Amorphous material in the beam, varied per shot.

    Attributes:
        stol: the ``.stol`` table file (absolute path).
        stol_unit: ``"stol"``, ``"4stol"`` or ``"Q"``.
        values: one distribution per name of ``BACKGROUND_VALUES`` (units in the names).
        digest: SHA-256 of the table file's bytes (the fingerprint uses it, not the path).
    """

    stol: str
    stol_unit: str
    values: tuple[tuple[str, Distribution], ...]
    digest: str

    def amorphous(self, drawn: dict[str, float]) -> AmorphousConfig:
        """The material of a shot from its drawn values (label units) in SI units."""
        return AmorphousConfig(
            stol=self.stol, stol_unit=f"-{self.stol_unit}",
            thickness=drawn["thickness_mm"] * 1e-3, width=drawn["width_mm"] * 1e-3,
            height=drawn["height_mm"] * 1e-3, density=drawn["density_g_cm3"] * 1e6,
            molecular_weight=drawn["molecular_weight"])

    def to_doc(self) -> dict[str, Any]:
        """What identifies the background (the table by its digest, not its path)."""
        return {"stol_sha256": self.digest, "stol_unit": self.stol_unit,
                **{name: dist.to_doc() for name, dist in self.values}}


@dataclass(frozen=True)
class DetectorSection:
    """A detector response applied after rendering.

    Attributes:
        values: distributions of ``gain`` (ADU/photon), ``readout`` (ADU rms), ``adc``
            (ADU) and, with a PSF, ``psf_fwhm_um`` (um).
        psf_kind: ``"gauss"``, ``"fiber"`` or None (no PSF); psf_radius: kernel radius
            (pixels).
        flicker: relative sd of the per-shot beam intensity (0: none).
        calibration: relative sd of the per-pixel calibration error (0: none).
        calibration_seed: seed of the calibration map; None: the master seed.
    """

    values: tuple[tuple[str, Distribution], ...]
    psf_kind: str | None = None
    psf_radius: int = 0
    flicker: float = 0.0
    calibration: float = 0.0
    calibration_seed: int | None = None

    def to_doc(self) -> dict[str, Any]:
        """The section as numbers and one-key mappings (for the fingerprint)."""
        return {"psf_kind": self.psf_kind, "psf_radius": self.psf_radius,
                "flicker": self.flicker, "calibration": self.calibration,
                "calibration_seed": self.calibration_seed,
                **{name: dist.to_doc() for name, dist in self.values}}


def parse_background(doc: Any, base: Path, key: str = "background") -> Background | None:
    """Read the ``background`` mapping; ``stol`` is relative to ``base``.

    Raises:
        DescriptionError: unknown key, bad value or unreadable table (names the key).
    """
    if doc is None:
        return None
    _check_keys(doc, key, BACKGROUND_KEYS)
    if "stol" not in doc:
        raise DescriptionError(f"{key}.stol: missing")
    if not isinstance(doc["stol"], str):
        raise DescriptionError(f"{key}.stol: expected a file name, got {doc['stol']!r}")
    unit = choice(doc.get("stol_unit", "stol"), f"{key}.stol_unit", STOL_UNIT_NAMES)
    path = (base / doc["stol"]).resolve()
    digest = _stol_digest(path, unit, f"{key}.stol")
    values = tuple((name, _nonnegative(doc.get(name, default), f"{key}.{name}",
                                       name in _POSITIVE))
                   for name, default in BACKGROUND_VALUES.items())
    return Background(str(path), unit, values, digest)


def _stol_digest(path: Path, unit: str, key: str) -> str:
    """SHA-256 of a readable ``.stol`` table."""
    try:
        read_stol(path, STOL_UNITS[f"-{unit}"], f"-{unit}")
    except InputError as err:
        raise DescriptionError(f"{key}: {err}") from err
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_detector(doc: Any, key: str = "detector") -> DetectorSection | None:
    """Read the ``detector`` mapping.

    Raises:
        DescriptionError: unknown key or bad value (the message names the key).
    """
    if doc is None:
        return None
    _check_keys(doc, key, DETECTOR_KEYS)
    values = [("gain", _nonnegative(doc.get("gain", 1.0), f"{key}.gain", True)),
              ("readout", _nonnegative(doc.get("readout", 0.0), f"{key}.readout")),
              ("adc", parse_distribution(doc.get("adc", 0.0), f"{key}.adc"))]
    kind, radius = None, 0
    if "psf" in doc:
        psf, pkey = doc["psf"], f"{key}.psf"
        _check_keys(psf, pkey, PSF_KEYS)
        for name in PSF_KEYS:
            if name not in psf:
                raise DescriptionError(f"{pkey}.{name}: missing")
        kind = choice(psf["kind"], f"{pkey}.kind", PSF_KINDS)
        values.append(("psf_fwhm_um", _nonnegative(psf["fwhm_um"], f"{pkey}.fwhm_um", True)))
        radius = integer(psf["radius"], f"{pkey}.radius", 0)
    seed = doc.get("calibration_seed")
    return DetectorSection(
        values=tuple(values), psf_kind=kind, psf_radius=radius,
        flicker=number(doc.get("flicker", 0.0), f"{key}.flicker", low=0.0),
        calibration=number(doc.get("calibration", 0.0), f"{key}.calibration", low=0.0),
        calibration_seed=None if seed is None else integer(seed, f"{key}.calibration_seed", 0))


def _check_keys(doc: Any, key: str, known: tuple[str, ...]) -> None:
    if not isinstance(doc, dict):
        raise DescriptionError(f"{key}: expected a mapping, got {type(doc).__name__}")
    for name in doc:
        if name not in known:
            raise DescriptionError(f"{key}.{name}: unknown key (known: {', '.join(known)})")


def _nonnegative(value: Any, key: str, positive: bool = False) -> Distribution:
    """A distribution whose values stay at least 0 (above 0 with ``positive``); a normal
    one is judged by its mean less 5 sd."""
    dist = parse_distribution(value, key)
    low = lowest(dist)
    if positive and not low > 0:
        raise DescriptionError(f"{key}: values must stay positive (lowest {low:g})")
    if low < 0:
        raise DescriptionError(f"{key}: must not be negative (lowest {low:g})")
    return dist


def lowest(dist: Distribution) -> float:
    """The smallest value a draw may take (a normal one is clipped at mean - 5 sd)."""
    return dist.a - 5 * dist.b if dist.kind == "normal" else dist.a


__all__ = ["Background", "DetectorSection", "parse_background", "parse_detector"]
