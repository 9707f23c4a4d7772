"""Render pixels whose sub-steps alone exceed the memory budget, block by block.

A pixel's evaluations run in the loop order layer, sub-pixel, source, phi step, mosaic
domain. The blocks are contiguous ranges of that order (inner axes whole, the first
split axis in pieces, outer axes one index at a time), each at most ``budget``
evaluations for the chunk's pixels, so memory is bounded at any sub-step count. The
block sums are added in order; the result differs from one whole-pixel call only by
float rounding.
"""

from __future__ import annotations

import dataclasses
import itertools

import torch

from .kernel import KernelInputs, final_factors, render_pixels


def unsplit_reason(inp: KernelInputs) -> str | None:
    """The option that keeps a pixel's sub-steps in one piece, or None when they split.

    They split for a plain running sum: no ``-oversample_*`` products, no resolution cut
    and no tricubic interpolation.
    """
    for flag, on in (("-oversample_omega", inp.oversample_omega),
                     ("-oversample_polar", inp.oversample_polar),
                     ("-oversample_thick", inp.oversample_thick),
                     ("-dmin", inp.dmin > 0), ("-interpolate", inp.interpolate)):
        if on:
            return flag
    return None


def splittable(inp: KernelInputs) -> bool:
    """Whether a pixel's sub-steps can be split into blocks (see :func:`unsplit_reason`)."""
    return unsplit_reason(inp) is None


def block_sizes(sizes: list[int], budget: int) -> list[int]:
    """Block extent per axis (outer to inner) so that a block holds at most ``budget``."""
    blocks = [1] * len(sizes)
    room = max(1, budget)
    for axis in range(len(sizes) - 1, -1, -1):
        blocks[axis] = min(sizes[axis], room)
        if blocks[axis] < sizes[axis]:
            break
        room //= sizes[axis]
    return blocks


def render_blocked(inp: KernelInputs, spixel: torch.Tensor, fpixel: torch.Tensor,
                   budget: int) -> torch.Tensor:
    """Photons of the pixels (P,), evaluating at most ``budget`` evaluations at a time."""
    sizes = [inp.layer_offsets.shape[0], inp.oversample**2, inp.incident.shape[0],
             inp.real_rows.shape[0], inp.real_rows.shape[1]]
    blocks = block_sizes(sizes, max(1, budget // spixel.numel()))
    zero = torch.zeros_like(inp.background)
    total = None
    starts = [range(0, n, b) for n, b in zip(sizes, blocks)]
    for corner in itertools.product(*starts):
        ranges = [(c, min(c + b, n)) for c, b, n in zip(corner, blocks, sizes)]
        part = render_pixels(_block(inp, ranges, zero), spixel, fpixel, final=False).intensity
        total = part if total is None else total + part
    first = [(0, 1), (0, 1), (0, 1), (0, 1), (0, 1)]
    first[0] = (0, sizes[0])
    head = render_pixels(_block(inp, first, zero), spixel, fpixel, final=False)
    factors = final_factors(inp, head.taps["geometry"], head.taps["polar"], None)
    return inp.scale * (inp.background + total) * factors


def _block(inp: KernelInputs, ranges: list[tuple[int, int]], zero) -> KernelInputs:
    """The inputs restricted to one block of (layer, sub-pixel, source, phi, mosaic)."""
    (t0, t1), sub, (s0, s1), (f0, f1), (m0, m1) = ranges
    return dataclasses.replace(
        inp, layer_offsets=inp.layer_offsets[t0:t1], first_layer=t0, subpixels=sub,
        incident=inp.incident[s0:s1], wavelength=inp.wavelength[s0:s1],
        real_rows=inp.real_rows[f0:f1, m0:m1], background=zero)
