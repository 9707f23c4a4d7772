"""The geometry an image file records: panels, beam, spindle and exposure as plain numbers.

Writers (NeXus, CBF, PNG rings) take an :class:`ImageGeometry` so that they never touch
the models. Vectors are in nanobragg's lab frame (the frame of the detector convention
used: beam along +x for MOSFLM, +z for XDS/DIALS/ADXV); :func:`mcstas_rotation` gives
the rotation into the NeXus (McStas) frame.

NeXus frame choice: the rotation maps the beam direction onto +z (McStas: beam along +z,
y up) and keeps the lab y axis (made perpendicular to the beam) as +y; x completes the
right-handed set. For MOSFLM this is (x, y, z)_McStas = (-z, y, x)_nanobragg, which is the
C program's own DIALS_ORIGIN map (z, y, -x) followed by the 180 degree turn about y that
takes the DIALS/imgCIF frame (beam along -z) to McStas. For XDS, DIALS and ADXV (beam
already along +z) it is the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..models.crystal import phi_sampling
from ..models.detector import frame_vectors
from ..physics.vectors import value_of

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class PanelGeometry:
    """One flat rectangular panel (NXdetector_module) in nanobragg's lab frame.

    Attributes:
        origin: sample to the outer corner of pixel (0, 0) (m), 3 values.
        fast, slow: unit vectors along increasing fast and slow pixel index.
        pixel_size: (fast, slow) pixel edges (m).
        size: (fast, slow) pixel counts.
        data_origin: (slow, fast) index of the panel's first pixel in the image array.
        name: module name in files.
    """

    origin: Vector
    fast: Vector
    slow: Vector
    pixel_size: tuple[float, float]
    size: tuple[int, int]
    data_origin: tuple[int, int] = (0, 0)
    name: str = "module"

    @property
    def normal(self) -> np.ndarray:
        """Unit vector fast x slow, shape (3,)."""
        n = np.cross(self.fast, self.slow)
        return n / np.linalg.norm(n)


@dataclass(frozen=True)
class ImageGeometry:
    """Everything besides the pixels that an image file records.

    Attributes:
        panels: detector panels (one for today's single-rectangle detector).
        beam: unit beam direction (propagation, source to sample) in the lab frame.
        wavelength: central wavelength (m).
        total_flux: photons per second in the beam.
        exposure: exposure time of one frame (s).
        distance: sample to the direct-beam point on panel 0 along the beam (m).
        beam_center: direct-beam point on panel 0 as (fast, slow) pixel coordinates,
            with (0, 0) the outer corner of the first pixel (so 0.5 is its centre).
        spindle: unit spindle (phi) axis in the lab frame; the crystal turns right-handed.
        phi_start, phi_increment: spindle angle at the start of each frame and the
            range of one frame (rad); a rotation series has ``frames`` values.
        frames: number of frames (images) in the file.
        sensor_thickness: sensor thickness (m); sensor_material: its name.
        saturation: largest valid count.
    """

    panels: tuple[PanelGeometry, ...]
    beam: Vector
    wavelength: float
    total_flux: float
    exposure: float
    distance: float
    beam_center: tuple[float, float]
    spindle: Vector
    phi_start: float = 0.0
    phi_increment: float = 0.0
    frames: int = 1
    sensor_thickness: float = 0.0
    sensor_material: str = "Si"
    saturation: int = 65535

    @property
    def phi_values(self) -> np.ndarray:
        """Spindle angle at the start of every frame (rad), shape (frames,)."""
        return self.phi_start + self.phi_increment * np.arange(self.frames)


def mcstas_rotation(beam: Vector) -> np.ndarray:
    """Rotation matrix (3, 3) from nanobragg's lab frame to the NeXus McStas frame.

    Row 2 is the beam, row 1 the lab y axis made perpendicular to it (the lab z axis if
    the beam is along y), row 0 = row 1 x row 2. See the module docstring.
    """
    z = np.asarray(beam, dtype=np.float64)
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
    y = up - np.dot(up, z) * z
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z])


def two_theta_map(panel: PanelGeometry, beam: Vector) -> np.ndarray:
    """Scattering angle 2 theta (rad) at every pixel centre, shape (slow, fast)."""
    nf, ns = panel.size
    pf, ps = panel.pixel_size
    f = (np.arange(nf) + 0.5) * pf
    s = (np.arange(ns) + 0.5) * ps
    pos = (np.asarray(panel.origin)[None, None, :] + f[None, :, None] * np.asarray(panel.fast)
           + s[:, None, None] * np.asarray(panel.slow))
    b = np.asarray(beam, dtype=np.float64) / np.linalg.norm(beam)
    cos2t = (pos @ b) / np.linalg.norm(pos, axis=-1)
    return np.arccos(np.clip(cos2t, -1.0, 1.0))


def resolution_map(panel: PanelGeometry, beam: Vector, wavelength: float) -> np.ndarray:
    """Resolution d = lambda / (2 sin theta) (m) at every pixel centre, shape (slow, fast).

    The direct beam (2 theta = 0) has infinite d.
    """
    with np.errstate(divide="ignore"):
        return wavelength / (2.0 * np.sin(two_theta_map(panel, beam) / 2.0))


def detector_panel(detector) -> PanelGeometry:
    """The single rectangular panel of a detector model (``models.detector.Detector``).

    Its origin is the C's pix0 (the outer corner of pixel (0, 0)), its axes fdet and
    sdet. A curved detector is written as this flat panel (files have no sphere).
    """
    pixel = value_of(detector.pixel_size)
    return PanelGeometry(
        origin=_vec(detector.pix0), fast=_vec(detector.fdet), slow=_vec(detector.sdet),
        pixel_size=(pixel, pixel), size=(int(detector.fpixels), int(detector.spixels)))


def geometry_from_setup(setup, config, exposure: float = 1.0, frames: int = 1,
                        phi_increment: float | None = None) -> ImageGeometry:
    """The geometry of a rendered image from its models and configuration.

    Args:
        setup: the simulator's ``Setup`` (detector, crystal, beam models).
        config: the ``SimulationConfig`` it was built from.
        exposure: exposure time of the whole image (s); with several frames each
            frame gets ``exposure / frames``.
        frames: 1 for a still or summed image, else one frame per phi step.
        phi_increment: range of one frame (rad); default the whole oscillation
            (divided among the frames).

    Returns:
        Plain-number geometry for the writers.
    """
    det = setup.detector
    panel = detector_panel(det)
    _, _, osc = phi_sampling(config.crystal)
    spindle = frame_vectors(config.detector, config.beam, det.fdet.dtype, det.fdet.device,
                            config.crystal.spindle_axis)["spindle"]
    beamsize = value_of(config.beam.beamsize)
    fluence = value_of(config.beam.fluence)
    distance, centre = beam_hit(panel, _vec(det.beam))
    return ImageGeometry(
        panels=(panel,), beam=_vec(det.beam),
        wavelength=value_of(config.beam.wavelength),
        total_flux=fluence * beamsize * beamsize / exposure if exposure > 0 else 0.0,
        exposure=exposure / frames, distance=distance, beam_center=centre,
        spindle=_vec(spindle),
        phi_start=value_of(config.crystal.phi0),
        phi_increment=osc / frames if phi_increment is None else phi_increment,
        frames=frames, sensor_thickness=float(det.thickness))


def beam_hit(panel: PanelGeometry, beam: Vector) -> tuple[float, tuple[float, float]]:
    """Where the beam from the sample meets the panel's plane.

    This is the geometric direct-beam point, which the C's reported Fbeam/Sbeam and
    distance equal only without two-theta (the C computes those without the swing).

    Returns:
        (distance from the sample along the beam (m), (fast, slow) pixel coordinates
        with (0, 0) at the outer corner of pixel (0, 0)); infinite if the beam runs
        parallel to the panel.
    """
    origin = np.asarray(panel.origin)
    b = np.asarray(beam, dtype=np.float64) / np.linalg.norm(beam)
    normal = panel.normal
    along = float(np.dot(b, normal))
    if along == 0.0:
        return math.inf, (math.inf, math.inf)
    distance = float(np.dot(origin, normal)) / along
    hit = distance * b - origin
    return distance, (float(np.dot(hit, panel.fast)) / panel.pixel_size[0],
                      float(np.dot(hit, panel.slow)) / panel.pixel_size[1])


def _vec(t) -> Vector:
    values = [float(v) for v in t.detach().cpu().reshape(3).tolist()]
    return (values[0], values[1], values[2])
