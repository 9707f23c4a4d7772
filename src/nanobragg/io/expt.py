"""DIALS experiment lists (``.expt``, the dxtbx JSON schema) -> simulation configuration.

An ``.expt`` file holds lists of beams, detectors, crystals, scans and goniometers and a
list of experiments that index into them. Its vectors are in the dxtbx laboratory frame
in mm, Angstrom and degrees; the configuration is in nanobragg's lab frame (the C
program's, see :func:`nanobragg.models.conventions.dxtbx_to_lab`) in SI units.

What is read: the beam (direction, wavelength, polarization), every detector panel (the
hierarchy, when there is one, is composed into lab frames; sensor thickness and mu of
the first panel), the crystal (``real_space_a/b/c`` or an ``A`` matrix), the goniometer
(rotation axis, fixed and setting rotations) and the scan (oscillation of one image).
Beam divergence, flux, mosaicity and profile models are not read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from nanobragg.config import (
    DetectorConfig,
    PanelConfig,
    SimulationConfig,
)
from nanobragg.errors import InputError
from nanobragg.io._atomic import atomic_write, read_bytes
from nanobragg.models.conventions import dxtbx_to_lab

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def read_expt(path: str | os.PathLike[str]) -> dict:
    """The JSON of an experiment list, checked to have a list of experiments.

    Raises:
        InputError: unreadable file, not JSON, or no ``experiment`` list.
    """
    text = read_bytes(path, "experiment list")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"experiment list '{path}': not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("experiment"), list):
        raise InputError(f"experiment list '{path}': no 'experiment' list")
    return data


def write_expt(path: str | os.PathLike[str], data: dict) -> None:
    """Write an experiment list as indented JSON, atomically."""
    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, [text.encode()], "experiment list")


def from_expt(path: str | os.PathLike[str], experiment: int = 0, image: int | None = None,
              base: SimulationConfig | None = None) -> SimulationConfig:
    """A simulation configuration from one experiment of an ``.expt`` file.

    Args:
        path: the experiment list.
        experiment: which experiment (0-based).
        image: image number in the scan's ``image_range`` (default: the first).
        base: configuration whose other values (N, F, mosaic, fluence, oversampling,
            ...) are kept; the file replaces the geometry. Default: all defaults.

    Raises:
        InputError: a missing or malformed part, naming the file.
    """
    data = read_expt(path)
    try:
        return config_from_experiments(data, experiment, image, base)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            message = exc.args[0]
        elif isinstance(exc, KeyError):
            message = f"missing entry {exc.args[0]!r}"
        else:
            message = f"malformed entry ({exc})"
        raise InputError(f"experiment list '{path}': {message}") from exc


def config_from_experiments(data: dict, experiment: int = 0, image: int | None = None,
                            base: SimulationConfig | None = None) -> SimulationConfig:
    """:func:`from_expt` on the parsed JSON ``data``."""
    base = base or SimulationConfig()
    experiments = data["experiment"]
    if not 0 <= experiment < len(experiments):
        raise InputError(f"experiment {experiment} does not exist ({len(experiments)} given)")
    entry = experiments[experiment]
    beam = _model(data, entry, "beam")
    detector = _model(data, entry, "detector")
    if beam is None or detector is None:
        raise InputError(f"experiment {experiment} has no {'beam' if beam is None else 'detector'}")
    gonio = _model(data, entry, "goniometer") or {}
    if "axes" in gonio:
        raise InputError("multi-axis goniometers are not supported")
    setting = _matrix(gonio.get("setting_rotation", _IDENTITY))
    spindle_axis = None
    if gonio:
        spindle_axis = _lab(_unit(setting @ _vector(gonio, "rotation_axis")))
    crystal_cfg = base.crystal
    crystal = _model(data, entry, "crystal")
    if crystal is not None:
        orient = setting @ _matrix(gonio.get("fixed_rotation", _IDENTITY))
        crystal_cfg = dataclasses.replace(
            crystal_cfg, cell=None, reciprocal_matrix=_reciprocal_matrix(crystal, orient),
            misset=None, misset_random_seed=None)
    phi0, osc = _scan_angles(_model(data, entry, "scan"), image)
    crystal_cfg = dataclasses.replace(crystal_cfg, phi0=phi0, osc=osc, phistep=None,
                                      spindle_axis=spindle_axis)
    beam_cfg = dataclasses.replace(base.beam, **_beam_fields(beam))
    det_cfg = detector_from_dxtbx(detector, base.detector, convention="CUSTOM")
    return dataclasses.replace(base, detector=det_cfg, crystal=crystal_cfg, beam=beam_cfg)


def detector_from_dxtbx(data: dict, base: DetectorConfig | None = None,
                        convention: str = "MOSFLM") -> DetectorConfig:
    """A detector configuration from a dxtbx detector dict (mm, dxtbx lab frame).

    Args:
        data: ``{"panels": [...], "hierarchy": {...}}`` as in an ``.expt`` file; each
            panel needs ``origin``, ``fast_axis``, ``slow_axis``, ``pixel_size`` and
            ``image_size`` (fast, slow); the hierarchy may be absent (flat).
        base: options kept (sensor layers, oversampling, ROI); default: all defaults.
        convention: supplies the beam, polarization and spindle vectors. MOSFLM's are
            dxtbx's defaults (beam along -z, E-vector along x, spindle along x).

    Returns:
        The detector with ``panels`` set; fpixels, spixels and pixel_size are the first
        panel's; thickness and mu come from the first panel when it has both.
    """
    panels = panels_from_dxtbx(data)
    first = data["panels"][0]
    base = base or DetectorConfig()
    sensor = {}
    if float(first.get("thickness", 0.0)) > 0 and float(first.get("mu", 0.0)) > 0:
        sensor = {"thickness": float(first["thickness"]) / 1000.0,
                  "mu": float(first["mu"]) * 1000.0}
    return dataclasses.replace(
        base, convention=convention, panels=panels, fpixels=panels[0].fpixels,
        spixels=panels[0].spixels, pixel_size=panels[0].pixel_size, detsize_f=None,
        detsize_s=None, curved=False, **sensor)


def panels_from_dxtbx(data: dict) -> tuple[PanelConfig, ...]:
    """Every panel of a dxtbx detector dict as a lab-frame :class:`PanelConfig` (SI)."""
    panels = data["panels"]
    if not isinstance(panels, list) or not panels:
        raise InputError("detector has no panels")
    frames = _lab_frames(data)
    out = []
    for index, (panel, (fast, slow, origin)) in enumerate(zip(panels, frames)):
        pixel_f, pixel_s = (float(v) for v in panel["pixel_size"])
        if not math.isclose(pixel_f, pixel_s, rel_tol=1e-9):
            raise InputError(f"detector panel {index}: rectangular pixels "
                             f"({pixel_f} x {pixel_s} mm) are not supported")
        nfast, nslow = (int(v) for v in panel["image_size"])
        out.append(PanelConfig(
            origin=tuple(v / 1000.0 for v in _lab(origin)),
            fast_axis=_lab(fast), slow_axis=_lab(slow),
            pixel_size=pixel_f / 1000.0, fpixels=nfast, spixels=nslow,
            name=str(panel.get("name", ""))))
    return tuple(out)


def _lab_frames(data: dict) -> list[tuple[list, list, list]]:
    """Lab-frame (fast, slow, origin) of every panel, composing the hierarchy's frames."""
    panels = data["panels"]
    hierarchy = data.get("hierarchy")
    if hierarchy is None:
        return [_frame(np.eye(3), np.zeros(3), p, i) for i, p in enumerate(panels)]
    frames: list = [None] * len(panels)
    _walk(hierarchy, np.eye(3), np.zeros(3), panels, frames)
    missing = [i for i, f in enumerate(frames) if f is None]
    if missing:
        raise InputError(f"detector panel {missing[0]} is not in the hierarchy")
    return frames


def _walk(node: dict, rotation: np.ndarray, offset: np.ndarray, panels: list,
          frames: list) -> None:
    """Visit a hierarchy group: its frame is relative to its parent's."""
    fast, slow, origin = _frame(rotation, offset, node, "group")
    group_rotation = np.column_stack([fast, slow, np.cross(fast, slow)])
    for child in node.get("children", []):
        if "panel" in child:
            index = int(child["panel"])
            frames[index] = _frame(group_rotation, origin, panels[index], index)
        else:
            _walk(child, group_rotation, origin, panels, frames)


def _frame(rotation: np.ndarray, offset: np.ndarray, node: dict, label) -> tuple:
    """(fast, slow, origin) of a node in its parent's frame, mapped into the lab frame."""
    fast, slow = _unit(_vector(node, "fast_axis")), _unit(_vector(node, "slow_axis"))
    if abs(float(fast @ slow)) > 1e-6:
        raise InputError(f"detector panel {label}: fast and slow axes are not perpendicular")
    return (rotation @ fast, rotation @ slow, rotation @ _vector(node, "origin") + offset)


def _beam_fields(beam: dict) -> dict:
    """BeamConfig fields of a dxtbx monochromatic beam."""
    kind = beam.get("__id__", "MonochromaticBeam")
    if kind not in ("MonochromaticBeam", "Beam", "monochromatic"):
        raise InputError(f"beam type '{kind}' is not supported (monochromatic only)")
    towards_source = _unit(_vector(beam, "direction"))
    propagation = -towards_source
    normal = _unit(np.asarray(beam.get("polarization_normal", (0.0, 1.0, 0.0)), float))
    e_vector = _unit(np.cross(propagation, normal))
    fraction = float(beam.get("polarization_fraction", 0.999))
    return {
        "wavelength": float(beam["wavelength"]) * 1e-10,
        "beam_vector": _lab(propagation),
        "polar_vector": _lab(e_vector),
        "polarization": 2.0 * fraction - 1.0,
    }


def _reciprocal_matrix(crystal: dict, orientation: np.ndarray) -> tuple:
    """Columns a*, b*, c* (1/Angstrom) in the lab frame at spindle angle 0, as rows x, y, z."""
    if "A" in crystal:
        recip = orientation @ np.asarray(crystal["A"], float).reshape(3, 3)
    else:
        real = np.stack([_vector(crystal, f"real_space_{n}") for n in "abc"])  # rows
        real = (orientation @ real.T).T
        recip = np.linalg.inv(real)  # columns a*, b*, c*
    rows = [_lab(recip[:, j]) for j in range(3)]
    return tuple(tuple(rows[j][i] for j in range(3)) for i in range(3))


def _scan_angles(scan: dict | None, image: int | None) -> tuple[float, float | None]:
    """Start angle and oscillation (rad) of one image of the scan; (0, None) without one."""
    if scan is None:
        return 0.0, None
    first, last = (int(v) for v in scan["image_range"])
    number = first if image is None else int(image)
    if not first <= number <= last:
        raise InputError(f"image {number} is outside the scan's image range {first}-{last}")
    props = scan.get("properties")
    if props is not None:
        starts = [float(v) for v in props["oscillation"]]
        width = (starts[1] - starts[0] if len(starts) > 1
                 else float(props.get("oscillation_width", [0.0])[0]))
        start = starts[number - first]
    else:
        start0, width = (float(v) for v in scan["oscillation"])
        start = start0 + (number - first) * width
    return math.radians(start), (math.radians(width) if width != 0 else None)


def _model(data: dict, entry: dict, kind: str) -> dict | None:
    """The ``kind`` model an experiment refers to, or None."""
    index = entry.get(kind)
    if index is None:
        return None
    models = data.get(kind)
    if not isinstance(models, list) or not 0 <= int(index) < len(models):
        raise InputError(f"experiment refers to {kind} {index}, which does not exist")
    return models[int(index)]


def _lab(v: np.ndarray) -> tuple[float, float, float]:
    """A dxtbx-frame vector in the lab frame as plain floats (no negative zeros)."""
    return tuple(float(x) + 0.0 for x in dxtbx_to_lab(tuple(v)))


def _vector(node: dict, key: str) -> np.ndarray:
    value = np.asarray(node[key], dtype=float).reshape(-1)
    if value.shape != (3,) or not np.all(np.isfinite(value)):
        raise InputError(f"'{key}' must be 3 finite numbers")
    return value


def _unit(v: np.ndarray) -> np.ndarray:
    length = float(np.linalg.norm(v))
    if length == 0:
        raise InputError("a direction vector is zero")
    return v / length


def _matrix(values) -> np.ndarray:
    matrix = np.asarray(values, dtype=float)
    if matrix.size != 9:
        raise InputError("a rotation matrix must have 9 numbers")
    return matrix.reshape(3, 3)
