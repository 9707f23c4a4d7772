"""The simulation kernel: one pure tensor function from a chunk of pixels to photons.

Every loop of the C program is a tensor dimension here. Shapes use
P pixels, T sensor layers, O = oversample^2 sub-pixels (sub-slow major, as the C
loops), S sources, F phi steps and M mosaic domains. Inside the kernel the pixel axis is
LAST and 3-vectors are tuples of components, so every elementwise operation runs over
long contiguous rows: one evaluation is one element of (T, O, S, F, M, P), and the
leading axes flattened are exactly the C's per-pixel loop order. The taps handed to
diagnostics are rearranged pixel-first with vectors stacked last: (P, T, O, S, F, M, 3).

Precision: the geometry up to the Miller indices (per sub-pixel and source, plus one
small matrix product per evaluation) is always float64, so that the nearest-reflection
choice ``ceil(h - 0.5)`` is the C's even when the rest runs in float32. The lattice
transform, structure factors and sums (the bulk of the work) run in ``sampling.dtype``.

The inputs are the typed models of a :class:`~nanobragg.models.setup.Setup`: tensors
from the detector, crystal and beam models, static choices from its sampling model and
the structure-factor table. The scale and the water background are computed from them
here (:func:`scale`, :func:`background`). A detector of stacked panels
(:func:`nanobragg.models.panels.stack_panels`) takes each pixel's panel index with its
slow and fast indices; the pixel's frame is then its panel's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..models.panels import pixel_frames
from ..models.rotations import rotate_axis
from ..models.setup import Setup, background, scale
from ..physics.lattice import LatticeParams, lattice_shape
from ..physics.polarization import polarization_factor
from ..physics.structure_factors import structure_factor_lookup


@dataclass
class KernelOutput:
    """Kernel result for a chunk.

    Attributes:
        intensity: photons per pixel, shape (P,).
        interpolation_failed: per pixel (P,), whether one of its evaluations left the F
            grid (tricubic interpolation only, else None).
        taps: named intermediates (only when asked for).
    """

    intensity: torch.Tensor
    interpolation_failed: torch.Tensor | None = None
    taps: dict = field(default_factory=dict)


def render_pixels(setup: Setup, spixel: torch.Tensor, fpixel: torch.Tensor,
                  want_taps: bool = False, final: bool = True,
                  panel: torch.Tensor | None = None) -> KernelOutput:
    """Photons in each pixel of a chunk.

    Args:
        setup: the models (detector, crystal, beam, sampling, F table).
        spixel, fpixel: slow and fast pixel indices, shape (P,) (integer tensors).
        want_taps: also return the named intermediates of every evaluation.
        final: apply scale and the once-per-pixel factors; with False the intensity is
            the running sum ``I`` without the background and the taps hold ``geometry``,
            ``polar``, ``skipped`` (for callers that split a pixel's sub-steps).
        panel: each pixel's panel, shape (P,), for a detector of stacked panels (None for
            a detector of one panel).

    Returns:
        The intensities and, if asked, the intermediates.
    """
    beam, sampling = setup.beam, setup.sampling
    geo = subpixel_geometry(setup, spixel, fpixel, panel)
    diffracted = tuple(d[:, :, None, :] for d in geo["diffracted"])  # (T, O, 1, P)
    scattering = tuple((d - beam.incident[:, c, None]) / beam.wavelength[:, None]
                       for c, d in enumerate(diffracted))  # (T, O, S, P) in 1/m
    stol = 0.5 * torch.sqrt(sum(q * q for q in scattering))
    skipped = dmin_skip(stol, sampling.dmin)
    polar = polarization_factor(beam.incident, diffracted, beam.polar_vector,
                                beam.kahn).to(sampling.dtype)
    hkl64 = miller_indices(scattering, setup.crystal.real_rows)  # (T, O, S, F, M, P) each
    shape = lattice_shape(sampling.shape)
    need_rounded = want_taps or setup.table.loaded or shape.needs_nearest
    hkl0 = tuple(torch.ceil(h - 0.5) for h in hkl64) if need_rounded else None
    F_latt, axes = lattice_factor(setup, hkl64, hkl0)
    skip_eval = None
    if skipped is not None:
        skip_eval = skipped[:, :, :, None, None, :].expand(hkl64[0].shape)
    F_cell, failed = cell_factor(setup, hkl64, hkl0, F_latt, skip_eval)
    terms = (F_cell * F_cell) * (F_latt * F_latt)
    if skip_eval is not None:
        terms = torch.where(skip_eval, 0.0, terms)
    start = background(setup)
    start = start if final else torch.zeros_like(start)
    accumulated = accumulate(sampling, terms, skip_eval, F_latt, geo, polar, start)
    if not final:
        return KernelOutput(accumulated, failed,
                            {"geometry": geo, "polar": polar, "skipped": skipped})
    intensity = scale(setup) * accumulated * final_factors(sampling, geo, polar, skipped)
    taps = {}
    if want_taps:
        taps = _pixel_first_taps(geo, scattering, stol, skipped, polar, hkl64, hkl0,
                                 F_cell, F_latt, axes)
        taps.update(I_before_scaling=accumulated, intensity=intensity)
    return KernelOutput(intensity, failed, taps)


def miller_indices(scattering: tuple, rows: torch.Tensor) -> tuple:
    """Fractional ``h = a . S`` etc. for every phi step and mosaic domain.

    Written as explicit products and sums in the C's order (``ax*Sx + ay*Sy + az*Sz``),
    not a matrix product, whose blocking and fused multiply-adds would round differently
    from the C and from one chunk size to another.

    Args:
        scattering: components of S (1/m), each (T, O, S, P).
        rows: crystal rows a, b, c (m), shape (F, M, 3, 3).

    Returns:
        ``(h, k, l)``, each (T, O, S, F, M, P), float64.
    """
    parts = [q[:, :, :, None, None, :] for q in scattering]
    out = []
    for j in range(3):
        coeff = [rows[:, :, j, c][..., None] for c in range(3)]  # (F, M, 1)
        out.append(parts[0] * coeff[0] + parts[1] * coeff[1] + parts[2] * coeff[2])
    return tuple(out)


def subpixel_geometry(setup: Setup, spixel: torch.Tensor, fpixel: torch.Tensor,
                      panel: torch.Tensor | None = None) -> dict:
    """Sub-pixel positions and the per-sub-pixel factors (pixel axis last).

    ``panel`` (P,) picks each pixel's frame from a detector of stacked panels.

    Returns:
        Dict with ``Fdet``, ``Sdet`` (m, (O, P)); ``position`` and ``diffracted`` as
        component tuples of (T, O, P) and ``airpath`` (m, (T, O, P)), all float64; and
        ``omega`` (sr) and ``capture_fraction`` (T, O, P) in the working dtype.
    """
    det, sampling = pixel_frames(setup.detector, panel), setup.sampling
    os_ = sampling.oversample
    sub = det.pixel_size / os_
    k = torch.arange(os_, device=spixel.device)
    sub_s, sub_f = k.repeat_interleave(os_), k.repeat(os_)
    if sampling.subpixels is not None:
        sub_s, sub_f = sub_s[slice(*sampling.subpixels)], sub_f[slice(*sampling.subpixels)]
    dtype = det.pix0.dtype
    fdet = sub * (fpixel[None, :] * os_ + sub_f[:, None]).to(dtype) + sub / 2.0  # (O, P)
    sdet = sub * (spixel[None, :] * os_ + sub_s[:, None]).to(dtype) + sub / 2.0
    layers = det.layer_offsets[:, None, None]
    pos = tuple(fdet[None] * det.fdet[..., c] + sdet[None] * det.sdet[..., c]
                + layers * det.odet[..., c] + det.pix0[..., c] for c in range(3))  # (T, O, P)
    if sampling.curved:
        pos = curve_positions(det, pos)
    airpath = torch.sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2])
    diffracted = tuple(p / airpath for p in pos)
    if sampling.point_pixel:
        omega = 1.0 / airpath / airpath
    else:
        omega = det.pixel_size * det.pixel_size / airpath / airpath * det.close_distance / airpath
    return {
        "Fdet": fdet, "Sdet": sdet, "position": pos, "airpath": airpath,
        "diffracted": diffracted, "omega": omega.to(sampling.dtype),
        "capture_fraction": capture_fraction(det, sampling, diffracted).to(sampling.dtype),
    }


def curve_positions(det, pos: tuple) -> tuple:
    """Move flat-detector positions onto a sphere of radius ``distance``, as the C does.

    The point ``distance*beam`` is rotated about sdet by (lab y)/distance and then about
    fdet by (lab z)/distance of the flat position.

    Args:
        det: the detector model.
        pos: flat positions (m), component tuple of (T, O, P).
    """
    flat = torch.stack(pos, -1)
    start = (det.distance * det.beam).expand_as(flat)
    turned = rotate_axis(start, det.sdet, pos[1] / det.distance)
    return tuple(rotate_axis(turned, det.fdet, pos[2] / det.distance).unbind(-1))


def capture_fraction(det, sampling, diffracted: tuple) -> torch.Tensor:
    """Fraction of photons absorbed in each sensor layer, shape (T, O, P).

    1 without a sensor, except with ``-oversample_thick``: the C then evaluates the formula
    anyway, with a zero layer step, which gives 0 (and a blank image). Kept deliberately.

    Args:
        det: the detector (its normal (3,), or per pixel (P, 3)), layer step and mu.
        sampling: the sampling model.
        diffracted: unit diffracted directions, component tuple of (T, O, P).
    """
    if not sampling.thick and not sampling.oversample_thick:
        return torch.ones_like(diffracted[0])
    parallax = (diffracted[0] * det.odet[..., 0] + diffracted[1] * det.odet[..., 1]
                + diffracted[2] * det.odet[..., 2])
    first = sampling.first_layer
    index = torch.arange(first, first + parallax.shape[0],
                         dtype=parallax.dtype, device=parallax.device)[:, None, None]
    depth = det.thickstep * det.mu
    return torch.exp(-index * depth / parallax) - torch.exp(-(index + 1) * depth / parallax)


def dmin_skip(stol: torch.Tensor, dmin: float) -> torch.Tensor | None:
    """True where the C skips a source for being beyond the resolution limit (None: off)."""
    if dmin <= 0:
        return None
    safe = torch.where(stol > 0, stol, torch.ones_like(stol))
    return (stol > 0) & (dmin > 0.5 / safe)


def lattice_factor(setup: Setup, hkl: tuple, hkl0: tuple | None):
    """F_latt for every evaluation and, for a per-axis shape, the per-axis factors.

    Args:
        setup: the models (crystal N, fudge, reciprocal rows; sampling shape and dtype).
        hkl: fractional indices ``(h, k, l)`` in float64 (reduced to offsets from the
            nearest integers before the working dtype takes over).
        hkl0: nearest integers ``ceil(h - 0.5)`` decided in float64 (needed when the
            shape's ``needs_nearest``).

    Returns:
        F_latt, and for a per-axis shape the list of three per-axis factors (None for an
        axis with N <= 1), else None.
    """
    crystal, sampling = setup.crystal, setup.sampling
    dtype = sampling.dtype
    params = LatticeParams(crystal.N.to(dtype), crystal.fudge.to(dtype),
                           crystal.recip_rows.to(dtype), dtype, sampling.c_formula)
    return lattice_shape(sampling.shape).factor(hkl, hkl0, params)


def cell_factor(setup: Setup, hkl: tuple, hkl0: tuple | None, F_latt: torch.Tensor,
                skip_eval: torch.Tensor | None = None):
    """F_cell for every evaluation by the sampling's structure-factor lookup.

    A lookup that can stop (tricubic interpolation) only tests the evaluations the C gets
    to F_cell for: it passes over one beyond ``dmin`` and one with ``F_latt == 0`` (no
    water) before it looks at F_cell.

    Args:
        setup: the models (F table; sampling lookup, dtype, water).
        hkl: fractional indices (float64) ``(h, k, l)``, each (T, O, S, F, M, P).
        hkl0: nearest integers, same layout.
        F_latt: lattice factors, same layout.
        skip_eval: evaluations beyond the resolution cut (bool, same layout), or None.

    Returns:
        F_cell in the working dtype (a scalar tensor when no table is loaded), and per pixel
        (P,) whether the lookup left the grid (None for a lookup that cannot).
    """
    sampling = setup.sampling
    lookup = structure_factor_lookup(sampling.lookup)
    reached = None
    if lookup.stops:
        reached = (F_latt != 0) if not sampling.water else torch.ones_like(F_latt, dtype=torch.bool)
        reached = reached if skip_eval is None else reached & ~skip_eval
    return lookup.cell(setup.table, hkl, hkl0, reached, sampling.dtype)


def accumulate(sampling, terms, skip_eval, F_latt, geo, polar, start) -> torch.Tensor:
    """The C's per-pixel running sum ``I`` (starting at ``start``), shape (P,).

    Without ``-oversample_*`` flags it is the plain sum. With them the C multiplies the
    whole running sum by the factor after every addition; that is
    ``I_bg * prod(f) + sum_j t_j * prod_{i >= j} f_i`` over the evaluations in loop order,
    with f = 1 for evaluations the C skips.
    """
    n_pix = terms.shape[-1]
    flat = terms.reshape(-1, n_pix)
    if not sampling.running_products:
        # a running sum in loop order (as the C's I += ...): the same bits for a pixel
        # alone or inside any chunk, unlike .sum(0)
        return start + torch.cumsum(flat, 0)[-1]
    factor = torch.ones_like(terms)
    if sampling.oversample_thick:
        factor = factor * geo["capture_fraction"][:, :, None, None, None, :]
    if sampling.oversample_polar:
        factor = factor * polar[:, :, :, None, None, :]
    if sampling.oversample_omega:
        factor = factor * geo["omega"][:, :, None, None, None, :]
    passed_over = (F_latt == 0) & (not sampling.water)
    if skip_eval is not None:
        passed_over = passed_over | skip_eval
    factor = torch.where(passed_over, 1.0, factor).reshape(-1, n_pix)
    suffix = torch.flip(torch.cumprod(torch.flip(factor, [0]), 0), [0])
    # a zero term stays zero even where the product overflowed (the C adds 0 before
    # multiplying, so it reaches inf, never 0 * inf = NaN)
    weighted = torch.where(flat == 0, 0.0, flat * suffix)
    start = torch.where(start == 0, 0.0, start * suffix[0])
    return start + torch.cumsum(weighted, 0)[-1]


def final_factors(sampling, geo, polar, skipped) -> torch.Tensor:
    """Factors applied once per pixel when not oversampled, shape (P,).

    Solid angle at the first sub-pixel of the first layer; polarization at the first
    sub-pixel and source the resolution cut did not skip (0 if none); capture fraction
    of the LAST layer at its first sub-pixel.
    """
    factor = torch.ones_like(geo["omega"][0, 0])
    if not sampling.oversample_omega:
        factor = factor * geo["omega"][0, 0]
    if not sampling.oversample_thick:
        factor = factor * geo["capture_fraction"][-1, 0]
    if not sampling.oversample_polar and not sampling.nopolar:
        n_pix = polar.shape[-1]
        flat_polar = polar.reshape(-1, n_pix)
        if skipped is None:
            factor = factor * flat_polar[0]
        else:
            kept = ~skipped.reshape(-1, n_pix)
            first = torch.argmax(kept.to(torch.int8), dim=0, keepdim=True)
            chosen = torch.gather(flat_polar, 0, first)[0]
            factor = factor * torch.where(kept.any(0), chosen, torch.zeros_like(chosen))
    return factor


def _pixel_first_taps(geo, scattering, stol, skipped, polar, hkl64, hkl0, F_cell, F_latt,
                      axes) -> dict:
    """Intermediates rearranged for diagnostics: pixel axis first, vectors stacked last."""
    def first(t):
        return t.movedim(-1, 0)

    def vector(components):
        return torch.stack([first(c) for c in components], -1)

    taps = {
        "Fdet": first(geo["Fdet"]), "Sdet": first(geo["Sdet"]),
        "position": vector(geo["position"]), "airpath": first(geo["airpath"]),
        "diffracted": vector(geo["diffracted"]), "omega": first(geo["omega"]),
        "capture_fraction": first(geo["capture_fraction"]),
        "scattering": vector(scattering), "stol": first(stol),
        "dmin_skipped": None if skipped is None else first(skipped), "polar": first(polar),
        "hkl": vector(hkl64), "hkl0": vector(hkl0),
        "F_cell": first(F_cell.expand(F_latt.shape)), "F_latt": first(F_latt),
    }
    if axes is not None:
        ones = torch.ones_like(F_latt)
        taps["F_latt_axes"] = vector([ones if a is None else a for a in axes])
    return taps
