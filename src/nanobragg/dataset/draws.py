"""Per-shot parameters drawn from counter-based random streams.

Shot ``i`` of a data set with master seed ``s`` draws each varied quantity from its own
stream, a Philox generator seeded by ``SeedSequence(s, spawn_key=(i, stream))``. No
state is shared between shots or between quantities, so a shot's values do not depend
on which shots ran before it, where, or in what order, and switching one variation on
does not change the values drawn for another.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import SimulationConfig
from ..models.panels import build_detector
from ..physics.vectors import value_of
from ..products.reports import detector_report
from ..units import ANGSTROM
from .description import DatasetDescription
from .sections import lowest
from .variation import DescriptionError, Distribution

#: Stream numbers of the varied quantities (never renumber: they fix the data).
#: Background and detector quantities are named as their labels.
STREAMS = {"orientation": 0, "cell": 1, "mosaic": 2, "size": 3, "wavelength": 4,
           "spectrum": 5, "beam_center": 6, "distance": 7, "fluence": 8, "noise": 9,
           "background_thickness_mm": 10, "background_width_mm": 11,
           "background_height_mm": 12, "background_density_g_cm3": 13,
           "background_molecular_weight": 14, "detector_gain": 15, "detector_readout": 16,
           "detector_adc": 17, "detector_psf_fwhm_um": 18, "detector_flicker_scale": 19,
           "readout_noise": 20, "calibration": 21}


def stream(seed: int, index: int, name: str) -> np.random.Generator:
    """The random stream of quantity ``name`` for shot ``index``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(index, STREAMS[name]))
    return np.random.Generator(np.random.Philox(sequence))


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """A unit quaternion ``(w, x, y, z)`` uniform on the 3-sphere (Shoemake), ``w >= 0``.

    Its rotation is uniform (Haar) on SO(3).
    """
    u1, u2, u3 = rng.random(3)
    a, b = math.sqrt(1.0 - u1), math.sqrt(u1)
    q = np.array([b * math.cos(2 * math.pi * u3), a * math.sin(2 * math.pi * u2),
                  a * math.cos(2 * math.pi * u2), b * math.sin(2 * math.pi * u3)])
    return -q if q[0] < 0 else q


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion ``(w, x, y, z)``."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def misset_angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """Angles ``(rx, ry, rz)`` (rad) with ``Rz(rz) @ Ry(ry) @ Rx(rx) == matrix``.

    That is the order in which the crystal model applies a misset.
    """
    rx = math.atan2(matrix[2, 1], matrix[2, 2])
    ry = math.atan2(-matrix[2, 0], math.hypot(matrix[0, 0], matrix[1, 0]))
    rz = math.atan2(matrix[1, 0], matrix[0, 0])
    return rx, ry, rz


@dataclass(frozen=True)
class ShotParameters:
    """The values of one shot, in the units of their names; they are its labels.

    Attributes:
        index: shot number.
        quaternion: ``(w, x, y, z)`` of the random orientation, identity when fixed.
        cell: a, b, c (Angstrom), alpha, beta, gamma (deg); NaN without a cell.
        mosaic_spread_deg, N, crystal_size_um (0: N decides), wavelength_A.
        spectrum_A: wavelength of every line (one line: the central wavelength).
        beam_center_mm: (Xbeam, Ybeam) in the convention's axes; distance_mm; fluence.
        misset: the misset angles put into the configuration (rad), or None.
        background: with a ``background`` section, its values by name (label units).
        detector: with a ``detector`` section, its values by name (``gain``, ``readout``,
            ``adc``, ``psf_fwhm_um`` with a PSF) and ``flicker_scale``, the shot's beam
            intensity factor.
    """

    index: int
    quaternion: tuple[float, float, float, float]
    cell: tuple[float, ...]
    mosaic_spread_deg: float
    N: tuple[float, float, float]
    crystal_size_um: float
    wavelength_A: float
    spectrum_A: tuple[float, ...]
    beam_center_mm: tuple[float, float]
    distance_mm: float
    fluence: float
    misset: tuple[float, float, float] | None = None
    background: dict[str, float] = field(default_factory=dict)
    detector: dict[str, float] = field(default_factory=dict)

    def labels(self) -> dict[str, float | tuple]:
        """Plain values for the manifest, the files and training (misset left out);
        background and detector values are ``background_<name>``, ``detector_<name>``."""
        out = dataclasses.asdict(self)
        out.pop("misset")
        for section in ("background", "detector"):
            out.update({f"{section}_{name}": value for name, value in out.pop(section).items()})
        return out


def sample_shot(desc: DatasetDescription, index: int) -> ShotParameters:
    """Draw the parameters of shot ``index`` (the same on every machine, every time)."""
    var, cfg = desc.variation, desc.config
    base = base_values(desc)

    def rng(name: str) -> np.random.Generator:
        return stream(desc.seed, index, name)

    quaternion, misset = (1.0, 0.0, 0.0, 0.0), None
    if var.orientation == "random":
        q = random_quaternion(rng("orientation"))
        quaternion, misset = tuple(float(v) for v in q), misset_angles(quaternion_matrix(q))
    wavelength = base["wavelength_A"]
    if var.wavelength_A is not None:
        wavelength = var.wavelength_A.draw(rng("wavelength"))
    spectrum = (wavelength,)
    if var.spectrum_lines > 1:
        spread = rng("spectrum").standard_normal(var.spectrum_lines) * var.spectrum_bandwidth
        spectrum = tuple(float(wavelength * (1.0 + d)) for d in spread)
    return ShotParameters(
        index=index, quaternion=quaternion, cell=_cell(base["cell"], var, rng("cell")),
        mosaic_spread_deg=_mosaic(base["mosaic_spread_deg"], var, rng("mosaic")),
        N=_cells(cfg, var, rng("size")), crystal_size_um=_size(var, rng("size")),
        wavelength_A=wavelength, spectrum_A=spectrum,
        beam_center_mm=_jittered(base["beam_center_mm"], var.beam_center_sigma_mm,
                                 rng("beam_center")),
        distance_mm=_jittered((base["distance_mm"],), var.distance_sigma_mm,
                              rng("distance"))[0],
        fluence=base["fluence"] if var.fluence is None else var.fluence.draw(rng("fluence")),
        misset=misset, background=_section_values(desc.background, "background", rng),
        detector=_detector_values(desc, rng),
    )


def _section_values(section, prefix: str, rng) -> dict[str, float]:
    """One draw per value of a section, each from the stream named as its label; a
    draw is clipped to the lowest value the description admits."""
    if section is None:
        return {}
    return {name: _draw(dist, rng(f"{prefix}_{name}")) for name, dist in section.values}


def _draw(dist: Distribution, rng: np.random.Generator) -> float:
    return max(lowest(dist), dist.draw(rng))


def _detector_values(desc: DatasetDescription, rng) -> dict[str, float]:
    """The detector's drawn values and the beam intensity factor ``1 + flicker * z``
    (at least 0; exactly 1 without flicker)."""
    section = desc.detector
    values = _section_values(section, "detector", rng)
    if section is not None:
        scale = 1.0
        if section.flicker > 0:
            scale = 1.0 + section.flicker * float(
                rng("detector_flicker_scale").standard_normal())
        values["flicker_scale"] = max(0.0, scale)
    return values


def _cell(cell: tuple[float, ...], var, rng: np.random.Generator) -> tuple[float, ...]:
    if not (var.cell_length_sigma or var.cell_angle_sigma_deg):
        return cell
    noise = rng.standard_normal(6)
    lengths = [x * (1.0 + var.cell_length_sigma * n) for x, n in zip(cell[:3], noise[:3])]
    angles = [x + var.cell_angle_sigma_deg * n for x, n in zip(cell[3:], noise[3:])]
    return tuple(float(v) for v in lengths + angles)


def _mosaic(base: float, var, rng: np.random.Generator) -> float:
    if var.mosaic_spread_deg is None:
        return base
    return max(0.0, var.mosaic_spread_deg.draw(rng))


def _cells(cfg: SimulationConfig, var, rng: np.random.Generator) -> tuple[float, float, float]:
    if var.N is None:
        return tuple(value_of(n) for n in cfg.crystal.N)
    n = float(max(1, round(var.N.draw(rng))))
    return (n, n, n)


def _size(var, rng: np.random.Generator) -> float:
    return 0.0 if var.crystal_size_um is None else var.crystal_size_um.draw(rng)


def _jittered(values: tuple[float, ...], sigma: float, rng: np.random.Generator) -> tuple:
    if sigma == 0:
        return tuple(values)
    return tuple(float(v + sigma * n) for v, n in zip(values, rng.standard_normal(len(values))))


@functools.lru_cache(maxsize=16)
def base_values(desc: DatasetDescription) -> dict:
    """The experiment's own values of the varied quantities (label units)."""
    cfg = desc.config
    detector = build_detector(cfg.detector, cfg.beam, torch.float64, torch.device("cpu"))
    report = detector_report(detector, cfg)
    cell = cfg.crystal.cell
    if cell is None:
        cell_values = (math.nan,) * 6
    else:
        cell_values = tuple(value_of(x) / ANGSTROM for x in cell[:3]) + tuple(
            math.degrees(value_of(x)) for x in cell[3:])
    spread = cfg.crystal.mosaic_spread
    return {
        "cell": cell_values, "wavelength_A": value_of(cfg.beam.wavelength) / ANGSTROM,
        "mosaic_spread_deg": 0.0 if spread is None else math.degrees(value_of(spread)),
        "beam_center_mm": (1e3 * report["xbeam"], 1e3 * report["ybeam"]),
        "distance_mm": 1e3 * report["distance"], "fluence": value_of(cfg.beam.fluence),
    }


def check_variation(desc: DatasetDescription) -> None:
    """Raise DescriptionError where the experiment cannot take a variation."""
    var, cfg = desc.variation, desc.config
    if (var.cell_length_sigma or var.cell_angle_sigma_deg) and cfg.crystal.cell is None:
        raise DescriptionError("variation.cell_length_sigma: the experiment has no -cell")
    if var.distance_sigma_mm and cfg.detector.close_distance is not None:
        raise DescriptionError("variation.distance_sigma_mm: the experiment fixes "
                               "-close_distance")
    if (var.wavelength_A is not None or var.spectrum_lines > 1) and cfg.beam.sources:
        raise DescriptionError("variation.wavelength_A: the experiment has a -sourcefile")


def shot_config(desc: DatasetDescription, shot: ShotParameters) -> SimulationConfig:
    """The experiment with the shot's values put in; quantities that do not vary are
    left exactly as the experiment gives them."""
    var, cfg = desc.variation, desc.config
    crystal, beam, detector = {}, {}, {}
    if shot.misset is not None:
        crystal.update(misset=shot.misset, misset_random_seed=None)
    if var.cell_length_sigma or var.cell_angle_sigma_deg:
        crystal["cell"] = tuple(x * ANGSTROM for x in shot.cell[:3]) + tuple(
            math.radians(x) for x in shot.cell[3:])
    if var.mosaic_spread_deg is not None:
        crystal["mosaic_spread"] = math.radians(shot.mosaic_spread_deg)
    if var.mosaic_domains is not None:
        crystal["mosaic_domains"] = var.mosaic_domains
    if var.N is not None:
        crystal["N"] = shot.N
    if var.crystal_size_um is not None:
        crystal["sample_size"] = (shot.crystal_size_um * 1e-6,) * 3
    if var.wavelength_A is not None:
        beam["wavelength"] = shot.wavelength_A * ANGSTROM
    if var.spectrum_lines > 1:
        beam.update(dispersion=None, sources=tuple(
            (math.nan, math.nan, math.nan, 1.0, w * ANGSTROM) for w in shot.spectrum_A))
    if var.fluence is not None:
        beam["fluence"] = shot.fluence
    if var.beam_center_sigma_mm:
        detector["beam_center"] = tuple(x * 1e-3 for x in shot.beam_center_mm)
    if var.distance_sigma_mm:
        detector["distance"] = shot.distance_mm * 1e-3
    amorphous = cfg.amorphous
    if desc.background is not None:
        amorphous = desc.background.amorphous(shot.background)
    return dataclasses.replace(
        cfg, crystal=dataclasses.replace(cfg.crystal, **crystal),
        beam=dataclasses.replace(cfg.beam, **beam),
        detector=dataclasses.replace(cfg.detector, **detector), amorphous=amorphous)
