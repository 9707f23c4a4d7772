"""Detector values the C prints and writes into image headers, computed on demand.

Nothing here is stored in the models: the SMV header, the printed setup and the data-set
labels call :func:`detector_report` with the detector model and the configuration it was
built from. Lengths in m, angles in degrees, origins in pixels (ORGX/ORGY) or mm (DIALS).
"""

from __future__ import annotations

import math

from ..config import SimulationConfig
from ..models.conventions import forced_pivot, user_beam_centre
from ..models.detector import Detector, construct
from ..physics.vectors import dot, value_of


def detector_report(detector: Detector, config: SimulationConfig) -> dict:
    """The C's reported detector values (plain floats).

    Args:
        detector: the detector model.
        config: the configuration it was built from (convention, beam centre, two-theta).

    Returns:
        Dict with ``xbeam``, ``ybeam`` (the header's beam centre), ``fbeam``, ``sbeam``
        (direct-beam point), ``fclose``, ``sclose``, ``close_distance``, ``distance``,
        ``detsize_s``, ``pixel_size`` (m); ``orgx``, ``orgy`` (pixels); ``dials_origin``
        (mm); ``twotheta_deg``; ``pivot`` (``"SAMPLE"`` or ``"BEAM"``); and the frame
        ``fdet``, ``sdet``, ``odet``, ``beam``, ``pix0`` as lists.
    """
    pix0, fdet, sdet = detector.pix0, detector.fdet, detector.sdet
    close = value_of(detector.close_distance)
    fclose, sclose = -value_of(dot(pix0, fdet)), -value_of(dot(pix0, sdet))
    direct = value_of(detector.distance) * detector.beam - pix0
    fbeam, sbeam = value_of(dot(fdet, direct)), value_of(dot(sdet, direct))
    pixel = value_of(detector.pixel_size)
    xbeam, ybeam, detsize_s = _beam_centre(detector, config, fbeam, sbeam, pixel)
    return {
        "xbeam": xbeam, "ybeam": ybeam, "fbeam": fbeam, "sbeam": sbeam,
        "fclose": fclose, "sclose": sclose, "close_distance": close,
        "distance": value_of(detector.distance),
        "orgx": fclose / pixel + 0.5, "orgy": sclose / pixel + 0.5,
        "dials_origin": (1000.0 * value_of(pix0[2]), 1000.0 * value_of(pix0[1]),
                         -1000.0 * value_of(pix0[0])),
        "detsize_s": detsize_s, "pixel_size": pixel,
        "twotheta_deg": math.degrees(value_of(config.detector.twotheta)),
        "pivot": detector_pivot(config),
        **{name: getattr(detector, name).detach().tolist()
           for name in ("fdet", "sdet", "odet", "beam", "pix0")},
    }


def detector_pivot(config: SimulationConfig) -> str:
    """The pivot really used: a panel's frame is given at the sample; a convention's
    rectangle pivots as the convention forces (only CUSTOM honours ``-pivot``)."""
    det = config.detector
    return "SAMPLE" if det.panels is not None else forced_pivot(det.convention, det.pivot)


def _beam_centre(detector: Detector, config: SimulationConfig, fbeam: float, sbeam: float,
                 pixel: float) -> tuple[float, float, float]:
    """(Xbeam, Ybeam, detector size along slow) in m.

    A convention's rectangle reports the beam centre its construction used; a panel the
    point where the beam meets its plane, in the convention's X/Y.
    """
    det = config.detector
    if det.panels is not None:
        detsize_s = pixel * detector.spixels
        xbeam, ybeam = user_beam_centre(det.convention, fbeam, sbeam, pixel, detsize_s)
        return xbeam, ybeam, detsize_s
    con = construct(det, config.beam, detector.pix0.dtype, detector.pix0.device)
    return value_of(con.centre.xbeam), value_of(con.centre.ybeam), value_of(con.detsize_s)
