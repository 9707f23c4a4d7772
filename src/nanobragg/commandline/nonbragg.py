"""Command line of ``nonBragg``: the reference program's flags, defaults and matching.

Units as in the reference: lengths in mm (sample size, distances, pixel, beam size),
angles in degrees, divergence in mrad, dispersion in percent, wavelength in Angstrom
(or ``-energy`` in eV), density in g/cm^3, molecular weight in g/mol, fluence in
photons/m^2, flux in photons/s. Values are stored in the reference's variables (SI:
metres, radians, g/m^3); ``None`` marks the reference's "not set" (NaN, -1).
Extra flags: ``-dtype float32|float64`` (default float64) and ``-h``/``-help``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nanobragg.errors import InputError

from .cstyle import CRule, constants, parse, rule, store, store_all

RTD = 180.0 * 0.31830988618379067154
DTYPE_NAMES = ("float32", "float64")

@dataclass
class NonBraggOptions:
    """The reference's option variables after its argument loop (SI units)."""

    sample_x: float = 1e-4  # thickness along the beam (m)
    sample_y: float = 1e-4
    sample_z: float = 1e-4
    density: float = 1.0e6  # g/m^3
    molecules: float = 0.0
    molecular_weight: float = 18.0
    xbeam: float | None = None
    ybeam: float | None = None
    xclose: float | None = None
    yclose: float | None = None
    orgx: float | None = None
    orgy: float | None = None
    pivot: str = "BEAM"
    fdet: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])
    sdet: list[float] = field(default_factory=lambda: [0.0, -1.0, 0.0])
    odet: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    beam: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    polar_vector: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])
    spindle: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])
    twotheta_axis: list[float] = field(default_factory=lambda: [0.0, 1.0, 0.0])
    pix0: list[float] | None = None
    distance: float = 100.0e-3
    close_distance: float | None = None
    source_distance: float = 10.0
    twotheta: float = 0.0
    rotx: float = 0.0
    roty: float = 0.0
    rotz: float = 0.0
    detsize_x: float = 102.4e-3
    detsize_y: float = 102.4e-3
    fpixels: int = 0
    spixels: int = 0
    curved: bool = False
    pixel: float = 0.1e-3
    point_pixel: bool = False
    fmap: bool = False
    polarization: float = 0.0
    nopolar: bool = False
    oversample: int = -1
    roi: tuple[int, int, int, int] | None = None
    wavelength: float = 1.0e-10
    fluence: float = 125932015286227086360700780544.0
    flux: float = 0.0
    exposure: float = 1.0
    beamsize: float = 1e-4
    dispersion: float = 0.0
    dispsteps: int = -1
    hdivrange: float = -1.0
    vdivrange: float = -1.0
    hdivstep: float = -1.0
    vdivstep: float = -1.0
    hdivsteps: int = -1
    vdivsteps: int = -1
    round_div: bool = True
    adc: float = 40.0
    gain: float = 1.0
    phi0: float = 0.0
    osc: float = -1.0
    phistep: float = -1.0
    phisteps: int = -1
    img: str | None = None
    stolout: str | None = None
    stol: str | None = None
    stol_flag: str = "-stol"
    sourcefile: str | None = None
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    noise: bool = True
    int_scale: float = 0.0
    pgm_scale: float = 0.0
    printout: bool = False
    progress: bool = True
    seed: int = field(default_factory=lambda: -int(time.time()))
    dtype: str = "float64"
    show_help: bool = False
    warnings: list[str] = field(default_factory=list)

def _mm(v: float) -> float:
    return v / 1000.0

def _deg(v: float) -> float:
    return v / RTD

def _vector(name: str):
    def action(state: NonBraggOptions, values: list) -> None:
        setattr(state, name, [float(v) for v in values])
    return action

def _pivot(state: NonBraggOptions, values: list) -> None:
    if "sample" in values[0]:
        state.pivot = "SAMPLE"
    if "beam" in values[0]:
        state.pivot = "BEAM"

def _stol(flag: str):
    def action(state: NonBraggOptions, values: list) -> None:
        state.stol, state.stol_flag = values[0], flag
    return action

def _energy(state: NonBraggOptions, values: list) -> None:
    state.wavelength = (12398.42 / values[0]) / 1.0e10 if values[0] else float("inf")

def _roi(state: NonBraggOptions, values: list) -> None:
    state.roi = tuple(int(v) for v in values)

def _dtype(state: NonBraggOptions, values: list) -> None:
    if values[0] not in DTYPE_NAMES:
        raise InputError(f"-dtype: '{values[0]}' is not one of {', '.join(DTYPE_NAMES)}")
    state.dtype = values[0]

def _unsupported(flag: str):
    def action(_state: NonBraggOptions, _values: list) -> None:
        raise InputError(f"{flag}: extracting a stol table from an image is not supported")
    return action

RULES: tuple[CRule, ...] = (
    rule("-samplesize -sample_size", "f", store_all("sample_x", "sample_y", "sample_z",
                                                    unit=_mm)),
    rule("-sample_thick -sample_x -thick", "f", store("sample_x", _mm)),
    rule("-sample_width -sample_y -width", "f", store("sample_y", _mm)),
    rule("-sample_heigh -sample_z -heigh", "f", store("sample_z", _mm)),
    rule("-density -sample_den", "f", store("density", lambda v: v * 1e6)),
    rule("-molecules -sample_molecules", "f", store("molecules")),
    rule("=-MW -molecular", "f", store("molecular_weight")),
    rule("-Xbeam", "f", store("xbeam", _mm, pivot="BEAM")),
    rule("-Ybeam", "f", store("ybeam", _mm, pivot="BEAM")),
    rule("-Xclose", "f", store("xclose", _mm, pivot="SAMPLE")),
    rule("-Yclose", "f", store("yclose", _mm, pivot="SAMPLE")),
    rule("-ORGX", "f", store("orgx", pivot="SAMPLE")),
    rule("-ORGY", "f", store("orgy", pivot="SAMPLE")),
    rule("-pivot", "s", _pivot),
    rule("-fdet_vector", "fff", _vector("fdet")),
    rule("-sdet_vector", "fff", _vector("sdet")),
    rule("-odet_vector", "fff", _vector("odet")),
    rule("-beam_vector", "fff", _vector("beam")),
    rule("-polar_vector", "fff", _vector("polar_vector")),
    rule("-spindle_axis", "fff", _vector("spindle")),
    rule("-twotheta_axis", "fff", _vector("twotheta_axis")),
    rule("-pix0_vector", "fff", _vector("pix0")),
    rule("-distance", "f", store("distance", _mm, pivot="BEAM")),
    rule("-close_distance", "f", store("close_distance", _mm, pivot="SAMPLE")),
    rule("-source_distance", "f", store("source_distance", _mm)),
    rule("-twotheta", "f", store("twotheta", _deg, pivot="SAMPLE")),
    rule("-detector_rotx", "f", store("rotx", _deg)),
    rule("-detector_roty", "f", store("roty", _deg)),
    rule("-detector_rotz", "f", store("rotz", _deg)),
    rule("=-detsize", "f", store_all("detsize_x", "detsize_y", unit=_mm)),
    rule("-detsize_x", "f", store("detsize_x", _mm)),
    rule("-detsize_y", "f", store("detsize_y", _mm)),
    rule("=-detpixels", "i", store_all("fpixels", "spixels")),
    rule("-detpixels_f -detpixels_x", "i", store("fpixels")),
    rule("-detpixels_s -detpixels_y", "i", store("spixels")),
    rule("-curved_det", "", constants(curved=True), needs=1),
    rule("-pixel", "f", store("pixel", _mm)),
    rule("-point_pixel", "", constants(point_pixel=True)),
    rule("-Fmap", "", constants(fmap=True)),
    rule("=-polar", "f", store("polarization", nopolar=False)),
    rule("-nopolar", "", constants(nopolar=True)),
    rule("-oversample", "i", store("oversample")),
    rule("-roi", "iiii", _roi),
    rule("-lambda -wave", "f", store("wavelength", lambda v: v / 1.0e10)),
    rule("-energy", "f", _energy),
    rule("-fluence", "f", store("fluence")),
    rule("-flux", "f", store("flux")),
    rule("-exposure", "f", store("exposure")),
    rule("-beamsize", "f", store("beamsize", _mm)),
    rule("-dispersion", "f", store("dispersion", lambda v: v / 100.0)),
    rule("-dispsteps", "i", store("dispsteps")),
    rule("-divergence", "f", store_all("hdivrange", "vdivrange", unit=_mm)),
    rule("-hdivrange", "f", store("hdivrange", _mm)),
    rule("-vdivrange", "f", store("vdivrange", _mm)),
    rule("=-hdivstep", "f", store("hdivstep", _mm)),
    rule("-hdivsteps", "i", store("hdivsteps")),
    rule("=-vdivstep", "f", store("vdivstep", _mm)),
    rule("-vdivsteps", "i", store("vdivsteps")),
    rule("-divsteps", "i", store_all("hdivsteps", "vdivsteps")),
    rule("-round_div", "", constants(round_div=True)),
    rule("-square_div", "", constants(round_div=False)),
    rule("-adc", "f", store("adc")),
    rule("-gain", "f", store("gain")),
    rule("=-phi", "f", store("phi0", _deg)),
    rule("-osc", "f", store("osc", _deg)),
    rule("=-phistep", "f", store("phistep", _deg)),
    rule("-phisteps", "i", store("phisteps")),
    rule("-img", "s", _unsupported("-img")),
    rule("-ignore", "f", _unsupported("-ignore")),
    rule("-stolout", "s", store("stolout")),
    rule("=-stol", "s", _stol("-stol")),
    rule("=-4stol", "s", _stol("-4stol")),
    rule("=-Q", "s", _stol("-Q")),
    rule("-sourcefile", "s", store("sourcefile")),
    rule("-floatfile -floatimage", "s", store("floatfile")),
    rule("-intfile -intimage", "s", store("intfile")),
    rule("-pgmfile -pgmimage", "s", store("pgmfile")),
    rule("-noisefile -noiseimage", "s", store("noisefile", noise=True)),
    rule("-nonoise", "", constants(noise=False)),
    rule("-nopgm", "", constants()),
    rule("-noreject", "", constants()),
    rule("-scale", "f", store("int_scale")),
    rule("-pgmscale", "f", store("pgm_scale")),
    rule("-coherent", "", constants()),
    rule("-printout", "", constants(printout=True)),
    rule("-noprogress", "", constants(progress=False)),
    rule("-progress", "", constants(progress=True)),
    rule("-printout_pixel", "ii", constants()),
    rule("-seed", "i", store("seed", lambda v: -v)),
    rule("=-dtype", "s", _dtype),
    rule("=-h =-help =--help", "", constants(show_help=True)),
)


def parse_nonbragg(argv: list[str]) -> NonBraggOptions:
    """Options of a nonBragg command line (without the program name).

    Raises:
        InputError: unknown option, missing or non-numeric value, an unsupported
            image-fitting option (``-img``, ``-ignore``).
    """
    state = NonBraggOptions()
    return parse(argv, RULES, state, state.warnings)
