"""Rotation series: one image per phi step instead of their sum."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..config import SimulationConfig
from ..models.crystal import phi_sampling
from ..physics.structure_factors import FTable
from .simulate import simulate


def phi_frames(config: SimulationConfig, table: FTable | None = None,
               mask: np.ndarray | None = None, dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = "cpu",
               evaluations_per_chunk: int | None = None) -> torch.Tensor:
    """Render every phi step of the oscillation as its own frame.

    Frame i is the still image at spindle angle phi0 + i * phistep, sampled over one step
    (one phi value, as the summed render samples it), with the fluence shared equally
    among the frames, so the frames add up to the image ``simulate(config)`` renders (to
    rounding).

    Args:
        config: the simulation; its phi steps become the frames.
        table, mask, dtype, device, evaluations_per_chunk: as for ``simulate``.

    Returns:
        Photons per pixel, shape (phisteps, spixels, fpixels), in ``dtype``.
    """
    steps, step, _ = phi_sampling(config.crystal)
    frames = []
    for index in range(steps):
        crystal = dataclasses.replace(config.crystal, phi0=config.crystal.phi0 + index * step,
                                      osc=step, phistep=step, phisteps=1)
        frame = simulate(dataclasses.replace(config, crystal=crystal), table, mask, dtype=dtype,
                         device=device, evaluations_per_chunk=evaluations_per_chunk)
        frames.append(frame.image / steps)
    return torch.stack(frames)
