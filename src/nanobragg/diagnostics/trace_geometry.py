"""Detector-geometry lines of the pixel trace, in the schema of the instrumented C program.

The values come from the detector model and the steps of its construction
(:func:`nanobragg.models.detector.construct`, run again on demand); nothing here computes
geometry of its own. The instrumented C prints some lines with labels that
do not describe their values; those are reproduced on purpose so that a C log and ours
can be compared line by line:

* BEAM pivot: a first block of ``*_after_rotz`` (rotated about x, y, z only) and
  ``*_after_twotheta`` lines, the ``DETECTOR_*_AXIS`` lines, then a second block that
  repeats the vectors with ``*_after_rotz`` holding the FINAL vectors, always labels the
  convention ``MOSFLM`` with MOSFLM's initial vectors and prints ``beam_center_m``
  divided by 1000 once too often.
* SAMPLE pivot: one block with the pix0 construction before and after rotation.
"""

from __future__ import annotations

from ..config import SimulationConfig
from ..models.detector import Construction, Detector, construct
from ..models.rotations import rotate_xyz, rotation_xyz
from ..products.reports import detector_pivot
from .cformat import g15, g15s, matmul3, matrix3

#: Initial vectors the instrumented C prints in its BEAM-pivot block, whatever the convention.
_MOSFLM_INITIAL = {"fdet": (0.0, 0.0, 1.0), "sdet": (0.0, -1.0, 0.0), "odet": (1.0, 0.0, 0.0)}
_CONVENTION_MAPPING = (
    "convention_mapping=Fbeam\u2190Ybeam_mm(+0.5px),Sbeam\u2190Xbeam_mm(+0.5px),"
    "beam_vec=[1 0 0]")


def detector_lines(detector: Detector, config: SimulationConfig, prefix: str) -> list[str]:
    """All detector lines the instrumented C prints before rendering.

    A panel detector (which the C has no construction for) gets the final axes and pix0.

    Args:
        detector: the detector model used by the kernel.
        config: the configuration it was built from (convention, angles, beam centre).
        prefix: ``TRACE_C`` or ``TRACE_PY``.

    Returns:
        Lines without newline.
    """
    final = _final_vectors(detector)
    axes = _axis_lines(final)
    pix0 = "DETECTOR_PIX0_VECTOR " + g15s(final["pix0"])
    if config.detector.panels is not None:
        return axes + [pix0]
    con = construction_values(construct(config.detector, config.beam, detector.pix0.dtype,
                                        detector.pix0.device), config.detector)
    after_xyz = {k: con[f"{k}_after_xyz"] for k in ("fdet", "sdet", "odet")}
    if detector_pivot(config) == "SAMPLE":
        lines = _sample_block(detector, con, config.detector.convention, prefix)
        return lines + _rotation_block(after_xyz, final, con, prefix) + axes + [pix0]
    lines = _rotation_block(after_xyz, final, con, prefix) + axes
    return lines + _beam_block(detector, con, final, prefix) + [pix0]


def _final_vectors(detector: Detector) -> dict[str, list[float]]:
    return {name: getattr(detector, name).detach().cpu().double().tolist()
            for name in ("fdet", "sdet", "odet", "pix0", "beam")}


def _axis_lines(final: dict) -> list[str]:
    return [f"DETECTOR_FAST_AXIS {g15s(final['fdet'])}",
            f"DETECTOR_SLOW_AXIS {g15s(final['sdet'])}",
            f"DETECTOR_NORMAL_AXIS {g15s(final['odet'])}"]


def _rotation_block(after_rotz: dict, final: dict, con: dict, prefix: str) -> list[str]:
    """``*_after_rotz``, ``twotheta_axis`` and ``*_after_twotheta`` lines."""
    lines = [f"{prefix}:{k}_after_rotz={g15s(after_rotz[k])}" for k in ("fdet", "sdet", "odet")]
    lines.append(f"{prefix}:twotheta_axis={g15s(con['twotheta_axis'])}")
    lines += [f"{prefix}:{k}_after_twotheta={g15s(final[k])}" for k in ("fdet", "sdet", "odet")]
    return lines


def _angles_line(con: dict, prefix: str) -> str:
    rx, ry, rz, tt = (g15(a) for a in con["angles_rad"])
    return f"{prefix}:angles_rad=rotx:{rx} roty:{ry} rotz:{rz} twotheta:{tt}"


def _sample_block(detector: Detector, con: dict, convention: str, prefix: str) -> list[str]:
    """SAMPLE pivot: pix0 built from Fclose/Sclose/close_distance, then rotated."""
    pixel_mm = g15(con["pixel_size"] * 1000.0)
    lines = [
        f"{prefix}:detector_convention={convention}",
        _angles_line(con, prefix),
        f"{prefix}:beam_center_m=Xclose:{g15(con['xclose'] / 1000.0)} "
        f"Yclose:{g15(con['yclose'] / 1000.0)} pixel_mm:{pixel_mm}",
    ]
    lines += [f"{prefix}:initial_{k}={g15s(con[f'initial_{k}'])}" for k in ("fdet", "sdet", "odet")]
    scalars = (("Fclose_m", "fclose_initial"), ("Sclose_m", "sclose_initial"),
               ("close_distance_m", "close_distance_initial"), ("ratio", "ratio"),
               ("distance_m", "distance_initial"))
    lines += [f"{prefix}:{label}={g15(con[key])}" for label, key in scalars]
    vectors = ("term_fast_before_rot", "term_slow_before_rot", "term_close_before_rot",
               "pix0_before_rotation")
    lines += [f"{prefix}:{key}={g15s(con[key])}" for key in vectors]
    lines.append(f"{prefix}:pix0_after_rotz={g15s(con['pix0_after_xyz'])}")
    lines.append(f"{prefix}:pix0_after_twotheta={g15s(_final_vectors(detector)['pix0'])}")
    return lines


def _beam_block(detector: Detector, con: dict, final: dict, prefix: str) -> list[str]:
    """BEAM pivot: the repeated block with rotation matrices and the pix0 terms."""
    rx, ry, rz = con["rotation_matrices"]
    lines = [
        f"{prefix}:detector_convention=MOSFLM",
        _angles_line(con, prefix),
        f"{prefix}:beam_center_m=X:{g15(con['xbeam'] / 1000.0)} "
        f"Y:{g15(con['ybeam'] / 1000.0)} pixel_mm:{g15(con['pixel_size'] * 1000.0)}",
    ]
    lines += [f"{prefix}:initial_{k}={g15s(v)}" for k, v in _MOSFLM_INITIAL.items()]
    lines += [f"{prefix}:Rx={matrix3(rx)}", f"{prefix}:Ry={matrix3(ry)}",
              f"{prefix}:Rz={matrix3(rz)}",
              f"{prefix}:R_total={matrix3(matmul3(rz, matmul3(ry, rx)))}"]
    lines += _rotation_block(final, final, con, prefix)
    lines.append(f"{prefix}:{_CONVENTION_MAPPING}")
    lines += [f"{prefix}:Fbeam_m={g15(con['fbeam_initial'])}",
              f"{prefix}:Sbeam_m={g15(con['sbeam_initial'])}",
              f"{prefix}:distance_m={g15(con['distance_initial'])}"]
    lines += [f"{prefix}:{key}={g15s(con[key])}" for key in ("term_fast", "term_slow", "term_beam")]
    lines.append(f"{prefix}:pix0_vector={g15s(final['pix0'])}")
    return lines


def construction_values(con: Construction, cfg) -> dict:
    """Intermediate values of the detector construction, as plain floats (SI units).

    Keys: ``angles_rad`` (rotx, roty, rotz, twotheta), ``initial_fdet/sdet/odet`` and
    ``twotheta_axis`` (unrotated), ``rotation_matrices`` (Rx, Ry, Rz as row lists),
    ``f/s/odet_after_xyz`` (rotated about x, y, z but not two-theta), ``xclose``/``yclose``
    (the C's Xclose/Yclose), ``fclose/sclose/fbeam/sbeam_initial`` (beam centre before
    rotation), ``xbeam``/``ybeam``, ``pixel_size``, ``ratio``, ``close_distance_initial``
    and ``distance_initial`` (before the recompute from pix0), the BEAM-pivot terms
    ``term_fast/slow/beam`` and the SAMPLE-pivot ``term_*_before_rot``,
    ``pix0_before_rotation`` and ``pix0_after_xyz``.

    Args:
        con: the construction steps.
        cfg: the detector configuration (the user's close centre and ORGX/ORGY).
    """
    fdet0, sdet0, odet0, tt_axis = con.initial
    centre, angles = con.centre, con.angles
    pixel, detsize_f, detsize_s = (_float(v) for v in (con.pixel, con.detsize_f, con.detsize_s))
    before = -centre.fclose * fdet0 - centre.sclose * sdet0 + con.close_in * odet0
    close_xy = []
    for given, org, size in zip(cfg.close_center, cfg.org, (detsize_f, detsize_s)):
        # the C's Xclose/Yclose: the user's, else from ORGX/ORGY, else half the detector
        default = (_float(org) - 0.5) * pixel if org is not None else size / 2.0
        close_xy.append(_float(given) if given is not None else default)
    out = {
        "angles_rad": [_float(a) for a in (*angles, con.twotheta)],
        "rotation_matrices": [_floats(m) for m in rotation_xyz(*angles, like=fdet0)],
        "xclose": close_xy[0], "yclose": close_xy[1], "pixel_size": pixel,
        "xbeam": _float(centre.xbeam), "ybeam": _float(centre.ybeam),
        "ratio": _float(con.ratio), "close_distance_initial": _float(con.close_in),
        "distance_initial": _float(con.distance_in),
        "term_fast": _floats(-centre.fbeam * con.fdet),
        "term_slow": _floats(-centre.sbeam * con.sdet),
        "term_beam": _floats(con.distance_in * con.beam),
        "term_fast_before_rot": _floats(-centre.fclose * fdet0),
        "term_slow_before_rot": _floats(-centre.sclose * sdet0),
        "term_close_before_rot": _floats(con.close_in * odet0),
        "pix0_before_rotation": _floats(before),
        "pix0_after_xyz": _floats(rotate_xyz(before, *angles)),
        "twotheta_axis": _floats(tt_axis),
    }
    for name in ("fclose", "sclose", "fbeam", "sbeam"):
        out[f"{name}_initial"] = _float(getattr(centre, name))
    for name, v in (("fdet", fdet0), ("sdet", sdet0), ("odet", odet0)):
        out[f"initial_{name}"] = _floats(v)
        out[f"{name}_after_xyz"] = _floats(rotate_xyz(v, *angles))
    return out


def _floats(t):
    return t.detach().tolist()


def _float(value) -> float:
    return float(value.detach()) if hasattr(value, "detach") else float(value)
