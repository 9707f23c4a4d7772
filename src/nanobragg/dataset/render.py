"""Render shots, several per kernel call.

Shots of a batch whose models have the same tensor shapes and sampling are rendered
together: the kernel is vectorised over a leading shot axis with ``torch.func.vmap``.
Inputs that are the same for every shot (for instance the whole detector when its
distance and beam centre do not vary) stay unbatched, so the per-pixel geometry is
computed once per chunk for all of them. A shot renders the same bits alone (through
:func:`nanobragg.render.simulate.simulate`) and inside any batch; the tests check it.

Shots with tricubic interpolation render one at a time: the C switches interpolation off
for the rest of an image at the first pixel that leaves the grid, which is sequential.
So do shots the fused C engine renders (:mod:`nanobragg.render.engines`: every shot on
the CPU), each in one call of the compiled kernel, which is faster than the batched eager
kernel and gives a shot the same bits alone and in a batch. On CUDA the shots of a batch
share one launch of the Triton kernel, with a shot axis in its grid.

Amorphous material (a ``background`` section, or ``-stol`` in the experiment) is
rendered for each shot on its own models and added to its Bragg image, as
:func:`nanobragg.render.simulate.simulate` adds it. A ``detector`` section turns each
shot's photons into a frame in ADU (:mod:`nanobragg.dataset.response`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..models.setup import Setup, replace_fields, tensor_fields
from ..physics.structure_factors import FTable, structure_factor_lookup
from ..render import engines
from ..render.amorphous import with_amorphous
from ..render.kernel import render_pixels
from ..render.simulate import pixels_per_chunk, prepare, rendered_mask, resolve_device, simulate
from .description import DatasetDescription
from .draws import ShotParameters, check_variation, sample_shot, shot_config, stream
from .response import detector_frame

log = logging.getLogger(__name__)

_COUNT_MAX = np.iinfo(np.uint32).max


@dataclass
class RenderedShots:
    """Images of consecutive shots.

    Attributes:
        indices: shot numbers, (B,).
        images: photons per pixel, (B, spixels, fpixels), in the working dtype.
        counts: Poisson counts (uint32), same shape, or None without noise; with a
            ``detector`` section the detector frames (ADU, float32).
        params: the parameters of every shot.
    """

    indices: list[int]
    images: np.ndarray
    counts: np.ndarray | None
    params: list[ShotParameters]


def render_shots(desc: DatasetDescription, indices: list[int],
                 batch: int | None = None) -> RenderedShots:
    """Render the given shots, ``batch`` (default ``desc.batch``) per kernel call."""
    check_variation(desc)
    batch = batch or desc.batch
    params = [sample_shot(desc, i) for i in indices]
    images = []
    with torch.no_grad():
        for start in range(0, len(params), batch):
            images.extend(render_batch(desc, params[start:start + batch]))
    stack = np.stack(images)
    counts = None
    if desc.detector is not None:
        counts = np.stack([detector_frame(desc, p, im) for p, im in zip(params, stack)])
    elif desc.variation.noise == "poisson":
        counts = np.stack([poisson_counts(desc.seed, p.index, im)
                           for p, im in zip(params, stack)])
    return RenderedShots(list(indices), stack, counts, params)


def poisson_counts(seed: int, index: int, image: np.ndarray) -> np.ndarray:
    """Seeded Poisson counts of one image (uint32; negative or NaN means give 0)."""
    means = np.nan_to_num(image.astype(np.float64), nan=0.0, posinf=0.0).clip(min=0.0)
    counts = stream(seed, index, "noise").poisson(means)
    return np.minimum(counts, _COUNT_MAX).astype(np.uint32)


def render_batch(desc: DatasetDescription, params: list[ShotParameters]) -> list[np.ndarray]:
    """Images (spixels, fpixels) of a few shots, grouped into as few kernel calls as
    their inputs allow."""
    table = device_table(desc)
    dtype, device = desc.torch_dtype, resolve_device(desc.device)
    configs = [shot_config(desc, p) for p in params]
    if len(configs) == 1:
        return [_single(configs[0], table, dtype, device)]
    setups = [prepare(c, table, dtype, device) for c in configs]
    groups: dict[tuple, list[int]] = {}
    for k, (cfg, setup) in enumerate(zip(configs, setups)):
        groups.setdefault(_signature(cfg, setup), []).append(k)
    out: list[np.ndarray | None] = [None] * len(configs)
    for members in groups.values():
        models = [setups[k] for k in members]
        chosen = engines.choose(models[0])
        if (len(members) == 1 or structure_factor_lookup(models[0].sampling.lookup).stops
                or chosen == "fast"):
            images = [_single(configs[k], table, dtype, device) for k in members]
        elif chosen == "triton":
            images = _triton_shots(models, [configs[k] for k in members], device)
        else:
            images = _batched_or_single(models, [configs[k] for k in members], table, device)
        for k, image in zip(members, images):
            out[k] = image
    return out


def _single(config, table, dtype, device) -> np.ndarray:
    return simulate(config, table, dtype=dtype, device=device).image.cpu().numpy()


def _batched_or_single(setups, configs, table, device) -> list[np.ndarray]:
    """One shared call; one call per shot if the kernel cannot run under vmap."""
    try:
        return _vmapped(setups, configs, device)
    except (RuntimeError, NotImplementedError) as err:
        log.warning("batched rendering unavailable (%s); rendering one shot at a time",
                    str(err).splitlines()[0])
        return [_single(c, table, setups[0].dtype, device) for c in configs]


def _signature(config, setup: Setup) -> tuple:
    """What must agree for shots to share a kernel call: the sampling, every model
    tensor's shape, N (the lattice transform branches on its value) and the pixels."""
    shapes = tuple((path, tuple(getattr(getattr(setup, path[0]), path[1]).shape))
                   for path in tensor_fields(setup))
    return (("N", tuple(setup.crystal.N.tolist())), ("roi", config.detector.roi),
            ("pixels", (config.detector.spixels, config.detector.fpixels)),
            ("sampling", setup.sampling), ("tensors", shapes))


def _vmapped(setups: list[Setup], configs: list, device) -> list[np.ndarray]:
    """Render shots with equal signatures in shared kernel calls (leading shot axis);
    each shot's amorphous material, if any, is added afterwards."""
    base, config = setups[0], configs[0]

    def field(setup, path):
        return getattr(getattr(setup, path[0]), path[1])

    varying = [path for path in tensor_fields(base)
               if not all(torch.equal(field(base, path), field(s, path)) for s in setups[1:])]
    stacks = [torch.stack([field(s, path) for s in setups]) for path in varying]

    def one(spixel, fpixel, *values):
        return render_pixels(replace_fields(base, dict(zip(varying, values))),
                             spixel, fpixel).intensity

    if varying:
        batched = torch.func.vmap(one, in_dims=(None, None) + (0,) * len(stacks))
    else:  # identical shots: render once
        def batched(spixel, fpixel):
            return one(spixel, fpixel)[None].expand(len(setups), -1)
    chunk = max(1, pixels_per_chunk(base, None) // len(setups))
    fpixels = config.detector.fpixels

    def fill(images: torch.Tensor, flat_index: torch.Tensor) -> None:
        for start in range(0, flat_index.numel(), chunk):
            idx = flat_index[start:start + chunk]
            images[:, idx] = batched(idx // fpixels, idx % fpixels, *stacks)

    return _shot_images(setups, configs, device, fill)


def _shot_images(setups: list[Setup], configs: list, device, fill) -> list[np.ndarray]:
    """The images of a batch of shots: ``fill(images, flat_index)`` writes the rendered
    pixels (flat_index, the ROI's) of every shot into ``images`` (shots, pixels); each
    shot's amorphous material, if any, is added afterwards."""
    rendered = rendered_mask(configs[0], None, device)
    flat_index = torch.nonzero(rendered.reshape(-1)).squeeze(1)
    images = torch.zeros((len(setups), rendered.numel()), dtype=setups[0].dtype,
                         device=device)
    fill(images, flat_index)
    shaped = images.reshape((len(setups),) + rendered.shape)
    return [with_amorphous(c, s, image, rendered).cpu().numpy()
            for c, s, image in zip(configs, setups, shaped)]


def _triton_shots(setups: list[Setup], configs: list, device) -> list[np.ndarray]:
    """Shots with equal signatures in one launch of the Triton kernel (a shot axis in its
    grid); each shot's amorphous material, if any, is added afterwards."""
    from ..native import triton_kernel

    def fill(images: torch.Tensor, flat_index: torch.Tensor) -> None:
        images[:, flat_index] = triton_kernel.render_shots(setups, flat_index,
                                                           configs[0].detector.fpixels)

    return _shot_images(setups, configs, device, fill)


@functools.lru_cache(maxsize=4)
def device_table(desc: DatasetDescription) -> FTable | None:
    """The description's structure factors in its dtype on its device (once per process)."""
    if desc.table is None:
        return None
    table = desc.table
    device = resolve_device(desc.device)
    return FTable(table.F.to(dtype=desc.torch_dtype, device=device), table.mins,
                  table.default_F, table.loaded)
