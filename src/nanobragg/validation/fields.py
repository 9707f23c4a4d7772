"""The declared type, shape and range of every configuration field (SI units)."""

from __future__ import annotations

from .checks import Check, choice, count, flag, real, record, sequence, text


def _vector(optional: bool = True) -> Check:
    return sequence(3, real(), optional=optional, what="numbers (x, y, z)")


def _pair(unit: str) -> Check:
    return sequence(2, real(unit, optional=True), what="entries (each a number or None)")


def field_checks(c) -> dict[type, dict[str, Check]]:
    """Checks for :mod:`nanobragg.config` ``c``'s records, keyed by record type."""
    table: dict[type, dict[str, Check]] = {}
    metres, radians = "m", "rad"
    panel = {
        "origin": _vector(optional=False), "fast_axis": _vector(optional=False),
        "slow_axis": _vector(optional=False), "pixel_size": real(metres, 0, strict=True),
        "fpixels": count(1), "spixels": count(1), "normal": _vector(),
        "rotation": sequence(3, real(radians), what="angles"), "name": text(),
    }
    detector = {
        "convention": choice(c.CONVENTIONS), "pixel_size": real(metres, 0, strict=True),
        "fpixels": count(1), "spixels": count(1),
        "detsize_f": real(metres, optional=True), "detsize_s": real(metres, optional=True),
        "distance": real(metres, 0, strict=True, optional=True),
        "close_distance": real(metres, optional=True),
        "beam_center": _pair(metres), "close_center": _pair(metres), "org": _pair("pixels"),
        "pivot": choice(c.PIVOTS), "rotx": real(radians), "roty": real(radians),
        "rotz": real(radians), "twotheta": real(radians), "twotheta_axis": _vector(),
        "fdet_vector": _vector(), "sdet_vector": _vector(), "odet_vector": _vector(),
        "curved": flag(), "point_pixel": flag(), "thickness": real(metres, 0),
        "mu": real("1/m", 0, optional=True), "thicksteps": count(0, optional=True),
        "oversample": count(0, optional=True), "oversample_thick": flag(),
        "oversample_polar": flag(), "oversample_omega": flag(),
        "roi": sequence(4, count(0), optional=True, what="pixel bounds"),
        "panels": sequence((1, 1 << 20), record(c.PanelConfig, table), optional=True,
                           what="PanelConfig records"),
    }
    crystal = {
        "cell": sequence(6, real(), optional=True, what="numbers (a b c in m, angles in rad)"),
        "reciprocal_matrix": sequence(3, sequence(3, real("1/A")), optional=True,
                                      what="rows"),
        "misset": sequence(3, real(radians), optional=True, what="angles"),
        "misset_random_seed": count(-(1 << 62), optional=True),
        "N": sequence(3, real("cells", 0, strict=True), what="numbers of cells"),
        "sample_size": sequence(3, real(metres, 0), what="sizes"),
        "shape": choice(c.SHAPES), "fudge": real(), "default_F": real(),
        "interpolate": flag(optional=True),
        "mosaic_spread": real(radians, 0, optional=True),
        "mosaic_domains": count(0, optional=True), "mosaic_seed": count(-(1 << 62)),
        "phi0": real(radians), "osc": real(radians, optional=True),
        "phistep": real(radians, optional=True), "phisteps": count(0, optional=True),
        "spindle_axis": _vector(), "c_rounding": flag(),
    }
    beam = {
        "wavelength": real(metres, 0, strict=True), "dispersion": real("", 0, optional=True),
        "dispstep": real("", optional=True), "dispsteps": count(0, optional=True),
        "hdivrange": real(radians, 0, optional=True),
        "vdivrange": real(radians, 0, optional=True),
        "hdivstep": real(radians, optional=True), "vdivstep": real(radians, optional=True),
        "hdivsteps": count(0, optional=True), "vdivsteps": count(0, optional=True),
        "round_div": flag(),
        "sources": sequence((1, 1 << 24), sequence((1, 5), _nan_or_real()), optional=True,
                            what="source rows (X, Y, Z, weight, lambda)"),
        "fluence": real("photons/m^2", 0), "polarization": real(), "nopolar": flag(),
        "beam_vector": _vector(), "polar_vector": _vector(),
        "water_size": real(metres, 0), "beamsize": real(metres, 0),
    }
    simulation = {
        "detector": record(c.DetectorConfig, table), "crystal": record(c.CrystalConfig, table),
        "beam": record(c.BeamConfig, table), "dmin": real(metres, 0),
        "structure_factors": _optional(record(c.StructureFactorFile, table)),
        "amorphous": _optional(record(c.AmorphousConfig, table)),
    }
    amorphous = {
        "stol": text(), "stol_unit": choice(("-stol", "-4stol", "-Q")),
        "thickness": real(metres, 0), "width": real(metres, 0), "height": real(metres, 0),
        "density": real("g/m^3", 0), "molecular_weight": real("g/mol", 0, strict=True),
    }
    structure_factors = {
        "path": text(), "kind": _optional(choice(("mtz", "model", "hkl"))),
        "column": _optional(text()), "dmin": real(metres, 0, strict=True, optional=True),
        "solvent_k": real("e/A^3", 0), "solvent_b": real("A^2", 0),
    }
    table.update({c.PanelConfig: panel, c.DetectorConfig: detector,
                  c.CrystalConfig: crystal, c.BeamConfig: beam, c.SimulationConfig: simulation,
                  c.StructureFactorFile: structure_factors, c.AmorphousConfig: amorphous})
    return table


def _optional(inner: Check) -> Check:
    """None, or what ``inner`` accepts."""

    def check(name: str, value) -> None:
        if value is not None:
            inner(name, value)
    return check


def _nan_or_real() -> Check:
    """A number; NaN marks a column the source file left out (defaults apply)."""
    finite = real()

    def check(name: str, value) -> None:
        if value != value:  # NaN
            return
        finite(name, value)
    return check
