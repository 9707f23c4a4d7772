"""Command line of ``noisify``: the reference program's flags, defaults and matching.

Units as in the reference: distances and pixel sizes in mm, beam centre in mm, PSF
FWHM in um, wavelength in Angstrom (only written to the header). Values are stored in
the reference's variables (metres; the FWHM rounded to float32 like its ``float``).
Extra flags: ``-dtype float32|float64`` (accepted like nanoBragg's; the PSF convolution
runs in float64 either way, since a float32 FFT moves 0.75 % of the noise pixels of the
golden Gaussian-PSF case across a count boundary, beyond the 0.1 % allowed) and
``-h``/``-help``/``--help``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nanobragg.errors import InputError
from nanobragg.models.rng import f32

from .cstyle import CRule, constants, parse, rule, store, store_all

#: The reference's incident fluence default (one electron scatters 1 photon/sr).
UNIT_FLUENCE = 125932015286227086360700780544.0
#: Thomson cross section (m^2) as the reference writes it.
R_E_SQR = 7.94079248018965e-30
DTYPE_NAMES = ("float32", "float64")


@dataclass
class NoisifyOptions:
    """The reference's option variables after its argument loop (SI units)."""

    wavelength: float = 1.0  # Angstrom (header only)
    xbeam: float | None = None  # m
    ybeam: float | None = None
    ybeam_from_header: float | None = None  # BEAM_CENTER_Y of -header (m)
    distance: float = 100.0e-3
    detsize_x: float = 102.4e-3
    detsize_y: float = 102.4e-3
    xpixels: int = 0
    ypixels: int = 0
    pixel: float = 0.1e-3
    psf: str | None = None  # "gauss", "fiber" or None
    psf_name: str | None = None  # the -psf value as given
    psf_fwhm: float = f32(46e-6)  # m, float32 like the reference
    psf_radius: int = 0  # pixels; 0 automatic
    fluence: float = UNIT_FLUENCE
    floatfile: str | None = None
    header: str | None = None
    pgmfile: str = "image.pgm"
    intfile: str = "intimage.img"
    bits: int = 16
    noisefile: str = "noiseimage.img"
    noise: bool = True
    pgm: bool = True
    readout: float = 0.0
    flicker: float = 0.0
    calibration: float = 0.03
    scale: float = 1.0
    seed: int = field(default_factory=lambda: -int(time.time()))
    calib_seed: int = 123456789
    badpix_seed: int = 1234
    hotpix_seed: int = 5678
    adc: float = 40.0
    gain: float = 1.0
    phi: float = 0.0
    osc: float = 1.0
    dtype: str = "float64"
    show_help: bool = False
    warnings: list[str] = field(default_factory=list)  # stderr
    early: list[str] = field(default_factory=list)  # stdout, before the banner


def _mm(value: float) -> float:
    return value / 1000.0


def _psf(state: NoisifyOptions, values: list) -> None:
    name = values[0]
    state.psf_name = name
    state.psf = "fiber" if "fiber" in name else "gauss" if "gauss" in name else None


def _negated(name: str):
    def action(state: NoisifyOptions, values: list) -> None:
        setattr(state, name, -values[0])
    return action


def _dtype(state: NoisifyOptions, values: list) -> None:
    if values[0] not in DTYPE_NAMES:
        raise InputError(f"-dtype: '{values[0]}' is not one of {', '.join(DTYPE_NAMES)}")
    state.dtype = values[0]


RULES: tuple[CRule, ...] = (
    rule("-lambda", "f", store("wavelength")),
    rule("-Xbeam", "f", store("xbeam", _mm)),
    rule("-Ybeam", "f", store("ybeam", _mm)),
    rule("-distance", "f", store("distance", _mm)),
    rule("=-detsize", "f", store_all("detsize_x", "detsize_y", unit=_mm)),
    rule("-detsize_x", "f", store("detsize_x", _mm)),
    rule("-detsize_y", "f", store("detsize_y", _mm)),
    rule("=-detpixels", "i", store_all("xpixels", "ypixels")),
    rule("-detpixels_x", "i", store("xpixels")),
    rule("-detpixels_y", "i", store("ypixels")),
    rule("-pixel", "f", store("pixel", _mm)),
    rule("=-psf", "s", _psf),
    rule("-psf_rad", "f", store("psf_radius", lambda v: int(v) if abs(v) < 2**31 else 0)),
    rule("-psf_si -psf_fw -psf_wi", "f", store("psf_fwhm", lambda v: f32(v / 1e6))),
    rule("-fluence", "f", store("fluence")),
    rule("-floatfile -floatimage -bin", "s", store("floatfile")),
    rule("-header", "s", store("header")),
    rule("-pgmfile -pgmimage", "s", store("pgmfile")),
    rule("-intfile -intimage", "s", store("intfile")),
    rule("-bits", "i", store("bits")),
    rule("-noisefile -noiseimage", "s", store("noisefile")),
    rule("-nonoise", "", constants(noise=False)),
    rule("-nopgm", "", constants(pgm=False)),
    rule("-readout -readnoi", "f", store("readout")),
    rule("-flicker", "f", store("flicker")),
    rule("-calibration", "f", store("calibration")),
    rule("-scale", "f", store("scale")),
    rule("-seed", "i", _negated("seed")),
    rule("-calib_seed", "i", _negated("calib_seed")),
    rule("-badpix_seed", "i", _negated("badpix_seed")),
    rule("-hotpix_seed", "i", _negated("hotpix_seed")),
    rule("-adc", "f", store("adc")),
    rule("-gain", "f", store("gain")),
    rule("-phi", "f", store("phi")),
    rule("-osc", "f", store("osc")),
    rule("=-dtype", "s", _dtype),
    rule("=-h =-help =--help", "", constants(show_help=True)),
)


def _float_image_name(state: NoisifyOptions, token: str) -> bool:
    """Any argument naming a ``floatimage.bin`` is the input (the reference's rule)."""
    if "floatimage.bin" in token:
        state.floatfile = token
        return True
    return False


def parse_noisify(argv: list[str]) -> NoisifyOptions:
    """Options of a noisify command line (without the program name).

    Raises:
        InputError: unknown option, missing or non-numeric value, bad ``-bits``.
    """
    state = NoisifyOptions()
    parse(argv, RULES, state, state.warnings, claim=_float_image_name)
    if state.psf_name is not None and state.psf is None:
        state.early.append(f"WARNING: unknown psf type: {state.psf_name}")
    if state.bits not in (16, 32):
        raise InputError(f"-bits: {state.bits} is not 16 or 32")
    return state
