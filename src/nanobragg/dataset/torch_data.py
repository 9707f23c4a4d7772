"""A ``torch.utils.data.Dataset`` that renders the shots of a description on demand.

Item ``i`` is shot ``i`` of the data set: the same image and labels as in its HDF5 chunk
file (the tests check it), whatever the worker, the order or the batch of the loader.
Nothing random is drawn from global state, so ``DataLoader`` workers need no seeding. With
``device: cuda`` give the loader ``multiprocessing_context="spawn"`` (CUDA does not survive
a fork).
"""

from __future__ import annotations

import numpy as np
import torch

from .description import DatasetDescription
from .render import render_shots


class ShotDataset(torch.utils.data.Dataset):
    """Shots rendered on the fly.

    Args:
        description: the data set (its ``shots`` is the length).
        counts: return the Poisson counts (as float32), or the detector frames of a
            ``detector`` section, instead of the expected photons when the description
            has them (default: yes).

    Items are ``(image, labels)``: image (spixels, fpixels) as a float tensor, labels a
    dict of float64 tensors, one per shot parameter (see ``ShotParameters``).
    """

    def __init__(self, description: DatasetDescription, counts: bool = True):
        self.description = description
        self.counts = counts and (description.variation.noise == "poisson"
                                  or description.detector is not None)

    def __len__(self) -> int:
        return self.description.shots

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"shot {index} is outside 0..{len(self) - 1}")
        shots = render_shots(self.description, [int(index)], batch=1)
        image = shots.counts[0].astype(np.float32) if self.counts else shots.images[0]
        labels = {name: torch.as_tensor(np.asarray(value, dtype=np.float64))
                  for name, value in shots.params[0].labels().items()}
        return torch.from_numpy(np.ascontiguousarray(image)), labels
