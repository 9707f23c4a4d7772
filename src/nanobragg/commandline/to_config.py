"""Turn a nanoBragg command line into a :class:`SimulationConfig` and output options.

Order of work, as in the C program: the SMV headers of ``-mask`` and then ``-img``
give starting values (wherever those options stand in ``argv``), the argument loop
(:func:`nanobragg.commandline.args.parse_argv`) overrides them, and the C's fill-in rules
after the loop complete the detector size, fluence and sample size. Values the C
derives later from several options (beam centre, pivot forced by the convention,
source grid, phi steps, mosaic domains, oversampling) are left to the models: the
configuration holds what was given, with ``None`` for "not given". Counts and
ranges the C treats exactly like "not given" (e.g. ``-oversample 0``, a negative
``-osc``) are normalised to ``None``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nanobragg.config import (
    AmorphousConfig,
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    SimulationConfig,
    StructureFactorFile,
)
from nanobragg.errors import InputError
from nanobragg.io._cnum import strtod_prefix
from nanobragg.io.paths import check_name_length
from nanobragg.io.smv import SMVImage, header_text, header_value, read_smv

from ..products.formats import FORMATS
from .args import ParsedArgs, from_angstrom, from_deg, from_mm, input_images, parse_argv

# The readers of -expt, -mat and -sourcefile are imported when those flags are given.


@dataclass(frozen=True)
class OutputOptions:
    """Files to write and how to scale them.

    Attributes:
        floatfile, intfile: always written.
        pgmfile, noisefile: None when not written (``-nopgm``, ``-nonoise``).
        intfile_scale, pgm_scale: None = automatic (the C treats values <= 0 so).
        adc: offset added to int and noise images.
        seed: C ``idum`` of the noise generator: minus ``-seed`` (default minus the time).
        expt: DIALS experiment list of the rendered geometry (``-exptout``), or None.
        exposure: ``-exposure`` (s), recorded by the image formats.
        formats: image format name (``nanobragg.products.formats.FORMATS``) -> file.
        format_options: writer options (``rings``, ``compression``).
        phi_frames: write one NeXus frame per phi step (``-nexus_stack``).
        hklout: P1 ``h k l F`` file of the table from ``-pdb`` or an MTZ ``-hkl``, or None.
    """

    floatfile: Path
    intfile: Path
    pgmfile: Path | None
    noisefile: Path | None
    intfile_scale: float | None
    pgm_scale: float | None
    adc: float
    seed: int
    expt: Path | None = None
    exposure: float = 1.0
    formats: dict[str, Path] = field(default_factory=dict)
    format_options: dict[str, object] = field(default_factory=dict)
    phi_frames: bool = False
    hklout: Path | None = None

    def files(self) -> dict[str, Path]:
        """Output name (a row of ``FORMATS``) -> file, for every file the run writes, in order."""
        named = {"float": self.floatfile, "smv": self.intfile, "pgm": self.pgmfile,
                 "noise": self.noisefile, "expt": self.expt, **self.formats}
        return {name: Path(named[name]) for name in FORMATS if named.get(name)}


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run: tensor dtype, device (``auto`` = cuda if available), pixels per chunk,
    render engine (:mod:`nanobragg.render.engines`)."""

    dtype: str = "float64"
    device: str = "auto"
    chunk_evaluations: int | None = None
    engine: str = "auto"


@dataclass(frozen=True, eq=False)
class CliRequest:
    """Everything one command line asks for.

    Attributes:
        config: the simulation (validated).
        outputs, runtime: see the classes.
        hkl_path: ``-hkl`` text file, or None: then the MTZ or model file of
            ``config.structure_factors``, else ``dump_path`` if it exists.
        dump_path: Fdump file, read when there is no ``-hkl``, written when there is.
        mask: uint16 (slow, fast) pixel mask from ``-mask`` (0 = skip), or None.
        trace_pixels: (slow, fast) pixels to trace.
        show_help: ``-h`` was given; nothing else is checked or read then.
        notes: warnings to print.
        parsed: all option variables, including those with no configuration field
            (``-printout``, ``-noprogress``, ...).
    """

    config: SimulationConfig
    outputs: OutputOptions
    runtime: RuntimeOptions
    hkl_path: Path | None
    dump_path: Path
    mask: np.ndarray | None
    trace_pixels: tuple[tuple[int, int], ...]
    show_help: bool
    notes: tuple[str, ...]
    parsed: ParsedArgs


def build_request(argv: list[str], cwd: Path | None = None) -> CliRequest:
    """Parse a command line (without the program name) into a :class:`CliRequest`.

    Args:
        argv: command-line arguments.
        cwd: folder that relative file names refer to (default: the current one).

    Raises:
        InputError: bad options, unreadable input files, no unit cell, no structure
            factors, or values the simulation cannot use.
    """
    base = Path() if cwd is None else Path(cwd)
    now = int(time.time())
    parsed = parse_argv(argv)
    if parsed.show_help:
        return _request(parsed, SimulationConfig(), base, now, None, None)
    start, mask_image = _header_start(argv, base)
    parsed = parse_argv(argv, start=start)
    notes = parsed.notes
    beam = beam_config(parsed, base)
    beam.validate()  # the -mat matrix is divided by the wavelength
    source = structure_factor_file(parsed, base)
    config = SimulationConfig(
        detector=detector_config(parsed),
        crystal=crystal_config(parsed, base, now, notes),
        beam=beam,
        dmin=parsed.dmin,
        structure_factors=source,
        amorphous=_amorphous(parsed, base, notes),
    )
    if parsed.exptfile is not None:
        config = expt_config(parsed, config, base)
    config = with_file_cell(config, notes)
    config.validate()
    hkl_path = _hkl_path(parsed, base)
    if parsed.pix0_vector is not None:
        notes.append("WARNING: the -pix0_vector values are ignored, as by the C program "
                     "(it only selects the CUSTOM convention)")
    mask = None
    if mask_image is not None:
        mask = _mask_array(mask_image, config.detector.fpixels, config.detector.spixels)
    return _request(parsed, config, base, now, hkl_path, mask)


def _request(parsed: ParsedArgs, config: SimulationConfig, base: Path, now: int,
             hkl_path: Path | None, mask: np.ndarray | None) -> CliRequest:
    return CliRequest(
        config=config,
        outputs=output_options(parsed, base, now),
        runtime=RuntimeOptions(parsed.dtype, parsed.device, parsed.chunk_evaluations,
                               parsed.engine),
        hkl_path=hkl_path,
        dump_path=base / parsed.dumpfile,
        mask=mask,
        trace_pixels=tuple(parsed.trace_pixels),
        show_help=parsed.show_help,
        notes=tuple(parsed.notes),
        parsed=parsed,
    )


# ---------------------------------------------------------------- DIALS experiment list

#: ParsedArgs fields the experiment list replaces, and the flag that sets each
_EXPT_REPLACES = (
    ("imgfile", "-img"), ("maskfile", "-mask"), ("distance", "-distance"),
    ("close_distance", "-close_distance"), ("Xbeam", "-Xbeam"),
    ("Ybeam", "-Ybeam"), ("Xclose", "-Xclose"), ("Yclose", "-Yclose"), ("ORGX", "-ORGX"),
    ("ORGY", "-ORGY"), ("rotx", "-detector_rotx"), ("roty", "-detector_roty"),
    ("rotz", "-detector_rotz"), ("twotheta", "-twotheta"), ("pixel_size", "-pixel"),
    ("fpixels", "-detpixels"), ("spixels", "-detpixels"), ("curved_det", "-curved_det"),
    ("wavelength", "-lambda"), ("polarization", "-polar"), ("user_cell", "-cell"),
    ("matfile", "-mat"), ("misset", "-misset"), ("phi0", "-phi"), ("osc", "-osc"),
    ("phistep", "-phistep"), ("trace_pixels", "-trace_pixel"),
)


def expt_config(p: ParsedArgs, config: SimulationConfig, base: Path) -> SimulationConfig:
    """The configuration with the geometry of ``-expt`` (beam, detector, crystal, scan).

    Raises:
        InputError: a flag that sets what the experiment list gives, or a bad file.
    """
    defaults = ParsedArgs()
    for name, flag in _EXPT_REPLACES:
        if getattr(p, name) != getattr(defaults, name):
            raise InputError(f"{flag}: conflicts with -expt (the experiment list gives it)")
    def read(path: Path) -> SimulationConfig:
        from nanobragg.io.expt import from_expt

        return from_expt(path, image=p.expt_image, base=config)

    config = _read_for("-expt", read, base / p.exptfile)
    det = config.detector
    roi = _roi(p.roi, det.fpixels, det.spixels)  # bounds of the file's detector
    return dataclasses.replace(config, detector=dataclasses.replace(det, roi=roi))


# ---------------------------------------------------------------- SMV headers


def _header_start(argv: list[str], base: Path) -> tuple[ParsedArgs, SMVImage | None]:
    """Starting values from the ``-mask`` header, then the ``-img`` header (img wins)."""
    state = ParsedArgs()
    mask_name, img_name = input_images(argv)
    mask_image = None
    if mask_name is not None:
        mask_image = _read_image("-mask", base / mask_name)
        apply_smv_header(state, mask_image, flip_beam_y=True, flag=f"-mask '{mask_name}'")
    if img_name is not None:
        apply_smv_header(state, _read_image("-img", base / img_name), flip_beam_y=False,
                         flag=f"-img '{img_name}'")
    return state, mask_image


def _read_image(flag: str, path: Path) -> SMVImage:
    return _read_for(flag, read_smv, path)


def _read_for(flag: str, reader, path: Path):
    """``reader(path)``, with the flag put in front of any InputError message."""
    try:
        return reader(path)
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from exc


def _header_number(image: SMVImage, key: str, flag: str = "-img") -> float | None:
    """Header value as the C uses it: missing or NaN means "not there"; text that is not
    a number (``PIXEL_SIZE=abc``, which the C reads as 0) is an InputError."""
    value = header_value(image.header, key)
    text = header_text(image.header, key)
    if value is not None and text is not None and strtod_prefix(text) is None:
        raise InputError(f"{flag}: header {key}={text} is not a number")
    return None if value is None or math.isnan(value) else value


#: header key -> (ParsedArgs field, conversion to SI)
_HEADER_FIELDS = (
    ("DISTANCE", "distance", from_mm),
    ("CLOSE_DISTANCE", "close_distance", from_mm),
    ("WAVELENGTH", "wavelength", from_angstrom),
    ("BEAM_CENTER_X", "Xbeam", from_mm),
    ("ORGX", "ORGX", float),
    ("ORGY", "ORGY", float),
    ("PHI", "phi0", from_deg),
    ("OSC_RANGE", "osc", from_deg),
)


def apply_smv_header(state: ParsedArgs, image: SMVImage, flip_beam_y: bool,
                     flag: str = "-img") -> None:
    """Copy the values the C takes from an SMV header into ``state``.

    Keys use the C's last-substring match, so ``DISTANCE`` reads ``CLOSE_DISTANCE``
    when both are present. ``BEAM_CENTER_Y`` is flipped (``detsize_s - y``) for the
    mask only. ``TWOTHETA`` is read by the C into a scratch variable that is
    overwritten later, so it does not swing the detector and is ignored here.
    """
    state.fpixels, state.spixels = image.width, image.height
    pixel = _header_number(image, "PIXEL_SIZE", flag)
    if pixel is not None:
        state.pixel_size = from_mm(pixel)
    state.detsize_f = state.pixel_size * state.fpixels
    state.detsize_s = state.pixel_size * state.spixels
    for key, name, convert in _HEADER_FIELDS:
        value = _header_number(image, key, flag)
        if value is not None:
            setattr(state, name, convert(value))
    ybeam = _header_number(image, "BEAM_CENTER_Y", flag)
    if ybeam is not None:
        state.Ybeam = state.detsize_s - from_mm(ybeam) if flip_beam_y else from_mm(ybeam)


def _mask_array(image: SMVImage, fpixels: int, spixels: int) -> np.ndarray:
    """The mask in the final detector layout (the C indexes the file's pixels flat)."""
    flat = image.data.reshape(-1)
    if flat.size < fpixels * spixels:
        raise InputError(f"-mask: the mask has {image.width}x{image.height} pixels, fewer "
                         f"than the {fpixels}x{spixels} detector")
    return flat[: fpixels * spixels].reshape(spixels, fpixels).copy()


# ---------------------------------------------------------------- detector


def detector_size(p: ParsedArgs) -> tuple[int, int, float, float]:
    """Pixel counts and detector sizes (m) by the C rule after its argument loop.

    Pixel counts, when given, set the size (``pixel * pixels``); then the counts are
    ``ceil(size/pixel - 0.5)``, and the size is NOT snapped to whole pixels.
    """
    pixel = p.pixel_size
    if not math.isfinite(pixel) or pixel <= 0:
        raise InputError(f"-pixel: must be a positive number (got {pixel * 1000:g} mm)")
    detsize_f = pixel * p.fpixels if p.fpixels else p.detsize_f
    detsize_s = pixel * p.spixels if p.spixels else p.detsize_s
    for flag, size in (("-detsize_f", detsize_f), ("-detsize_s", detsize_s)):
        if not math.isfinite(size):
            raise InputError(f"{flag}: detector size must be finite (got {size * 1000:g} mm)")
    fpixels = math.ceil(detsize_f / pixel - 0.5)
    spixels = math.ceil(detsize_s / pixel - 0.5)
    return fpixels, spixels, detsize_f, detsize_s


def detector_config(p: ParsedArgs) -> DetectorConfig:
    """Detector part of the configuration; custom vectors only in the CUSTOM convention."""
    fpixels, spixels, detsize_f, detsize_s = detector_size(p)
    custom = p.convention == "CUSTOM"
    return DetectorConfig(
        convention=p.convention,
        pixel_size=p.pixel_size,
        fpixels=fpixels,
        spixels=spixels,
        detsize_f=detsize_f,
        detsize_s=detsize_s,
        distance=p.distance,
        close_distance=p.close_distance,
        beam_center=(p.Xbeam, p.Ybeam),
        close_center=(p.Xclose, p.Yclose),
        org=(p.ORGX, p.ORGY),
        pivot=p.pivot,
        rotx=p.rotx,
        roty=p.roty,
        rotz=p.rotz,
        twotheta=p.twotheta,
        twotheta_axis=p.twotheta_axis if custom else None,
        fdet_vector=p.fdet_vector if custom else None,
        sdet_vector=p.sdet_vector if custom else None,
        odet_vector=p.odet_vector if custom else None,
        curved=p.curved_det,
        point_pixel=p.point_pixel,
        thickness=p.detector_thick,
        mu=_at_least(p.detector_mu, 0.0),
        thicksteps=_count(p.detector_thicksteps),
        oversample=_count(p.oversample),
        oversample_thick=p.oversample_thick,
        oversample_polar=p.oversample_polar,
        oversample_omega=p.oversample_omega,
        roi=None if p.exptfile else _roi(p.roi, fpixels, spixels),
    )


def _roi(roi: tuple[int, int, int, int] | None, fpixels: int,
         spixels: int) -> tuple[int, int, int, int] | None:
    """The C replaces negative ROI bounds by 0 and by the pixel counts."""
    if roi is None:
        return None
    xmin, xmax, ymin, ymax = roi
    bounds = (max(xmin, 0), xmax if xmax >= 0 else fpixels,
              max(ymin, 0), ymax if ymax >= 0 else spixels)
    if bounds[0] > bounds[1] or bounds[2] > bounds[3] or bounds[0] >= fpixels \
            or bounds[2] >= spixels:
        raise InputError(f"-roi: {' '.join(map(str, roi))} selects no pixel of the "
                         f"{fpixels}x{spixels} detector")
    return bounds


def _count(value: int | None) -> int | None:
    """A step or domain count; the C treats values <= 0 as "not given"."""
    return value if value is not None and value > 0 else None


def _at_least(value: float | None, lowest: float) -> float | None:
    """A value the C treats as "not given" below ``lowest``."""
    return value if value is not None and value >= lowest else None


# ---------------------------------------------------------------- crystal


def crystal_config(p: ParsedArgs, base: Path, now: int, notes: list[str]) -> CrystalConfig:
    """Crystal part of the configuration (reads ``-mat``)."""
    random_misset = p.misset == "random"
    return CrystalConfig(
        cell=unit_cell(p) if p.user_cell else None,
        reciprocal_matrix=_reciprocal_matrix(p, base),
        misset=None if random_misset else p.misset,
        misset_random_seed=_misset_seed(p, now) if random_misset else None,
        N=(p.N[0], p.N[1], p.N[2]),
        sample_size=clipped_sample_size(p, notes),
        shape=p.xtal_shape,
        fudge=p.fudge,
        default_F=p.default_F,
        interpolate=p.interpolate,
        mosaic_spread=_at_least(p.mosaic_spread, 0.0),
        mosaic_domains=_count(p.mosaic_domains),
        mosaic_seed=p.mosaic_seed,
        phi0=p.phi0,
        osc=_at_least(p.osc, 0.0),
        phistep=_at_least(p.phistep, 0.0),
        phisteps=_phisteps(p.phisteps),
        spindle_axis=p.spindle_axis if p.convention == "CUSTOM" else None,
        c_rounding=True,
    )


def unit_cell(p: ParsedArgs) -> tuple[float, ...]:
    """``-cell`` values with the C defaults: b, c default to a; angles to 90 degrees.

    Raises:
        InputError: fewer than six numbers were given (the C silently keeps defaults).
    """
    if 0 < p.cell_count < 6:
        raise InputError(f"-cell: needs 6 numbers (a b c alpha beta gamma), got "
                         f"{p.cell_count}")
    a, b, c, alpha, beta, gamma = p.cell
    lengths = (a, b if b > 0 else a, c if c > 0 else a)
    angles = tuple(angle if angle > 0 else math.pi / 2 for angle in (alpha, beta, gamma))
    return lengths + angles


def _reciprocal_matrix(p: ParsedArgs, base: Path) -> tuple | None:
    """The ``-mat`` A matrix divided by the final wavelength (1/Angstrom)."""
    if p.matfile is None:
        return None
    from nanobragg.io.matrix import read_mosflm_matrix

    matrix = _read_for(p.given.get("-mat", "-mat"), read_mosflm_matrix, base / p.matfile)
    scaled = matrix * (1e-10 / p.wavelength)
    return tuple(tuple(float(v) for v in row) for row in scaled)


def _misset_seed(p: ParsedArgs, now: int) -> int:
    """Seed for ``-misset random`` as given to ``-misset_seed``; the C default is time()."""
    return p.misset_seed if p.misset_seed is not None else now


def _phisteps(value: int | None) -> int | None:
    """The C treats a negative count as "not given" and 0 as 1."""
    if value is None or value < 0:
        return None
    return max(value, 1)


def clipped_sample_size(p: ParsedArgs, notes: list[str]) -> tuple[float, float, float]:
    """Sample size (m) with the height and width clipped by the beam size, as the C does."""
    x, y, z = p.sample_size
    if p.beamsize >= 0:
        if p.beamsize < y:
            notes.append(f"WARNING: clipping sample ({y:g} m high) with beam ({p.beamsize:g} m)")
            y = p.beamsize
        if p.beamsize < z:
            notes.append(f"WARNING: clipping sample ({z:g} m wide) with beam ({p.beamsize:g} m)")
            z = p.beamsize
    return x, y, z


# ---------------------------------------------------------------- beam


def beam_config(p: ParsedArgs, base: Path) -> BeamConfig:
    """Beam part of the configuration (reads ``-sourcefile``)."""
    custom = p.convention == "CUSTOM"
    return BeamConfig(
        wavelength=p.wavelength,
        dispersion=_at_least(p.dispersion, 0.0),
        dispsteps=_count(p.dispsteps),
        hdivrange=_at_least(p.hdivrange, 0.0),
        vdivrange=_at_least(p.vdivrange, 0.0),
        hdivstep=_positive(p.hdivstep),
        vdivstep=_positive(p.vdivstep),
        hdivsteps=_count(p.hdivsteps),
        vdivsteps=_count(p.vdivsteps),
        round_div=p.round_div,
        sources=_sources(p, base),
        fluence=fluence(p),
        polarization=p.polarization,
        nopolar=p.nopolar,
        beam_vector=p.beam_vector if custom else None,
        polar_vector=p.polar_vector if custom else None,
        water_size=p.water_size,
        beamsize=p.beamsize,
    )


def _positive(value: float | None) -> float | None:
    """A step the C treats as "not given" when <= 0."""
    return value if value is not None and value > 0 else None


def fluence(p: ParsedArgs) -> float:
    """Fluence (photons/m^2): from ``-flux * -exposure / -beamsize^2`` when flux is given."""
    if p.flux != 0 and p.exposure > 0 and p.beamsize >= 0:
        if p.beamsize == 0:
            raise InputError("-beamsize: must be positive to turn -flux into a fluence")
        return p.flux * p.exposure / p.beamsize / p.beamsize
    return p.fluence


def _sources(p: ParsedArgs, base: Path) -> tuple[tuple[float, ...], ...] | None:
    """Rows (X, Y, Z, weight, lambda) of ``-sourcefile``, NaN where missing."""
    if p.sourcefile is None:
        return None
    from nanobragg.io.sources import read_source_file

    rows = _read_for("-sourcefile", lambda path: read_source_file(path, strict=True),
                     base / p.sourcefile)
    return tuple(tuple(float(v) for v in row) for row in rows)


# ---------------------------------------------------------------- files and outputs


def _hkl_path(p: ParsedArgs, base: Path) -> Path | None:
    """The ``-hkl`` text file; without one, the C needs an Fdump file or ``-default_F``."""
    check_name_length("-dump", base / p.dumpfile)
    if p.pdbfile is not None or (p.hklfile is not None and _file_kind(p, base) != "hkl"):
        return None
    if p.hklfile is not None:
        path = base / p.hklfile
        if not is_file("-hkl", path):
            raise InputError(f"-hkl: cannot read '{p.hklfile}'")
        return path
    if p.default_F == 0 and not is_file("-dump", base / p.dumpfile):
        raise InputError(f"no structure factors: give -hkl FILE or -default_F "
                         f"(there is no '{p.dumpfile}' from an earlier run either)")
    return None


def is_file(flag: str, path: Path) -> bool:
    """Whether ``path`` is a regular file; a name the system refuses (too long, a
    folder without permission) is an InputError naming ``flag``."""
    check_name_length(flag, path)
    try:
        return path.is_file()
    except OSError as exc:
        raise InputError(f"{flag} '{path}': {exc.strerror or exc}") from exc


def _amorphous(p: ParsedArgs, base: Path, notes: list[str]) -> AmorphousConfig | None:
    """``-stol``/``-4stol``/``-Q``: amorphous material added to the image (the C program
    reads the file but never uses it), with ``-amorphous_thick``, ``-density``, ``-MW``."""
    if p.stolfile is None:
        return None
    if not is_file(p.stol_unit, base / p.stolfile):
        raise InputError(f"{p.stol_unit}: cannot read '{p.stolfile}'")
    notes.append(f"adding the amorphous scattering of '{p.stolfile}' ({p.amorphous_thick:g} m "
                 f"thick, {p.density / 1e6:g} g/cm^3, {p.molecular_weight:g} g/mol); the C "
                 "program reads the file but never uses it")
    return AmorphousConfig(str(base / p.stolfile), p.stol_unit, p.amorphous_thick,
                           density=p.density, molecular_weight=p.molecular_weight)


def output_options(p: ParsedArgs, base: Path, now: int) -> OutputOptions:
    """Output files, scales and the noise seed."""
    return OutputOptions(
        floatfile=base / p.floatfile,
        intfile=base / p.intfile,
        pgmfile=base / p.pgmfile if p.write_pgm else None,
        noisefile=base / p.noisefile if p.calculate_noise else None,
        intfile_scale=_positive(p.intfile_scale),
        pgm_scale=_positive(p.pgm_scale),
        adc=p.adc,
        seed=-(p.seed if p.seed is not None else now),
        expt=base / p.exptout if p.exptout else None,
        exposure=p.exposure,
        formats={name: base / path for name, path in p.format_files.items()},
        format_options={"rings": "auto" if p.png_rings else None,
                        "compression": p.nexus_compression},
        phi_frames=p.nexus_stack,
        hklout=base / p.hklout if p.hklout else None,
    )


# ---------------------------------------------------------------- MTZ and model files


def _file_kind(p: ParsedArgs, base: Path) -> str:
    """Kind of the ``-hkl`` file (``hkl`` text, ``mtz`` or ``model``)."""
    from nanobragg.io.sf_files import file_kind

    path = base / p.hklfile
    check_name_length("-hkl", path)
    if not path.is_file():
        raise InputError(f"-hkl: cannot read '{p.hklfile}'")
    return _read_for("-hkl", file_kind, path)


def structure_factor_file(p: ParsedArgs, base: Path) -> StructureFactorFile | None:
    """The MTZ or model file of ``-hkl``/``-pdb`` with its options, or None.

    Raises:
        InputError: ``-hkl`` and ``-pdb`` together, a missing file, or an option of
            these files (``-mtz_column``, ``-model_dmin``, ``-ksol``, ``-bsol``,
            ``-hklout``) without the file it applies to.
    """
    if p.pdbfile is not None and p.hklfile is not None:
        raise InputError("-pdb: give either -pdb (an atomic model) or -hkl, not both")
    if p.pdbfile is not None:
        path, kind = base / p.pdbfile, "model"
        check_name_length("-pdb", path)
        if not path.is_file():
            raise InputError(f"-pdb: cannot read '{p.pdbfile}'")
        from nanobragg.io.sf_files import file_kind

        if _read_for("-pdb", file_kind, path) == "mtz":
            raise InputError(f"-pdb: '{p.pdbfile}' is an MTZ file; give it with -hkl")
    elif p.hklfile is not None:
        path, kind = base / p.hklfile, _file_kind(p, base)
    else:
        path, kind = None, None
    _check_file_options(p, kind)
    if kind in (None, "hkl"):
        return None
    return StructureFactorFile(
        path=str(path), kind=kind, column=p.mtz_column, dmin=p.model_dmin,
        solvent_k=0.0 if p.ksol is None else p.ksol,
        solvent_b=StructureFactorFile.solvent_b if p.bsol is None else p.bsol)


def _check_file_options(p: ParsedArgs, kind: str | None) -> None:
    """Refuse options that do not apply to the structure-factor file given (``kind``)."""
    if p.mtz_column is not None and kind != "mtz":
        raise InputError("-mtz_column: needs an MTZ file as -hkl")
    for flag, value in (("-model_dmin", p.model_dmin), ("-ksol", p.ksol), ("-bsol", p.bsol)):
        if value is not None and kind != "model":
            raise InputError(f"{flag}: needs an atomic model (-pdb FILE)")
    if p.hklout is not None and kind not in ("mtz", "model"):
        raise InputError("-hklout: writes the P1 table of -pdb FILE or of an MTZ file given "
                         "as -hkl; give one of those")


def with_file_cell(config: SimulationConfig, notes: list[str]) -> SimulationConfig:
    """The configuration with the unit cell of its MTZ or model file when it has none."""
    source, crystal = config.structure_factors, config.crystal
    if source is None or crystal.cell is not None or crystal.reciprocal_matrix is not None:
        return config
    from nanobragg.io.sf_files import file_cell

    flag = "-pdb" if source.kind == "model" else "-hkl"
    a, b, c, alpha, beta, gamma = _read_for(flag, file_cell, source)
    notes.append(f"unit cell from '{source.path}': {a:g} {b:g} {c:g} {alpha:g} {beta:g} "
                 f"{gamma:g}")
    cell = (a * 1e-10, b * 1e-10, c * 1e-10,
            math.radians(alpha), math.radians(beta), math.radians(gamma))
    return dataclasses.replace(config, crystal=dataclasses.replace(crystal, cell=cell))
