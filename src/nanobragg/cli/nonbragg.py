"""The ``nonBragg`` command: amorphous-material scattering images, like the C program.

Same flags, report and files as the reference (see docs/toolkit.md): the detector is
built by :mod:`nanobragg.models.detector` (CUSTOM convention with the reference's
defaults), the scattering by :mod:`nanobragg.physics.amorphous`. Outputs (float, SMV
int, PGM, SMV noise) are written together at the end, or none is.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from ..commandline.nonbragg import RTD, NonBraggOptions, parse_nonbragg
from ..config import BeamConfig, DetectorConfig
from ..errors import InputError
from ..io._atomic import write_chunks
from ..io.output_set import OutputSet
from ..io.pgm import pgm_header
from ..io.smv import format_smv_header
from ..io.sources import read_source_file
from ..io.stol import STOL_UNITS, StolTable, read_stol
from ..models.detector import construct
from ..models.rotations import rotate_axis
from ..physics.amorphous import (
    AVOGADRO,
    R_E_SQR,
    FGrid,
    amorphous_pixels,
    incident_directions,
    last_structure_factor,
    pixel_positions,
)
from ..physics.vectors import unit
from ..products.noise import poisson_noise_image
from .nonbragg_report import progress_lines, stats_lines, to_uint8, to_uint16_rounded

#: Sub-pixel x source evaluations per chunk of rows.
CHUNK_EVALUATIONS = 1 << 21

USAGE = """usage: nonBragg -stol water.stol
options:
\t-stol filename.stol\ttext file containing sin(theta)/lambda and F for one molecule
\t-thickness\tthickness of the sample in mm
\t-samplesize\tlinear dimension of the (cube shaped) sample in mm
\t-density\tdensity of the sample in g/cm^3
\t-MW\tmolecular weight of the sample material in g/mol
\t-hdivrange\thorizontal angular spread of source points in mrad
\t-vdivrange\tvertical angular spread of source points in mrad
\t-hdivstep\tnumber of source points in the horizontal
\t-vdivstep\tnumber of source points in the vertical
\t-distance\tdistance from origin to detector center in mm
\t-detsize\tdetector size in mm
\t-pixel\tdetector pixel size in mm
\t-oversample\tnumber of sub-pixels per pixel
\t-lambda\tincident x-ray wavelength in Angstrom
\t-dispersion\tspectral dispersion: delta-lambda/lambda in percent
\t-dispsteps\tnumber of wavelengths in above range
\t-fluence\tintegrated beam intensity in photons/m^2
\t-flux\t beam intensity in photons/s
\t-exposure\t exposure time in s
\t-beamsize\t linear dimension of the (square) beam profile in mm
\t-sourcefile filename.txt\ttext file containing source positions in mm
\t-floatfile\tname of binary output file (4-byte floats)
\t-intfile\tname of smv-formatted output file (arbitrary scale)
\t-pgmfile\tname of pgm-formatted output file (arbitrary scale)
\t-noisefile\tname of smv-formatted output file (with Poisson noise)
\t-Xbeam\timage X coordinate of direct-beam spot (mm)
\t-Ybeam\timage Y coordinate of direct-beam spot (mm)
\t-noprogress\tturn off the progress meter
\t-dtype float32|float64\tprecision of the render (default float64)"""


@dataclass
class Geometry:
    """The detector after construction, in the reference's reported variables."""

    fpixels: int
    spixels: int
    detsize_x: float
    detsize_y: float
    fdet: torch.Tensor
    sdet: torch.Tensor
    odet: torch.Tensor
    pix0: torch.Tensor
    beam: torch.Tensor
    polar: torch.Tensor
    xbeam: float
    ybeam: float
    xclose: float
    yclose: float
    close_distance: float
    distance: float
    roi: tuple[int, int, int, int]


def run(argv: list[str] | None = None, out=None) -> int:
    """Run nonBragg on a C-style argument list; exit status (0 ok, 2 user error)."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse_nonbragg(argv)
        for line in opts.warnings:
            print(line, file=sys.stderr)
        if opts.show_help:
            print(USAGE, file=out)
            return 0
        _nonbragg(opts, out)
    except InputError as err:
        print(f"nonBragg: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nonBragg: interrupted; no output written", file=sys.stderr)
        return 130
    except MemoryError:
        print("nonBragg: error: out of memory; no output written", file=sys.stderr)
        return 1
    return 0


def console_entry() -> None:
    """Entry point of the ``nonBragg`` console script."""
    sys.exit(run())


def _nonbragg(opts: NonBraggOptions, out) -> None:
    print("nonBragg amorphous material diffraction simulator - James Holton and Ken "
          "Frankel 3-19-16", file=out)
    if opts.stol is None:
        print(USAGE, file=out)
        raise InputError("no amorphous material: give its table with -stol FILE")
    outputs = [("-floatfile", opts.floatfile), ("-intfile", opts.intfile),
               ("-pgmfile", opts.pgmfile)] + ([("-noisefile", opts.noisefile)]
                                              if opts.noise else [])
    with OutputSet() as files:
        for flag, path in outputs:
            files.reserve(flag, path)
        fpixels, spixels = _pixels(opts)
        _check_values(opts)
        _sample_and_fluence(opts, out)
        _complete_sampling(opts)
        geo = _geometry(opts, fpixels, spixels, out)
        print(f"reading {opts.stol}", file=out)
        table = read_stol(opts.stol, STOL_UNITS[opts.stol_flag], opts.stol_flag)
        positions, weights, wavelengths, divsteps = _sources(opts, geo, out)
        _print_setup(opts, geo, table, divsteps, len(weights), out)
        image, omega_sum, rendered = _render(opts, geo, table, positions, weights,
                                             wavelengths)
        for line in progress_lines(opts, geo.roi, rendered):
            print(line, file=out)
        print("", file=out)
        print(f"solid angle subtended by detector = {omega_sum:g} steradian "
              f"( {100 * omega_sum / 4 / math.pi:g}% sphere)", file=out)
        _write(opts, geo, image, rendered, files, out)
        files.commit()


def _pixels(opts: NonBraggOptions) -> tuple[int, int]:
    if opts.pixel <= 0:
        raise InputError(f"-pixel: {opts.pixel * 1000:g} mm is not a positive pixel size")
    if opts.fpixels:
        opts.detsize_x = opts.pixel * opts.fpixels
    if opts.spixels:
        opts.detsize_y = opts.pixel * opts.spixels
    fpixels = math.ceil(opts.detsize_x / opts.pixel)
    spixels = math.ceil(opts.detsize_y / opts.pixel)
    if fpixels <= 0 or spixels <= 0:
        raise InputError(f"detector of {fpixels}x{spixels} pixels: sizes must be positive")
    return fpixels, spixels


def _check_values(opts: NonBraggOptions) -> None:
    """Refuse values the reference would turn into a division by zero or a negative
    amount of material (the parser has already refused non-finite numbers)."""
    positive = (("-MW", opts.molecular_weight, "the molecular weight", "g/mol", 1.0),
                ("-lambda/-energy", opts.wavelength, "the wavelength", "A", 1e10),
                ("-distance", opts.distance, "the detector distance", "mm", 1e3))
    for flag, value, what, units, scale in positive:
        if not 0 < value < math.inf:
            raise InputError(f"{flag}: {what} must be positive (got {value * scale:g} {units})")
    if opts.close_distance is not None and opts.close_distance <= 0:
        raise InputError(f"-close_distance: must be positive (got "
                         f"{opts.close_distance * 1e3:g} mm)")
    not_negative = (("-thick", opts.sample_x, 1e3, "mm"), ("-width", opts.sample_y, 1e3, "mm"),
                    ("-height", opts.sample_z, 1e3, "mm"),
                    ("-density", opts.density, 1e-6, "g/cm^3"),
                    ("-molecules", opts.molecules, 1.0, ""), ("-fluence", opts.fluence, 1.0, ""),
                    ("-flux", opts.flux, 1.0, ""), ("-exposure", opts.exposure, 1.0, "s"))
    for flag, value, scale, units in not_negative:
        if value < 0:
            raise InputError(f"{flag}: must not be negative (got {value * scale:g}"
                             f"{' ' + units if units else ''})")
    if opts.beamsize == 0:
        raise InputError("-beamsize: a beam of size 0 illuminates nothing (a negative size "
                         "turns the clipping of the sample off)")


def _sample_and_fluence(opts: NonBraggOptions, out) -> None:
    """Fluence from flux, the sample cut to the beam, molecules (the reference's order)."""
    if opts.flux != 0.0 and opts.exposure > 0.0 and opts.beamsize >= 0:
        opts.fluence = opts.flux * opts.exposure / opts.beamsize / opts.beamsize
    if opts.beamsize >= 0:
        if opts.beamsize < opts.sample_y:
            print(f"WARNING: clipping sample ({opts.sample_y:g} m high) with beam "
                  f"({opts.beamsize:g} m)", file=out)
            opts.sample_y = opts.beamsize
        if opts.beamsize < opts.sample_z:
            print(f"WARNING: clipping sample ({opts.sample_z:g} m wide) with beam "
                  f"({opts.beamsize:g} m)", file=out)
            opts.sample_z = opts.beamsize
    volume = opts.sample_x * opts.sample_y * opts.sample_z
    if opts.molecules != 0:
        opts.density = opts.molecules / volume / AVOGADRO * opts.molecular_weight
    opts.molecules = volume * opts.density * AVOGADRO / opts.molecular_weight


def _complete(rng: float, step: float, steps: int, full: float) -> tuple[float, float, int]:
    """The reference's completion of (range, step, steps) and its sanity check."""
    if steps <= 0:
        if rng < 0.0:
            rng, step, steps = (0.0, 0.0, 1) if step <= 0.0 else (step, step, 2)
        elif step <= 0.0:
            step, steps = rng, 2
        else:
            steps = math.ceil(rng / step)
    elif rng < 0.0:
        if step <= 0.0:
            rng, step = full, full / steps
        else:
            rng, steps = step, 2
    elif step <= 0.0:
        steps = max(steps, 2)
        step = rng / (steps - 1)
    if rng <= 0.0 or step <= 0.0 or steps <= 0:
        return 0.0, 0.0, 1
    return rng, step, steps


def _complete_sampling(opts: NonBraggOptions) -> None:
    opts.hdivrange, opts.hdivstep, opts.hdivsteps = _complete(
        opts.hdivrange, opts.hdivstep, opts.hdivsteps, 1.0)
    opts.vdivrange, opts.vdivstep, opts.vdivsteps = _complete(
        opts.vdivrange, opts.vdivstep, opts.vdivsteps, 1.0)
    opts.dispersion, opts.dispstep, opts.dispsteps = _complete(
        opts.dispersion, -1.0, opts.dispsteps, 1.0)
    if opts.phisteps < 0:
        if opts.osc < 0.0:
            opts.osc = 0.0 if opts.phistep <= 0.0 else opts.phistep
        elif opts.phistep <= 0.0:
            opts.phistep = opts.osc / 2.0
    elif opts.osc < 0.0:
        opts.osc = 1.0 / RTD if opts.phistep <= 0.0 else opts.phistep


def _geometry(opts: NonBraggOptions, fpixels: int, spixels: int, out) -> Geometry:
    """The detector by the models' CUSTOM construction with nonBragg's defaults."""
    pixel = opts.pixel
    xclose = opts.orgx * pixel if opts.orgx is not None else opts.xclose
    yclose = opts.orgy * pixel if opts.orgy is not None else opts.yclose
    xclose = (opts.detsize_x - pixel) / 2.0 if xclose is None else xclose
    yclose = (opts.detsize_y + pixel) / 2.0 if yclose is None else yclose
    xbeam = xclose if opts.xbeam is None else opts.xbeam
    ybeam = yclose if opts.ybeam is None else opts.ybeam
    f64 = torch.float64
    fdet, sdet = (unit(torch.tensor(v, dtype=f64)) for v in (opts.fdet, opts.sdet))
    odet = unit(torch.linalg.cross(fdet, sdet))
    centre = (xclose, yclose) if opts.pivot == "SAMPLE" else (xbeam, ybeam)
    cfg = DetectorConfig(
        convention="CUSTOM", pixel_size=pixel, fpixels=fpixels, spixels=spixels,
        detsize_f=opts.detsize_x, detsize_s=opts.detsize_y, distance=opts.distance,
        close_distance=opts.close_distance, beam_center=centre, pivot=opts.pivot,
        rotx=opts.rotx, roty=opts.roty, rotz=opts.rotz, twotheta=opts.twotheta,
        twotheta_axis=tuple(opts.twotheta_axis), fdet_vector=tuple(fdet.tolist()),
        sdet_vector=tuple(sdet.tolist()), odet_vector=tuple(odet.tolist()))
    beam_cfg = BeamConfig(beam_vector=tuple(opts.beam), polar_vector=tuple(opts.polar_vector))
    print("pivoting detector around sample" if opts.pivot == "SAMPLE"
          else "pivoting detector around direct beam spot", file=out)
    con = construct(cfg, beam_cfg, f64, torch.device("cpu"))
    close = float(torch.dot(con.pix0, con.odet))
    ratio = float(con.ratio)
    aim = close / ratio * con.beam - con.pix0
    roi = opts.roi or (0, fpixels, 0, spixels)
    roi = tuple(v if v >= 0 else d for v, d in zip(roi, (0, fpixels, 0, spixels)))
    return Geometry(fpixels, spixels, opts.detsize_x, opts.detsize_y, con.fdet, con.sdet,
                    con.odet, con.pix0, con.beam, unit(torch.tensor(opts.polar_vector,
                                                                    dtype=f64)),
                    float(torch.dot(con.fdet, aim)), float(torch.dot(con.sdet, aim)),
                    -float(torch.dot(con.pix0, con.fdet)),
                    -float(torch.dot(con.pix0, con.sdet)), close, close / ratio, roi)


def _sources(opts: NonBraggOptions, geo: Geometry, out):
    """Source positions (S, 3), weights and wavelengths, as the reference makes them."""
    beam, polar = geo.beam, geo.polar
    if opts.sourcefile is not None:
        rows = torch.as_tensor(read_source_file(opts.sourcefile), dtype=torch.float64)
        default = -opts.source_distance * beam
        pos = torch.where(torch.isnan(rows[:, :3]), default, rows[:, :3])
        weights = torch.where(torch.isnan(rows[:, 3]), torch.ones_like(rows[:, 3]), rows[:, 3])
        waves = torch.where(torch.isnan(rows[:, 4]), torch.full_like(rows[:, 4],
                                                                     opts.wavelength), rows[:, 4])
        divsteps = -1
    else:
        pos, waves, divsteps = _generated(opts, beam, polar, out)
        weights = torch.ones(len(waves), dtype=torch.float64)
    print(f"  created a total of {len(weights)} sources:", file=out)
    for p, w, lam in zip(pos.tolist(), weights.tolist(), waves.tolist()):
        print(f"{p[0]:g} {p[1]:g} {p[2]:g}   {w:g} {lam:g}", file=out)
    return pos, weights, waves, divsteps


def _kept_divergence(opts: NonBraggOptions) -> list[tuple[float, float]]:
    kept = []
    for ih in range(opts.hdivsteps):
        for iv in range(opts.vdivsteps):
            hdiv = opts.hdivstep * ih - opts.hdivrange / 2.0
            vdiv = opts.vdivstep * iv - opts.vdivrange / 2.0
            with np.errstate(divide="ignore", invalid="ignore"):
                test = (np.float64(hdiv * hdiv - opts.hdivstep * opts.hdivstep / 4.0
                                   * (1 - opts.hdivsteps % 2)) / opts.hdivrange
                        / opts.hdivrange)
                test += (np.float64(vdiv * vdiv - opts.vdivstep * opts.vdivstep / 4.0
                                    * (1 - opts.vdivsteps % 2)) / opts.vdivrange
                         / opts.vdivrange)
            if opts.round_div and test * 4.0 > 1.1:
                continue
            kept.append((hdiv, vdiv))
    return kept


def _generated(opts: NonBraggOptions, beam, polar, out):
    kept = _kept_divergence(opts)
    for hdiv, vdiv in kept:
        print(f"divergence deviation: {hdiv:g} {vdiv:g}", file=out)
    waves = [opts.wavelength * (1.0 + opts.dispstep * t - opts.dispersion / 2.0)
             for t in range(opts.dispsteps)]
    for t, lam in enumerate(waves):
        print(f"lambda{t} = {lam:.15g}", file=out)
    vert = unit(torch.linalg.cross(beam, polar))
    start = -opts.source_distance * beam
    pos, lams = [], []
    for hdiv, vdiv in kept:
        direction = rotate_axis(rotate_axis(start, polar, vdiv), vert, hdiv)
        for lam in waves:
            pos.append(direction)
            lams.append(lam)
    if not pos:
        return torch.zeros((0, 3), dtype=torch.float64), torch.zeros(0, dtype=torch.float64), 0
    return torch.stack(pos), torch.tensor(lams, dtype=torch.float64), len(kept)


def _print_setup(opts: NonBraggOptions, geo: Geometry, table: StolTable, divsteps: int,
                 sources: int, out) -> None:
    oversample = opts.oversample if opts.oversample > 0 else 1
    lines = [f"  {table.s.size + 4} initialized F points (will cubic-spline interpolate "
             "between them)",
             f"  wave={opts.wavelength:g} meters +/- {opts.dispersion * 100:g}% in "
             f"{opts.dispsteps} steps",
             "  polarization effect disabled" if opts.nopolar
             else f"  Kahn polarization factor: {opts.polarization:f}"]
    if opts.curved:
        lines.append("  curved detector: all pixels same distance from origin")
    if opts.point_pixel:
        lines.append("  pixel obliquity effect disabled")
    if opts.fmap:
        lines.append("  Fmap mode: plotting structure factor at every pixel")
    v = [t.tolist() for t in (geo.pix0, geo.fdet, geo.sdet, geo.beam, geo.polar)]
    lines += [
        f"  incident fluence: {opts.fluence:g} photons/m^2",
        f"  sample is {opts.sample_x:g} m thick x {opts.sample_y:g} m high x "
        f"{opts.sample_z:g} m wide, {opts.density / 1e6:g} g/cm^3 and "
        f"{opts.molecular_weight:g} g/mol ({opts.molecules:g} molecules)",
        f"  distance={geo.distance:g} detsize={geo.detsize_x:g}x{geo.detsize_y:g}  "
        f"pixel={opts.pixel:g} meters ({geo.fpixels}x{geo.spixels} pixels)",
        f"  Xbeam={geo.xbeam:g} Ybeam={geo.ybeam:g}",
        "  detector origin: {:g} {:g} {:g}".format(*v[0]),
        "  DIRECTION_OF_DETECTOR_X-AXIS= {:g} {:g} {:g}".format(*v[1]),
        "  DIRECTION_OF_DETECTOR_Y-AXIS= {:g} {:g} {:g}".format(*v[2]),
        "  INCIDENT_BEAM_DIRECTION= {:g} {:g} {:g}".format(*v[3]),
        "  POLARIZATION_PLANE_NORMAL= {:g} {:g} {:g}".format(*v[4]),
        "  roi: {} < x < {} && {} < y < {}".format(*geo.roi),
        f"  hdivrange={opts.hdivrange:g} hdivstep={opts.hdivstep:g}  radians",
        f"  vdivrange={opts.vdivrange:g} vdivstep={opts.vdivstep:g}  radians",
        f"  {divsteps} divergence steps", f"  {sources} sources",
        f"  {oversample} pixel oversample steps"]
    if opts.noise:
        lines += ["", "  noise image paramters:", f"  seed: {opts.seed}"]
    print("\n".join(lines), file=out)


def _rendered_mask(geo: Geometry) -> np.ndarray:
    xmin, xmax, ymin, ymax = geo.roi
    f = np.arange(geo.fpixels)
    s = np.arange(geo.spixels)
    return ((s[:, None] >= ymin) & (s[:, None] <= ymax)
            & (f[None, :] >= xmin) & (f[None, :] <= xmax))


def _render(opts: NonBraggOptions, geo: Geometry, table: StolTable, positions, weights,
            wavelengths) -> tuple[np.ndarray, float, np.ndarray]:
    """Float image (float32), the summed solid angle and the rendered-pixel mask."""
    dtype = torch.float32 if opts.dtype == "float32" else torch.float64
    oversample = opts.oversample if opts.oversample > 0 else 1
    steps = len(weights) * oversample * oversample
    incident = incident_directions(positions).to(dtype)
    lam, w = wavelengths.to(dtype), weights.to(dtype)
    vectors = [t.to(dtype) for t in (geo.fdet, geo.sdet, geo.pix0, geo.beam, geo.polar)]
    grid = FGrid.of(table.padded())
    rendered = _rendered_mask(geo)
    per_row = max(1, geo.fpixels * oversample * oversample * max(1, len(weights)))
    rows = max(1, CHUNK_EVALUATIONS // per_row)
    image = np.zeros((geo.spixels, geo.fpixels), dtype=np.float64)
    omega_sum = 0.0
    scale = R_E_SQR * opts.fluence * opts.molecules / steps if steps else 0.0
    for start in range(0, geo.spixels, rows):
        block = slice(start, min(start + rows, geo.spixels))
        pos = pixel_positions(vectors[0], vectors[1], vectors[2], geo.spixels, geo.fpixels,
                              opts.pixel, oversample, block)
        if opts.curved:
            pos = curved_positions(pos, geo.distance, vectors[3], vectors[0], vectors[1])
        if len(weights) == 0:
            continue
        intensity, omega = amorphous_pixels(
            pos, incident, lam, w, grid, pixel_size=opts.pixel,
            close_distance=geo.close_distance, polar_axis=vectors[4],
            kahn=opts.polarization, nopolar=opts.nopolar, point_pixel=opts.point_pixel)
        mask = rendered[block]
        omega_sum += float(omega.to(torch.float64).sum(dim=-1).numpy()[mask].sum())
        values = intensity.to(torch.float64).numpy() * scale
        if opts.fmap:
            values = last_structure_factor(pos, incident, lam, grid).numpy()
        image[block] = np.where(mask, values, 0.0)
    return image.astype(np.float32), omega_sum, rendered


def curved_positions(pos: torch.Tensor, distance, beam, fdet, sdet) -> torch.Tensor:
    """The reference's curved detector: ``distance*beam`` rotated about sdet by y/distance,
    then about fdet by z/distance (y, z: the flat position's components)."""
    start = (distance * beam).expand_as(pos)
    first = rotate_axis(start, sdet, pos[..., 1] / distance)
    return rotate_axis(first, fdet, pos[..., 2] / distance)


def _smv_header(opts: NonBraggOptions, geo: Geometry) -> bytes:
    return format_smv_header({
        "HEADER_BYTES": 512, "DIM": 2, "BYTE_ORDER": "little_endian",
        "TYPE": "unsigned_short", "SIZE1": geo.fpixels, "SIZE2": geo.spixels,
        "PIXEL_SIZE": opts.pixel * 1000.0, "DISTANCE": geo.distance * 1000.0,
        "WAVELENGTH": opts.wavelength * 1e10, "BEAM_CENTER_X": geo.xbeam * 1000.0,
        "BEAM_CENTER_Y": (geo.detsize_y - geo.ybeam) * 1000,
        "ORGX": geo.xclose / opts.pixel, "ORGY": geo.yclose / opts.pixel,
        "CLOSE_DISTANCE": geo.close_distance * 1000.0, "PHI": opts.phi0 * RTD,
        "OSC_START": opts.phi0 * RTD, "OSC_RANGE": opts.osc * RTD,
        "TWOTHETA": opts.twotheta * RTD, "DETECTOR_SN": "000", "BEAMLINE": "fake"})


def _write(opts: NonBraggOptions, geo: Geometry, image: np.ndarray, rendered: np.ndarray,
           files: OutputSet, out) -> None:
    print(f"writing {opts.floatfile} as {image.size} 4-byte floats", file=out)
    files.write("-floatfile", lambda p: write_chunks(p, [image.astype("<f4").tobytes()]))
    oversample = opts.oversample if opts.oversample > 0 else 1
    lines, int_scale, pgm_scale = stats_lines(image, rendered, opts, oversample)
    print("\n".join(lines[:3]), file=out)
    header = _smv_header(opts, geo)
    ints = np.where(rendered, to_uint16_rounded(image.astype(np.float64) * int_scale
                                                + opts.adc), 0).astype(np.uint16)
    print(f"writing {opts.intfile} as 2-byte integers", file=out)
    files.write("-intfile", lambda p: write_chunks(p, [header, ints.astype("<u2").tobytes()]))
    print(lines[3], file=out)
    pgm = np.where(rendered, to_uint8(image.astype(np.float64) * pgm_scale), 0).astype(np.uint8)
    top = pgm_header(geo.fpixels, geo.spixels, pgm_scale)
    print(f"writing {opts.pgmfile} as 1-byte integers", file=out)
    files.write("-pgmfile", lambda p: write_chunks(p, [top, pgm.tobytes()]))
    if not opts.noise:
        return
    xmin, xmax, ymin, ymax = geo.roi
    noise, photons, overloads = poisson_noise_image(image, opts.seed, opts.adc,
                                                    (xmin, xmax, ymin, ymax))
    print(f"{photons:.0f} photons on noise image ({overloads} overloads)", file=out)
    print(f"writing {opts.noisefile} as 2-byte integers", file=out)
    files.write("-noisefile", lambda p: write_chunks(p, [header, noise.astype("<u2").tobytes()]))
