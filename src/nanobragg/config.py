"""Frozen configuration records for one simulation.

Everything here is plain data in SI units (metres, radians, photons/m^2) with
``None`` meaning "not given, use the C program's default rule". The rules that
turn these values into a detector frame, a crystal orientation and a list of
sources live in :mod:`nanobragg.models.conventions` and :mod:`nanobragg.models`.

Continuous values may also be ``torch.Tensor`` scalars (for example with
``requires_grad=True``); the models keep them in the autograd graph.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .physics import lattice
from .physics.vectors import value_of

CONVENTIONS = ("MOSFLM", "XDS", "ADXV", "DENZO", "DIALS", "CUSTOM")
PIVOTS = ("BEAM", "SAMPLE")
#: Lattice shape names: the entries of the shape family (``physics.lattice.SHAPES``).
SHAPES = tuple(lattice.SHAPES)

Vector = tuple[float, float, float]

#: The C program's default fluence in photons/m^2 (chosen so that r_e^2 * fluence = 1).
DEFAULT_FLUENCE = 125932015286227086360700780544.0


@dataclass(frozen=True)
class PanelConfig:
    """One flat detector panel in nanobragg's lab frame (SI units).

    Attributes:
        origin: vector from the sample to the outer corner of pixel (0, 0) (m), 3 values
            or a (3,) tensor.
        fast_axis, slow_axis: unit vectors along increasing fast and slow pixel index.
        pixel_size: square pixel edge (m).
        fpixels, spixels: pixel counts along fast and slow.
        normal: unit normal, or None for ``fast_axis x slow_axis`` pointing away from
            the sample.
        rotation: small rotations (rad) about the panel's own fast, slow and normal axes
            through its centre, applied in that order (refinement parameters).
        name: label (written to ``.expt`` files).
    """

    origin: Any
    fast_axis: Any
    slow_axis: Any
    pixel_size: Any = 1e-4
    fpixels: int = 1024
    spixels: int = 1024
    normal: Any = None
    rotation: tuple[Any, Any, Any] = (0.0, 0.0, 0.0)
    name: str = ""


@dataclass(frozen=True)
class DetectorConfig:
    """Detector geometry and pixel sampling.

    Attributes:
        convention: one of ``CONVENTIONS``.
        pixel_size: pixel edge (m).
        fpixels, spixels: pixel counts along fast and slow axes.
        detsize_f, detsize_s: detector size (m); the C does not snap it to whole
            pixels, and default beam centres follow it. ``None``: pixels * pixel_size.
        distance: sample to detector distance along the beam (m); ``None`` = 0.1 m.
        close_distance: sample to detector plane distance along the normal (m).
        beam_center: ``(Xbeam, Ybeam)`` (m) in the convention's own axes, entries may be None.
        close_center: ``(Xclose, Yclose)`` (m), used by the CUSTOM convention.
        org: ``(ORGX, ORGY)`` XDS origin in pixels, entries may be None.
        pivot: ``"BEAM"`` or ``"SAMPLE"``; only the CUSTOM convention honours it.
        rotx, roty, rotz: detector rotations about lab x, y, z applied in that order (rad).
        twotheta: detector swing about ``twotheta_axis`` (rad).
        twotheta_axis, fdet_vector, sdet_vector, odet_vector: custom vectors or None.
        curved: pixels lie on a sphere of radius ``distance``.
        point_pixel: solid angle 1/R^2 without pixel area and obliquity.
        thickness: sensor thickness (m), 0 for none.
        mu: sensor attenuation coefficient (1/m); ``None`` = 1/thickness.
        thicksteps: number of sensor layers; ``None`` = the C rule.
        oversample: sub-pixels per pixel edge; ``None`` = auto-selected.
        oversample_thick, oversample_polar, oversample_omega: recompute that factor
            for every sub-pixel (running-product semantics of the C program).
        roi: ``(xmin, xmax, ymin, ymax)`` inclusive fast/slow pixel bounds or None.
        panels: the detector as a list of panels, or None for the convention's single
            rectangle. With panels, the convention only gives the beam, polarization and
            spindle vectors; sensor, oversampling and ROI apply to every panel.
    """

    convention: str = "MOSFLM"
    pixel_size: Any = 1e-4
    fpixels: int = 1024
    spixels: int = 1024
    detsize_f: Any = None
    detsize_s: Any = None
    distance: Any = None
    close_distance: Any = None
    beam_center: tuple[Any, Any] = (None, None)
    close_center: tuple[Any, Any] = (None, None)
    org: tuple[Any, Any] = (None, None)
    pivot: str = "BEAM"
    rotx: Any = 0.0
    roty: Any = 0.0
    rotz: Any = 0.0
    twotheta: Any = 0.0
    twotheta_axis: Vector | None = None
    fdet_vector: Vector | None = None
    sdet_vector: Vector | None = None
    odet_vector: Vector | None = None
    curved: bool = False
    point_pixel: bool = False
    thickness: Any = 0.0
    mu: Any = None
    thicksteps: int | None = None
    oversample: int | None = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    roi: tuple[int, int, int, int] | None = None
    panels: tuple[PanelConfig, ...] | None = None

    def validate(self) -> None:
        """Raise InputError for values the simulation cannot use."""
        _check_choice("convention", self.convention, CONVENTIONS)
        if self.panels is not None:
            _check_panels(self.panels)
            if self.curved:
                raise InputError("-curved_det: a detector given as panels is flat")
        _check_choice("pivot", self.pivot, PIVOTS)
        _check_positive("-pixel", self.pixel_size, 1e3, "mm")
        if int(self.fpixels) <= 0 or int(self.spixels) <= 0:
            raise InputError(
                f"-detpixels: detector must have at least one pixel "
                f"(got {self.fpixels} x {self.spixels})"
            )
        if self.distance is not None:
            _check_positive("-distance", self.distance, 1e3, "mm")
        if self.close_distance is not None and value_of(self.close_distance) == 0:
            raise InputError("-close_distance: must not be 0 (the detector plane would "
                             "pass through the sample)")
        if self.oversample is not None and self.oversample < 0:
            raise InputError(f"-oversample: must not be negative (got {self.oversample})")
        if value_of(self.thickness) < 0:
            raise InputError(f"-detector_thick: must not be negative (got {self.thickness})")
        _check_finite((
            ("-distance", self.distance), ("-close_distance", self.close_distance),
            ("-Xbeam/-Ybeam", self.beam_center), ("-Xclose/-Yclose", self.close_center),
            ("-ORGX/-ORGY", self.org), ("-detector_rotx", self.rotx),
            ("-detector_roty", self.roty), ("-detector_rotz", self.rotz),
            ("-twotheta", self.twotheta), ("-detector_thick", self.thickness),
            ("-detector_abs", self.mu), ("-detsize_f", self.detsize_f),
            ("-detsize_s", self.detsize_s)))
        _check_directions((
            ("-twotheta_axis", self.twotheta_axis), ("-fdet_vector", self.fdet_vector),
            ("-sdet_vector", self.sdet_vector), ("-odet_vector", self.odet_vector)))


@dataclass(frozen=True)
class CrystalConfig:
    """Unit cell, orientation, size, mosaicity and rotation of the crystal.

    Attributes:
        cell: ``(a, b, c, alpha, beta, gamma)`` in m and rad, or None when
            ``reciprocal_matrix`` is given.
        reciprocal_matrix: 3x3 rows x, y, z; columns a*, b*, c* in 1/Angstrom
            (a MOSFLM A matrix already divided by the wavelength), or None.
        misset: ``(rotx, roty, rotz)`` applied to the reciprocal vectors (rad), or None.
        misset_random_seed: if not None, the misset comes from the C generator
            with this seed (the C's ``-misset random``; value as given to ``-misset_seed``).
        N: unit cells along a, b, c (real numbers allowed for gradients).
        sample_size: crystal size along a, b, c (m), 0 = use N.
        shape: lattice transform, one of ``SHAPES``.
        fudge: shape scale factor for round/gauss/tophat spots.
        default_F: structure factor for reflections not in the table.
        interpolate: tricubic F interpolation; None = auto (on if any N <= 2).
        mosaic_spread: isotropic mosaic spread (rad), None = none.
        mosaic_domains: number of mosaic domains, None = the C rule.
        mosaic_seed: seed of the domain generator (value as given to ``-mosaic_seed``).
        phi0: spindle start angle (rad).
        osc: oscillation range (rad) or None.
        phistep: step (rad) or None.
        phisteps: number of steps or None.
        spindle_axis: rotation axis or None for the convention's default.
        c_rounding: reproduce the C program's roundings (the CLI sets it): mosaic domain
            angles rounded in float32 as the C rounds them (a staircase in the spread),
            and float64 lattice factors by the C's direct ``sin(N*pi*h)/sin(pi*h)``
            (imprecise within about 1e-8 of a Bragg peak). False (the Python default):
            domain angles proportional to the spread and lattice factors in reduced
            form, accurate everywhere. Gradients are the accurate ones in both modes.
    """

    cell: tuple[Any, ...] | None = None
    reciprocal_matrix: tuple[Vector, Vector, Vector] | None = None
    misset: tuple[Any, Any, Any] | None = None
    misset_random_seed: int | None = None
    N: tuple[Any, Any, Any] = (1.0, 1.0, 1.0)
    sample_size: tuple[Any, Any, Any] = (0.0, 0.0, 0.0)
    shape: str = "square"
    fudge: Any = 1.0
    default_F: float = 0.0
    interpolate: bool | None = None
    mosaic_spread: Any = None
    mosaic_domains: int | None = None
    mosaic_seed: int = 12345678
    phi0: Any = 0.0
    osc: Any = None
    phistep: Any = None
    phisteps: int | None = None
    spindle_axis: Vector | None = None
    c_rounding: bool = False

    def validate(self) -> None:
        """Raise InputError for values the simulation cannot use."""
        if self.cell is None and self.reciprocal_matrix is None:
            raise InputError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE")
        if self.cell is not None:
            if len(self.cell) != 6:
                raise InputError(f"-cell: expected 6 numbers, got {len(self.cell)}")
            _check_cell(self.cell)
        _check_finite((
            ("-misset", self.misset), ("-N", self.N), ("-xtalsize", self.sample_size),
            ("-fudge", self.fudge), ("-default_F", self.default_F),
            ("-mosaic", self.mosaic_spread), ("-phi", self.phi0), ("-osc", self.osc),
            ("-phistep", self.phistep)))
        for index, (name, value) in enumerate(zip("abc", self.N)):
            if not value_of(value) > 0:
                raise InputError(f"-N{name}: crystal.N[{index}] must be > 0 "
                                 f"(got {value_of(value):g})")
        _check_directions((("-spindle_axis", self.spindle_axis),))
        if self.reciprocal_matrix is not None:
            _check_matrix(self.reciprocal_matrix)
        _check_choice("shape", self.shape, SHAPES)
        if self.mosaic_domains is not None and self.mosaic_domains < 0:
            raise InputError(f"-mosaic_domains: must not be negative ({self.mosaic_domains})")


@dataclass(frozen=True)
class BeamConfig:
    """Incident beam: wavelength band, divergence, sources, flux and polarization.

    Attributes:
        wavelength: central wavelength (m).
        dispersion: full spectral width as a fraction of the wavelength, None = none.
        dispstep, dispsteps: spectral step (fraction) and count, None = the C rule.
        hdivrange, vdivrange: full divergence ranges (rad), None = none.
        hdivstep, vdivstep: divergence steps (rad), None = the C rule.
        hdivsteps, vdivsteps: divergence step counts, None = the C rule.
        round_div: drop divergence grid points outside an ellipse.
        sources: explicit source rows ``(X, Y, Z, weight, lambda)`` with NaN for
            missing entries (the C's -sourcefile); overrides the generated sources.
        fluence: photons per m^2.
        polarization: Kahn polarization factor.
        nopolar: no polarization correction.
        beam_vector, polar_vector: custom vectors or None for the convention's.
        water_size: thickness of water around the crystal (m).
        beamsize: beam size (m), clips the sample size.
    """

    wavelength: Any = 1e-10
    dispersion: Any = None
    dispstep: Any = None
    dispsteps: int | None = None
    hdivrange: Any = None
    vdivrange: Any = None
    hdivstep: Any = None
    vdivstep: Any = None
    hdivsteps: int | None = None
    vdivsteps: int | None = None
    round_div: bool = True
    sources: tuple[tuple[float, ...], ...] | None = None
    fluence: Any = DEFAULT_FLUENCE
    polarization: Any = 0.0
    nopolar: bool = False
    beam_vector: Vector | None = None
    polar_vector: Vector | None = None
    water_size: Any = 0.0
    beamsize: Any = 1e-4

    def validate(self) -> None:
        """Raise InputError for values the simulation cannot use."""
        wl = value_of(self.wavelength)
        if not math.isfinite(wl) or wl <= 0:
            raise InputError(f"-lambda/-energy: wavelength must be positive "
                             f"(got {wl * 1e10:g} A)")
        if value_of(self.fluence) < 0:
            raise InputError(f"-fluence: must not be negative (got {self.fluence})")
        _check_finite((
            ("-fluence", self.fluence), ("-polar", self.polarization),
            ("-dispersion", self.dispersion), ("-hdivrange", self.hdivrange),
            ("-vdivrange", self.vdivrange), ("-hdivstep", self.hdivstep),
            ("-vdivstep", self.vdivstep), ("-water", self.water_size),
            ("-beamsize", self.beamsize)))
        _check_directions((("-beam_vector", self.beam_vector),
                           ("-polar_vector", self.polar_vector)))


@dataclass(frozen=True)
class AmorphousConfig:
    """Amorphous material in the beam (water, ice, air ...), added to the Bragg render.

    Its scattering is nonBragg's: ``F(sin(theta)/lambda)^2`` per molecule from a table
    file, times the molecules in the illuminated volume.

    Attributes:
        stol: the ``.stol`` table file.
        stol_unit: how its first column reads: ``"-stol"`` (sin(theta)/lambda, 1/A),
            ``"-4stol"`` (4 sin(theta)/lambda) or ``"-Q"`` (4 pi sin(theta)/lambda).
        thickness: along the beam (m).
        width, height: across the beam (m); the beam size clips them.
        density: g/m^3 (1 g/cm^3 = 1e6). molecular_weight: g/mol.
    """

    stol: str
    stol_unit: str = "-stol"
    thickness: Any = 1e-4
    width: Any = 1e-4
    height: Any = 1e-4
    density: Any = 1.0e6
    molecular_weight: Any = 18.0

    def validate(self) -> None:
        """Raise InputError for values that cannot be used."""
        _check_choice("-stol unit", self.stol_unit, ("-stol", "-4stol", "-Q"))
        named = (("-amorphous_thick", self.thickness), ("-amorphous_width", self.width),
                 ("-amorphous_height", self.height), ("-density", self.density),
                 ("-MW", self.molecular_weight))
        _check_finite(named)
        for flag, value in named:
            if not value_of(value) >= 0:
                raise InputError(f"{flag}: must not be negative (got {value_of(value):g})")
        if not value_of(self.molecular_weight) > 0:
            raise InputError("-MW: the molecular weight must be positive")


@dataclass(frozen=True)
class StructureFactorFile:
    """A structure-factor file other than the C's ``h k l F`` text: MTZ or atomic model.

    Attributes:
        path: the file.
        kind: ``"mtz"``, ``"model"`` (PDB or mmCIF) or ``"hkl"``; None = by its name and
            first bytes.
        column: MTZ amplitude column(s) (see :func:`nanobragg.io.mtz.read_mtz`); None =
            the default labels.
        dmin: resolution of a model's table (m); None = what the detector reaches.
        solvent_k: flat bulk-solvent density of a model (electrons per cubic Angstrom,
            the field's unit); 0 = no solvent.
        solvent_b: its B factor (square Angstrom).
    """

    path: str
    kind: str | None = None
    column: str | None = None
    dmin: float | None = None
    solvent_k: float = 0.0
    solvent_b: float = 46.5

    def validate(self) -> None:
        """Raise InputError for values that cannot be used."""
        if self.kind is not None:
            _check_choice("structure factor file kind", self.kind, ("mtz", "model", "hkl"))
        _check_finite((("-model_dmin", self.dmin), ("-ksol", self.solvent_k),
                       ("-bsol", self.solvent_b)))
        if self.dmin is not None and not self.dmin > 0:
            raise InputError(f"-model_dmin: must be positive (got {self.dmin * 1e10:g} A)")
        if self.solvent_k < 0:
            raise InputError(f"-ksol: must not be negative (got {self.solvent_k:g} e/A^3)")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines the float image, apart from the F table and mask.

    Attributes:
        detector, crystal, beam: the three parts of the experiment.
        dmin: skip scattering with resolution finer than this (m); 0 = off.
        structure_factors: an MTZ or model file to take the F table from when none is
            given to :func:`nanobragg.simulate`, or None.
        amorphous: amorphous material whose scattering is added to the image, or None.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    crystal: CrystalConfig = field(default_factory=CrystalConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    dmin: Any = 0.0
    structure_factors: StructureFactorFile | None = None
    amorphous: AmorphousConfig | None = None

    def validate(self) -> None:
        """Check every part; raise InputError on the first problem."""
        self.detector.validate()
        self.crystal.validate()
        self.beam.validate()
        _check_finite((("-dmin", self.dmin),))
        if self.structure_factors is not None:
            self.structure_factors.validate()
        if self.amorphous is not None:
            self.amorphous.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the configuration (tensors become floats or lists); no
        ``structure_factors`` key when there is no such file."""
        data = _plain(dataclasses.asdict(self))
        for optional in ("structure_factors", "amorphous"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        """The configuration that :meth:`to_dict` wrote (lists become tuples).

        Raises:
            InputError: a key that is not a configuration field.
        """
        parts = {name: _record(kind, data[name], name)
                 for name, kind in _PARTS.items() if data.get(name) is not None}
        rest = {k: v for k, v in data.items() if k not in _PARTS}
        return _record(cls, rest | parts, "config", keep=tuple(parts))


def _record(kind, data: dict[str, Any], where: str, keep: tuple[str, ...] = ()):
    """Dataclass ``kind`` from a plain dict; lists become tuples, ``panels`` PanelConfigs."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown field '{unknown[0]}'")
    values = {}
    for key, value in data.items():
        if key in keep:
            values[key] = value
        elif key == "panels" and value is not None:
            values[key] = tuple(_record(PanelConfig, p, f"{where}.panels[{i}]")
                                for i, p in enumerate(value))
        else:
            values[key] = _tuples(value)
    return kind(**values)


def _tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "detach"):
        return value.detach().cpu().tolist()
    return value


_PARTS = {"detector": DetectorConfig, "crystal": CrystalConfig, "beam": BeamConfig,
          "structure_factors": StructureFactorFile, "amorphous": AmorphousConfig}


def _check_panels(panels: tuple[PanelConfig, ...]) -> None:
    """Raise InputError for an empty panel list or a panel without pixels or area."""
    if len(panels) == 0:
        raise InputError("detector: the panel list is empty")
    for index, panel in enumerate(panels):
        if int(panel.fpixels) <= 0 or int(panel.spixels) <= 0:
            raise InputError(f"detector panel {index}: must have at least one pixel "
                             f"(got {panel.fpixels} x {panel.spixels})")
        _check_positive(f"detector panel {index} pixel size", panel.pixel_size, 1e3, "mm")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name}: '{value}' is not one of {', '.join(choices)}")


def _check_positive(flag: str, value: Any, scale: float, unit: str) -> None:
    """Raise InputError unless value > 0; the message shows value*scale in the flag's unit."""
    number = value_of(value)
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"{flag}: must be a positive number (got {number * scale:g} {unit})")


def _check_finite(items) -> None:
    """Raise InputError for the first NaN or infinite number among ``(flag, value)`` pairs.

    A value may be None (not given), a number, a scalar tensor or a tuple of those.
    """
    for flag, value in items:
        values = value if isinstance(value, (tuple, list)) else (value,)
        for number in values:
            if number is not None and not math.isfinite(value_of(number)):
                raise InputError(f"{flag}: must be a finite number (got {value_of(number):g})")


def _check_directions(items) -> None:
    """Raise InputError for a direction vector that is not finite or has zero length."""
    for flag, vector in items:
        if vector is None:
            continue
        values = [value_of(v) for v in vector]
        if not all(math.isfinite(v) for v in values) or not any(values):
            raise InputError(f"{flag}: needs a finite, non-zero direction (got "
                             f"{' '.join(f'{v:g}' for v in values)})")


def _check_cell(cell) -> None:
    """Raise InputError unless the six cell values describe a real unit cell."""
    values = [value_of(v) for v in cell]
    _check_finite((("-cell", tuple(values)),))
    for name, length in zip("abc", values[:3]):
        if length <= 0:
            raise InputError(f"-cell: length {name} must be positive (got {length * 1e10:g} A)")
    angles = values[3:]
    cosines = [math.cos(angle) for angle in angles]
    closure = (1.0 - sum(c * c for c in cosines) + 2.0 * math.prod(cosines))
    if not all(0 < angle < math.pi for angle in angles) or not closure > 1e-12:
        degrees = " ".join(f"{math.degrees(angle):g}" for angle in angles)
        raise InputError(f"-cell: the angles {degrees} deg cannot close a unit cell")


def _check_matrix(matrix) -> None:
    """Raise InputError for a -mat matrix with non-finite entries or no inverse."""
    rows = [[value_of(v) for v in row] for row in matrix]
    if not all(math.isfinite(v) for row in rows for v in row):
        raise InputError("-mat: the orientation matrix has non-finite entries")
    (a, b, c), (d, e, f), (g, h, i) = rows
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    scale = max(abs(v) for row in rows for v in row) ** 3
    if scale == 0 or not abs(det) > 1e-12 * scale:
        raise InputError(f"-mat: the orientation matrix is singular (determinant {det:g}); "
                         "its columns must be three independent reciprocal axes")
