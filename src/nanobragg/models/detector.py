"""Detector model: configuration -> basis vectors, origin and sensor layers as tensors.

The construction follows the C program step by step (:func:`construct`): convention
vectors and beam centre, the two-theta-free ``ratio = beam . R_xyz(odet)``, the pivot
(sample or beam), rotation about x, y, z and then the two-theta axis. The values the C
prints or writes into headers are computed from the model on demand
(:func:`nanobragg.products.reports.detector_report`; the trace reads :func:`construct` itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import BeamConfig, DetectorConfig
from ..physics.vectors import dot, norm, unit, value_of
from .conventions import AXES, BeamCentre, beam_centre, forced_pivot
from .rotations import rotate_axis, rotate_xyz

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


@dataclass(frozen=True)
class Construction:
    """The steps of the C's detector construction, as tensors (float64, SI units).

    Attributes:
        centre: beam-centre values before rotation (m).
        angles: rotx, roty, rotz (rad); twotheta: (rad).
        initial: unrotated fdet, sdet, odet and the (unnormalised) two-theta axis, (3,) each.
        beam: unit beam direction, (3,).
        ratio: ``beam . R_xyz(odet)`` (DBL_MIN where 0); close_in, distance_in: the close
            and reported distance before the recompute from pix0 (m).
        pixel, detsize_f, detsize_s: pixel edge and detector size (m).
        pivot: the pivot really used (``"SAMPLE"`` or ``"BEAM"``).
        fdet, sdet, odet, pix0: the final frame, (3,) each; pix0 in m.
    """

    centre: BeamCentre
    angles: tuple
    twotheta: torch.Tensor
    initial: tuple
    beam: torch.Tensor
    ratio: torch.Tensor
    close_in: torch.Tensor
    distance_in: torch.Tensor
    pixel: torch.Tensor
    detsize_f: torch.Tensor
    detsize_s: torch.Tensor
    pivot: str
    fdet: torch.Tensor
    sdet: torch.Tensor
    odet: torch.Tensor
    pix0: torch.Tensor


def build_convention_detector(
    cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype, device: torch.device
) -> Detector:
    """Build the detector tensors of a convention's single rectangle (``cfg.panels`` unused).

    Arguments and result as :func:`nanobragg.models.panels.build_detector`, which builds
    any detector.
    """
    con = construct(cfg, beam_cfg, dtype, device)
    close_distance = dot(con.pix0, con.odet)
    layers = sensor_layers(cfg)
    return Detector(
        fdet=con.fdet, sdet=con.sdet, odet=con.odet, pix0=con.pix0, beam=con.beam,
        pixel_size=con.pixel, close_distance=close_distance,
        distance=close_distance / con.ratio, fpixels=int(cfg.fpixels), spixels=int(cfg.spixels),
        layer_offsets=torch.arange(layers[0], dtype=dtype, device=device) * layers[1],
        thickstep=_as(layers[1], dtype, device), mu=_as(layers[2], dtype, device),
        thickness=layers[3],
    )


def construct(cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype,
              device: torch.device) -> Construction:
    """The C's construction of a convention's single-rectangle detector, step by step.

    Args:
        cfg: detector configuration (its panels are ignored).
        beam_cfg: beam configuration (for a custom beam vector).
        dtype, device: where the tensors live.
    """
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
    return Construction(centre, angles, twotheta, (fdet0, sdet0, odet0, tt_axis), beam, ratio,
                        close_in, distance_in, pixel, detsize_f, detsize_s, pivot,
                        fdet, sdet, odet, pix0)


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
