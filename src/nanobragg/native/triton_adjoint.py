"""The fused adjoint on the GPU: the C adjoint's one-pass backward as a Triton launch.

Given dL/d(photons) per pixel it returns the gradient buffer of ``nb_adjoint`` (the same
layout, so :func:`nanobragg.native.adjoint._unpack` reads it), for renders without
``-oversample_*`` running products (those go to the eager kernel on the GPU, see
:mod:`nanobragg.render.engines`). One program takes :data:`BLOCK` pixels and adds its
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
from .triton_kernel import BLOCK, _launch_args, find_stop, pixel_indices, reals, source
from .triton_math import clamped, lagrange, lattice_grad, nearest_index

#: Doubles of globals in the gradient buffer (as nbadjoint.h, after 14 per panel):
#: scale 0, background 1, kahn 2, N 3-5, fudge 6, recip 7-15, depth 16, distance 17,
#: beam 18-20 (the kernels use these offsets as literals).
GLOBALS = 21
#: At most this many doubles of partial rows per launch (a longer list is split).
PARTIAL_DOUBLES = 2**25


@triton.jit
def _q(panels_ptr, panel, c: tl.constexpr):
    return tl.load(panels_ptr + panel * 14 + c)


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
def geo_at(panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer, depth,
           distance, beam_ptr, POINT: tl.constexpr, CURVED: tl.constexpr,
           CAPTURE: tl.constexpr):
    """What a (layer, sub-pixel) derives from and its factors, per lane (as nb_geo_at):
    fd, sd, cf, cs, the flat position, the direction, air path, solid angle, capture,
    parallax and the two exponentials of the capture."""
    os_ = oversample.to(tl.float64)
    size = _q(panels_ptr, panel, 12)
    step = size / os_
    fd = step * (pf * os_ + sub_f) + step / 2.0
    sd = step * (ps * os_ + sub_s) + step / 2.0
    cf = ((pf * os_ + sub_f) + 0.5) / os_
    cs = ((ps * os_ + sub_s) + 0.5) / os_
    fx = fd * _q(panels_ptr, panel, 0) + sd * _q(panels_ptr, panel, 3) \
        + layer * _q(panels_ptr, panel, 6) + _q(panels_ptr, panel, 9)
    fy = fd * _q(panels_ptr, panel, 1) + sd * _q(panels_ptr, panel, 4) \
        + layer * _q(panels_ptr, panel, 7) + _q(panels_ptr, panel, 10)
    fz = fd * _q(panels_ptr, panel, 2) + sd * _q(panels_ptr, panel, 5) \
        + layer * _q(panels_ptr, panel, 8) + _q(panels_ptr, panel, 11)
    x = fx
    y = fy
    z = fz
    if CURVED:
        bx = tl.load(beam_ptr) * distance
        by = tl.load(beam_ptr + 1) * distance
        bz = tl.load(beam_ptr + 2) * distance
        tx, ty, tz = _rotate(_q(panels_ptr, panel, 3), _q(panels_ptr, panel, 4),
                             _q(panels_ptr, panel, 5), bx, by, bz, fy / distance)
        x, y, z = _rotate(_q(panels_ptr, panel, 0), _q(panels_ptr, panel, 1),
                          _q(panels_ptr, panel, 2), tx, ty, tz, fz / distance)
    air = tl.sqrt(x * x + y * y + z * z)
    dx = x / air
    dy = y / air
    dz = z / air
    if POINT:
        omega = 1.0 / air / air
    else:
        omega = size * size / air / air * _q(panels_ptr, panel, 13) / air
    parallax = dx * _q(panels_ptr, panel, 6) + dy * _q(panels_ptr, panel, 7) \
        + dz * _q(panels_ptr, panel, 8)
    index = (first_layer + t).to(tl.float64)
    e1 = tl.exp(-index * depth / parallax)
    e2 = tl.exp(-(index + 1.0) * depth / parallax)
    if CAPTURE:
        capture = e1 - e2
    else:
        capture = tl.full(dx.shape, 1.0, tl.float64)
    return fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, index


@triton.jit
def _rotate(ax, ay, az, vx, vy, vz, angle):
    c = tl.cos(angle)
    sn = tl.sin(angle)
    along = (ax * vx + ay * vy + az * vz) * (1.0 - c)
    return (ax * along + vx * c + (ay * vz - az * vy) * sn,
            ay * along + vy * c + (az * vx - ax * vz) * sn,
            az * along + vz * c + (ax * vy - ay * vx) * sn)


@triton.jit
def _rotate_grad(ax, ay, az, vx, vy, vz, angle, gx, gy, gz):
    """Gradients of w = R(a, angle) v by v, a and angle from g = dL/dw (nb_rotate_grad)."""
    c = tl.cos(angle)
    sn = tl.sin(angle)
    av = ax * vx + ay * vy + az * vz
    ag = ax * gx + ay * gy + az * gz
    gvx = (1.0 - c) * ag * ax + c * gx + sn * (gy * az - gz * ay)
    gvy = (1.0 - c) * ag * ay + c * gy + sn * (gz * ax - gx * az)
    gvz = (1.0 - c) * ag * az + c * gz + sn * (gx * ay - gy * ax)
    gax = (1.0 - c) * (gx * av + vx * ag) + sn * (vy * gz - vz * gy)
    gay = (1.0 - c) * (gy * av + vy * ag) + sn * (vz * gx - vx * gz)
    gaz = (1.0 - c) * (gz * av + vz * ag) + sn * (vx * gy - vy * gx)
    g_angle = gx * (ax * av * sn - vx * sn + (ay * vz - az * vy) * c) \
        + gy * (ay * av * sn - vy * sn + (az * vx - ax * vz) * c) \
        + gz * (az * av * sn - vz * sn + (ax * vy - ay * vx) * c)
    return gvx, gvy, gvz, gax, gay, gaz, g_angle


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
    size = _q(panels_ptr, panel, 12)
    close = _q(panels_ptr, panel, 13)
    a3 = air * air * air
    if POINT:
        g_air = g_omega * -2.0 / a3
    else:
        g_air = g_omega * -3.0 * omega / air
        _add_panel(part, panel, 12, g_omega * 2.0 * size * close / a3, live, ONE_PANEL)
        _add_panel(part, panel, 13, g_omega * size * size / a3, live, ONE_PANEL)
    ox = _q(panels_ptr, panel, 6)
    oy = _q(panels_ptr, panel, 7)
    oz = _q(panels_ptr, panel, 8)
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
        fdx = _q(panels_ptr, panel, 0)
        fdy = _q(panels_ptr, panel, 1)
        fdz = _q(panels_ptr, panel, 2)
        sdx = _q(panels_ptr, panel, 3)
        sdy = _q(panels_ptr, panel, 4)
        sdz = _q(panels_ptr, panel, 5)
        bx = tl.load(beam_ptr)
        by = tl.load(beam_ptr + 1)
        bz = tl.load(beam_ptr + 2)
        tx, ty, tz = _rotate(sdx, sdy, sdz, bx * distance, by * distance, bz * distance,
                             fy / distance)
        gtx, gty, gtz, g_fdet_x, g_fdet_y, g_fdet_z, g2 = _rotate_grad(
            fdx, fdy, fdz, tx, ty, tz, fz / distance, gpx, gpy, gpz)
        gsx, gsy, gsz, g_sdet_x, g_sdet_y, g_sdet_z, g1 = _rotate_grad(
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
    size_g = gfx * (cf * _q(panels_ptr, panel, 0) + cs * _q(panels_ptr, panel, 3)) \
        + gfy * (cf * _q(panels_ptr, panel, 1) + cs * _q(panels_ptr, panel, 4)) \
        + gfz * (cf * _q(panels_ptr, panel, 2) + cs * _q(panels_ptr, panel, 5))
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
def tricubic_grad(h, k, l, table_ptr, mins_ptr, ranges_ptr):
    """Tricubic F over the 4x4x4 neighbours (clamped) and its derivatives by h, k, l."""
    kr = tl.load(ranges_ptr + 1)
    lr = tl.load(ranges_ptr + 2)
    total = tl.zeros(h.shape, tl.float64)
    th = tl.zeros(h.shape, tl.float64)
    tk = tl.zeros(h.shape, tl.float64)
    tm = tl.zeros(h.shape, tl.float64)
    for i in tl.static_range(4):
        wi, di = lagrange(h, i)
        ai = clamped(h, i, tl.load(mins_ptr), tl.load(ranges_ptr))
        for j in tl.static_range(4):
            wj, dj = lagrange(k, j)
            aj = clamped(k, j, tl.load(mins_ptr + 1), kr)
            for m in tl.static_range(4):
                wm, dm = lagrange(l, m)
                am = clamped(l, m, tl.load(mins_ptr + 2), lr)
                v = tl.load(table_ptr + (ai * kr + aj) * lr + am)
                total += v * (wi * wj * wm)
                th += v * di * wj * wm
                tk += v * wi * dj * wm
                tm += v * wi * wj * dm
    return total, th, tk, tm


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
def adjoint_kernel(part_ptr, gtable_ptr, g_ptr, pixels_ptr, first, n, fpixels, frame,
                   panels_ptr, layers_ptr, inc_ptr, wl_ptr, e_ptr, b_ptr, rows_ptr, table_ptr,
                   recip_ptr, beam_ptr, mins_ptr, ranges_ptr, reals_ptr, stop_ptr, oversample,
                   n_layers, n_sources, n_orient, first_layer, width, glob, layers_off,
                   inc_off, wl_off, e_off, b_off, rows_off, SHAPE: tl.constexpr,
                   LOOKUP: tl.constexpr, LISTED: tl.constexpr, POINT: tl.constexpr,
                   CURVED: tl.constexpr, CAPTURE: tl.constexpr, NOPOLAR: tl.constexpr,
                   ONE_PANEL: tl.constexpr, WITH_TABLE: tl.constexpr, BLOCK: tl.constexpr):
    """dL/d(inputs) of BLOCK pixels per program into the program's row (as nb_pixel_plain)."""
    kahn, dmin, default_F, background, scale, n0, n1, n2, fudge, depth, distance = \
        reals(reals_ptr)
    position, live, panel, ps, pf = pixel_indices(pixels_ptr, first, n, fpixels, frame,
                                                  LISTED, BLOCK)
    part = part_ptr + tl.program_id(0) * width
    g = tl.load(g_ptr + position - first, mask=live, other=0.0).to(tl.float64)
    stop_position = tl.load(stop_ptr)
    stop_eval = tl.load(stop_ptr + 1)
    limit = tl.where(position < stop_position, 2**62,
                     tl.where(position == stop_position, stop_eval, 0))
    subs = oversample * oversample
    last = n_layers - 1
    zero = tl.zeros((BLOCK,), tl.float64)
    geo = geo_at(panels_ptr, panel, ps, pf, 0, tl.load(layers_ptr), 0.0, 0.0, oversample,
                 first_layer, depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
    omega0 = geo[11]
    geo = geo_at(panels_ptr, panel, ps, pf, last, tl.load(layers_ptr + last), 0.0, 0.0,
                 oversample, first_layer, depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
    capture_last = geo[12]
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
                    r = rows_ptr + 9 * o
                    r0 = tl.load(r)
                    r1 = tl.load(r + 1)
                    r2 = tl.load(r + 2)
                    r3 = tl.load(r + 3)
                    r4 = tl.load(r + 4)
                    r5 = tl.load(r + 5)
                    r6 = tl.load(r + 6)
                    r7 = tl.load(r + 7)
                    r8 = tl.load(r + 8)
                    h = sx * r0 + sy * r1 + sz * r2
                    k = sx * r3 + sy * r4 + sz * r5
                    l = sx * r6 + sy * r7 + sz * r8
                    latt, lh, lk, ll, ln0, ln1, ln2, lf, w, q0, q1, q2, ee0, ee1, ee2 = \
                        lattice_grad(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE)
                    fh = zero
                    fk = zero
                    fl = zero
                    if LOOKUP == 0:
                        fc = zero + default_F
                    else:
                        at = nearest_index(h, k, l, mins_ptr, ranges_ptr)
                        fc = tl.where(at >= 0, tl.load(table_ptr + tl.maximum(at, 0)), default_F)
                        if LOOKUP == 2:
                            interp = (e0 + o) < limit
                            value, th, tk, tm = tricubic_grad(h, k, l, table_ptr, mins_ptr,
                                                              ranges_ptr)
                            fc = tl.where(interp, value, fc)
                            fh = tl.where(interp, th, 0.0)
                            fk = tl.where(interp, tk, 0.0)
                            fl = tl.where(interp, tm, 0.0)
                    acc += tl.where(keep, (fc * fc) * (latt * latt), 0.0)
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
                    gsx += gh * r0 + gk * r3 + gl * r6
                    gsy += gh * r1 + gk * r4 + gl * r7
                    gsz += gh * r2 + gk * r5 + gl * r8
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
                            tl.atomic_add(gtable_ptr + tl.maximum(at, 0), g_fc,
                                          mask=live & (at >= 0))
                        if LOOKUP == 2:
                            tl.atomic_add(gtable_ptr + tl.maximum(at, 0), g_fc,
                                          mask=live & (at >= 0) & ~interp)
                            tricubic_table_grad(gtable_ptr, h, k, l, g_fc, live & interp,
                                                mins_ptr, ranges_ptr)
                wl = tl.load(wl_ptr + s)
                gdx += gsx / wl
                gdy += gsy / wl
                gdz += gsz / wl
                _add(part + inc_off + 3 * s, -gsx / wl)
                _add(part + inc_off + 3 * s + 1, -gsy / wl)
                _add(part + inc_off + 3 * s + 2, -gsz / wl)
                _add(part + wl_off + s, -(gsx * sx + gsy * sy + gsz * sz) / wl)
            geo_grad(part, glob, layers_off, panels_ptr, panel, live, t, layer, fd, sd, cf, cs,
                     fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz,
                     zero, zero, depth, distance, beam_ptr, POINT, CURVED, CAPTURE, ONE_PANEL,
                     False)
    polar0 = tl.where(have, polar0, 0.0)
    if NOPOLAR:
        pf_ = zero + 1.0
    else:
        pf_ = polar0
    factor = omega0 * capture_last * pf_
    total = background + acc
    _add(part + glob, g * total * factor)
    _add(part + glob + 1, g * scale * factor)
    g_factor = g * scale * total
    fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, index = \
        geo_at(panels_ptr, panel, ps, pf, 0, tl.load(layers_ptr), 0.0, 0.0, oversample,
               first_layer, depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
    geo_grad(part, glob, layers_off, panels_ptr, panel, live, 0, tl.load(layers_ptr), fd, sd,
             cf, cs, fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, zero, zero,
             zero, g_factor * capture_last * pf_, zero, depth, distance, beam_ptr, POINT,
             CURVED, CAPTURE, ONE_PANEL, False)
    if CAPTURE:
        fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
            index = geo_at(panels_ptr, panel, ps, pf, last, tl.load(layers_ptr + last), 0.0,
                           0.0, oversample, first_layer, depth, distance, beam_ptr, POINT,
                           CURVED, CAPTURE)
        geo_grad(part, glob, layers_off, panels_ptr, panel, live, last,
                 tl.load(layers_ptr + last), fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega,
                 parallax, e1, e2, index, zero, zero, zero, zero,
                 g_factor * omega0 * pf_, depth, distance, beam_ptr, POINT, CURVED, CAPTURE,
                 ONE_PANEL, False)
    if not NOPOLAR:
        found = live & (psub >= 0)
        tp = tl.maximum(psub, 0) // subs
        sp = tl.maximum(psub, 0) % subs
        layer = tl.load(layers_ptr + tp)
        s = tl.maximum(psrc, 0)
        fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, \
            index = geo_at(panels_ptr, panel, ps, pf, tp, layer,
                           (sp // oversample).to(tl.float64), (sp % oversample).to(tl.float64),
                           oversample, first_layer, depth, distance, beam_ptr, POINT, CURVED,
                           CAPTURE)
        gp = tl.where(found, g_factor * omega0 * capture_last, 0.0)
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
        tl.atomic_add(part + inc_off + 3 * s, gp * c2t * dx, mask=found)
        tl.atomic_add(part + inc_off + 3 * s + 1, gp * c2t * dy, mask=found)
        tl.atomic_add(part + inc_off + 3 * s + 2, gp * c2t * dz, mask=found)
        tl.atomic_add(part + e_off + 3 * s, gp * -kahn * eo * dx, mask=found)
        tl.atomic_add(part + e_off + 3 * s + 1, gp * -kahn * eo * dy, mask=found)
        tl.atomic_add(part + e_off + 3 * s + 2, gp * -kahn * eo * dz, mask=found)
        tl.atomic_add(part + b_off + 3 * s, gp * kahn * bo * dx, mask=found)
        tl.atomic_add(part + b_off + 3 * s + 1, gp * kahn * bo * dy, mask=found)
        tl.atomic_add(part + b_off + 3 * s + 2, gp * kahn * bo * dz, mask=found)
        gdx = gp * (c2t * ix - kahn * (eo * ex - bo * bx))
        gdy = gp * (c2t * iy - kahn * (eo * ey - bo * by))
        gdz = gp * (c2t * iz - kahn * (eo * ez - bo * bz))
        geo_grad(part, glob, layers_off, panels_ptr, panel, found, tp, layer, fd, sd, cf, cs,
                 fx, fy, fz, dx, dy, dz, air, omega, parallax, e1, e2, index, gdx, gdy, gdz,
                 zero, zero, depth, distance, beam_ptr, POINT, CURVED, CAPTURE, ONE_PANEL, True)


def adjoint(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
            grad_out: torch.Tensor, with_table: bool) -> torch.Tensor:
    """The gradient buffer (float64, the layout of ``nb_adjoint``, on the setup's device)
    for cotangents ``grad_out`` (P,) of the photons of ``flat_index``.

    Raises:
        ValueError: a render with ``-oversample_*`` running products (not covered here).
    """
    p, arrays, scalars = _launch_args(setup, fpixels)
    if p["over_thick"] or p["over_polar"] or p["over_omega"]:
        raise ValueError("the Triton adjoint does not cover -oversample_* running products")
    dev = setup.device
    pixels = None if isinstance(flat_index, int) else flat_index.to(
        device=dev, dtype=torch.int64).contiguous()
    total = grad_out.numel()
    g = grad_out.detach().to(device=dev, dtype=torch.float64).contiguous()
    stop = find_stop(setup, fpixels, pixels, total)
    arrays[7] = arrays[7].to(torch.float64)  # the table in double, as the C adjoint
    n_panels = arrays[0].shape[0]
    layout = _layout(n_panels, p["n_layers"], p["n_sources"], p["n_orient"])
    width = layout["width"]
    table_size = (p["ranges"][0] * p["ranges"][1] * p["ranges"][2]) if with_table else 0
    result = torch.zeros(width + table_size, dtype=torch.float64, device=dev)
    gtable = result[width:] if with_table else result
    per_launch = max(1, PARTIAL_DOUBLES // width) * BLOCK
    for start in range(0, total, per_launch):
        count = min(per_launch, total - start)
        programs = triton.cdiv(count, BLOCK)
        part = torch.zeros((programs, width), dtype=torch.float64, device=dev)
        listed = pixels[start:] if pixels is not None else g
        adjoint_kernel[(programs,)](
            part, gtable, g[start:], listed, start, count, fpixels, p["frame"], *arrays, stop,
            *scalars, width, layout["glob"], layout["layers"], layout["inc"], layout["wl"],
            layout["e_in"], layout["b_in"], layout["rows"], SHAPE=p["shape"],
            LOOKUP=p["lookup"], LISTED=pixels is not None, POINT=bool(p["point_pixel"]),
            CURVED=bool(p["curved"]), CAPTURE=bool(p["capture"]), NOPOLAR=bool(p["nopolar"]),
            ONE_PANEL=n_panels == 1, WITH_TABLE=with_table, BLOCK=BLOCK)
        result[:width] += part.sum(0)
    return result


def _layout(panels: int, layers: int, sources: int, orientations: int) -> dict:
    """Offsets of the parts of the gradient buffer (as nb_layout), and its width without
    the F table."""
    glob = 14 * panels
    out = {"glob": glob, "layers": glob + GLOBALS}
    out["inc"] = out["layers"] + layers
    out["wl"] = out["inc"] + 3 * sources
    out["e_in"] = out["wl"] + sources
    out["b_in"] = out["e_in"] + 3 * sources
    out["rows"] = out["b_in"] + 3 * sources
    out["width"] = out["rows"] + 9 * orientations
    return out
