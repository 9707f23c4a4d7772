"""Render pixels whose sub-steps alone exceed one kernel call's chunk, block by block.

A pixel's evaluations run in the loop order layer, sub-pixel, source, phi step, mosaic
domain. The blocks are contiguous ranges of that order (inner axes whole, the first
split axis in pieces, outer axes one index at a time), each at most ``block_evaluations``
evaluations for the chunk's pixels, so memory is bounded at any sub-step count. The
block sums are added in order; the result differs from one whole-pixel call only by
float rounding.
"""

from __future__ import annotations

import dataclasses
import itertools

import torch

from ..models.setup import Setup, background, scale
from ..physics.structure_factors import structure_factor_lookup
from .kernel import final_factors, render_pixels


def unsplit_reason(setup: Setup) -> str | None:
    """The option that keeps a pixel's sub-steps in one piece, or None when they split.

    They split for a plain running sum: no ``-oversample_*`` products, no resolution cut
    and no structure-factor lookup that stops part-way (tricubic interpolation).
    """
    s = setup.sampling
    for flag, on in (("-oversample_omega", s.oversample_omega),
                     ("-oversample_polar", s.oversample_polar),
                     ("-oversample_thick", s.oversample_thick),
                     ("-dmin", s.dmin > 0),
                     ("-interpolate", structure_factor_lookup(s.lookup).stops)):
        if on:
            return flag
    return None


def splittable(setup: Setup) -> bool:
    """Whether a pixel's sub-steps can be split into blocks (see :func:`unsplit_reason`)."""
    return unsplit_reason(setup) is None


def block_sizes(sizes: list[int], block_evaluations: int) -> list[int]:
    """Block extent per axis (outer to inner): a block holds at most ``block_evaluations``."""
    blocks = [1] * len(sizes)
    room = max(1, block_evaluations)
    for axis in range(len(sizes) - 1, -1, -1):
        blocks[axis] = min(sizes[axis], room)
        if blocks[axis] < sizes[axis]:
            break
        room //= sizes[axis]
    return blocks


def render_blocked(setup: Setup, spixel: torch.Tensor, fpixel: torch.Tensor,
                   block_evaluations: int, panel: torch.Tensor | None = None) -> torch.Tensor:
    """Photons of the pixels (P,), at most ``block_evaluations`` evaluations at a time
    (``panel``: each pixel's panel of a stacked-panel detector, see ``render_pixels``)."""
    rows = setup.crystal.real_rows
    sizes = [setup.layers, setup.oversample**2, int(setup.beam.incident.shape[0]),
             int(rows.shape[0]), int(rows.shape[1])]
    blocks = block_sizes(sizes, max(1, block_evaluations // spixel.numel()))
    total = None
    starts = [range(0, n, b) for n, b in zip(sizes, blocks)]
    for corner in itertools.product(*starts):
        ranges = [(c, min(c + b, n)) for c, b, n in zip(corner, blocks, sizes)]
        part = render_pixels(_block(setup, ranges), spixel, fpixel, final=False,
                             panel=panel).intensity
        total = part if total is None else total + part
    first = [(0, 1), (0, 1), (0, 1), (0, 1), (0, 1)]
    first[0] = (0, sizes[0])
    head = render_pixels(_block(setup, first), spixel, fpixel, final=False, panel=panel)
    factors = final_factors(setup.sampling, head.taps["geometry"], head.taps["polar"], None)
    return scale(setup) * (background(setup) + total) * factors


def _block(setup: Setup, ranges: list[tuple[int, int]]) -> Setup:
    """The models restricted to one block of (layer, sub-pixel, source, phi, mosaic)."""
    (t0, t1), sub, (s0, s1), (f0, f1), (m0, m1) = ranges
    det, beam, crystal = setup.detector, setup.beam, setup.crystal
    return dataclasses.replace(
        setup,
        detector=dataclasses.replace(det, layer_offsets=det.layer_offsets[t0:t1]),
        beam=dataclasses.replace(beam, incident=beam.incident[s0:s1],
                                 wavelength=beam.wavelength[s0:s1]),
        crystal=dataclasses.replace(crystal, real_rows=crystal.real_rows[f0:f1, m0:m1]),
        sampling=dataclasses.replace(setup.sampling, subpixels=sub, first_layer=t0))
