"""Detector conventions of the C program mapped onto one canonical lab frame.

Each convention fixes the basis vectors (beam, fast, slow, normal, two-theta axis,
polarization, spindle), how the user's beam centre ``(Xbeam, Ybeam)`` maps to the
direct-beam point ``(Fbeam, Sbeam)`` on the fast/slow axes (including MOSFLM's half
pixel and X/Y swap), its default beam centre, and the pivot it forces. This module is
the only place where those rules live.
"""

from __future__ import annotations

from dataclasses import dataclass

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class ConventionAxes:
    """Basis vectors of a convention (unit vectors in the lab frame) and its pivot.

    ``pivot`` is None where the convention honours the user's pivot (CUSTOM).
    """

    beam: Vector
    fdet: Vector
    sdet: Vector
    odet: Vector
    twotheta_axis: Vector
    polar: Vector
    spindle: Vector
    pivot: str | None


_MOSFLM_AXES = ConventionAxes(
    beam=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0), odet=(1, 0, 0),
    twotheta_axis=(0, 0, -1), polar=(0, 0, 1), spindle=(0, 0, 1), pivot="BEAM",
)

AXES: dict[str, ConventionAxes] = {
    "MOSFLM": _MOSFLM_AXES,
    "DENZO": _MOSFLM_AXES,
    "ADXV": ConventionAxes(
        beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, -1, 0), odet=(0, 0, 1),
        twotheta_axis=(-1, 0, 0), polar=(1, 0, 0), spindle=(1, 0, 0), pivot="BEAM",
    ),
    "XDS": ConventionAxes(
        beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, 1, 0), odet=(0, 0, 1),
        twotheta_axis=(1, 0, 0), polar=(1, 0, 0), spindle=(1, 0, 0), pivot="SAMPLE",
    ),
    "DIALS": ConventionAxes(
        beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, 1, 0), odet=(0, 0, 1),
        twotheta_axis=(0, 1, 0), polar=(0, 1, 0), spindle=(0, 1, 0), pivot="SAMPLE",
    ),
    # CUSTOM starts from the C program's initial vectors; the user's vectors replace them.
    "CUSTOM": ConventionAxes(
        beam=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0), odet=(1, 0, 0),
        twotheta_axis=(0, 1, 0), polar=(0, 0, 1), spindle=(0, 0, 1), pivot=None,
    ),
}


@dataclass(frozen=True)
class BeamCentre:
    """Beam-centre values of one detector before rotation (all in m).

    Attributes:
        xbeam, ybeam: the header's BEAM_CENTER_X/Y (the user's values or defaults).
        fbeam, sbeam: direct-beam point along fast/slow (used by the BEAM pivot).
        fclose, sclose: point of closest approach along fast/slow (SAMPLE pivot).
    """

    xbeam: object
    ybeam: object
    fbeam: object
    sbeam: object
    fclose: object
    sclose: object


def beam_centre(
    convention: str,
    pixel_size,
    detsize_f,
    detsize_s,
    beam_center: tuple,
    close_center: tuple,
    org: tuple,
) -> BeamCentre:
    """Apply a convention's beam-centre defaults and its (X, Y) -> (fast, slow) mapping.

    Args:
        convention: convention name.
        pixel_size: pixel edge (m).
        detsize_f, detsize_s: detector size along fast and slow (m), not snapped to pixels.
        beam_center: ``(Xbeam, Ybeam)`` in m, entries None when not given.
        close_center: ``(Xclose, Yclose)`` in m, entries None when not given.
        org: ``(ORGX, ORGY)`` in pixels, entries None when not given.

    Returns:
        The resolved centre values (floats or tensors, following the inputs).
    """
    orgx, orgy = org
    fclose = (orgx - 0.5) * pixel_size if orgx is not None else detsize_f / 2.0
    sclose = (orgy - 0.5) * pixel_size if orgy is not None else detsize_s / 2.0
    xclose = _given(close_center[0], fclose)
    yclose = _given(close_center[1], sclose)
    xbeam, ybeam = beam_center
    if convention == "ADXV":
        xbeam = _given(xbeam, (detsize_f + pixel_size) / 2.0)
        ybeam = _given(ybeam, (detsize_s - pixel_size) / 2.0)
        fbeam, sbeam = xbeam, detsize_s - ybeam
    elif convention in ("MOSFLM", "DENZO"):
        xbeam = _given(xbeam, (detsize_s + pixel_size) / 2.0)
        ybeam = _given(ybeam, (detsize_f + pixel_size) / 2.0)
        shift = 0.5 * pixel_size if convention == "MOSFLM" else 0.0
        fbeam, sbeam = ybeam + shift, xbeam + shift
    else:
        xbeam = _given(xbeam, xclose)
        ybeam = _given(ybeam, yclose)
        fbeam, sbeam = xbeam, ybeam
        if convention == "CUSTOM":
            fclose, sclose = xbeam, ybeam
    return BeamCentre(xbeam, ybeam, fbeam, sbeam, fclose, sclose)


def forced_pivot(convention: str, requested: str) -> str:
    """The pivot the C program really uses: forced by every convention but CUSTOM."""
    return AXES[convention].pivot or requested


def _given(value, default):
    return default if value is None else value


def user_beam_centre(convention: str, fbeam, sbeam, pixel_size, detsize_s) -> tuple:
    """The inverse of :func:`beam_centre`: ``(Xbeam, Ybeam)`` (m) of a direct-beam point.

    Args:
        convention: convention name.
        fbeam, sbeam: direct-beam point along fast and slow from the first pixel's corner (m).
        pixel_size: pixel edge (m).
        detsize_s: detector size along slow (m).
    """
    if convention == "ADXV":
        return fbeam, detsize_s - sbeam
    if convention in ("MOSFLM", "DENZO"):
        shift = 0.5 * pixel_size if convention == "MOSFLM" else 0.0
        return sbeam - shift, fbeam - shift
    return fbeam, sbeam


def lab_to_dxtbx(v):
    """A lab-frame vector in the dxtbx (imgCIF) laboratory frame: ``(z, y, -x)``.

    nanobragg's lab frame is the C program's (MOSFLM: beam along +x, spindle along +z);
    the map is the C's own ``DIALS_ORIGIN`` rule, so the MOSFLM beam becomes dxtbx's
    ``(0, 0, -1)``, its spindle ``(1, 0, 0)`` and its slow axis ``(0, -1, 0)``. It is a
    proper rotation made of sign flips and a permutation, so it rounds nothing.

    Args:
        v: 3 numbers or a tensor of shape (..., 3).
    """
    if hasattr(v, "new_tensor"):
        return v[..., [2, 1, 0]] * v.new_tensor([1.0, 1.0, -1.0])
    x, y, z = v
    return (z, y, 0.0 - x)


def dxtbx_to_lab(v):
    """The inverse of :func:`lab_to_dxtbx`: a dxtbx-frame ``(x, y, z)`` -> ``(-z, y, x)``."""
    if hasattr(v, "new_tensor"):
        return v[..., [2, 1, 0]] * v.new_tensor([-1.0, 1.0, 1.0])
    x, y, z = v
    return (0.0 - z, y, x)
