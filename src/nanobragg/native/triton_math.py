"""Device functions shared by the Triton forward and adjoint kernels.

Each works on a block of pixels (one lane per pixel) and mirrors a function of the C
kernel (``nbkernel_body.h``, ``nbadjoint.h``): the same formulas, so that the three
engines compute one image. Geometry and Miller indices are float64; ``REAL`` (a
``tl.constexpr`` dtype) is the precision of the lattice and structure factors.
"""

from __future__ import annotations

import triton
import triton.language as tl

#: Lattice shapes and structure-factor lookups, numbered as the C kernel's.
SQUARE, ROUND, GAUSS, TOPHAT, SQUARE_DIRECT, ROUND_DIRECT = 0, 1, 2, 3, 4, 5
DEFAULT_F, NEAREST, TRICUBIC = 0, 1, 2
#: pi as a compile-time constant (a float assigned to a variable inside a kernel would
#: be a float32 scalar).
PI: tl.constexpr = tl.constexpr(3.141592653589793)


@triton.jit
def row9(ptr):
    """The nine float64 values at ptr (a 3x3 matrix, row-major)."""
    return (tl.load(ptr), tl.load(ptr + 1), tl.load(ptr + 2), tl.load(ptr + 3),
            tl.load(ptr + 4), tl.load(ptr + 5), tl.load(ptr + 6), tl.load(ptr + 7),
            tl.load(ptr + 8))


@triton.jit
def miller(rows_ptr, o, sx, sy, sz):
    """Fractional Miller indices h = a . S, k = b . S, l = c . S per lane for orientation
    o (rows a, b, c at rows_ptr + 9 o), in the C's order of products."""
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = row9(rows_ptr + 9 * o)
    return (sx * r0 + sy * r1 + sz * r2, sx * r3 + sy * r4 + sz * r5,
            sx * r6 + sy * r7 + sz * r8)


@triton.jit
def sinpi(x):
    """sin(pi x) for |x| <= 1/2: the C kernel's Taylor polynomial (x^21 in float64,
    x^13 in float32), in the precision of x."""
    x2 = x * x
    if x.dtype == tl.float64:
        p = 5.392664662608125e-10 * x2 - 2.2948428997269856e-08
        p = p * x2 + 7.952054001475508e-07
        p = p * x2 - 2.1915353447830204e-05
        p = p * x2 + 0.00046630280576761234
    else:
        p = tl.full(x.shape, 0.00046630280576761234, x.dtype)
    p = p * x2 - 0.007370430945714348
    p = p * x2 + 0.08214588661112819
    p = p * x2 - 0.5992645293207919
    p = p * x2 + 2.550164039877345
    p = p * x2 - 5.167712780049969
    p = p * x2 + 3.141592653589793
    return x * p


@triton.jit
def ratio(d, n):
    """sin(pi N d) / sin(pi d) from the offset d = h - nearest(h) (N at d = 0)."""
    y = n * d
    r = y - tl.floor(y + 0.5)
    safe = tl.where(d == 0, 0.25, d)
    return tl.where(d == 0, n, sinpi(r) / sinpi(safe))


@triton.jit
def sinc3(x2, x):
    """3 (sin x / x - cos x) / x^2 from x^2 (series below the precision's limit) and x."""
    if x.dtype == tl.float64:
        small = x2 < 0.01
    else:
        small = x2 < 0.25
    xs = tl.where(small, 1.0, x).to(x.dtype)
    direct = 3.0 * (tl.sin(xs) / xs - tl.cos(xs)) / (xs * xs)
    v = tl.where(small, x2, 0.0).to(x.dtype)
    s = -1.34949948208585e-13 * v + 3.2118087673643227e-11
    s = s * v - 5.7812557812557815e-09
    s = s * v + 7.515632515632515e-07
    s = s * v - 6.613756613756614e-05
    s = s * v + 0.0035714285714285713
    s = s * v - 0.1
    s = s * v + 1.0
    return tl.where(small, s, direct)


@triton.jit
def lattice(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE: tl.constexpr, REAL: tl.constexpr):
    """F_latt of one evaluation per lane (h, k, l float64), as the C kernel's lattice."""
    if SHAPE == 0:
        f = ratio((h - tl.floor(h + 0.5)).to(REAL), n0.to(REAL))
        f = f * ratio((k - tl.floor(k + 0.5)).to(REAL), n1.to(REAL))
        f = f * ratio((l - tl.floor(l + 0.5)).to(REAL), n2.to(REAL))
        return f
    elif SHAPE == 4:
        f = direct_ratio(h, n0) * direct_ratio(k, n1) * direct_ratio(l, n2)
        return f.to(REAL)
    elif SHAPE == 5:
        eh = h - tl.ceil(h - 0.5)
        ek = k - tl.ceil(k - 0.5)
        el = l - tl.ceil(l - 0.5)
        hrad = eh * eh * n0 * n0 + ek * ek * n1 * n1 + el * el * n2 * n2
        x = PI * tl.sqrt(hrad * fudge)
        safe = tl.where(x == 0.0, 1.0, x)
        v = tl.where(x == 0.0, 1.0, 3.0 * (tl.sin(safe) / safe - tl.cos(safe)) / (safe * safe))
        return (n0 * n1 * n2 * 0.723601254558268 * v).to(REAL)
    else:
        dh = (h - tl.ceil(h - 0.5)).to(REAL)
        dk = (k - tl.ceil(k - 0.5)).to(REAL)
        dl = (l - tl.ceil(l - 0.5)).to(REAL)
        a = n0.to(REAL)
        b = n1.to(REAL)
        c = n2.to(REAL)
        nprod = a * b * c
        if SHAPE == 1:
            hrad = dh * dh * a * a + dk * dk * b * b + dl * dl * c * c
            arg = hrad * fudge.to(REAL)
            x = tl.where(arg > 0, PI * tl.sqrt(tl.where(arg > 0, arg, 1.0)), 0.0).to(REAL)
            return nprod * 0.723601254558268 * sinc3((9.869604401089358 * arg).to(REAL), x)
        else:
            r0, r1, r2, r3, r4, r5, r6, r7, r8 = row9(recip_ptr)
            q0 = dh * r0.to(REAL) + dk * r3.to(REAL) + dl * r6.to(REAL)
            q1 = dh * r1.to(REAL) + dk * r4.to(REAL) + dl * r7.to(REAL)
            q2 = dh * r2.to(REAL) + dk * r5.to(REAL) + dl * r8.to(REAL)
            rad = (q0 * q0 + q1 * q1 + q2 * q2) * (nprod * nprod)
            if SHAPE == 2:
                return nprod * tl.exp(-(rad / 0.63 * fudge.to(REAL)))
            else:
                return tl.where(rad * fudge.to(REAL) < 0.3969, nprod, 0.0).to(REAL)


@triton.jit
def direct_ratio(h, n):
    """The C's sin(N x)/sin(x) with x = pi h of the full index (N at x = 0), float64."""
    x = PI * h
    safe = tl.where(x == 0.0, 0.5, x)
    return tl.where(x == 0.0, n, tl.sin(n * safe) / tl.sin(safe))


@triton.jit
def nearest_index(h, k, l, mins_ptr, ranges_ptr):
    """Flat table index of the nearest reflection per lane, -1 outside the grid."""
    ih = tl.ceil(h - 0.5).to(tl.int64) - tl.load(mins_ptr)
    ik = tl.ceil(k - 0.5).to(tl.int64) - tl.load(mins_ptr + 1)
    il = tl.ceil(l - 0.5).to(tl.int64) - tl.load(mins_ptr + 2)
    rh = tl.load(ranges_ptr)
    rk = tl.load(ranges_ptr + 1)
    rl = tl.load(ranges_ptr + 2)
    inside = (ih >= 0) & (ih < rh) & (ik >= 0) & (ik < rk) & (il >= 0) & (il < rl)
    return tl.where(inside, (ih * rk + ik) * rl + il, -1)


@triton.jit
def lagrange(x, i: tl.constexpr):
    """The weight of node floor(x) - 1 + i of the cubic through floor(x)-1..floor(x)+2,
    and its derivative by x."""
    base = tl.floor(x) - 1.0
    num = tl.full(x.shape, 1.0, tl.float64)
    dnum = tl.zeros(x.shape, tl.float64)
    den = 1.0
    for j in tl.static_range(4):
        if j != i:
            dnum = dnum * (x - (base + j)) + num
            num = num * (x - (base + j))
            den = den * (i - j)
    return num / den, dnum / den


@triton.jit
def clamped(x, i: tl.constexpr, lo, n):
    """Grid index (clamped to the grid) of node floor(x) - 1 + i along an axis."""
    local = (tl.floor(x) - 1.0 + i).to(tl.int64) - lo
    return tl.minimum(tl.maximum(local, 0), n - 1)


@triton.jit
def outside(h, k, l, mins_ptr, ranges_ptr):
    """Whether the 4x4x4 neighbourhood of (h, k, l) leaves the grid (the C's test)."""
    out = (h - tl.load(mins_ptr).to(tl.float64) + 3 > tl.load(ranges_ptr).to(tl.float64)) \
        | (h - 2 < tl.load(mins_ptr).to(tl.float64))
    out = out | (k - tl.load(mins_ptr + 1).to(tl.float64) + 3
                 > tl.load(ranges_ptr + 1).to(tl.float64)) \
        | (k - 2 < tl.load(mins_ptr + 1).to(tl.float64))
    out = out | (l - tl.load(mins_ptr + 2).to(tl.float64) + 3
                 > tl.load(ranges_ptr + 2).to(tl.float64)) \
        | (l - 2 < tl.load(mins_ptr + 2).to(tl.float64))
    return out


@triton.jit
def rotate(ax, ay, az, vx, vy, vz, angle):
    """v rotated about the unit axis a by angle (Rodrigues, as the C's curve)."""
    c = tl.cos(angle)
    sn = tl.sin(angle)
    along = (ax * vx + ay * vy + az * vz) * (1.0 - c)
    wx = ax * along + vx * c + (ay * vz - az * vy) * sn
    wy = ay * along + vy * c + (az * vx - ax * vz) * sn
    wz = az * along + vz * c + (ax * vy - ay * vx) * sn
    return wx, wy, wz


@triton.jit
def ratio_grad(d, n):
    """sin(pi N d)/sin(pi d) (|d| <= 1/2, float64) and its derivatives by d and by N, as
    the C adjoint's nb_ratio_grad (the series where |pi d| max(N, 1) < 0.1)."""
    x = PI * d
    small = tl.abs(x) * tl.maximum(n, 1.0) < 0.1
    v = tl.where(small, x * x, 0.0)
    u = n * n * v
    a = tl.full(d.shape, -1.0 / 39916800, tl.float64)
    b = tl.full(d.shape, 73.0 / 3421440, tl.float64)
    da = tl.zeros(d.shape, tl.float64)
    db = tl.zeros(d.shape, tl.float64)
    da = da * u + a
    a = a * u + 1.0 / 362880
    db = db * v + b
    b = b * v + 127.0 / 604800
    da = da * u + a
    a = a * u - 1.0 / 5040
    db = db * v + b
    b = b * v + 31.0 / 15120
    da = da * u + a
    a = a * u + 1.0 / 120
    db = db * v + b
    b = b * v + 7.0 / 360
    da = da * u + a
    a = a * u - 1.0 / 6
    db = db * v + b
    b = b * v + 1.0 / 6
    da = da * u + a
    a = a * u + 1.0
    db = db * v + b
    b = b * v + 1.0
    xs = tl.where(small, x, 0.0)
    ds = tl.where(small, 0.25, d)
    y = n * ds
    r = y - tl.floor(y + 0.5)
    s = sinpi(ds)
    c = sinpi(0.5 - tl.abs(ds))
    sn = sinpi(r)
    cn = sinpi(0.5 - tl.abs(r))
    inv = 1.0 / s
    fc = sn * inv
    f = tl.where(small, n * a * b, fc)
    fd = tl.where(small, PI * n * (da * n * n * 2.0 * xs * b + a * db * 2.0 * xs),
                  PI * (n * cn - fc * c) * inv)
    fn = tl.where(small, a * b + n * da * 2.0 * n * v * b, PI * ds * cn * inv)
    return f, fd, fn


@triton.jit
def sinc3_grad(arg):
    """sinc3 at x = pi sqrt(arg) and its derivative by arg (series below x = 0.1)."""
    x2 = 9.869604401089358 * arg
    small = x2 < 0.01
    v2 = tl.where(small, x2, 0.0)
    v = tl.full(arg.shape, -1.34949948208585e-13, tl.float64)
    d = tl.zeros(arg.shape, tl.float64)
    d = d * v2 + v
    v = v * v2 + 3.2118087673643227e-11
    d = d * v2 + v
    v = v * v2 - 5.7812557812557815e-09
    d = d * v2 + v
    v = v * v2 + 7.515632515632515e-07
    d = d * v2 + v
    v = v * v2 - 6.613756613756614e-05
    d = d * v2 + v
    v = v * v2 + 0.0035714285714285713
    d = d * v2 + v
    v = v * v2 - 0.1
    d = d * v2 + v
    v = v * v2 + 1.0
    xb = tl.sqrt(tl.where(small, 1.0, x2))
    sx = tl.sin(xb)
    direct = 3.0 * (sx / xb - tl.cos(xb)) / (xb * xb)
    ddirect = (3.0 * sx / (xb * xb) - 3.0 * direct / xb) * 9.869604401089358 / (2.0 * xb)
    return tl.where(small, v, direct), tl.where(small, 9.869604401089358 * d, ddirect)


@triton.jit
def lattice_grad(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE: tl.constexpr):
    """F_latt (float64) and its derivatives, as the C adjoint's nb_lattice_grad:
    (latt, by h, k, l, by N0, N1, N2, by fudge, and for the gauss shape the factor w and
    the vectors q, e with d latt / d recip[j][c] = w q[c] e[j])."""
    zero = tl.zeros(h.shape, tl.float64)
    if SHAPE == 0 or SHAPE == 4:
        f0, d0, m0 = ratio_grad(h - tl.floor(h + 0.5), n0)
        f1, d1, m1 = ratio_grad(k - tl.floor(k + 0.5), n1)
        f2, d2, m2 = ratio_grad(l - tl.floor(l + 0.5), n2)
        latt = f0 * f1 * f2
        return (latt, d0 * f1 * f2, f0 * d1 * f2, f0 * f1 * d2, m0 * f1 * f2, f0 * m1 * f2,
                f0 * f1 * m2, zero, zero, zero, zero, zero, zero, zero, zero)
    eh = h - tl.ceil(h - 0.5)
    ek = k - tl.ceil(k - 0.5)
    el = l - tl.ceil(l - 0.5)
    nprod = n0 * n1 * n2
    if SHAPE == 1 or SHAPE == 5:
        hrad = eh * eh * n0 * n0 + ek * ek * n1 * n1 + el * el * n2 * n2
        arg = hrad * fudge
        v, dv = sinc3_grad(tl.maximum(arg, 0.0))
        slope = nprod * 0.723601254558268 * dv
        value = v
        if SHAPE == 5:  # the C's direct value; the derivatives stay those of the series
            x = PI * tl.sqrt(arg)
            safe = tl.where(x == 0.0, 1.0, x)
            value = tl.where(x == 0.0, 1.0, 3.0 * (tl.sin(safe) / safe - tl.cos(safe))
                             / (safe * safe))
        return (nprod * 0.723601254558268 * value, slope * fudge * 2.0 * eh * n0 * n0,
                slope * fudge * 2.0 * ek * n1 * n1, slope * fudge * 2.0 * el * n2 * n2,
                n1 * n2 * 0.723601254558268 * v + slope * fudge * 2.0 * eh * eh * n0,
                n0 * n2 * 0.723601254558268 * v + slope * fudge * 2.0 * ek * ek * n1,
                n0 * n1 * 0.723601254558268 * v + slope * fudge * 2.0 * el * el * n2,
                slope * hrad, zero, zero, zero, zero, zero, zero, zero)
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = row9(recip_ptr)
    q0 = eh * r0 + ek * r3 + el * r6
    q1 = eh * r1 + ek * r4 + el * r7
    q2 = eh * r2 + ek * r5 + el * r8
    nsq = nprod * nprod
    qq = q0 * q0 + q1 * q1 + q2 * q2
    rad = qq * nsq
    if SHAPE == 3:
        inside = rad * fudge < 0.3969
        return (tl.where(inside, nprod, 0.0), zero, zero, zero,
                tl.where(inside, n1 * n2, 0.0), tl.where(inside, n0 * n2, 0.0),
                tl.where(inside, n0 * n1, 0.0), zero, zero, zero, zero, zero, zero, zero,
                zero)
    spread = tl.exp(-(rad / 0.63 * fudge))
    latt = nprod * spread
    g_rad = -latt * fudge / 0.63
    w = g_rad * nsq * 2.0
    return (latt, w * (q0 * r0 + q1 * r1 + q2 * r2), w * (q0 * r3 + q1 * r4 + q2 * r5),
            w * (q0 * r6 + q1 * r7 + q2 * r8),
            n1 * n2 * spread + g_rad * qq * 2.0 * n0 * (n1 * n2) * (n1 * n2),
            n0 * n2 * spread + g_rad * qq * 2.0 * n1 * (n0 * n2) * (n0 * n2),
            n0 * n1 * spread + g_rad * qq * 2.0 * n2 * (n0 * n1) * (n0 * n1),
            -latt * rad / 0.63, w, q0, q1, q2, eh, ek, el)


@triton.jit
def panel_value(panels_ptr, panel, c: tl.constexpr):
    """Entry c of each lane's panel in the panel array (14 doubles per panel)."""
    return tl.load(panels_ptr + panel * 14 + c)


@triton.jit
def geo_at(panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer, depth,
           distance, beam_ptr, POINT: tl.constexpr, CURVED: tl.constexpr,
           CAPTURE: tl.constexpr):
    """What a (layer, sub-pixel) derives from and its factors, per lane (as nb_geo_at):
    fd, sd, cf, cs, the flat position, the direction, air path, solid angle, capture,
    parallax and the two exponentials of the capture."""
    os_ = tl.cast(oversample, tl.float64)
    size = panel_value(panels_ptr, panel, 12)
    step = size / os_
    fd = step * (pf * os_ + sub_f) + step / 2.0
    sd = step * (ps * os_ + sub_s) + step / 2.0
    cf = ((pf * os_ + sub_f) + 0.5) / os_
    cs = ((ps * os_ + sub_s) + 0.5) / os_
    fx = fd * panel_value(panels_ptr, panel, 0) + sd * panel_value(panels_ptr, panel, 3) \
        + layer * panel_value(panels_ptr, panel, 6) + panel_value(panels_ptr, panel, 9)
    fy = fd * panel_value(panels_ptr, panel, 1) + sd * panel_value(panels_ptr, panel, 4) \
        + layer * panel_value(panels_ptr, panel, 7) + panel_value(panels_ptr, panel, 10)
    fz = fd * panel_value(panels_ptr, panel, 2) + sd * panel_value(panels_ptr, panel, 5) \
        + layer * panel_value(panels_ptr, panel, 8) + panel_value(panels_ptr, panel, 11)
    x = fx
    y = fy
    z = fz
    if CURVED:
        bx = tl.load(beam_ptr) * distance
        by = tl.load(beam_ptr + 1) * distance
        bz = tl.load(beam_ptr + 2) * distance
        tx, ty, tz = rotate(panel_value(panels_ptr, panel, 3), panel_value(panels_ptr, panel, 4),
                             panel_value(panels_ptr, panel, 5), bx, by, bz, fy / distance)
        x, y, z = rotate(panel_value(panels_ptr, panel, 0), panel_value(panels_ptr, panel, 1),
                          panel_value(panels_ptr, panel, 2), tx, ty, tz, fz / distance)
    air = tl.sqrt(x * x + y * y + z * z)
    dx = x / air
    dy = y / air
    dz = z / air
    if POINT:
        omega = 1.0 / air / air
    else:
        omega = size * size / air / air * panel_value(panels_ptr, panel, 13) / air
    parallax = dx * panel_value(panels_ptr, panel, 6) + dy * panel_value(panels_ptr, panel, 7) \
        + dz * panel_value(panels_ptr, panel, 8)
    index = tl.cast(first_layer + t, tl.float64)
    e1 = tl.exp(-index * depth / parallax)
    e2 = tl.exp(-(index + 1.0) * depth / parallax)
    if CAPTURE:
        capture = e1 - e2
    else:
        capture = tl.full(dx.shape, 1.0, tl.float64)
    return fd, sd, cf, cs, fx, fy, fz, dx, dy, dz, air, omega, capture, parallax, e1, e2, index


@triton.jit
def rotate_grad(ax, ay, az, vx, vy, vz, angle, gx, gy, gz):
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
