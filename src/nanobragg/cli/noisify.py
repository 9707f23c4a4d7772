"""The ``noisify`` command: a photons-per-pixel float image to what a detector records.

Same flags, printed report and output files as the reference program (see
docs/toolkit.md): scale, beam flicker, per-pixel calibration error, seeded Poisson
counts, point-spread function, gain, read-out noise and ADC offset, 16- or 32-bit
SMV images and a PGM preview. The PSF is applied by FFT (nanobragg.physics.psf_radii).
All outputs are written together at the end, or none is.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from ..commandline.noisify import R_E_SQR, NoisifyOptions, parse_noisify
from ..errors import InputError
from ..io._atomic import read_bytes, write_chunks
from ..io.output_set import OutputSet
from ..io.pgm import pgm_header
from ..io.smv import format_smv_header, header_value
from ..physics.psf_radii import reference_psf
from ..products.detector_noise import DetectorNoiseState, noiseless_pixels, photon_counts, readout

USAGE = """usage: noisify -floatfile floatimage.bin
options:
\tfloatimage.bin\t nearBragg-style binary dump file
\t-scale\tscale factor to put floatimage.bin in photons/pixel
\t-gain\tpixel units per photon
\t-readout_noise\tgaussian noise added to every pixel
\t-flicker\t fractional 1/f noise in source
\t-calibration\t static fractional error per pixel
\t-calib_seed\t change seed for calibration error
\t-seed\t specify seed for all non-calibration errors
\t-adc\t offset added to each pixel after noise
\t-distance\t distance from origin to detector center in mm
\t-pixel\t detector pixel size in mm
\t-detpixels\t detector size in pixels (also -detpixels_x, -detpixels_y)
\t-psf gauss|fiber\t point spread function type (gaussian or fiber)
\t-psf_fwhm\t point spread function size in um
\t-psf_radius\t radius to render PSF in pixels (default automatic)
\t-lambda\t incident x-ray wavelength in Angstrom
\t-intfile\t name of smv-formatted output file (arbitrary scale)
\t-pgmfile\tname of pgm-formatted output file (arbitrary scale)
\t-noisefile\t name of smv-formatted output file (with noise)
\t-bits 16|32\t pixel width of the SMV outputs
\t-nonoise, -nopgm\t skip the noise image, the PGM image
\t-Xbeam\t image X coordinate of direct-beam spot (mm)
\t-Ybeam\t image Y coordinate of direct-beam spot (mm)
\t-header\t import 512-byte header from specified SMV file
\t-dtype float32|float64\t accepted like nanoBragg's; the PSF convolution is float64 in both"""


@dataclass
class _Frame:
    """Detector size and the header the outputs get."""

    xpixels: int
    ypixels: int
    detsize_x: float
    detsize_y: float
    header: bytes | None = None


def run(argv: list[str] | None = None, out=None) -> int:
    """Run noisify on a C-style argument list; exit status (0 ok, 2 user error)."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse_noisify(argv)
        for line in opts.warnings:
            print(line, file=sys.stderr)
        if opts.show_help:
            print(USAGE, file=out)
            return 0
        _noisify(opts, out)
    except InputError as err:
        print(f"noisify: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("noisify: interrupted; no output written", file=sys.stderr)
        return 130
    except MemoryError:
        print("noisify: error: out of memory; no output written", file=sys.stderr)
        return 1
    return 0


def console_entry() -> None:
    """Entry point of the ``noisify`` console script."""
    sys.exit(run())


def _noisify(opts: NoisifyOptions, out) -> None:
    for line in opts.early:
        print(line, file=out)
    print("noisify - add noise to pixels - James Holton 3-19-16", file=out)
    if opts.floatfile is None:
        print(USAGE, file=out)
        raise InputError("no input image: name it with -floatfile (or any argument "
                         "ending in floatimage.bin)")
    _check_values(opts)
    raw = read_bytes(opts.floatfile, "-floatfile")
    frame = _frame(opts, len(raw), out)
    print(f"importing {frame.xpixels * frame.ypixels} pixel intensites: {opts.floatfile}",
          file=out)
    image = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(frame.ypixels,
                                                                        frame.xpixels)
    if opts.xbeam is None:
        opts.xbeam = frame.detsize_x / 2.0
    if opts.ybeam is None:
        opts.ybeam = frame.detsize_y / 2.0
    if not opts.noise:
        opts.calibration = opts.readout = opts.flicker = 0.0
    _print_settings(opts, frame, out)
    outputs = [("-intfile", opts.intfile)]
    outputs += [("-pgmfile", opts.pgmfile)] if opts.pgm else []
    outputs += [("-noisefile", opts.noisefile)] if opts.noise else []
    with OutputSet() as files:
        for flag, path in outputs:
            files.reserve(flag, path)
        _stages(opts, frame, image, files, out)
        files.commit()


def _check_values(opts: NoisifyOptions) -> None:
    """Refuse values that make no detector: a pixel or PSF of no size, a gain that is not
    positive, a negative scale or noise level (non-finite numbers the parser refused)."""
    if opts.pixel <= 0:
        raise InputError(f"-pixel: must be positive (got {opts.pixel * 1e3:g} mm)")
    if opts.psf is not None and opts.psf_fwhm <= 0:
        raise InputError(f"-psf_fwhm: a {opts.psf} PSF needs a positive width "
                         f"(got {opts.psf_fwhm * 1e6:g} um)")
    if opts.gain <= 0:
        raise InputError(f"-gain: must be positive (got {opts.gain:g} ADU/photon)")
    for flag, value in (("-scale", opts.scale), ("-fluence", opts.fluence),
                        ("-readout_noise", opts.readout), ("-flicker", opts.flicker),
                        ("-calibration", opts.calibration)):
        if value < 0:
            raise InputError(f"{flag}: must not be negative (got {value:g})")


def _frame(opts: NoisifyOptions, nbytes: int, out) -> _Frame:
    """Pixels and detector size from the flags, the -header file and the input size."""
    header = None
    xpixels, ypixels = opts.xpixels, opts.ypixels
    pixels = nbytes // 4
    if opts.header is not None:
        print(f"taking header from {opts.header}", file=out)
        header, xpixels, ypixels = _import_header(opts, out)
        pixels = xpixels * ypixels
    if not xpixels and not ypixels:
        print("WARNING: guessing xy pixel dimensions.", file=out)
        xpixels, ypixels = _guess_shape(pixels)
    if xpixels and not ypixels:
        ypixels = pixels // xpixels
    if ypixels and not xpixels:
        xpixels = pixels // ypixels
    if xpixels <= 0 or ypixels <= 0:
        raise InputError(f"-floatfile '{opts.floatfile}': cannot make a {xpixels}x{ypixels} "
                         "image of it")
    if nbytes != 4 * xpixels * ypixels:
        raise InputError(f"-floatfile '{opts.floatfile}': size is {nbytes} bytes, expected "
                         f"{4 * xpixels * ypixels} for {xpixels}x{ypixels} float32 pixels")
    detsize_x, detsize_y = opts.pixel * xpixels, opts.pixel * ypixels
    if opts.header is not None and opts.ybeam_from_header is not None:
        opts.ybeam = detsize_y - opts.ybeam_from_header
    return _Frame(xpixels, ypixels, detsize_x, detsize_y, header)


def _guess_shape(pixels: int) -> tuple[int, int]:
    """The reference's guess: the most nearly square factorisation of the pixel count."""
    if pixels <= 0:
        return 0, 0
    xpixels = int(math.sqrt(pixels))
    ypixels = pixels // xpixels
    while pixels != xpixels * ypixels and xpixels > 1:
        xpixels -= 1
        ypixels = pixels // xpixels
    return xpixels, ypixels


def _import_header(opts: NoisifyOptions, out) -> tuple[bytes, int, int]:
    """Header bytes and size of the -header SMV file; its geometry overrides the flags."""
    raw = read_bytes(opts.header, "-header")
    text = raw[:512].decode("latin-1")
    if not text.startswith("{\nHEADER_BYT"):
        raise InputError(f"-header '{opts.header}': does not look like an ADSC (SMV) frame")
    size = int(header_value(text, "HEADER_BYTES") or 0)
    if size <= 0 or size > len(raw):
        raise InputError(f"-header '{opts.header}': bad HEADER_BYTES={size}")
    text = raw[:size].decode("latin-1")
    width = int(header_value(text, "SIZE1") or 0)
    height = int(header_value(text, "SIZE2") or 0)
    if width == 0:
        width = height = int(header_value(text, "DETECTOR_DIMENSIONS") or 0)
    print(f"reading {opts.header}", file=out)
    values = {key: header_value(text, key) for key in
              ("PIXEL_SIZE", "DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y")}
    if values["PIXEL_SIZE"] is not None:
        opts.pixel = values["PIXEL_SIZE"] / 1000.0
    if values["DISTANCE"] is not None:
        opts.distance = values["DISTANCE"] / 1000.0
    if values["WAVELENGTH"] is not None:
        opts.wavelength = values["WAVELENGTH"] / 1e10
    if values["BEAM_CENTER_X"] is not None:
        opts.xbeam = values["BEAM_CENTER_X"] / 1000.0
    if values["BEAM_CENTER_Y"] is not None:
        opts.ybeam_from_header = values["BEAM_CENTER_Y"] / 1000.0
    return raw[:size], width, height


def _print_settings(opts: NoisifyOptions, frame: _Frame, out) -> None:
    lines = [f"  distance={opts.distance:g} detsize={frame.detsize_x:g}x{frame.detsize_y:g}"
             f"  pixel={opts.pixel:g} meters ({frame.xpixels}x{frame.ypixels} pixels)",
             f"  Xbeam={opts.xbeam:g} Ybeam={opts.ybeam:g}"]
    text = "\n".join(lines) + "\n"
    if opts.psf is not None:
        name = "Gaussian" if opts.psf == "gauss" else "fiber"
        text += f"  {name} PSF fwhm = {opts.psf_fwhm * 1e6:g} um "
        if opts.psf_radius == 0:
            text += "  with automatic rendering radius\n"
        if opts.psf_radius >= 0:
            text += f"  with rendering radius: {opts.psf_radius}\n"
    text += "\n".join([
        f"  seed: {opts.seed}", f"  calibration noise seed: {opts.calib_seed}",
        f"  calibration_noise = {opts.calibration * 100:g} %",
        f"  input file scale = {opts.scale:g}", f"  readout_noise = {opts.readout:g} ADU",
        f"  flicker_noise = {opts.flicker * 100:g} %",
        f"  quantum_gain = {opts.gain:g} ADU/photon", f"  adc_offset = {opts.adc:g} ADU",
        "", ""])
    out.write(text)


def _photons(opts: NoisifyOptions, image: np.ndarray, out) -> np.ndarray:
    """The input on the photon scale (float32), with the reference's report lines."""
    for value in image[image < 0.0].tolist():
        print(f"WARNING: negative intensity in {opts.floatfile}: {value:g}", file=out)
    finite = image[~np.isnan(image)]
    max_i = max(float(finite.max()), 0.0) if finite.size else 0.0
    factor = (opts.fluence * R_E_SQR) * opts.scale
    photons = (factor * image.astype(np.float64)).astype(np.float32)
    print(f"maximum value in input file: {max_i:g} "
          f"( {max_i * opts.scale * opts.fluence * R_E_SQR:g} on photon scale)", file=out)
    return photons


def _blur(opts: NoisifyOptions, photons: np.ndarray, out) -> np.ndarray:
    result = reference_psf(photons, opts.psf, opts.psf_fwhm / opts.pixel, opts.psf_radius)
    for line in result.notes:
        print(line, file=out)
    return result.image


def _stages(opts: NoisifyOptions, frame: _Frame, image: np.ndarray, files: OutputSet,
            out) -> None:
    photons = _photons(opts, image, out)
    blur = opts.psf is not None and opts.psf_fwhm > 0.0
    if not opts.noise and blur:
        print(f"  applying PSF to noiseless image width = {opts.psf_fwhm / opts.pixel:g} "
              "pixels", file=out)
        photons = _blur(opts, photons, out)
    pixels16, pixels32 = noiseless_pixels(photons, opts.gain, opts.adc)
    width = opts.bits // 8
    print(f"writing {opts.intfile} as {photons.size} {width}-byte integers", file=out)
    _write_smv(files, "-intfile", opts, frame, pixels16 if opts.bits == 16 else pixels32)
    if opts.pgm:
        print(f"writing {opts.pgmfile} as 1-byte integers", file=out)
        top = pgm_header(frame.xpixels, frame.ypixels, 1.0)
        pgm = np.minimum(pixels16, 255).astype(np.uint8)
        files.write("-pgmfile", lambda p: write_chunks(p, [top, pgm.tobytes()]))
    if not opts.noise:
        return
    state = DetectorNoiseState(opts.seed, opts.calib_seed)
    counts, total = photon_counts(photons, opts.flicker, opts.calibration, state)
    if blur:
        print(f"{total:.0f} photons on noise image before PSF", file=out)
        print(f"  applying PSF width = {opts.psf_fwhm * 1e6:g} um", file=out)
        counts = _blur(opts, counts, out)
    noisy16, noisy32, total, overloads = readout(counts, opts.gain, opts.adc, opts.readout,
                                                 opts.bits, state)
    print(f"{total:.0f} photons on noise image ({overloads} overloads)", file=out)
    print(f"writing {opts.noisefile} as {width}-byte integers", file=out)
    _write_smv(files, "-noisefile", opts, frame, noisy16 if opts.bits == 16 else noisy32)


def _write_smv(files: OutputSet, flag: str, opts: NoisifyOptions, frame: _Frame,
               pixels: np.ndarray) -> None:
    header = frame.header if frame.header is not None else _made_header(opts, frame)
    data = pixels.astype("<u2" if opts.bits == 16 else "<u4").tobytes()
    files.write(flag, lambda p: write_chunks(p, [header, data]))


def _made_header(opts: NoisifyOptions, frame: _Frame) -> bytes:
    """The header the reference writes when no -header is given."""
    return format_smv_header({
        "HEADER_BYTES": 512, "DIM": 2, "BYTE_ORDER": "little_endian",
        "TYPE": "unsigned_short" if opts.bits == 16 else "long_integer",
        "SIZE1": frame.xpixels, "SIZE2": frame.ypixels,
        "PIXEL_SIZE": opts.pixel * 1000.0, "DISTANCE": opts.distance * 1000.0,
        "WAVELENGTH": float(opts.wavelength), "BEAM_CENTER_X": opts.xbeam * 1000.0,
        "BEAM_CENTER_Y": (frame.detsize_y - opts.ybeam) * 1000,
        "PHI": float(opts.phi), "OSC_START": float(opts.phi), "OSC_RANGE": float(opts.osc),
        "DETECTOR_SN": "000", "BEAMLINE": "fake"})
