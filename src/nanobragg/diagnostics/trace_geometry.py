"""Detector-geometry lines of the pixel trace, in the schema of the instrumented C program.

The values come from the detector model (its tensors and ``report["construction"]``);
nothing here recomputes geometry. The instrumented C prints some lines with labels that
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

from ..models.detector import Detector
from .cformat import g15, g15s, matmul3, matrix3

#: Initial vectors the instrumented C prints in its BEAM-pivot block, whatever the convention.
_MOSFLM_INITIAL = {"fdet": (0.0, 0.0, 1.0), "sdet": (0.0, -1.0, 0.0), "odet": (1.0, 0.0, 0.0)}
_CONVENTION_MAPPING = (
    "convention_mapping=Fbeam\u2190Ybeam_mm(+0.5px),Sbeam\u2190Xbeam_mm(+0.5px),"
    "beam_vec=[1 0 0]")


def detector_lines(detector: Detector, convention: str, prefix: str) -> list[str]:
    """All detector lines the instrumented C prints before rendering.

    Args:
        detector: the detector model used by the kernel.
        convention: the convention name (MOSFLM, XDS, ...).
        prefix: ``TRACE_C`` or ``TRACE_PY``.

    Returns:
        Lines without newline.
    """
    con = detector.report["construction"]
    final = _final_vectors(detector)
    after_xyz = {k: con[f"{k}_after_xyz"] for k in ("fdet", "sdet", "odet")}
    axes = _axis_lines(final)
    pix0 = "DETECTOR_PIX0_VECTOR " + g15s(final["pix0"])
    if detector.pivot == "SAMPLE":
        lines = _sample_block(detector, con, convention, prefix)
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
    pixel_mm = g15(detector.report["pixel_size"] * 1000.0)
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
    rep = detector.report
    rx, ry, rz = con["rotation_matrices"]
    lines = [
        f"{prefix}:detector_convention=MOSFLM",
        _angles_line(con, prefix),
        f"{prefix}:beam_center_m=X:{g15(rep['xbeam'] / 1000.0)} "
        f"Y:{g15(rep['ybeam'] / 1000.0)} pixel_mm:{g15(rep['pixel_size'] * 1000.0)}",
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
