"""The fused adjoint on the GPU: the C adjoint's one-pass backward as a Triton launch.

Given dL/d(photons) per pixel it returns the gradient buffer of ``nb_adjoint`` (the same
layout, so :func:`nanobragg.native.adjoint._unpack` reads it), for every render of the
forward kernel: one pass per pixel without ``-oversample_*`` running products
(:func:`adjoint_kernel`), a forward and a reverse pass with them (:func:`running_kernel`,
with a scratch of the running sums per program). One program takes :data:`BLOCK` pixels and adds its
sums into its own row of a partial buffer; the rows are added by torch in program
order (the same sum for any launch). Only the F table's gradient and, for stacked
panels, the panel entries are added by atomics from the lanes of a program, whose
order the GPU does not fix (the last bits of those may differ between runs).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..models.setup import Setup
from . import abi
from .triton_kernel import BLOCK, COUNTS, _launch_args, find_stop, pixel_indices, reals, source
from .triton_math import (
    clamped,
    geo_at,
    lagrange,
    lattice_grad,
    miller,
    nearest_index,
    panel_value,
    rotate,
    rotate_grad,
    row9,
    tricubic_grad,
)

#: The kernels add to the globals of the gradient buffer (abi.GRADIENT_GLOBALS) at
#: literal offsets: scale 0, background 1, kahn 2, N 3-5, fudge 6, recip 7-15, depth 16,
#: distance 17, beam 18-20.
#: At most this many doubles of partial rows per launch (a longer list is split).
PARTIAL_DOUBLES = 2**25


@triton.jit
def _add(ptr, value):
    """Adds the sum over the lanes of value at ptr (one scalar atomic)."""
    tl.atomic_add(ptr, tl.sum(value, 0))


@triton.jit
def _add_panel(part, panel, c: tl.constexpr, value, live, ONE_PANEL: tl.constexpr):
    """Adds each lane's value to entry c of its panel."""
    if ONE_PANEL:
        _add(part + c, value)
    else:
        tl.atomic_add(part + panel * 14 + c, value, mask=live)


@triton.jit
def geo_grad(part, glob, layers_off, panels_ptr, panel, live, t, layer, fd, sd, cf, cs, fx, fy, fz,
             dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz, g_omega,
             g_capture, depth, distance, beam_ptr, POINT: tl.constexpr,
             CURVED: tl.constexpr, CAPTURE: tl.constexpr, ONE_PANEL: tl.constexpr,
             LANE_T: tl.constexpr):
    """Adds the gradient of a sub-pixel's direction (gd), solid angle and capture to the
    panel entries, layer t and the globals (as nb_geo_grad; glob and layers_off: where
    the globals (depth 16, distance 17, beam 18-20) and the layers start in the row);
    LANE_T: t differs per lane."""
    size = panel_value(panels_ptr, panel, 12)
    close = panel_value(panels_ptr, panel, 13)
    a3 = air * air * air
    if POINT:
        g_air = g_omega * -2.0 / a3
    else:
        g_air = g_omega * -3.0 * omega / air
        _add_panel(part, panel, 12, g_omega * 2.0 * size * close / a3, live, ONE_PANEL)
        _add_panel(part, panel, 13, g_omega * size * size / a3, live, ONE_PANEL)
    ox = panel_value(panels_ptr, panel, 6)
    oy = panel_value(panels_ptr, panel, 7)
    oz = panel_value(panels_ptr, panel, 8)
    g_ox = tl.zeros(dx.shape, tl.float64)
    g_oy = tl.zeros(dx.shape, tl.float64)
    g_oz = tl.zeros(dx.shape, tl.float64)
    if CAPTURE:
        g_par = g_capture * (e1 * index * depth - e2 * (index + 1.0) * depth) \
            / (parallax * parallax)
        _add(part + glob + 16, g_capture * (-e1 * index + e2 * (index + 1.0)) / parallax)
        gdx = gdx + g_par * ox
        gdy = gdy + g_par * oy
        gdz = gdz + g_par * oz
        g_ox = g_par * dx
        g_oy = g_par * dy
        g_oz = g_par * dz
    dot = gdx * dx + gdy * dy + gdz * dz
    gpx = (gdx - dot * dx) / air + g_air * dx
    gpy = (gdy - dot * dy) / air + g_air * dy
    gpz = (gdz - dot * dz) / air + g_air * dz
    gfx = gpx
    gfy = gpy
    gfz = gpz
    g_fdet_x = tl.zeros(dx.shape, tl.float64)
    g_fdet_y = tl.zeros(dx.shape, tl.float64)
    g_fdet_z = tl.zeros(dx.shape, tl.float64)
    g_sdet_x = tl.zeros(dx.shape, tl.float64)
    g_sdet_y = tl.zeros(dx.shape, tl.float64)
    g_sdet_z = tl.zeros(dx.shape, tl.float64)
    if CURVED:
        fdx = panel_value(panels_ptr, panel, 0)
        fdy = panel_value(panels_ptr, panel, 1)
        fdz = panel_value(panels_ptr, panel, 2)
        sdx = panel_value(panels_ptr, panel, 3)
        sdy = panel_value(panels_ptr, panel, 4)
        sdz = panel_value(panels_ptr, panel, 5)
        bx = tl.load(beam_ptr)
        by = tl.load(beam_ptr + 1)
        bz = tl.load(beam_ptr + 2)
        tx, ty, tz = rotate(sdx, sdy, sdz, bx * distance, by * distance, bz * distance,
                             fy / distance)
        gtx, gty, gtz, g_fdet_x, g_fdet_y, g_fdet_z, g2 = rotate_grad(
            fdx, fdy, fdz, tx, ty, tz, fz / distance, gpx, gpy, gpz)
        gsx, gsy, gsz, g_sdet_x, g_sdet_y, g_sdet_z, g1 = rotate_grad(
            sdx, sdy, sdz, bx * distance, by * distance, bz * distance, fy / distance,
            gtx, gty, gtz)
        gfx = tl.zeros(dx.shape, tl.float64)
        gfy = g1 / distance
        gfz = g2 / distance
        g_dist = -(g1 * fy + g2 * fz) / (distance * distance) + gsx * bx + gsy * by + gsz * bz
        _add(part + glob + 17, g_dist)
        _add(part + glob + 18, gsx * distance)
        _add(part + glob + 19, gsy * distance)
        _add(part + glob + 20, gsz * distance)
    fdx = panel_value(panels_ptr, panel, 0)
    fdy = panel_value(panels_ptr, panel, 1)
    fdz = panel_value(panels_ptr, panel, 2)
    sdx = panel_value(panels_ptr, panel, 3)
    sdy = panel_value(panels_ptr, panel, 4)
    sdz = panel_value(panels_ptr, panel, 5)
    size_g = gfx * (cf * fdx + cs * sdx) + gfy * (cf * fdy + cs * sdy) + gfz * (cf * fdz + cs * sdz)
    _add_panel(part, panel, 0, gfx * fd + g_fdet_x, live, ONE_PANEL)
    _add_panel(part, panel, 1, gfy * fd + g_fdet_y, live, ONE_PANEL)
    _add_panel(part, panel, 2, gfz * fd + g_fdet_z, live, ONE_PANEL)
    _add_panel(part, panel, 3, gfx * sd + g_sdet_x, live, ONE_PANEL)
    _add_panel(part, panel, 4, gfy * sd + g_sdet_y, live, ONE_PANEL)
    _add_panel(part, panel, 5, gfz * sd + g_sdet_z, live, ONE_PANEL)
    _add_panel(part, panel, 6, gfx * layer + g_ox, live, ONE_PANEL)
    _add_panel(part, panel, 7, gfy * layer + g_oy, live, ONE_PANEL)
    _add_panel(part, panel, 8, gfz * layer + g_oz, live, ONE_PANEL)
    _add_panel(part, panel, 9, gfx, live, ONE_PANEL)
    _add_panel(part, panel, 10, gfy, live, ONE_PANEL)
    _add_panel(part, panel, 11, gfz, live, ONE_PANEL)
    _add_panel(part, panel, 12, size_g, live, ONE_PANEL)
    g_layer = gfx * ox + gfy * oy + gfz * oz
    if LANE_T:
        tl.atomic_add(part + layers_off + t, g_layer, mask=live)
    else:
        _add(part + layers_off + t, g_layer)


@triton.jit
def tricubic_table_grad(gtable_ptr, h, k, l, g_fc, mask, mins_ptr, ranges_ptr):
    """Adds g_fc times each neighbour's weight to the table's gradient (lanes in mask)."""
    kr = tl.load(ranges_ptr + 1)
    lr = tl.load(ranges_ptr + 2)
    for i in tl.static_range(4):
        wi, _ = lagrange(h, i)
        ai = clamped(h, i, tl.load(mins_ptr), tl.load(ranges_ptr))
        for j in tl.static_range(4):
            wj, _ = lagrange(k, j)
            aj = clamped(k, j, tl.load(mins_ptr + 1), kr)
            for m in tl.static_range(4):
                wm, _ = lagrange(l, m)
                am = clamped(l, m, tl.load(mins_ptr + 2), lr)
                tl.atomic_add(gtable_ptr + (ai * kr + aj) * lr + am, g_fc * (wi * wj * wm),
                              mask=mask)


@triton.jit
def evaluation(part, gtable_ptr, rows_ptr, o, sx, sy, sz, keep, gt, interp, live, table_ptr,
               recip_ptr, mins_ptr, ranges_ptr, n0, n1, n2, fudge, default_F, glob, rows_off,
               SHAPE: tl.constexpr, LOOKUP: tl.constexpr, WITH_TABLE: tl.constexpr):
    """One orientation's evaluation per lane: its term and F_latt, and (cotangent gt per
    lane) its gradient added to the row, N, fudge, reciprocal rows and table entries;
    returns (term, latt, dL/dS x, y, z) (as nb_eval_grad)."""
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = row9(rows_ptr + 9 * o)
    h, k, l = miller(rows_ptr, o, sx, sy, sz)
    latt, lh, lk, ll, ln0, ln1, ln2, lf, w, q0, q1, q2, ee0, ee1, ee2 = \
        lattice_grad(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE)
    zero = tl.zeros(h.shape, tl.float64)
    fh = zero
    fk = zero
    fl = zero
    at = tl.full(h.shape, -1, tl.int64)
    if LOOKUP == 0:
        fc = zero + default_F
    else:
        at = nearest_index(h, k, l, mins_ptr, ranges_ptr)
        fc = tl.where(at >= 0, tl.load(table_ptr + tl.maximum(at, 0)), default_F)
        if LOOKUP == 2:
            value, th, tk, tm = tricubic_grad(h, k, l, table_ptr, mins_ptr, ranges_ptr)
            fc = tl.where(interp, value, fc)
            fh = tl.where(interp, th, 0.0)
            fk = tl.where(interp, tk, 0.0)
            fl = tl.where(interp, tm, 0.0)
    term = tl.where(keep, (fc * fc) * (latt * latt), 0.0)
    g_latt = gt * fc * fc * 2.0 * latt
    g_fc = gt * latt * latt * 2.0 * fc
    gh = g_latt * lh + g_fc * fh
    gk = g_latt * lk + g_fc * fk
    gl = g_latt * ll + g_fc * fl
    row = part + rows_off + 9 * o
    _add(row, gh * sx)
    _add(row + 1, gh * sy)
    _add(row + 2, gh * sz)
    _add(row + 3, gk * sx)
    _add(row + 4, gk * sy)
    _add(row + 5, gk * sz)
    _add(row + 6, gl * sx)
    _add(row + 7, gl * sy)
    _add(row + 8, gl * sz)
    _add(part + glob + 3, g_latt * ln0)
    _add(part + glob + 4, g_latt * ln1)
    _add(part + glob + 5, g_latt * ln2)
    if SHAPE == 1 or SHAPE == 2 or SHAPE == 5:
        _add(part + glob + 6, g_latt * lf)
    if SHAPE == 2:
        gw = g_latt * w
        _add(part + glob + 7, gw * q0 * ee0)
        _add(part + glob + 8, gw * q1 * ee0)
        _add(part + glob + 9, gw * q2 * ee0)
        _add(part + glob + 10, gw * q0 * ee1)
        _add(part + glob + 11, gw * q1 * ee1)
        _add(part + glob + 12, gw * q2 * ee1)
        _add(part + glob + 13, gw * q0 * ee2)
        _add(part + glob + 14, gw * q1 * ee2)
        _add(part + glob + 15, gw * q2 * ee2)
    if WITH_TABLE:
        if LOOKUP == 1:
            tl.atomic_add(gtable_ptr + tl.maximum(at, 0), g_fc, mask=live & (at >= 0))
        if LOOKUP == 2:
            tl.atomic_add(gtable_ptr + tl.maximum(at, 0), g_fc,
                          mask=live & (at >= 0) & ~interp)
            tricubic_table_grad(gtable_ptr, h, k, l, g_fc, live & interp, mins_ptr, ranges_ptr)
    return (term, latt, gh * r0 + gk * r3 + gl * r6, gh * r1 + gk * r4 + gl * r7,
            gh * r2 + gk * r5 + gl * r8)


@triton.jit
def scatter_grad(part, inc_off, wl_off, wl_ptr, s, sx, sy, sz, gsx, gsy, gsz):
    """Adds dL/dS of source s to its incident direction and wavelength; returns dL/dd."""
    wl = tl.load(wl_ptr + s)
    _add(part + inc_off + 3 * s, -gsx / wl)
    _add(part + inc_off + 3 * s + 1, -gsy / wl)
    _add(part + inc_off + 3 * s + 2, -gsz / wl)
    _add(part + wl_off + s, -(gsx * sx + gsy * sy + gsz * sz) / wl)
    return gsx / wl, gsy / wl, gsz / wl


@triton.jit
def polar_grad(part, glob, inc_off, e_off, b_off, inc_ptr, e_ptr, b_ptr, s, dx, dy, dz, gp,
               found, kahn, LANE_S: tl.constexpr):
    """dL/dpolar = gp of source s (per lane when LANE_S) at direction d: adds to the Kahn
    factor and the source vectors, returns dL/dd (as nb_polar_grad)."""
    ix = tl.load(inc_ptr + 3 * s)
    iy = tl.load(inc_ptr + 3 * s + 1)
    iz = tl.load(inc_ptr + 3 * s + 2)
    ex = tl.load(e_ptr + 3 * s)
    ey = tl.load(e_ptr + 3 * s + 1)
    ez = tl.load(e_ptr + 3 * s + 2)
    bx = tl.load(b_ptr + 3 * s)
    by = tl.load(b_ptr + 3 * s + 1)
    bz = tl.load(b_ptr + 3 * s + 2)
    c2t = ix * dx + iy * dy + iz * dz
    eo = ex * dx + ey * dy + ez * dz
    bo = bx * dx + by * dy + bz * dz
    _add(part + glob + 2, gp * -0.5 * (eo * eo - bo * bo))
    if LANE_S:
        tl.atomic_add(part + inc_off + 3 * s, gp * c2t * dx, mask=found)
        tl.atomic_add(part + inc_off + 3 * s + 1, gp * c2t * dy, mask=found)
        tl.atomic_add(part + inc_off + 3 * s + 2, gp * c2t * dz, mask=found)
        tl.atomic_add(part + e_off + 3 * s, gp * -kahn * eo * dx, mask=found)
        tl.atomic_add(part + e_off + 3 * s + 1, gp * -kahn * eo * dy, mask=found)
        tl.atomic_add(part + e_off + 3 * s + 2, gp * -kahn * eo * dz, mask=found)
        tl.atomic_add(part + b_off + 3 * s, gp * kahn * bo * dx, mask=found)
        tl.atomic_add(part + b_off + 3 * s + 1, gp * kahn * bo * dy, mask=found)
        tl.atomic_add(part + b_off + 3 * s + 2, gp * kahn * bo * dz, mask=found)
    else:
        _add(part + inc_off + 3 * s, gp * c2t * dx)
        _add(part + inc_off + 3 * s + 1, gp * c2t * dy)
        _add(part + inc_off + 3 * s + 2, gp * c2t * dz)
        _add(part + e_off + 3 * s, gp * -kahn * eo * dx)
        _add(part + e_off + 3 * s + 1, gp * -kahn * eo * dy)
        _add(part + e_off + 3 * s + 2, gp * -kahn * eo * dz)
        _add(part + b_off + 3 * s, gp * kahn * bo * dx)
        _add(part + b_off + 3 * s + 1, gp * kahn * bo * dy)
        _add(part + b_off + 3 * s + 2, gp * kahn * bo * dz)
    return (gp * (c2t * ix - kahn * (eo * ex - bo * bx)),
            gp * (c2t * iy - kahn * (eo * ey - bo * by)),
            gp * (c2t * iz - kahn * (eo * ez - bo * bz)))


@triton.jit
def final_grads(part, glob, layers_off, inc_off, e_off, b_off, panels_ptr, layers_ptr,
                inc_ptr, e_ptr, b_ptr, beam_ptr, panel, live, ps, pf, g_factor, omega0,
                capture_last, polar0, psub, psrc, oversample, n_layers, first_layer, kahn,
                depth, distance, POINT: tl.constexpr, CURVED: tl.constexpr,
                CAPTURE: tl.constexpr, NOPOLAR: tl.constexpr, ONE_PANEL: tl.constexpr,
                OVER_THICK: tl.constexpr, OVER_POLAR: tl.constexpr,
                OVER_OMEGA: tl.constexpr):
    """The gradient of the once-per-pixel factor (g_factor = dL/dfactor): the solid angle
    at (0, 0), the last layer's capture at its first sub-pixel and the polarization at
    the first kept evaluation, each unless a running product takes it (nb_final_grad)."""
    zero = tl.zeros(g_factor.shape, tl.float64)
    if OVER_OMEGA:
        a = zero + 1.0
    else:
        a = omega0
    if OVER_THICK:
        b = zero + 1.0
    else:
        b = capture_last
    if OVER_POLAR or NOPOLAR:
        c = zero + 1.0
    else:
        c = polar0
    subs = oversample * oversample
    last = n_layers - 1
    if not OVER_OMEGA:
        fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, index = \
            geo_at(panels_ptr, panel, ps, pf, 0, tl.load(layers_ptr), 0.0, 0.0, oversample,
                   first_layer, depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
        geo_grad(part, glob, layers_off, panels_ptr, panel, live, 0, tl.load(layers_ptr), fd,
                 sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, zero,
                 zero, zero, g_factor * b * c, zero, depth, distance, beam_ptr, POINT, CURVED,
                 CAPTURE, ONE_PANEL, False)
    if CAPTURE and not OVER_THICK:
        fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
            index = geo_at(panels_ptr, panel, ps, pf, last, tl.load(layers_ptr + last), 0.0,
                           0.0, oversample, first_layer, depth, distance, beam_ptr, POINT,
                           CURVED, CAPTURE)
        geo_grad(part, glob, layers_off, panels_ptr, panel, live, last,
                 tl.load(layers_ptr + last), fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega,
                 parallax, e1, e2, index, zero, zero, zero, zero, g_factor * a * c, depth,
                 distance, beam_ptr, POINT, CURVED, CAPTURE, ONE_PANEL, False)
    if not OVER_POLAR and not NOPOLAR:
        found = live & (psub >= 0)
        tp = tl.maximum(psub, 0) // subs
        sp = tl.maximum(psub, 0) % subs
        layer = tl.load(layers_ptr + tp)
        fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
            index = geo_at(panels_ptr, panel, ps, pf, tp, layer,
                           (sp // oversample).to(tl.float64), (sp % oversample).to(tl.float64),
                           oversample, first_layer, depth, distance, beam_ptr, POINT, CURVED,
                           CAPTURE)
        gp = tl.where(found, g_factor * a * b, 0.0)
        gdx, gdy, gdz = polar_grad(part, glob, inc_off, e_off, b_off, inc_ptr, e_ptr, b_ptr,
                                   tl.maximum(psrc, 0), dx, dy, dz, gp, found, kahn, True)
        geo_grad(part, glob, layers_off, panels_ptr, panel, found, tp, layer, fd, sd, cf, cs,
                 fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz,
                 zero, zero, depth, distance, beam_ptr, POINT, CURVED, CAPTURE, ONE_PANEL, True)


@triton.jit
def first_factors(panels_ptr, layers_ptr, beam_ptr, panel, ps, pf, oversample, n_layers,
                  first_layer, depth, distance, POINT: tl.constexpr, CURVED: tl.constexpr,
                  CAPTURE: tl.constexpr):
    """The solid angle at (0, 0) and the last layer's capture at its first sub-pixel."""
    _, _, _, _, _, _, _, _, _, _, _, omega, _, _, _, _, _ = geo_at(
        panels_ptr, panel, ps, pf, 0, tl.load(layers_ptr), 0.0, 0.0, oversample, first_layer,
        depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
    last = n_layers - 1
    _, _, _, _, _, _, _, _, _, _, _, _, capture, _, _, _, _ = geo_at(
        panels_ptr, panel, ps, pf, last, tl.load(layers_ptr + last), 0.0, 0.0, oversample,
        first_layer, depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
    return omega, capture


@triton.jit(do_not_specialize=COUNTS)
def adjoint_kernel(part_ptr, gtable_ptr, g_ptr, pixels_ptr, first, n, fpixels, frame,
                   panels_ptr, layers_ptr, inc_ptr, wl_ptr, e_ptr, b_ptr, rows_ptr, table_ptr,
                   recip_ptr, beam_ptr, mins_ptr, ranges_ptr, reals_ptr, stop_ptr, oversample,
                   n_layers, n_sources, n_orient, first_layer, width, glob, layers_off,
                   inc_off, wl_off, e_off, b_off, rows_off, SHAPE: tl.constexpr,
                   LOOKUP: tl.constexpr, LISTED: tl.constexpr, POINT: tl.constexpr,
                   CURVED: tl.constexpr, CAPTURE: tl.constexpr, NOPOLAR: tl.constexpr,
                   ONE_PANEL: tl.constexpr, WITH_TABLE: tl.constexpr, BLOCK: tl.constexpr):
    """dL/d(inputs) of BLOCK pixels per program into the program's row, one pass (as
    nb_pixel_plain: no running products)."""
    kahn, dmin, default_F, background, scale, n0, n1, n2, fudge, depth, distance = \
        reals(reals_ptr)
    position, live, panel, ps, pf = pixel_indices(pixels_ptr, first, n, fpixels, frame,
                                                  LISTED, BLOCK)
    part = part_ptr + tl.program_id(0) * width
    g = tl.load(g_ptr + position - first, mask=live, other=0.0).to(tl.float64)
    limit = _limit(stop_ptr, position)
    subs = oversample * oversample
    zero = tl.zeros((BLOCK,), tl.float64)
    omega0, capture_last = first_factors(panels_ptr, layers_ptr, beam_ptr, panel, ps, pf,
                                         oversample, n_layers, first_layer, depth, distance,
                                         POINT, CURVED, CAPTURE)
    polar0 = zero
    have = tl.zeros((BLOCK,), tl.int1)
    g_term = zero
    acc = zero
    psub = tl.full((BLOCK,), -1, tl.int64)
    psrc = tl.full((BLOCK,), -1, tl.int64)
    for t in range(n_layers):
        layer = tl.load(layers_ptr + t)
        for sub in range(subs):
            fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
                index = geo_at(panels_ptr, panel, ps, pf, t, layer,
                               (sub // oversample).to(tl.float64),
                               (sub % oversample).to(tl.float64), oversample, first_layer,
                               depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
            gdx = zero
            gdy = zero
            gdz = zero
            for s in range(n_sources):
                sx, sy, sz, keep, polar = source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s,
                                                 kahn, dmin)
                take = (~have) & keep
                if NOPOLAR:
                    pv = zero + 1.0
                else:
                    pv = polar
                polar0 = tl.where(take, pv, polar0)
                psub = tl.where(take, t * subs + sub, psub)
                psrc = tl.where(take, s, psrc)
                g_term = tl.where(take, g * scale * omega0 * capture_last * pv, g_term)
                have = have | keep
                gt = tl.where(keep, g_term, 0.0)
                gsx = zero
                gsy = zero
                gsz = zero
                e0 = ((t * subs + sub) * n_sources + s) * n_orient
                for o in range(n_orient):
                    term, latt, ux, uy, uz = evaluation(
                        part, gtable_ptr, rows_ptr, o, sx, sy, sz, keep, gt, (e0 + o) < limit,
                        live, table_ptr, recip_ptr, mins_ptr, ranges_ptr, n0, n1, n2, fudge,
                        default_F, glob, rows_off, SHAPE, LOOKUP, WITH_TABLE)
                    acc += term
                    gsx += ux
                    gsy += uy
                    gsz += uz
                vx, vy, vz = scatter_grad(part, inc_off, wl_off, wl_ptr, s, sx, sy, sz, gsx, gsy,
                                          gsz)
                gdx += vx
                gdy += vy
                gdz += vz
            geo_grad(part, glob, layers_off, panels_ptr, panel, live, t, layer, fd, sd, cf, cs,
                     fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz,
                     zero, zero, depth, distance, beam_ptr, POINT, CURVED, CAPTURE, ONE_PANEL,
                     False)
    polar0 = tl.where(have, polar0, 0.0)
    if NOPOLAR:
        factor = omega0 * capture_last
    else:
        factor = omega0 * capture_last * polar0
    total = background + acc
    _add(part + glob, g * total * factor)
    _add(part + glob + 1, g * scale * factor)
    final_grads(part, glob, layers_off, inc_off, e_off, b_off, panels_ptr, layers_ptr, inc_ptr,
                e_ptr, b_ptr, beam_ptr, panel, live, ps, pf, g * scale * total, omega0,
                capture_last, polar0, psub, psrc, oversample, n_layers, first_layer, kahn,
                depth, distance, POINT, CURVED, CAPTURE, NOPOLAR, ONE_PANEL, False, False,
                False)


@triton.jit
def _limit(stop_ptr, position):
    """Evaluations of each lane's pixel before which tricubic interpolation applies."""
    stop_position = tl.load(stop_ptr)
    stop_eval = tl.load(stop_ptr + 1)
    return tl.where(position < stop_position, 2**62,
                    tl.where(position == stop_position, stop_eval, 0))


@triton.jit
def running_factor(omega, capture, polar, OVER_THICK: tl.constexpr, OVER_POLAR: tl.constexpr,
                   OVER_OMEGA: tl.constexpr):
    """The factor the C multiplies the running sum by after each evaluation."""
    f = tl.zeros(omega.shape, tl.float64) + 1.0
    if OVER_THICK:
        f = f * capture
    if OVER_POLAR:
        f = f * polar
    if OVER_OMEGA:
        f = f * omega
    return f


@triton.jit
def term_value(rows_ptr, o, sx, sy, sz, keep, interp, table_ptr, recip_ptr, mins_ptr,
               ranges_ptr, n0, n1, n2, fudge, default_F, SHAPE: tl.constexpr,
               LOOKUP: tl.constexpr):
    """One orientation's term per lane (0 where the cut drops it) and its F_latt."""
    h, k, l = miller(rows_ptr, o, sx, sy, sz)
    latt, _, _, _, _, _, _, _, _, _, _, _, _, _, _ = lattice_grad(h, k, l, n0, n1, n2, fudge,
                                                                  recip_ptr, SHAPE)
    if LOOKUP == 0:
        fc = tl.zeros(h.shape, tl.float64) + default_F
    else:
        at = nearest_index(h, k, l, mins_ptr, ranges_ptr)
        fc = tl.where(at >= 0, tl.load(table_ptr + tl.maximum(at, 0)), default_F)
        if LOOKUP == 2:
            value, th, tk, tm = tricubic_grad(h, k, l, table_ptr, mins_ptr, ranges_ptr)
            fc = tl.where(interp, value, fc)
    return tl.where(keep, (fc * fc) * (latt * latt), 0.0), latt


@triton.jit
def running_group(inner, rows_ptr, e0, n_orient, x, sx, sy, sz, keep, f, limit, table_ptr,
                  recip_ptr, mins_ptr, ranges_ptr, n0, n1, n2, fudge, default_F,
                  SHAPE: tl.constexpr, LOOKUP: tl.constexpr, WATER: tl.constexpr,
                  BLOCK: tl.constexpr):
    """The evaluations of one (layer, sub-pixel, source) from the running sum x per lane:
    records per orientation in the scratch the sum before, the term and the factor taken
    (-1: passed over), and returns the sum after them."""
    lanes = tl.arange(0, BLOCK)
    for o in range(n_orient):
        term, latt = term_value(rows_ptr, o, sx, sy, sz, keep, (e0 + o) < limit, table_ptr,
                                recip_ptr, mins_ptr, ranges_ptr, n0, n1, n2, fudge, default_F,
                                SHAPE, LOOKUP)
        if WATER:
            passed = ~keep
        else:
            passed = (~keep) | (latt == 0)
        base = inner + (3 * o) * BLOCK + lanes
        tl.store(base, x)
        tl.store(base + BLOCK, term)
        tl.store(base + 2 * BLOCK, tl.where(passed, -1.0, f))
        x = (x + term) * tl.where(passed, 1.0, f)
    return x


@triton.jit(do_not_specialize=COUNTS)
def running_kernel(part_ptr, gtable_ptr, g_ptr, scratch_ptr, pixels_ptr, first, n, fpixels,
                   frame, panels_ptr, layers_ptr, inc_ptr, wl_ptr, e_ptr, b_ptr, rows_ptr,
                   table_ptr, recip_ptr, beam_ptr, mins_ptr, ranges_ptr, reals_ptr, stop_ptr,
                   oversample, n_layers, n_sources, n_orient, first_layer, width, glob,
                   layers_off, inc_off, wl_off, e_off, b_off, rows_off, groups,
                   SHAPE: tl.constexpr, LOOKUP: tl.constexpr, LISTED: tl.constexpr,
                   POINT: tl.constexpr, CURVED: tl.constexpr, CAPTURE: tl.constexpr,
                   NOPOLAR: tl.constexpr, WATER: tl.constexpr, ONE_PANEL: tl.constexpr,
                   WITH_TABLE: tl.constexpr, OVER_THICK: tl.constexpr,
                   OVER_POLAR: tl.constexpr, OVER_OMEGA: tl.constexpr, BLOCK: tl.constexpr):
    """The adjoint with -oversample_* running products (as nb_pixel_running): a forward
    pass records the running sum entering each (layer, sub-pixel, source) in the scratch,
    a backward pass over them in reverse recomputes each one's evaluations and takes the
    gradient through the products."""
    kahn, dmin, default_F, background, scale, n0, n1, n2, fudge, depth, distance = \
        reals(reals_ptr)
    position, live, panel, ps, pf = pixel_indices(pixels_ptr, first, n, fpixels, frame,
                                                  LISTED, BLOCK)
    pid = tl.program_id(0)
    part = part_ptr + pid * width
    entry = scratch_ptr + pid * (groups + 3 * n_orient) * BLOCK
    inner = entry + groups * BLOCK
    lanes = tl.arange(0, BLOCK)
    g = tl.load(g_ptr + position - first, mask=live, other=0.0).to(tl.float64)
    limit = _limit(stop_ptr, position)
    subs = oversample * oversample
    zero = tl.zeros((BLOCK,), tl.float64)
    omega0, capture_last = first_factors(panels_ptr, layers_ptr, beam_ptr, panel, ps, pf,
                                         oversample, n_layers, first_layer, depth, distance,
                                         POINT, CURVED, CAPTURE)
    acc = zero + background
    polar0 = zero
    have = tl.zeros((BLOCK,), tl.int1)
    psub = tl.full((BLOCK,), -1, tl.int64)
    psrc = tl.full((BLOCK,), -1, tl.int64)
    for t in range(n_layers):
        layer = tl.load(layers_ptr + t)
        for sub in range(subs):
            _, _, _, _, _, _, _, dx, dy, dz, _, omega, capture, _, _, _, _ = geo_at(
                panels_ptr, panel, ps, pf, t, layer, (sub // oversample).to(tl.float64),
                (sub % oversample).to(tl.float64), oversample, first_layer, depth, distance,
                beam_ptr, POINT, CURVED, CAPTURE)
            for s in range(n_sources):
                group = (t * subs + sub) * n_sources + s
                tl.store(entry + group * BLOCK + lanes, acc)
                sx, sy, sz, keep, polar = source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s,
                                                 kahn, dmin)
                take = (~have) & keep
                if NOPOLAR:
                    polar0 = tl.where(take, 1.0, polar0)
                else:
                    polar0 = tl.where(take, polar, polar0)
                psub = tl.where(take, t * subs + sub, psub)
                psrc = tl.where(take, s, psrc)
                have = have | keep
                f = running_factor(omega, capture, polar, OVER_THICK, OVER_POLAR, OVER_OMEGA)
                acc = running_group(inner, rows_ptr, group * n_orient, n_orient, acc, sx, sy, sz,
                                    keep, f, limit, table_ptr, recip_ptr, mins_ptr, ranges_ptr,
                                    n0, n1, n2, fudge, default_F, SHAPE, LOOKUP, WATER, BLOCK)
    polar0 = tl.where(have, polar0, 0.0)
    factor = zero + 1.0
    if not OVER_OMEGA:
        factor = factor * omega0
    if not OVER_THICK:
        factor = factor * capture_last
    if not OVER_POLAR and not NOPOLAR:
        factor = factor * polar0
    _add(part + glob, g * acc * factor)
    G = g * scale * factor
    for tt in range(n_layers):
        t = n_layers - 1 - tt
        layer = tl.load(layers_ptr + t)
        for ss in range(subs):
            sub = subs - 1 - ss
            fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
                index = geo_at(panels_ptr, panel, ps, pf, t, layer,
                               (sub // oversample).to(tl.float64),
                               (sub % oversample).to(tl.float64), oversample, first_layer,
                               depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
            gdx = zero
            gdy = zero
            gdz = zero
            g_omega = zero
            g_capture = zero
            for si in range(n_sources):
                s = n_sources - 1 - si
                group = (t * subs + sub) * n_sources + s
                sx, sy, sz, keep, polar = source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s,
                                                 kahn, dmin)
                f = running_factor(omega, capture, polar, OVER_THICK, OVER_POLAR, OVER_OMEGA)
                running_group(inner, rows_ptr, group * n_orient, n_orient,
                              tl.load(entry + group * BLOCK + lanes), sx, sy, sz, keep, f, limit,
                              table_ptr, recip_ptr, mins_ptr, ranges_ptr, n0, n1, n2, fudge,
                              default_F, SHAPE, LOOKUP, WATER, BLOCK)
                g_f = zero
                gsx = zero
                gsy = zero
                gsz = zero
                for oi in range(n_orient):
                    o = n_orient - 1 - oi
                    base = inner + (3 * o) * BLOCK + lanes
                    phi = tl.load(base + 2 * BLOCK)
                    passed = phi == -1.0
                    taken = tl.where(passed, 1.0, phi)
                    g_f += tl.where(passed, 0.0, G * (tl.load(base) + tl.load(base + BLOCK)))
                    gt = tl.where(keep, G * taken, 0.0)
                    G = G * taken
                    term, latt, ux, uy, uz = evaluation(
                        part, gtable_ptr, rows_ptr, o, sx, sy, sz, keep, gt,
                        (group * n_orient + o) < limit, live, table_ptr, recip_ptr, mins_ptr,
                        ranges_ptr, n0, n1, n2, fudge, default_F, glob, rows_off, SHAPE, LOOKUP,
                        WITH_TABLE)
                    gsx += ux
                    gsy += uy
                    gsz += uz
                vx, vy, vz = scatter_grad(part, inc_off, wl_off, wl_ptr, s, sx, sy, sz, gsx, gsy,
                                          gsz)
                gdx += vx
                gdy += vy
                gdz += vz
                cap = zero + 1.0
                om = zero + 1.0
                po = zero + 1.0
                if OVER_THICK:
                    cap = capture
                if OVER_OMEGA:
                    om = omega
                if OVER_POLAR:
                    po = polar
                if OVER_THICK:
                    g_capture += g_f * po * om
                if OVER_OMEGA:
                    g_omega += g_f * cap * po
                if OVER_POLAR:
                    px, py, pz = polar_grad(part, glob, inc_off, e_off, b_off, inc_ptr, e_ptr,
                                            b_ptr, s, dx, dy, dz, g_f * cap * om, live, kahn,
                                            False)
                    gdx += px
                    gdy += py
                    gdz += pz
            geo_grad(part, glob, layers_off, panels_ptr, panel, live, t, layer, fd, sd, cf, cs,
                     fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz,
                     g_omega, g_capture, depth, distance, beam_ptr, POINT, CURVED, CAPTURE,
                     ONE_PANEL, False)
    _add(part + glob + 1, G)
    final_grads(part, glob, layers_off, inc_off, e_off, b_off, panels_ptr, layers_ptr, inc_ptr,
                e_ptr, b_ptr, beam_ptr, panel, live, ps, pf, g * scale * acc, omega0,
                capture_last, polar0, psub, psrc, oversample, n_layers, first_layer, kahn,
                depth, distance, POINT, CURVED, CAPTURE, NOPOLAR, ONE_PANEL, OVER_THICK,
                OVER_POLAR, OVER_OMEGA)


def adjoint(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
            grad_out: torch.Tensor, with_table: bool) -> torch.Tensor:
    """The gradient buffer (float64, the layout of ``nb_adjoint``, on the setup's device)
    for cotangents ``grad_out`` (P,) of the photons of ``flat_index``."""
    p, arrays, scalars = launched = _launch_args(setup, fpixels)
    dev = setup.device
    pixels = None if isinstance(flat_index, int) else flat_index.to(
        device=dev, dtype=torch.int64).contiguous()
    total = grad_out.numel()
    g = grad_out.detach().to(device=dev, dtype=torch.float64).contiguous()
    stop = find_stop(setup, launched, fpixels, pixels, total)
    arrays[7] = arrays[7].to(torch.float64)  # the table in double, as the C adjoint
    n_panels = arrays[0].shape[0]
    layout = abi.gradient_layout(n_panels, p["n_layers"], p["n_sources"], p["n_orient"])
    width = layout["width"]
    running = bool(p["over_thick"] or p["over_polar"] or p["over_omega"])
    groups = p["n_layers"] * p["oversample"] ** 2 * p["n_sources"]
    scratch_per = (groups + 3 * p["n_orient"]) * BLOCK if running else 0
    table_size = (p["ranges"][0] * p["ranges"][1] * p["ranges"][2]) if with_table else 0
    result = torch.zeros(width + table_size, dtype=torch.float64, device=dev)
    gtable = result[width:] if with_table else result
    per_launch = max(1, PARTIAL_DOUBLES // (width + scratch_per)) * BLOCK
    flags = dict(SHAPE=p["shape"], LOOKUP=p["lookup"], LISTED=pixels is not None,
                 POINT=bool(p["point_pixel"]), CURVED=bool(p["curved"]),
                 CAPTURE=bool(p["capture"]), NOPOLAR=bool(p["nopolar"]),
                 ONE_PANEL=n_panels == 1, WITH_TABLE=with_table, BLOCK=BLOCK)
    offsets = [width, layout["glob"], layout["layers"], layout["inc"], layout["wl"],
               layout["e_in"], layout["b_in"], layout["rows"]]
    for start in range(0, total, per_launch):
        count = min(per_launch, total - start)
        programs = triton.cdiv(count, BLOCK)
        part = torch.zeros((programs, width), dtype=torch.float64, device=dev)
        listed = pixels[start:] if pixels is not None else g
        common = (listed, start, count, fpixels, p["frame"], *arrays, stop, *scalars,
                  *offsets)
        if running:
            scratch = torch.empty(programs * scratch_per, dtype=torch.float64, device=dev)
            running_kernel[(programs,)](
                part, gtable, g[start:], scratch, *common, groups, WATER=bool(p["water"]),
                OVER_THICK=bool(p["over_thick"]), OVER_POLAR=bool(p["over_polar"]),
                OVER_OMEGA=bool(p["over_omega"]), **flags, enable_fp_fusion=False)
        else:
            adjoint_kernel[(programs,)](part, gtable, g[start:], *common, **flags,
                                        enable_fp_fusion=False)
        result[:width] += part.sum(0)
    return result
