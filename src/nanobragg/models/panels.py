"""Detector panels: a panel configuration -> the detector frame the kernel consumes.

A detector is a list of panels. Each panel yields the same frame a C convention yields
for its single rectangle (``fdet``, ``sdet``, ``odet``, ``pix0``, pixel size and counts),
so every panel renders through the one kernel path. The panel's vectors are used as
given (no renormalisation), so a C detector turned into a panel renders bit for bit.
"""

from __future__ import annotations

import dataclasses

import torch

from ..config import BeamConfig, DetectorConfig, PanelConfig
from ..errors import InputError
from ..physics.vectors import dot, value_of
from .detector import _TINY, Detector, build_convention_detector
from .rotations import rotate_axis


def panel_frame(panel: PanelConfig, dtype: torch.dtype, device: torch.device
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fast, slow and normal unit vectors and the first pixel's corner of a panel.

    Without a given normal it is ``fast x slow`` turned to point away from the sample
    (as the solid angle and the sensor depth need; dxtbx's normal is ``fast x slow``
    whichever way it points, and the C's ADXV frame is left-handed). The panel's own
    rotation (about its fast, slow and normal axes through its centre, in that order) is
    applied when any angle is non-zero or is a tensor.

    Returns:
        ``(fdet, sdet, odet, pix0)``, each shape (3,); pix0 in m.
    """
    fdet, sdet, pix0 = (_vector(v, dtype, device)
                        for v in (panel.fast_axis, panel.slow_axis, panel.origin))
    if panel.normal is None:
        odet = torch.linalg.cross(fdet, sdet)
        odet = torch.where(dot(pix0, odet) < 0, -odet, odet)  # away from the sample
    else:
        odet = _vector(panel.normal, dtype, device)
    if not _rotated(panel.rotation):
        return fdet, sdet, odet, pix0
    pixel = torch.as_tensor(panel.pixel_size, dtype=dtype, device=device)
    centre = pix0 + 0.5 * pixel * (panel.fpixels * fdet + panel.spixels * sdet)
    axes = (fdet, sdet, odet)
    moved = [fdet, sdet, odet, pix0 - centre]
    for axis, angle in zip(axes, panel.rotation):
        angle = torch.as_tensor(angle, dtype=dtype, device=device)
        moved = [rotate_axis(v, axis, angle) for v in moved]
    return moved[0], moved[1], moved[2], centre + moved[3]


def build_detector(cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype,
                   device: torch.device) -> Detector:
    """Build the detector tensors from configuration: a convention's rectangle or one panel.

    Args:
        cfg: detector configuration.
        beam_cfg: beam configuration (for a custom beam vector).
        dtype, device: where the tensors live.

    Returns:
        The detector model.
    """
    if cfg.panels is not None:
        return build_panel_detector(cfg, beam_cfg, dtype, device)
    return build_convention_detector(cfg, beam_cfg, dtype, device)


def build_panel_detector(cfg: DetectorConfig, beam_cfg: BeamConfig, dtype: torch.dtype,
                         device: torch.device) -> Detector:
    """The detector model of a configuration with exactly one panel.

    Sensor layers, beam and options come from the configuration as for any detector; the
    frame, pixel size and counts from the panel.

    Raises:
        InputError: more than one panel (render those with ``simulate_panels``), or image
            pixel counts that differ from the panel's.
    """
    if len(cfg.panels) != 1:
        raise InputError(f"detector: {len(cfg.panels)} panels; render a multi-panel "
                         f"detector with nanobragg.simulate_panels")
    panel = cfg.panels[0]
    if (int(cfg.fpixels), int(cfg.spixels)) != (int(panel.fpixels), int(panel.spixels)):
        raise InputError(f"detector: the image is {cfg.fpixels} x {cfg.spixels} pixels but "
                         f"the panel {panel.fpixels} x {panel.spixels}; set fpixels and "
                         f"spixels to the panel's or use nanobragg.simulate_panels")
    base = build_convention_detector(dataclasses.replace(cfg, panels=None), beam_cfg, dtype,
                                     device)
    fdet, sdet, odet, pix0 = panel_frame(panel, dtype, device)
    ratio = dot(base.beam, odet)
    ratio = torch.where(ratio == 0, torch.full_like(ratio, _TINY), ratio)
    close = dot(pix0, odet)
    return dataclasses.replace(
        base, fdet=fdet, sdet=sdet, odet=odet, pix0=pix0,
        pixel_size=torch.as_tensor(panel.pixel_size, dtype=dtype, device=device),
        close_distance=close, distance=close / ratio, fpixels=int(panel.fpixels),
        spixels=int(panel.spixels))


def stack_panels(detectors: list[Detector]) -> Detector:
    """One detector model of several panels of equal pixel counts, frames stacked.

    ``fdet``, ``sdet``, ``odet``, ``pix0`` become (K, 3) and ``pixel_size``,
    ``close_distance``, ``distance`` (K,); the beam, sensor layers and counts are the first
    panel's (the same for every panel of one configuration). The kernel picks each
    pixel's rows by its panel index (:func:`pixel_frames`).

    Raises:
        ValueError: the panels' pixel counts differ.
    """
    first = detectors[0]
    if any((d.fpixels, d.spixels) != (first.fpixels, first.spixels) for d in detectors):
        raise ValueError("stack_panels: the panels' pixel counts differ")
    return dataclasses.replace(first, **{
        name: torch.stack([getattr(d, name) for d in detectors]) for name in _PANEL_FIELDS})


def pixel_frames(detector: Detector, panel: torch.Tensor | None) -> Detector:
    """The detector with each pixel's frame: itself without ``panel``; for stacked panels
    the rows of each pixel's panel, (P, 3) vectors and (P,) pixel size and distances.

    Args:
        detector: one panel, or panels stacked by :func:`stack_panels`.
        panel: panel index of each pixel, shape (P,), or None.
    """
    if panel is None:
        return detector
    return dataclasses.replace(detector, **{
        name: getattr(detector, name)[panel] for name in _PANEL_FIELDS})


def panel_from_detector(detector: Detector, name: str = "") -> PanelConfig:
    """The one panel of a detector model (its frame as plain floats, the normal kept)."""
    def floats(t: torch.Tensor) -> tuple[float, float, float]:
        return tuple(float(v) for v in t.detach().cpu().tolist())

    return PanelConfig(
        origin=floats(detector.pix0), fast_axis=floats(detector.fdet),
        slow_axis=floats(detector.sdet), normal=floats(detector.odet),
        pixel_size=value_of(detector.pixel_size), fpixels=detector.fpixels,
        spixels=detector.spixels, name=name,
    )


def single_panel(cfg: DetectorConfig, index: int) -> DetectorConfig:
    """The detector configuration of panel ``index`` alone (counts and pixel from it)."""
    panel = cfg.panels[index]
    return dataclasses.replace(cfg, panels=(panel,), fpixels=int(panel.fpixels),
                               spixels=int(panel.spixels), pixel_size=panel.pixel_size,
                               detsize_f=None, detsize_s=None)


#: Detector fields that differ from panel to panel.
_PANEL_FIELDS = ("fdet", "sdet", "odet", "pix0", "pixel_size", "close_distance", "distance")


def _rotated(angles) -> bool:
    return any(isinstance(a, torch.Tensor) or a != 0 for a in angles)


def _vector(value, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A (3,) tensor from a tensor or three numbers (tensors among them keep their graph)."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device).reshape(3)
    return torch.stack([torch.as_tensor(v, dtype=dtype, device=device) for v in value])
