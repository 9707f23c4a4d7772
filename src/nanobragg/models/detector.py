"""Detector model: configuration -> basis vectors, origin and sensor layers as tensors.

The construction follows the C program step by step: convention vectors and beam
centre, the two-theta-free ``ratio = beam . R_xyz(odet)``, the pivot (sample or beam),
rotation about x, y, z and then the two-theta axis, and finally the values the C
reports (distance, Fbeam/Sbeam, Fclose/Sclose, ORGX/ORGY, DIALS origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import BeamConfig, DetectorConfig
from ..conventions import AXES, beam_centre, forced_pivot
from ..vectors import dot, norm, unit, value_of
from .rotations import rotate_axis, rotate_xyz, rotation_xyz

_TINY = 2.2250738585072014e-308  # DBL_MIN, the C's stand-in for a zero ratio


@dataclass(frozen=True)
class Detector:
    """Tensors (one dtype and device) describing the detector.

    Attributes:
        fdet, sdet, odet: fast, slow and normal unit vectors after rotation, shape (3,).
        pix0: vector from the sample to the corner of the first pixel (m), shape (3,).
        beam: unit beam direction, shape (3,).
        pixel_size: pixel edge (m), scalar tensor.
        close_distance: pix0 . odet (m), scalar tensor (used by the solid angle).
        distance: reported distance close_distance/ratio (m), scalar tensor.
        fpixels, spixels: pixel counts.
        layer_offsets: depth of each sensor layer along odet (m), shape (T,).
        thickstep: layer thickness (m) and mu: attenuation (1/m), scalar tensors (carrying
            the gradient of a thickness or mu given as a tensor); thickness: total (m), float.
        pivot: the pivot really used.
        report: values the C prints and writes into SMV headers (floats, m or pixels).
    """

    fdet: torch.Tensor
    sdet: torch.Tensor
    odet: torch.Tensor
    pix0: torch.Tensor
    beam: torch.Tensor
    pixel_size: torch.Tensor
    close_distance: torch.Tensor
    distance: torch.Tensor
    fpixels: int
    spixels: int
    layer_offsets: torch.Tensor
    thickstep: torch.Tensor
    mu: torch.Tensor
    thickness: float
    pivot: str
    report: dict


def build_detector(
    cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype, device: torch.device
) -> Detector:
    """Build the detector tensors from configuration.

    Args:
        cfg: detector configuration.
        beam_cfg: beam configuration (for a custom beam vector).
        dtype, device: where the tensors live.

    Returns:
        The detector model.
    """
    if cfg.panels is not None:
        from .panels import build_panel_detector

        return build_panel_detector(cfg, beam_cfg, dtype, device)
    scalar = _scalar_maker(dtype, device)
    vectors = frame_vectors(cfg, beam_cfg, dtype, device)
    pixel = scalar(cfg.pixel_size)
    detsize_f = scalar(cfg.detsize_f if cfg.detsize_f is not None else cfg.fpixels * pixel)
    detsize_s = scalar(cfg.detsize_s if cfg.detsize_s is not None else cfg.spixels * pixel)
    centre = beam_centre(
        cfg.convention, pixel, detsize_f, detsize_s,
        tuple(None if v is None else scalar(v) for v in cfg.beam_center),
        tuple(None if v is None else scalar(v) for v in cfg.close_center),
        tuple(None if v is None else scalar(v) for v in cfg.org),
    )
    pivot = forced_pivot(cfg.convention, cfg.pivot)
    angles = tuple(scalar(a) for a in (cfg.rotx, cfg.roty, cfg.rotz))
    twotheta = scalar(cfg.twotheta)
    fdet0, sdet0, odet0, beam, tt_axis = (vectors[k] for k in ("fdet", "sdet", "odet", "beam",
                                                                "twotheta_axis"))
    ratio = dot(beam, rotate_xyz(odet0, *angles))
    ratio = torch.where(ratio == 0, torch.full_like(ratio, _TINY), ratio)
    distance_in = scalar(cfg.distance if cfg.distance is not None else 0.1)
    close_in = (scalar(cfg.close_distance) if cfg.close_distance is not None
                else (ratio * distance_in).abs())
    distance_in = close_in / ratio

    def swing(v: torch.Tensor) -> torch.Tensor:
        return rotate_axis(rotate_xyz(v, *angles), tt_axis, twotheta)

    fdet, sdet, odet = swing(fdet0), swing(sdet0), swing(odet0)
    if pivot == "SAMPLE":
        pix0 = swing(-centre.fclose * fdet0 - centre.sclose * sdet0 + close_in * odet0)
    else:
        pix0 = -centre.fbeam * fdet - centre.sbeam * sdet + distance_in * beam
    close_distance = dot(pix0, odet)
    distance = close_distance / ratio
    layers = sensor_layers(cfg)
    return Detector(
        fdet=fdet, sdet=sdet, odet=odet, pix0=pix0, beam=beam, pixel_size=pixel,
        close_distance=close_distance, distance=distance,
        fpixels=int(cfg.fpixels), spixels=int(cfg.spixels),
        layer_offsets=torch.arange(layers[0], dtype=dtype, device=device) * layers[1],
        thickstep=_as(layers[1], dtype, device), mu=_as(layers[2], dtype, device),
        thickness=layers[3], pivot=pivot,
        report=_report(cfg, centre, pix0, fdet, sdet, odet, beam, ratio, pixel, detsize_s)
        | {"construction": _construction_report(
            cfg, centre, angles, twotheta, (fdet0, sdet0, odet0, tt_axis), (fdet, sdet, beam),
            (ratio, close_in, distance_in), (pixel, detsize_f, detsize_s))},
    )


def frame_vectors(
    cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype, device: torch.device,
    spindle_axis=None,
) -> dict[str, torch.Tensor]:
    """Unrotated unit vectors of the convention (custom vectors in CUSTOM), shape (3,) each.

    Keys: beam, fdet, sdet, odet, twotheta_axis, polar, spindle. A zero or missing
    normal whose length is not exactly 1 is replaced by fdet x sdet, as the C does; the
    two-theta axis is kept as given (not normalised), also as the C does.
    ``spindle_axis`` is the crystal's custom rotation axis (used in CUSTOM only).
    """
    axes = AXES[cfg.convention]
    chosen = {
        "beam": axes.beam, "fdet": axes.fdet, "sdet": axes.sdet, "odet": axes.odet,
        "twotheta_axis": axes.twotheta_axis, "polar": axes.polar, "spindle": axes.spindle,
    }
    if cfg.convention == "CUSTOM":
        custom = {
            "beam": beam_cfg.beam_vector, "polar": beam_cfg.polar_vector,
            "fdet": cfg.fdet_vector, "sdet": cfg.sdet_vector, "odet": cfg.odet_vector,
            "twotheta_axis": cfg.twotheta_axis, "spindle": spindle_axis,
        }
        chosen.update({k: v for k, v in custom.items() if v is not None})
    raw = {k: torch.as_tensor(v, dtype=dtype, device=device).reshape(3)
           for k, v in chosen.items()}
    # the C normalises every vector except the two-theta axis, which it uses as given
    out = {k: v if k == "twotheta_axis" else unit(v) for k, v in raw.items()}
    if value_of(norm(raw["odet"])) != 1.0:
        # the C regenerates any normal that is not given with length exactly 1
        out["odet"] = unit(torch.linalg.cross(out["fdet"], out["sdet"]))
    return out


def sensor_layers(cfg: DetectorConfig) -> tuple[int, float, float, float]:
    """Layer count, layer step (m), attenuation mu (1/m) and thickness (m), the C's rules.

    ``-detector_thick T`` alone gives 2 layers T/2 apart; with ``-thicksteps n`` the step
    is T/(n-1) (n = 1 becomes 2); without a thickness there is one layer and no absorption.
    A thickness or mu given as a tensor comes back as a tensor (step and mu keep their
    gradients); the thickness returned is always a float.
    """
    thick = value_of(cfg.thickness)
    steps = cfg.thicksteps if cfg.thicksteps is not None and cfg.thicksteps > 0 else None
    steps = 2 if steps is None else max(steps, 2)
    total = cfg.thickness if isinstance(cfg.thickness, torch.Tensor) else thick
    step = total / 2.0 if cfg.thicksteps is None or cfg.thicksteps <= 0 else total / (steps - 1)
    if cfg.mu is not None:
        mu = cfg.mu if isinstance(cfg.mu, torch.Tensor) else value_of(cfg.mu)
    else:
        mu = 1.0 / total if thick > 0 else 0.0
    if thick <= 0 or value_of(step) <= 0:
        return 1, 0.0, value_of(mu), 0.0
    return steps, step, mu, thick


def _report(cfg, centre, pix0, fdet, sdet, odet, beam, ratio, pixel, detsize_s) -> dict:
    """The detector values the C prints and writes into image headers (floats, SI)."""
    close = value_of(dot(pix0, odet))
    fclose, sclose = -value_of(dot(pix0, fdet)), -value_of(dot(pix0, sdet))
    direct = close / value_of(ratio) * beam - pix0
    pix = value_of(pixel)
    return {
        "xbeam": value_of(centre.xbeam), "ybeam": value_of(centre.ybeam),
        "fbeam": value_of(dot(fdet, direct)), "sbeam": value_of(dot(sdet, direct)),
        "fclose": fclose, "sclose": sclose, "close_distance": close,
        "distance": close / value_of(ratio), "orgx": fclose / pix + 0.5, "orgy": sclose / pix + 0.5,
        "dials_origin": (1000.0 * value_of(pix0[2]), 1000.0 * value_of(pix0[1]),
                         -1000.0 * value_of(pix0[0])),
        "detsize_s": value_of(detsize_s), "pixel_size": pix,
        "twotheta_deg": math.degrees(value_of(cfg.twotheta)),
        "fdet": fdet.tolist(), "sdet": sdet.tolist(), "odet": odet.tolist(),
        "beam": beam.tolist(), "pix0": pix0.tolist(),
    }


def _construction_report(cfg, centre, angles, twotheta, initial, final, distances, sizes
                         ) -> dict:
    """Intermediate values of the detector construction, for the pixel trace (floats, SI).

    Keys: ``angles_rad`` (rotx, roty, rotz, twotheta), ``initial_fdet/sdet/odet`` and
    ``twotheta_axis`` (unrotated), ``rotation_matrices`` (Rx, Ry, Rz as row lists),
    ``f/s/odet_after_xyz`` (rotated about x, y, z but not two-theta), ``xclose``/``yclose``
    (the C's Xclose/Yclose), ``fclose/sclose/fbeam/sbeam_initial`` (beam centre before
    rotation), ``ratio``, ``close_distance_initial`` and ``distance_initial`` (before the
    recompute from pix0), the BEAM-pivot terms ``term_fast/slow/beam`` and the
    SAMPLE-pivot ``term_*_before_rot``, ``pix0_before_rotation`` and ``pix0_after_xyz``.
    """
    fdet0, sdet0, odet0, tt_axis = initial
    fdet, sdet, beam = final
    ratio, close_in, distance_in = distances
    pixel, detsize_f, detsize_s = (_float(v) for v in sizes)
    before = -centre.fclose * fdet0 - centre.sclose * sdet0 + close_in * odet0
    close_xy = []
    for given, org, size in zip(cfg.close_center, cfg.org, (detsize_f, detsize_s)):
        # the C's Xclose/Yclose: the user's, else from ORGX/ORGY, else half the detector
        default = (_float(org) - 0.5) * pixel if org is not None else size / 2.0
        close_xy.append(_float(given) if given is not None else default)
    out = {
        "angles_rad": [_float(a) for a in (*angles, twotheta)],
        "rotation_matrices": [_floats(m) for m in rotation_xyz(*angles, like=fdet0)],
        "xclose": close_xy[0], "yclose": close_xy[1],
        "ratio": _float(ratio), "close_distance_initial": _float(close_in),
        "distance_initial": _float(distance_in),
        "term_fast": _floats(-centre.fbeam * fdet), "term_slow": _floats(-centre.sbeam * sdet),
        "term_beam": _floats(distance_in * beam),
        "term_fast_before_rot": _floats(-centre.fclose * fdet0),
        "term_slow_before_rot": _floats(-centre.sclose * sdet0),
        "term_close_before_rot": _floats(close_in * odet0),
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


def _floats(t: torch.Tensor):
    return t.detach().tolist()


def _float(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _as(value, dtype, device) -> torch.Tensor:
    """A number or tensor as a tensor on dtype and device (a tensor keeps its graph)."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device)
    return torch.tensor(value, dtype=dtype, device=device)


def _scalar_maker(dtype: torch.dtype, device: torch.device):
    def scalar(value) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.to(dtype=dtype, device=device)
        return torch.tensor(value_of(value), dtype=dtype, device=device)

    return scalar
