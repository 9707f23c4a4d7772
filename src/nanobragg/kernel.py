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
transform, structure factors and sums (the bulk of the work) run in ``inp.dtype``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .models.rotations import rotate_axis
from .physics.lattice import LatticeParams, lattice_shape
from .physics.polarization import polarization_factor
from .physics.structure_factors import FTable, interpolation_out_of_range, nearest_F, tricubic_F


@dataclass(frozen=True)
class KernelInputs:
    """Everything the kernel needs, as tensors on one device.

    Geometry tensors (detector, sources, crystal rows) are float64; the F table,
    background and scale are in the working ``dtype``.

    Attributes:
        fdet, sdet, odet, pix0, beam: detector frame (unit vectors; pix0 in m), (3,) each.
        pixel_size: pixel edge (m); close_distance, distance: (m), scalar tensors.
        oversample: sub-pixels per pixel edge.
        layer_offsets: sensor layer depths (m), (T,); thickstep (m), mu (1/m), thick (bool).
        curved, point_pixel: geometry options.
        incident: unit incident directions, (S, 3); wavelength: (m), (S,).
        polar_vector: (3,); kahn: scalar; nopolar: bool.
        real_rows: crystal rows a, b, c (m) per phi step and domain, (F, M, 3, 3).
        recip_rows: a*, b*, c* (1/A) without rotation, (3, 3); N: (3,); shape; fudge.
        table: structure factors; interpolate: tricubic interpolation on.
        oversample_thick, oversample_polar, oversample_omega: running-product factors.
        dmin: resolution cut-off (m), 0 = off; water: a water background is present.
        background: the C's I_bg; scale: r_e^2 * fluence / steps.
        dtype: working precision of the per-evaluation work.
        c_formula: float64 lattice values by the C's direct formula (bit parity).
        subpixels: (first, stop) range of the flattened sub-pixels to evaluate (None: all).
        first_layer: index of the first of ``layer_offsets`` among all sensor layers.
    """

    fdet: torch.Tensor
    sdet: torch.Tensor
    odet: torch.Tensor
    pix0: torch.Tensor
    beam: torch.Tensor
    pixel_size: torch.Tensor
    close_distance: torch.Tensor
    distance: torch.Tensor
    oversample: int
    layer_offsets: torch.Tensor
    thickstep: float
    mu: float
    thick: bool
    curved: bool
    point_pixel: bool
    incident: torch.Tensor
    wavelength: torch.Tensor
    polar_vector: torch.Tensor
    kahn: torch.Tensor
    nopolar: bool
    real_rows: torch.Tensor
    recip_rows: torch.Tensor
    N: torch.Tensor
    shape: str
    fudge: torch.Tensor
    table: FTable
    interpolate: bool
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    dmin: float
    water: bool
    background: torch.Tensor
    scale: torch.Tensor
    dtype: torch.dtype = torch.float64
    c_formula: bool = False
    subpixels: tuple[int, int] | None = None
    first_layer: int = 0

    @property
    def subpixel_count(self) -> int:
        """O: sub-pixels evaluated per pixel."""
        if self.subpixels is None:
            return self.oversample**2
        return self.subpixels[1] - self.subpixels[0]

    @property
    def evaluations_per_pixel(self) -> int:
        """T * O * S * F * M."""
        return (self.layer_offsets.shape[0] * self.subpixel_count * self.incident.shape[0]
                * self.real_rows.shape[0] * self.real_rows.shape[1])


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


def render_pixels(inp: KernelInputs, spixel: torch.Tensor, fpixel: torch.Tensor,
                  want_taps: bool = False, final: bool = True) -> KernelOutput:
    """Photons in each pixel of a chunk.

    Args:
        inp: kernel inputs.
        spixel, fpixel: slow and fast pixel indices, shape (P,) (integer tensors).
        want_taps: also return the named intermediates of every evaluation.
        final: apply scale and the once-per-pixel factors; with False the intensity is
            the running sum ``I`` and the taps hold ``geometry``, ``polar``, ``skipped``
            (for callers that split a pixel's sub-steps).

    Returns:
        The intensities and, if asked, the intermediates.
    """
    geo = subpixel_geometry(inp, spixel, fpixel)
    diffracted = tuple(d[:, :, None, :] for d in geo["diffracted"])  # (T, O, 1, P)
    scattering = tuple((d - inp.incident[:, c, None]) / inp.wavelength[:, None]
                       for c, d in enumerate(diffracted))  # (T, O, S, P) in 1/m
    stol = 0.5 * torch.sqrt(sum(q * q for q in scattering))
    skipped = dmin_skip(stol, inp.dmin)
    polar = polarization_factor(inp.incident, diffracted, inp.polar_vector,
                                inp.kahn).to(inp.dtype)
    hkl64 = miller_indices(scattering, inp.real_rows)  # (T, O, S, F, M, P) each
    shape = lattice_shape(inp.shape)
    need_rounded = want_taps or inp.table.loaded or shape.needs_nearest
    hkl0 = tuple(torch.ceil(h - 0.5) for h in hkl64) if need_rounded else None
    F_latt, axes = lattice_factor(inp, hkl64, hkl0)
    skip_eval = None
    if skipped is not None:
        skip_eval = skipped[:, :, :, None, None, :].expand(hkl64[0].shape)
    F_cell, failed = cell_factor(inp, hkl64, hkl0, _reached(inp, F_latt, skip_eval))
    terms = (F_cell * F_cell) * (F_latt * F_latt)
    if skip_eval is not None:
        terms = torch.where(skip_eval, 0.0, terms)
    accumulated = accumulate(inp, terms, skip_eval, F_latt, geo, polar)
    if not final:
        return KernelOutput(accumulated, failed,
                            {"geometry": geo, "polar": polar, "skipped": skipped})
    intensity = inp.scale * accumulated * final_factors(inp, geo, polar, skipped)
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


def subpixel_geometry(inp: KernelInputs, spixel: torch.Tensor,
                      fpixel: torch.Tensor) -> dict:
    """Sub-pixel positions and the per-sub-pixel factors (pixel axis last).

    Returns:
        Dict with ``Fdet``, ``Sdet`` (m, (O, P)); ``position`` and ``diffracted`` as
        component tuples of (T, O, P) and ``airpath`` (m, (T, O, P)), all float64; and
        ``omega`` (sr) and ``capture_fraction`` (T, O, P) in the working dtype.
    """
    os_ = inp.oversample
    sub = inp.pixel_size / os_
    k = torch.arange(os_, device=spixel.device)
    sub_s, sub_f = k.repeat_interleave(os_), k.repeat(os_)
    if inp.subpixels is not None:
        sub_s, sub_f = sub_s[slice(*inp.subpixels)], sub_f[slice(*inp.subpixels)]
    dtype = inp.pix0.dtype
    fdet = sub * (fpixel[None, :] * os_ + sub_f[:, None]).to(dtype) + sub / 2.0  # (O, P)
    sdet = sub * (spixel[None, :] * os_ + sub_s[:, None]).to(dtype) + sub / 2.0
    layers = inp.layer_offsets[:, None, None]
    pos = tuple(fdet[None] * inp.fdet[c] + sdet[None] * inp.sdet[c] + layers * inp.odet[c]
                + inp.pix0[c] for c in range(3))  # (T, O, P) each
    if inp.curved:
        pos = curve_positions(inp, pos)
    airpath = torch.sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2])
    diffracted = tuple(p / airpath for p in pos)
    if inp.point_pixel:
        omega = 1.0 / airpath / airpath
    else:
        omega = inp.pixel_size * inp.pixel_size / airpath / airpath * inp.close_distance / airpath
    return {
        "Fdet": fdet, "Sdet": sdet, "position": pos, "airpath": airpath,
        "diffracted": diffracted, "omega": omega.to(inp.dtype),
        "capture_fraction": capture_fraction(inp, diffracted).to(inp.dtype),
    }


def curve_positions(inp: KernelInputs, pos: tuple) -> tuple:
    """Move flat-detector positions onto a sphere of radius ``distance``, as the C does.

    The point ``distance*beam`` is rotated about sdet by (lab y)/distance and then about
    fdet by (lab z)/distance of the flat position.
    """
    flat = torch.stack(pos, -1)
    start = (inp.distance * inp.beam).expand_as(flat)
    turned = rotate_axis(start, inp.sdet, pos[1] / inp.distance)
    return tuple(rotate_axis(turned, inp.fdet, pos[2] / inp.distance).unbind(-1))


def capture_fraction(inp: KernelInputs, diffracted: tuple) -> torch.Tensor:
    """Fraction of photons absorbed in each sensor layer, shape (T, O, P).

    1 without a sensor, except with ``-oversample_thick``: the C then evaluates the formula
    anyway, with a zero layer step, which gives 0 (and a blank image). Kept deliberately.
    """
    if not inp.thick and not inp.oversample_thick:
        return torch.ones_like(diffracted[0])
    parallax = (diffracted[0] * inp.odet[0] + diffracted[1] * inp.odet[1]
                + diffracted[2] * inp.odet[2])
    index = torch.arange(inp.first_layer, inp.first_layer + parallax.shape[0],
                         dtype=parallax.dtype, device=parallax.device)[:, None, None]
    depth = inp.thickstep * inp.mu
    return torch.exp(-index * depth / parallax) - torch.exp(-(index + 1) * depth / parallax)


def dmin_skip(stol: torch.Tensor, dmin: float) -> torch.Tensor | None:
    """True where the C skips a source for being beyond the resolution limit (None: off)."""
    if dmin <= 0:
        return None
    safe = torch.where(stol > 0, stol, torch.ones_like(stol))
    return (stol > 0) & (dmin > 0.5 / safe)


def lattice_factor(inp: KernelInputs, hkl: tuple, hkl0: tuple | None):
    """F_latt for every evaluation and, for a per-axis shape, the per-axis factors.

    Args:
        inp: kernel inputs.
        hkl: fractional indices ``(h, k, l)`` in float64 (reduced to offsets from the
            nearest integers before the working dtype takes over).
        hkl0: nearest integers ``ceil(h - 0.5)`` decided in float64 (needed when the
            shape's ``needs_nearest``).

    Returns:
        F_latt, and for a per-axis shape the list of three per-axis factors (None for an
        axis with N <= 1), else None.
    """
    params = LatticeParams(inp.N, inp.fudge, inp.recip_rows, inp.dtype, inp.c_formula)
    return lattice_shape(inp.shape).factor(hkl, hkl0, params)


def _reached(inp: KernelInputs, F_latt: torch.Tensor,
             skip_eval: torch.Tensor | None) -> torch.Tensor | None:
    """Evaluations that get as far as the C's F_cell look-up (None: all of them).

    The C passes over an evaluation beyond ``dmin`` and one with ``F_latt == 0`` (no
    water) before it looks at F_cell, so those never test the interpolation range.
    """
    if not inp.interpolate:
        return None
    reached = (F_latt != 0) if not inp.water else torch.ones_like(F_latt, dtype=torch.bool)
    return reached if skip_eval is None else reached & ~skip_eval


def cell_factor(inp: KernelInputs, hkl: tuple, hkl0: tuple | None,
                reached: torch.Tensor | None = None):
    """F_cell for every evaluation and whether tricubic interpolation had to stop.

    Interpolation follows the C: the first evaluation (in the C's pixel-major loop
    order) whose neighbourhood leaves the grid, and every later one, uses the nearest
    reflection instead. Only evaluations in ``reached`` take part in that test.

    Args:
        inp: kernel inputs.
        hkl: fractional indices (float64) ``(h, k, l)``, each (T, O, S, F, M, P).
        hkl0: nearest integers, same layout.
        reached: evaluations the C gets to F_cell for (bool, same layout), None = all.

    Returns:
        F_cell in the working dtype (a scalar tensor when no table is loaded), and per pixel
        (P,) whether interpolation left the grid (None without interpolation).
    """
    if not inp.table.loaded:
        return torch.tensor(inp.table.default_F, dtype=inp.dtype, device=hkl[0].device), None
    nearest = nearest_F(inp.table, hkl0)
    if not inp.interpolate:
        return nearest, None
    outside = interpolation_out_of_range(inp.table, hkl)
    if reached is not None:
        outside = outside & reached
    in_c_order = outside.movedim(-1, 0)
    still_on = torch.cumsum(in_c_order.reshape(-1).to(torch.int32), 0) == 0
    still_on = still_on.reshape(in_c_order.shape).movedim(0, -1)
    interpolated = tricubic_F(inp.table, hkl).to(inp.dtype)
    failed_pixels = outside.reshape(-1, outside.shape[-1]).any(0)
    return torch.where(still_on, interpolated, nearest), failed_pixels


def accumulate(inp: KernelInputs, terms, skip_eval, F_latt, geo, polar) -> torch.Tensor:
    """The C's per-pixel running sum ``I`` (starting at the background), shape (P,).

    Without ``-oversample_*`` flags it is the plain sum. With them the C multiplies the
    whole running sum by the factor after every addition; that is
    ``I_bg * prod(f) + sum_j t_j * prod_{i >= j} f_i`` over the evaluations in loop order,
    with f = 1 for evaluations the C skips.
    """
    n_pix = terms.shape[-1]
    flat = terms.reshape(-1, n_pix)
    if not (inp.oversample_thick or inp.oversample_polar or inp.oversample_omega):
        # a running sum in loop order (as the C's I += ...): the same bits for a pixel
        # alone or inside any chunk, unlike .sum(0)
        return inp.background + torch.cumsum(flat, 0)[-1]
    factor = torch.ones_like(terms)
    if inp.oversample_thick:
        factor = factor * geo["capture_fraction"][:, :, None, None, None, :]
    if inp.oversample_polar:
        factor = factor * polar[:, :, :, None, None, :]
    if inp.oversample_omega:
        factor = factor * geo["omega"][:, :, None, None, None, :]
    passed_over = (F_latt == 0) & (not inp.water)
    if skip_eval is not None:
        passed_over = passed_over | skip_eval
    factor = torch.where(passed_over, 1.0, factor).reshape(-1, n_pix)
    suffix = torch.flip(torch.cumprod(torch.flip(factor, [0]), 0), [0])
    # a zero term stays zero even where the product overflowed (the C adds 0 before
    # multiplying, so it reaches inf, never 0 * inf = NaN)
    weighted = torch.where(flat == 0, 0.0, flat * suffix)
    start = torch.where(inp.background == 0, 0.0, inp.background * suffix[0])
    return start + torch.cumsum(weighted, 0)[-1]


def final_factors(inp: KernelInputs, geo, polar, skipped) -> torch.Tensor:
    """Factors applied once per pixel when not oversampled, shape (P,).

    Solid angle at the first sub-pixel of the first layer; polarization at the first
    sub-pixel and source the resolution cut did not skip (0 if none); capture fraction
    of the LAST layer at its first sub-pixel.
    """
    factor = torch.ones_like(geo["omega"][0, 0])
    if not inp.oversample_omega:
        factor = factor * geo["omega"][0, 0]
    if not inp.oversample_thick:
        factor = factor * geo["capture_fraction"][-1, 0]
    if not inp.oversample_polar and not inp.nopolar:
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
