"""Render a multi-panel detector: all panels in one pass of the kernel.

The beam, crystal, mosaic domains, sources and the normalisation over steps are the same
for every panel; so is the oversampling, chosen once for the whole detector (the user's,
else the largest that the C's rule asks for on any panel). Panels of equal pixel counts
are stacked into one detector model ((panels, 3) frames) and rendered together, the
kernel (either engine) taking each pixel's panel index. Panels are rendered one at a
time, each by :func:`nanobragg.render.simulate.simulate` as a one-panel detector, where
their sizes differ and with tricubic interpolation (which the C switches off part-way
through one panel's pixel order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..config import SimulationConfig
from ..errors import InputError
from ..models.panels import single_panel, stack_panels
from ..models.setup import Setup
from ..physics.structure_factors import FTable, structure_factor_lookup
from . import engines
from .simulate import SimulationResult, prepare, render_eager, render_fast, rendered_mask, simulate


@dataclass
class PanelImages:
    """One rendered image per panel.

    Attributes:
        results: the simulation result of every panel, in panel order.
        oversample: sub-pixels per pixel edge used on every panel.
    """

    results: list[SimulationResult]
    oversample: int

    @property
    def images(self) -> list[torch.Tensor]:
        """Photons per pixel of each panel, shape (spixels, fpixels) each."""
        return [r.image for r in self.results]

    @property
    def image(self) -> torch.Tensor:
        """All panels stacked, shape (panels, slow, fast).

        Raises:
            ValueError: the panels do not all have the same pixel counts.
        """
        shapes = {tuple(im.shape) for im in self.images}
        if len(shapes) != 1:
            raise ValueError(f"panels of different sizes {sorted(shapes)} do not stack; "
                             f"use .images")
        return torch.stack(self.images)


def panel_configs(config: SimulationConfig) -> list[SimulationConfig]:
    """One single-panel configuration per panel, all with the detector's oversampling.

    A configuration without panels is its own single panel.
    """
    det = config.detector
    if det.panels is None:
        return [config]
    singles = [dataclasses.replace(config, detector=single_panel(det, i))
               for i in range(len(det.panels))]
    oversample = det.oversample if det.oversample else max(
        prepare(c).oversample for c in singles)
    return [dataclasses.replace(c, detector=dataclasses.replace(c.detector,
                                                                oversample=oversample))
            for c in singles]


def simulate_panels(config: SimulationConfig, table: FTable | None = None,
                    masks: list[np.ndarray | None] | None = None,
                    dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = "cpu",
                    evaluations_per_chunk: int | None = None,
                    engine: str = "auto") -> PanelImages:
    """Render every panel of the detector.

    Args:
        config: the simulation; ``config.detector.panels`` lists the panels (None: the
            convention's single rectangle, rendered as one panel).
        table: structure factors (None: default_F everywhere).
        masks: per panel a uint16 (spixels, fpixels) mask (0 = skip) or None.
        dtype, device: working precision and device.
        evaluations_per_chunk: memory bound per kernel call (pixels x sub-steps).
        engine: ``"auto"``, ``"eager"`` or ``"fast"`` (see :mod:`nanobragg.render.engines`).

    Returns:
        The images, one per panel. Tricubic interpolation that leaves the HKL grid is
        switched off per panel (the C has one panel, scanned in its loop order).

    Raises:
        InputError: the number of masks differs from the number of panels.
    """
    engines.check_name(engine)
    configs = panel_configs(config)
    masks = [None] * len(configs) if masks is None else list(masks)
    if len(masks) != len(configs):
        raise InputError(f"masks: {len(masks)} given for {len(configs)} panels")
    setups = [prepare(c, table, dtype, device) for c in configs]
    rendered = [rendered_mask(c, m, setups[0].device) for c, m in zip(configs, masks)]
    if not _one_pass(setups):
        results = [simulate(c, table, m, dtype=dtype, device=device,
                            evaluations_per_chunk=evaluations_per_chunk, engine=engine)
                   for c, m in zip(configs, masks)]
        return PanelImages(results, results[0].setup.oversample)
    stacked = dataclasses.replace(setups[0],
                                  detector=stack_panels([s.detector for s in setups]))
    keep = torch.stack(rendered)
    chosen = engines.choose(stacked, engine)
    if chosen in engines.FUSED:
        image, _ = render_fast(stacked, keep, backend=chosen)
    else:
        image, _ = render_eager(stacked, keep, evaluations_per_chunk)
    results = [SimulationResult(image[k], keep[k], setups[k]) for k in range(len(setups))]
    return PanelImages(results, setups[0].oversample)


def _one_pass(setups: list[Setup]) -> bool:
    """Whether the panels render together: equal pixel counts and a structure-factor
    lookup that never stops part-way."""
    first = setups[0].detector
    if any((s.detector.fpixels, s.detector.spixels) != (first.fpixels, first.spixels)
           for s in setups):
        return False
    return not structure_factor_lookup(setups[0].sampling.lookup).stops
