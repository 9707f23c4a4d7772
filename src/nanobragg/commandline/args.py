"""Command-line tokenizer that reproduces how the C nanoBragg reads its arguments.

The C program walks ``argv`` once and, for every token that starts with ``-``, tests
a long list of rules in a fixed order. A rule fires when its pattern occurs anywhere
in the token (C ``strstr``; a few rules compare the whole token) and enough arguments
follow it; every rule that fires is applied, in table order, unless one of them ends
the token early (the C's ``continue``). So ``-twotheta_axis 1 0 0`` also sets the
two-theta angle to 1 degree and ``-misset_seed 5 a b`` also sets explicit misset
angles. Values are never skipped: a value that starts with ``-`` is examined as an
option too. This module keeps those rules in one table (``RULES``) and records the C
variables after the loop in a :class:`ParsedArgs`, converted to SI units.

Differences from the C program, on purpose:

* an option token that matches no rule, is not a number and is not a value of an
  earlier option is an error (the C ignores it);
* the option the user meant (the rule with the longest matching pattern) must have
  its values, and numeric values must be numbers (the C silently skips the option or
  reads ``atof("abc") = 0``); rules that fire only through a substring quirk keep the
  C's lenient ``atof``/``atoi`` reading;
* extra options: ``-dtype float32|float64`` (default ``float64``, the precision of the
  C program, for parity runs), ``-device cpu|cuda|auto`` (default ``auto``),
  ``-engine eager|fast|triton|auto`` (default ``auto``, see :mod:`nanobragg.render.engines`),
  ``-trace_pixel S F`` (repeatable), ``-chunk N`` (evaluations, i.e. pixels x sub-steps,
  per kernel call), the image formats of :mod:`nanobragg.products.formats` (``-nexusfile``,
  ``-cbffile``, ``-pngfile`` with ``-pngrings``, ``-nexus_compression``,
  ``-nexus_stack``), ``-nocostlimit`` (render even when :mod:`nanobragg.render.limits` calls
  the cost absurd), structure factors from MTZ files and atomic models (``-pdb``,
  ``-mtz_column``, ``-model_dmin``, ``-ksol``, ``-bsol``, ``-hklout``; ``-hklout`` is
  not read as ``-hkl``) and ``-h``/``-help``/``--help``;
* ``-curved_det`` takes effect also as the last argument (the C applies it only when
  another argument follows);
* values are checked: floats must be finite, integers whole numbers, pixel counts
  positive, and ``-cell`` needs all six numbers (checked in ``to_config``).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nanobragg.config import DEFAULT_FLUENCE
from nanobragg.errors import InputError
from nanobragg.io._cnum import atof, strtod_prefix
from nanobragg.products.formats import FORMATS, NEXUS_COMPRESSIONS
from nanobragg.units import HC_EV_ANGSTROM

#: Degrees per radian exactly as the C computes it (``180.0*M_1_PI``).
RTD = 180.0 * 0.31830988618379067154

#: The default ``-mosaic_seed``. Seeds are stored as given; the C's ``idum`` is their negative,
#: formed once where a generator is seeded.
DEFAULT_MOSAIC_SEED = 12345678

_INT_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


# Unit conversions with the C's own arithmetic (division where the C divides), so
# that the SI values are bit-identical to the C variables.
def from_mm(value: float) -> float:
    """Millimetres (or mrad) to metres (or rad)."""
    return value / 1000.0


def from_deg(value: float) -> float:
    """Degrees to radians."""
    return value / RTD


def from_angstrom(value: float) -> float:
    """Angstrom to metres."""
    return value / 1.0e10


def _from_um(value: float) -> float:
    return value * 1e-6


def _from_um_water(value: float) -> float:
    return value / 1e6


def _from_percent(value: float) -> float:
    return value / 100.0


def _from_g_per_cm3(value: float) -> float:
    return value * 1e6



def _dmin_from_angstrom(value: float) -> float:
    return value * 1e-10


@dataclass(eq=False, repr=False)  # 100 fields: generated __eq__/__repr__ cost start-up
class ParsedArgs:
    """The C program's option variables after its argument loop, in SI units.

    ``None`` marks a variable the C leaves at its "not set" value (NaN or -1); other
    defaults are the C's own. Seeds are C ``idum`` values (the negated number given on
    the command line). Integer options hold the C ``atoi`` result unchanged.
    """

    # crystal
    N: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    user_cell: bool = False
    cell: list[float] = field(default_factory=lambda: [0.0] * 6)  # a, b, c (m), angles (rad)
    cell_count: int = 0
    misset: str | tuple[float, float, float] | None = None  # None, "random" or angles (rad)
    sample_size: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # x, y, z (m)
    density: float = 1.0e6
    molecular_weight: float = 18.0
    xtal_shape: str = "square"
    fudge: float = 1.0
    interpolate: bool | None = None
    mosaic_spread: float | None = None
    mosaic_domains: int | None = None
    phi0: float = 0.0
    osc: float | None = None
    phistep: float | None = None
    phisteps: int | None = None
    default_F: float = 0.0
    default_F_given: bool = False
    # detector
    convention: str = "MOSFLM"
    pivot: str = "BEAM"
    pixel_size: float = 1e-4
    fpixels: int = 0
    spixels: int = 0
    detsize_f: float = 0.1024
    detsize_s: float = 0.1024
    distance: float | None = None
    close_distance: float | None = None
    Xbeam: float | None = None
    Ybeam: float | None = None
    Xclose: float | None = None
    Yclose: float | None = None
    ORGX: float | None = None
    ORGY: float | None = None
    rotx: float = 0.0
    roty: float = 0.0
    rotz: float = 0.0
    twotheta: float = 0.0
    fdet_vector: tuple[float, float, float] = (0.0, 0.0, 1.0)
    sdet_vector: tuple[float, float, float] = (0.0, -1.0, 0.0)
    odet_vector: tuple[float, float, float] = (1.0, 0.0, 0.0)
    beam_vector: tuple[float, float, float] = (1.0, 0.0, 0.0)
    polar_vector: tuple[float, float, float] = (0.0, 0.0, 1.0)
    spindle_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    twotheta_axis: tuple[float, float, float] = (0.0, 1.0, 0.0)
    pix0_vector: tuple[float, float, float] | None = None
    curved_det: bool = False
    point_pixel: bool = False
    detector_thick: float = 0.0
    detector_mu: float | None = None
    detector_thicksteps: int | None = None
    oversample: int | None = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    roi: tuple[int, int, int, int] | None = None
    dmin: float = 0.0
    # beam
    wavelength: float = 1e-10
    dispersion: float = 0.0  # fraction; the C default is 0, not the -1 "unset" value
    dispsteps: int | None = None
    hdivrange: float | None = None
    vdivrange: float | None = None
    hdivstep: float | None = None
    vdivstep: float | None = None
    hdivsteps: int | None = None
    vdivsteps: int | None = None
    round_div: bool = True
    fluence: float = DEFAULT_FLUENCE
    flux: float = 0.0
    exposure: float = 1.0
    beamsize: float = 1e-4
    polarization: float = 0.0
    nopolar: bool = False
    water_size: float = 0.0
    coherent: bool = False
    # files
    matfile: str | None = None
    hklfile: str | None = None
    dumpfile: str = "Fdump.bin"
    imgfile: str | None = None
    maskfile: str | None = None
    stolfile: str | None = None
    stol_unit: str = "-stol"  # which of -stol, -4stol, -Q named the file
    amorphous_thick: float = 1e-4  # m, thickness of the -stol material along the beam
    stoloutfile: str = "output.stol"
    sourcefile: str | None = None
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    exptfile: str | None = None  # DIALS experiment list giving the geometry
    expt_image: int | None = None  # image number of its scan (default: the first)
    exptout: str | None = None  # experiment list written with the image
    # output
    write_pgm: bool = True
    calculate_noise: bool = True
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc: float = 40.0
    printout: bool = False
    printout_pixel: tuple[int, int] | None = None  # (fast, slow)
    progress: bool = True
    # random seeds, as given on the command line
    seed: int | None = None
    mosaic_seed: int = DEFAULT_MOSAIC_SEED
    misset_seed: int | None = None
    # options of this implementation
    dtype: str = "float64"
    device: str = "auto"
    engine: str = "auto"
    trace_pixels: list[tuple[int, int]] = field(default_factory=list)  # (slow, fast)
    chunk_evaluations: int | None = None
    format_files: dict[str, str] = field(default_factory=dict)  # image format -> file
    png_rings: bool = False
    nexus_compression: str = "gzip"
    nexus_stack: bool = False
    no_cost_limit: bool = False
    pdbfile: str | None = None  # atomic model (PDB or mmCIF) giving the structure factors
    mtz_column: str | None = None
    model_dmin: float | None = None  # m
    ksol: float | None = None  # e/A^3
    bsol: float | None = None  # A^2
    hklout: str | None = None  # P1 "h k l F" file of the table read or computed
    show_help: bool = False
    notes: list[str] = field(default_factory=list)
    #: first pattern of a rule that fired -> the token that fired it last (``-mat`` ->
    #: ``-matrix``), so that messages name the flag as the user wrote it
    given: dict[str, str] = field(default_factory=dict)


Action = Callable[[ParsedArgs, list[Any]], None]


@dataclass(frozen=True)
class Rule:
    """One ``if`` of the C argument loop.

    Attributes:
        patterns: substrings the token must contain (C ``strstr``); a leading ``=``
            means the whole token must be equal (C ``strcmp`` or a ``strlen`` test).
        kinds: one letter per value: f float, i int, s string, p pivot, a absorption.
        action: applies the converted values to the state.
        needs: arguments that must follow for the rule to fire (default ``len(kinds)``).
        guard: extra condition on the value tokens (the C's ``-misset random`` test).
        stop: the C ``continue`` after the rule: later rules do not see the token.
        variadic: values are read up to ``len(kinds)`` and stop at a token starting
            with ``-`` (``-cell``).
    """

    patterns: tuple[str, ...]
    kinds: str
    action: Action
    needs: int | None = None
    guard: Callable[[list[str]], bool] | None = None
    stop: bool = False
    variadic: bool = False

    def match_length(self, token: str) -> int:
        """Length of the longest pattern that matches ``token``, 0 if none does."""
        best = 0
        for pattern in self.patterns:
            if pattern.startswith("="):
                hit = token == pattern[1:]
            else:
                hit = pattern in token
            if hit:
                best = max(best, len(pattern.lstrip("=")))
        return best

    def requirement(self) -> str:
        """What must follow the option, for error messages ("3 values", ...)."""
        count = len(self.kinds)
        if self.variadic:
            return f"1 to {count} numbers"
        return f"{count} value" if count == 1 else f"{count} values"

    def value_tokens(self, argv: list[str], i: int) -> list[str] | None:
        """The tokens this rule reads after ``argv[i]``, or None if it cannot fire."""
        needs = len(self.kinds) if self.needs is None else self.needs
        if len(argv) - i - 1 < needs:
            return None
        following = argv[i + 1 : i + 1 + len(self.kinds)]
        if not self.variadic:
            return following
        values = []
        for token in following:
            if token.startswith("-"):
                break
            values.append(token)
        return values


# ---------------------------------------------------------------- value conversion


def is_number(token: str) -> bool:
    """True if C ``strtod`` reads the whole token as a number."""
    parsed = strtod_prefix(token)
    return parsed is not None and parsed[1] == len(token)


def c_atoi(token: str) -> int:
    """C ``atoi``: the leading integer of ``token``, 0 if there is none."""
    match = _INT_PREFIX.match(token)
    return int(match.group(1)) if match else 0


def _is_pivot(token: str) -> bool:
    """Strict check of a -pivot value (the C tests for these substrings)."""
    return "sample" in token or "beam" in token


def _is_absorption(token: str) -> bool:
    """Strict check of a -detector_abs value: a number or "inf"."""
    return "inf" in token or is_number(token)


def is_finite_number(token: str) -> bool:
    """A number that is neither NaN nor infinite (also after overflow, e.g. ``1e400``)."""
    return is_number(token) and math.isfinite(atof(token))


def is_integer(token: str) -> bool:
    """A whole number written as one (C ``atoi`` would silently cut ``3.5`` or ``1e3``)."""
    return _WHOLE.fullmatch(token) is not None


_WHOLE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")

#: kind -> (strict check, conversion, problem message when the check fails)
_KINDS: dict[str, tuple[Callable[[str], bool], Callable[[str], Any], str]] = {
    "f": (is_finite_number, atof, "is not a finite number"),
    "i": (is_integer, c_atoi, "is not a whole number"),
    "s": (lambda _token: True, str, ""),
    "p": (_is_pivot, str, "is not 'beam' or 'sample'"),
    "a": (_is_absorption, str, "is not a number or 'inf'"),
}


def _convert(flag: str, kind: str, token: str, strict: bool) -> Any:
    """Convert one value token; in strict mode reject what the C would misread."""
    check, convert, problem = _KINDS[kind]
    if strict and not check(token):
        raise InputError(f"{flag}: '{token}' {problem}")
    return convert(token)


# ---------------------------------------------------------------- action builders


def _store(*names: str, unit: Callable[[float], float] | None = None, **extra: Any) -> Action:
    """Action that stores the first value (converted by ``unit``) in ``names``, sets ``extra``."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        value = values[0] if unit is None else unit(values[0])
        for name in names:
            setattr(state, name, value)
        for name, constant in extra.items():
            setattr(state, name, constant)

    return action


def _constants(assignments: dict[str, Any]) -> Action:
    """Action that sets constant values (options without values)."""

    def action(state: ParsedArgs, _values: list[Any]) -> None:
        for name, constant in assignments.items():
            setattr(state, name, constant)

    return action


def _vector(name: str) -> Action:
    """Action for a custom-vector option: store the vector and select CUSTOM."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        setattr(state, name, (values[0], values[1], values[2]))
        state.convention = "CUSTOM"

    return action


def _cells(*axes: int) -> Action:
    """Action storing the number of unit cells along the given axes (0 a, 1 b, 2 c)."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        for axis in axes:
            state.N[axis] = float(values[0])

    return action


def _sample(*axes: int) -> Action:
    """Action storing a crystal size in mm along the given axes (0 x, 1 y, 2 z)."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        for axis in axes:
            state.sample_size[axis] = from_mm(values[0])

    return action


def _cell(state: ParsedArgs, values: list[Any]) -> None:
    state.user_cell = True
    state.cell_count = len(values)
    units = (_cell_length,) * 3 + (from_deg,) * 3
    for index, value in enumerate(values):
        state.cell[index] = units[index](value)


def _cell_length(value: float) -> float:
    return value * 1e-10


def _misset(state: ParsedArgs, values: list[Any]) -> None:
    state.misset = (from_deg(values[0]), from_deg(values[1]), from_deg(values[2]))


def _pivot(state: ParsedArgs, values: list[Any]) -> None:
    if "sample" in values[0]:
        state.pivot = "SAMPLE"
    if "beam" in values[0]:
        state.pivot = "BEAM"


def _detector_abs(state: ParsedArgs, values: list[Any]) -> None:
    if "inf" in values[0] or atof(values[0]) == 0.0:
        state.detector_thick = 0.0
        state.detector_mu = 0.0
    else:
        state.detector_mu = 1.0 / (atof(values[0]) * 1e-6)


def _pixels(*names: str) -> Action:
    """Action storing a detector pixel count, which must be positive."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        if values[0] <= 0:
            raise InputError(f"-detpixels: the detector needs at least one pixel per side "
                             f"(got {values[0]})")
        for name in names:
            setattr(state, name, values[0])

    return action


def _energy(state: ParsedArgs, values: list[Any]) -> None:
    energy = values[0]
    # like C double division, 0 eV gives an infinite wavelength (rejected unless overridden)
    inverse = HC_EV_ANGSTROM / energy if energy else math.copysign(math.inf, energy)
    state.wavelength = inverse / 1.0e10


def _roi(state: ParsedArgs, values: list[Any]) -> None:
    state.roi = (values[0], values[1], values[2], values[3])


def _printout_pixel(state: ParsedArgs, values: list[Any]) -> None:
    state.printout_pixel = (values[0], values[1])


def _choice(name: str, choices: tuple[str, ...]) -> Action:
    """Action for an option of this implementation that takes one of ``choices``."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        if values[0] not in choices:
            raise InputError(f"-{name}: '{values[0]}' is not one of {', '.join(choices)}")
        setattr(state, name, values[0])

    return action


def _trace_pixel(state: ParsedArgs, values: list[Any]) -> None:
    if values[0] < 0 or values[1] < 0:
        raise InputError(f"-trace_pixel: pixel indices must not be negative ({values})")
    state.trace_pixels.append((values[0], values[1]))


def _chunk(state: ParsedArgs, values: list[Any]) -> None:
    if values[0] <= 0:
        raise InputError(f"-chunk: must be a positive number of evaluations (got {values[0]})")
    state.chunk_evaluations = values[0]


def _format_file(name: str) -> Action:
    """Action storing the file of one image format of ``nanobragg.products.formats``."""

    def action(state: ParsedArgs, values: list[Any]) -> None:
        state.format_files[name] = values[0]

    return action


def _rule(patterns: str, kinds: str, action: Action, **options: Any) -> Rule:
    """Table row: ``patterns`` is a space-separated list (``=`` prefix: whole token)."""
    return Rule(tuple(patterns.split()), kinds, action, **options)


def _rand(tokens: list[str]) -> bool:
    """The C's ``-misset random`` test on the value."""
    return "rand" in tokens[0]


#: The C argument loop, in source order, followed by the options of this implementation.
RULES: tuple[Rule, ...] = (
    _rule("-Na", "i", _cells(0), stop=True),
    _rule("-Nb", "i", _cells(1), stop=True),
    _rule("-Nc", "i", _cells(2), stop=True),
    _rule("=-N", "i", _cells(0, 1, 2), stop=True),
    _rule("-cell", "ffffff", _cell, needs=1, variadic=True),
    _rule("-misset", "s", _constants({"misset": "random"}), guard=_rand, stop=True),
    _rule("-misset", "fff", _misset),
    _rule("-samplesize -sample_size", "f", _sample(0, 1, 2)),
    _rule("-sample_thick -sample_x", "f", _sample(0)),
    _rule("-sample_width -sample_y -width", "f", _sample(1)),
    _rule("-sample_heigh -sample_z -heigh", "f", _sample(2)),
    _rule("-xtalsize -xtal_size", "f", _sample(0, 1, 2)),
    _rule("-xtal_thick -xtal_x", "f", _sample(0)),
    _rule("-xtal_width -xtal_y -width", "f", _sample(1)),
    _rule("-xtal_heigh -xtal_z -heigh", "f", _sample(2)),
    _rule("-density -sample_den", "f", _store("density", unit=_from_g_per_cm3)),
    _rule("=-MW -molec", "f", _store("molecular_weight")),
    _rule("-Xbeam", "f", _store("Xbeam", unit=from_mm, pivot="BEAM")),
    _rule("-Ybeam", "f", _store("Ybeam", unit=from_mm, pivot="BEAM")),
    _rule("-Xclose", "f", _store("Xclose", unit=from_mm, pivot="SAMPLE")),
    _rule("-Yclose", "f", _store("Yclose", unit=from_mm, pivot="SAMPLE")),
    _rule("-ORGX", "f", _store("ORGX", pivot="SAMPLE")),
    _rule("-ORGY", "f", _store("ORGY", pivot="SAMPLE")),
    _rule("-pivot", "p", _pivot),
    _rule("-mosflm", "", _constants({"convention": "MOSFLM", "pivot": "BEAM"})),
    _rule("-xds", "", _constants({"convention": "XDS", "pivot": "SAMPLE"})),
    _rule("-adxv", "", _constants({"convention": "ADXV", "pivot": "BEAM"})),
    _rule("-denzo", "", _constants({"convention": "DENZO", "pivot": "BEAM"})),
    _rule("-dials", "", _constants({"convention": "DIALS", "pivot": "BEAM"})),
    _rule("-fdet_vector", "fff", _vector("fdet_vector")),
    _rule("-sdet_vector", "fff", _vector("sdet_vector")),
    _rule("-odet_vector", "fff", _vector("odet_vector")),
    _rule("-beam_vector", "fff", _vector("beam_vector")),
    _rule("-polar_vector", "fff", _vector("polar_vector")),
    _rule("-spindle_axis", "fff", _vector("spindle_axis")),
    _rule("-twotheta_axis", "fff", _vector("twotheta_axis")),
    _rule("-pix0_vector", "fff", _vector("pix0_vector")),
    _rule("-distance", "f", _store("distance", unit=from_mm, pivot="BEAM")),
    _rule("-close_distance", "f", _store("close_distance", unit=from_mm, pivot="SAMPLE")),
    _rule("-detector_abs", "a", _detector_abs),
    _rule("=-detector_thick", "f", _store("detector_thick", unit=_from_um)),
    _rule("-detector_thicksteps", "i", _store("detector_thicksteps")),
    _rule("-thicksteps", "i", _store("detector_thicksteps")),
    _rule("-twotheta", "f", _store("twotheta", unit=from_deg, pivot="SAMPLE")),
    _rule("-detector_rotx", "f", _store("rotx", unit=from_deg)),
    _rule("-detector_roty", "f", _store("roty", unit=from_deg)),
    _rule("-detector_rotz", "f", _store("rotz", unit=from_deg)),
    _rule("=-detsize", "f", _store("detsize_f", "detsize_s", unit=from_mm)),
    _rule("-detsize_f", "f", _store("detsize_f", unit=from_mm)),
    _rule("-detsize_s", "f", _store("detsize_s", unit=from_mm)),
    _rule("=-detpixels", "i", _pixels("fpixels", "spixels")),
    _rule("-detpixels_f -detpixels_x", "i", _pixels("fpixels")),
    _rule("-detpixels_s -detpixels_y", "i", _pixels("spixels")),
    _rule("-curved_det", "", _constants({"curved_det": True})),
    _rule("-pixel", "f", _store("pixel_size", unit=from_mm)),
    _rule("-point_pixel", "", _constants({"point_pixel": True})),
    _rule("=-polar", "f", _store("polarization", nopolar=False)),
    _rule("-nopolar", "", _constants({"nopolar": True})),
    _rule("-oversample_thick", "", _constants({"oversample_thick": True}), stop=True),
    _rule("-oversample_polar", "", _constants({"oversample_polar": True}), stop=True),
    _rule("-oversample_omega", "", _constants({"oversample_omega": True}), stop=True),
    _rule("-oversample", "i", _store("oversample")),
    _rule("-roi", "iiii", _roi),
    _rule("-lambda -wave", "f", _store("wavelength", unit=from_angstrom)),
    _rule("-energy", "f", _energy),
    _rule("-fluence", "f", _store("fluence")),
    _rule("-flux", "f", _store("flux")),
    _rule("-exposure", "f", _store("exposure")),
    _rule("-beamsize", "f", _store("beamsize", unit=from_mm)),
    _rule("=-mosaic -mosaici -mosaic_spr", "f", _store("mosaic_spread", unit=from_deg)),
    _rule("-mosaic_dom", "i", _store("mosaic_domains")),
    _rule("-dispersion", "f", _store("dispersion", unit=_from_percent)),
    _rule("-dispsteps", "i", _store("dispsteps")),
    _rule("-divergence", "f", _store("hdivrange", "vdivrange", unit=from_mm)),
    _rule("-hdivrange", "f", _store("hdivrange", unit=from_mm)),
    _rule("-vdivrange", "f", _store("vdivrange", unit=from_mm)),
    _rule("=-hdivstep", "f", _store("hdivstep", unit=from_mm)),
    _rule("-hdivsteps", "i", _store("hdivsteps")),
    _rule("=-vdivstep", "f", _store("vdivstep", unit=from_mm)),
    _rule("-vdivsteps", "i", _store("vdivsteps")),
    _rule("-divsteps", "i", _store("hdivsteps", "vdivsteps")),
    _rule("-round_div", "", _constants({"round_div": True})),
    _rule("-square_div", "", _constants({"round_div": False})),
    _rule("-adc", "f", _store("adc")),
    _rule("=-phi", "f", _store("phi0", unit=from_deg)),
    _rule("-osc", "f", _store("osc", unit=from_deg)),
    _rule("=-phistep", "f", _store("phistep", unit=from_deg)),
    _rule("-phisteps", "i", _store("phisteps")),
    _rule("-dmin", "f", _store("dmin", unit=_dmin_from_angstrom)),
    _rule("-mat", "s", _store("matfile")),
    _rule("=-hklout", "s", _store("hklout"), stop=True),  # of this implementation; not -hkl
    _rule("-hkl", "s", _store("hklfile")),
    _rule("-default_F", "f", _store("default_F", default_F_given=True)),
    _rule("-dump", "s", _store("dumpfile")),
    _rule("-img", "s", _store("imgfile")),
    _rule("-stolout", "s", _store("stoloutfile")),
    _rule("=-stol", "s", _store("stolfile", stol_unit="-stol")),
    _rule("=-4stol", "s", _store("stolfile", stol_unit="-4stol")),
    _rule("=-Q", "s", _store("stolfile", stol_unit="-Q")),
    _rule("=-amorphous_thick", "f", _store("amorphous_thick", unit=from_mm)),
    _rule("-sourcefile", "s", _store("sourcefile")),
    _rule("-floatfile -floatimage", "s", _store("floatfile")),
    _rule("-intfile -intimage", "s", _store("intfile")),
    _rule("-pgmfile -pgmimage", "s", _store("pgmfile", write_pgm=True)),
    _rule("-noisefile -noiseimage", "s", _store("noisefile", calculate_noise=True)),
    _rule("-nonoise", "", _constants({"calculate_noise": False})),
    _rule("-nopgm", "", _constants({"write_pgm": False})),
    _rule("-scale", "f", _store("intfile_scale")),
    _rule("-pgmscale", "f", _store("pgm_scale", write_pgm=True)),
    _rule("-coherent", "", _constants({"coherent": True})),
    _rule("-printout", "", _constants({"printout": True})),
    _rule("-noprogress", "", _constants({"progress": False})),
    _rule("-progress", "", _constants({"progress": True})),
    _rule("-interpolate", "", _constants({"interpolate": True})),
    _rule("-nointerpolate", "", _constants({"interpolate": False})),
    _rule("-round_xtal", "", _constants({"xtal_shape": "round"})),
    _rule("-square_xtal", "", _constants({"xtal_shape": "square"})),
    _rule("-gauss_xtal", "", _constants({"xtal_shape": "gauss"})),
    _rule("-binary_spots -tophat_spots", "", _constants({"xtal_shape": "tophat"})),
    _rule("-fudge", "f", _store("fudge")),
    _rule("-printout_pixel", "ii", _printout_pixel),
    _rule("-seed", "i", _store("seed")),
    _rule("-mosaic_seed", "i", _store("mosaic_seed")),
    _rule("-misset_seed", "i", _store("misset_seed")),
    _rule("-water", "f", _store("water_size", unit=_from_um_water)),
    # read by the C program before its argument loop (see input_images)
    _rule("-mask", "s", _store("maskfile")),
    # options of this implementation
    _rule("=-dtype", "s", _choice("dtype", ("float32", "float64"))),
    _rule("=-device", "s", _choice("device", ("cpu", "cuda", "auto"))),
    _rule("=-engine", "s", _choice("engine", ("eager", "fast", "triton", "auto"))),
    _rule("=-trace_pixel", "ii", _trace_pixel),
    _rule("=-chunk", "i", _chunk),
    _rule("=-expt", "s", _store("exptfile")),
    _rule("=-expt_image", "i", _store("expt_image")),
    _rule("=-exptout", "s", _store("exptout")),
    *(_rule(f"={fmt.flag}", "s", _format_file(name))
      for name, fmt in FORMATS.items() if not fmt.own_rule),
    _rule("=-pngrings", "", _constants({"png_rings": True})),
    _rule("=-nexus_compression", "s", _choice("nexus_compression", NEXUS_COMPRESSIONS)),
    _rule("=-nexus_stack", "", _constants({"nexus_stack": True})),
    _rule("=-nocostlimit", "", _constants({"no_cost_limit": True})),
    _rule("=-pdb", "s", _store("pdbfile")),
    _rule("=-mtz_column", "s", _store("mtz_column")),
    _rule("=-model_dmin", "f", _store("model_dmin", unit=_dmin_from_angstrom)),
    _rule("=-ksol", "f", _store("ksol")),
    _rule("=-bsol", "f", _store("bsol")),
    _rule("=-h =-help =--help", "", _constants({"show_help": True})),
)


# ---------------------------------------------------------------- the argument loop


def input_images(argv: list[str]) -> tuple[str | None, str | None]:
    """File names of ``-mask`` and ``-img`` as the C finds them before its main loop.

    Any token starting with ``-`` that contains ``-mask`` (``-img``) and is followed by
    another argument names the file; the last one wins.

    Returns:
        ``(mask, img)``, None where not given.
    """
    mask = img = None
    for i, token in enumerate(argv[:-1]):
        if token.startswith("-"):
            if "-img" in token:
                img = argv[i + 1]
            if "-mask" in token:
                mask = argv[i + 1]
    return mask, img


def parse_argv(argv: list[str], start: ParsedArgs | None = None) -> ParsedArgs:
    """Apply the C argument loop to ``argv`` (without the program name).

    Args:
        argv: command-line arguments.
        start: state to start from (e.g. values from an SMV header); not modified.

    Returns:
        The option variables after the loop.

    Raises:
        InputError: unknown option, missing value, or a value that is not a number.
    """
    state = copy.deepcopy(start) if start is not None else ParsedArgs()
    consumed: set[int] = set()
    for i, token in enumerate(argv):
        if token.startswith("-"):
            consumed |= _apply_token(state, argv, i, strict=i not in consumed)
        elif i not in consumed:
            _note_stray(state, token)
    return state


def _note_stray(state: ParsedArgs, token: str) -> None:
    """An argument that no option reads: the C ignores it silently, we warn."""
    state.notes.append(f"WARNING: ignoring argument '{token}' (no option takes it)")


#: (pattern text, whole-token pattern?, index in RULES) of every pattern of every rule
_PATTERNS = tuple((pattern.lstrip("="), pattern.startswith("="), index)
                  for index, rule in enumerate(RULES) for pattern in rule.patterns)


@functools.lru_cache(maxsize=4096)
def _matching_rules(token: str) -> tuple[tuple[Rule, int], ...]:
    """(rule, longest matching pattern length) of the rules ``token`` fires, in table
    order (same as :meth:`Rule.match_length` for every rule, in one pass)."""
    best: dict[int, int] = {}
    for text, whole, index in _PATTERNS:
        if (token == text) if whole else (text in token):
            best[index] = max(best.get(index, 0), len(text))
    return tuple((RULES[index], best[index]) for index in sorted(best))


def _apply_token(state: ParsedArgs, argv: list[str], i: int, strict: bool) -> set[int]:
    """Apply every rule that fires for ``argv[i]``; return the indices of its values.

    ``strict`` is False when the token is itself a value of an earlier option: the C
    still examines it as an option, but no error is raised for it.
    """
    token = argv[i]
    matching = _matching_rules(token)
    if not matching:
        if strict and not is_number(token):
            raise InputError(f"unknown option '{token}'")
        if strict:
            _note_stray(state, token)
        return set()
    longest = max(length for _, length in matching)
    intended = [rule for rule, length in matching if length == longest]
    used, intended_fired = 0, False
    for rule, _ in matching:
        tokens = rule.value_tokens(argv, i)
        if tokens is None or (rule.guard is not None and not rule.guard(tokens)):
            continue
        checked = strict and rule in intended
        if checked and rule.variadic and not tokens:
            raise InputError(f"{token}: needs {rule.requirement()}")
        rule.action(state, [_convert(token, kind, text, checked)
                            for kind, text in zip(rule.kinds, tokens, strict=False)])
        state.given[rule.patterns[0].lstrip("=")] = token
        used = max(used, len(tokens))
        intended_fired |= rule in intended
        if rule.stop:
            break
    if strict and not intended_fired:
        _report_unfired(token, intended)
    return set(range(i + 1, i + 1 + used))


def _report_unfired(token: str, intended: list[Rule]) -> None:
    """The option the user meant could not fire: too few arguments follow it."""
    widest = max(intended, key=lambda rule: len(rule.kinds))
    raise InputError(f"{token}: needs {widest.requirement()} after it")
