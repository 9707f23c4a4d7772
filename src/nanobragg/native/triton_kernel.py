"""The fused engine on the GPU: the C kernel's per-pixel sum as one Triton launch.

Triton compiles the kernel at run time for the GPU (no CUDA toolkit needed); with
``TRITON_INTERPRET=1`` the same kernel runs on the CPU (numpy-backed, slow, exact to
float64 rounding), which is how the tests check it on a machine without a GPU. It takes
the same parameter struct and arrays as the C kernel (:func:`nanobragg.native.kernel._arguments`),
renders the same options, and one program renders :data:`BLOCK` pixels, looping over
layers, sub-pixels, sources and orientations in the C's order. Tricubic interpolation's
stop (the first evaluation off the grid in the C's serial order) is found by a first
launch and a device-side search, without a host round trip.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..models.setup import Setup, background, scale
from . import kernel as fused
from .triton_math import geo_at, lattice, miller, nearest_index, outside, tricubic_grad

#: Pixels per program (lanes of a block).
BLOCK = 64
#: Integer kernel arguments Triton must not specialise (an argument equal to 1 would
#: become a compile-time constant, and one compiled kernel per value).
COUNTS = ("first", "n", "fpixels", "frame", "oversample", "n_layers", "n_sources",
          "n_orient", "first_layer")
#: No stop: interpolate every evaluation.
NEVER = 2**62
#: The float64 parameters, passed in one array (a Python float argument would be float32).
REALS = ("kahn", "dmin", "default_F", "background", "scale", "N0", "N1", "N2", "fudge",
         "depth", "distance")


@triton.jit
def reals(reals_ptr):
    """The float64 parameters (:data:`REALS`)."""
    return (tl.load(reals_ptr), tl.load(reals_ptr + 1), tl.load(reals_ptr + 2),
            tl.load(reals_ptr + 3), tl.load(reals_ptr + 4), tl.load(reals_ptr + 5),
            tl.load(reals_ptr + 6), tl.load(reals_ptr + 7), tl.load(reals_ptr + 8),
            tl.load(reals_ptr + 9), tl.load(reals_ptr + 10))


@triton.jit
def geometry(panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer,
             depth, distance, beam_ptr, POINT: tl.constexpr, CURVED: tl.constexpr,
             CAPTURE: tl.constexpr):
    """Unit diffracted direction, solid angle and capture fraction of one (layer,
    sub-pixel) per lane."""
    _, _, _, _, _, _, _, dx, dy, dz, _, omega, capture, _, _, _, _ = geo_at(
        panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer, depth,
        distance, beam_ptr, POINT, CURVED, CAPTURE)
    return dx, dy, dz, omega, capture


@triton.jit
def source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s, kahn, dmin):
    """Scattering vector (1/m), whether the resolution cut keeps it, and the
    polarization factor of source s per lane."""
    ix = tl.load(inc_ptr + 3 * s)
    iy = tl.load(inc_ptr + 3 * s + 1)
    iz = tl.load(inc_ptr + 3 * s + 2)
    wl = tl.load(wl_ptr + s)
    sx = (dx - ix) / wl
    sy = (dy - iy) / wl
    sz = (dz - iz) / wl
    stol = 0.5 * tl.sqrt(sx * sx + sy * sy + sz * sz)
    cut = tl.zeros(stol.shape, tl.float64) + dmin
    keep = ~((cut > 0) & (stol > 0) & (cut > 0.5 / tl.where(stol > 0, stol, 1.0)))
    c2t = ix * dx + iy * dy + iz * dz
    eo = tl.load(e_ptr + 3 * s) * dx + tl.load(e_ptr + 3 * s + 1) * dy \
        + tl.load(e_ptr + 3 * s + 2) * dz
    bo = tl.load(b_ptr + 3 * s) * dx + tl.load(b_ptr + 3 * s + 1) * dy \
        + tl.load(b_ptr + 3 * s + 2) * dz
    norm = eo * eo + bo * bo
    c2psi = tl.where(norm > 0, (eo * eo - bo * bo) / tl.where(norm > 0, norm, 1.0), 1.0)
    polar = 0.5 * (1.0 + c2t * c2t - kahn * c2psi * (1.0 - c2t * c2t))
    return sx, sy, sz, keep, polar


@triton.jit
def pixel_indices(pixels_ptr, first, n, fpixels, frame, LISTED: tl.constexpr,
                  BLOCK: tl.constexpr):
    """Lane positions in the list, whether they exist, and each pixel's panel, slow and
    fast index."""
    position = first + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = position < first + n
    if LISTED:
        pixel = tl.load(pixels_ptr + position - first, mask=live, other=0)
    else:
        pixel = tl.where(live, position, 0)
    panel = pixel // frame
    local = pixel - panel * frame
    slow = local // fpixels
    fast = local - slow * fpixels
    return position, live, panel, slow.to(tl.float64), fast.to(tl.float64)


@triton.jit(do_not_specialize=COUNTS)
def render_kernel(out_ptr, pixels_ptr, first, n, fpixels, frame, panels_ptr, layers_ptr,
                  inc_ptr, wl_ptr, e_ptr, b_ptr, rows_ptr, table_ptr, recip_ptr, beam_ptr,
                  mins_ptr, ranges_ptr, reals_ptr, stop_ptr, oversample, n_layers, n_sources,
                  n_orient, first_layer, panels_stride, layers_stride, inc_stride, wl_stride,
                  e_stride, b_stride, rows_stride, recip_stride, beam_stride, reals_stride,
                  stop_stride, SHAPE: tl.constexpr, LOOKUP: tl.constexpr,
                  REAL: tl.constexpr, LISTED: tl.constexpr, POINT: tl.constexpr,
                  CURVED: tl.constexpr, CAPTURE: tl.constexpr, NOPOLAR: tl.constexpr,
                  WATER: tl.constexpr, OVER_THICK: tl.constexpr, OVER_POLAR: tl.constexpr,
                  OVER_OMEGA: tl.constexpr, BLOCK: tl.constexpr):
    """Photons of BLOCK pixels per program (as nb_render_*); the second grid axis is the
    shot, each array advanced by its shot stride (0: shared by every shot)."""
    shot = tl.program_id(1)
    panels_ptr += shot * panels_stride
    layers_ptr += shot * layers_stride
    inc_ptr += shot * inc_stride
    wl_ptr += shot * wl_stride
    e_ptr += shot * e_stride
    b_ptr += shot * b_stride
    rows_ptr += shot * rows_stride
    recip_ptr += shot * recip_stride
    beam_ptr += shot * beam_stride
    reals_ptr += shot * reals_stride
    stop_ptr += shot * stop_stride
    out_ptr += shot * n
    kahn, dmin, default_F, background, scale, n0, n1, n2, fudge, depth, distance = \
        reals(reals_ptr)
    position, live, panel, ps, pf = pixel_indices(pixels_ptr, first, n, fpixels, frame,
                                                  LISTED, BLOCK)
    stop_position = tl.load(stop_ptr)
    stop_eval = tl.load(stop_ptr + 1)
    limit = tl.where(position < stop_position, 2**62,
                     tl.where(position == stop_position, stop_eval, 0))
    RUNNING: tl.constexpr = OVER_THICK or OVER_POLAR or OVER_OMEGA
    acc = tl.zeros((BLOCK,), tl.float64)
    if RUNNING:
        acc += background
    omega0 = tl.zeros((BLOCK,), tl.float64)
    capture_last = tl.zeros((BLOCK,), tl.float64)
    polar0 = tl.zeros((BLOCK,), tl.float64)
    have = tl.zeros((BLOCK,), tl.int1)
    subs = oversample * oversample
    fdef = default_F.to(REAL)
    for t in range(n_layers):
        layer = tl.load(layers_ptr + t)
        for sub in range(subs):
            sub_s = (sub // oversample).to(tl.float64)
            sub_f = (sub % oversample).to(tl.float64)
            dx, dy, dz, omega, capture = geometry(
                panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer,
                depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
            if sub == 0:
                if t == 0:
                    omega0 = omega
                capture_last = capture
            for s in range(n_sources):
                sx, sy, sz, keep, polar = source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s,
                                                 kahn, dmin)
                take = (~have) & keep
                polar0 = tl.where(take, polar, polar0)
                have = have | keep
                factor = tl.full((BLOCK,), 1.0, tl.float64)
                if OVER_THICK:
                    factor = factor * capture
                if OVER_POLAR:
                    factor = factor * polar
                if OVER_OMEGA:
                    factor = factor * omega
                e0 = ((t * subs + sub) * n_sources + s) * n_orient
                for o in range(n_orient):
                    h, k, l = miller(rows_ptr, o, sx, sy, sz)
                    latt = lattice(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE, REAL)
                    if LOOKUP == 0:
                        fcell = tl.full((BLOCK,), 1.0, REAL) * fdef
                    else:
                        at = nearest_index(h, k, l, mins_ptr, ranges_ptr)
                        near = tl.load(table_ptr + tl.maximum(at, 0))
                        fcell = tl.where(at >= 0, near, fdef)
                        if LOOKUP == 2:
                            inter, _, _, _ = tricubic_grad(h, k, l, table_ptr, mins_ptr, ranges_ptr)
                            fcell = tl.where(e0 + o < limit, inter.to(REAL), fcell)
                    term = (fcell * fcell) * (latt * latt)
                    if RUNNING:
                        if WATER:
                            passed = ~keep
                        else:
                            passed = (~keep) | (latt == 0)
                        acc = (acc + tl.where(keep, term.to(tl.float64), 0.0)) \
                            * tl.where(passed, 1.0, factor)
                    else:
                        acc = acc + tl.where(keep, term.to(tl.float64), 0.0)
    polar0 = tl.where(have, polar0, 0.0)
    final = tl.full((BLOCK,), 1.0, tl.float64)
    if not OVER_OMEGA:
        final = final * omega0
    if not OVER_THICK:
        final = final * capture_last
    if not OVER_POLAR:
        if not NOPOLAR:
            final = final * polar0
    if RUNNING:
        total = acc
    else:
        total = background + acc
    tl.store(out_ptr + position - first, (scale * total * final).to(REAL), mask=live)


@triton.jit(do_not_specialize=COUNTS)
def stop_kernel(hit_ptr, pixels_ptr, first, n, fpixels, frame, panels_ptr, layers_ptr,
                inc_ptr, wl_ptr, e_ptr, b_ptr, rows_ptr, recip_ptr, beam_ptr, mins_ptr,
                ranges_ptr, reals_ptr, oversample, n_layers, n_sources, n_orient, first_layer,
                SHAPE: tl.constexpr,
                REAL: tl.constexpr, LISTED: tl.constexpr, POINT: tl.constexpr,
                CURVED: tl.constexpr, CAPTURE: tl.constexpr, WATER: tl.constexpr,
                BLOCK: tl.constexpr):
    """Per pixel, the first evaluation (in the C's loop order) that tricubic
    interpolation cannot take and the C reaches; -1 where there is none."""
    kahn, dmin, default_F, background, scale, n0, n1, n2, fudge, depth, distance = \
        reals(reals_ptr)
    position, live, panel, ps, pf = pixel_indices(pixels_ptr, first, n, fpixels, frame,
                                                  LISTED, BLOCK)
    hit = tl.full((BLOCK,), -1, tl.int64)
    subs = oversample * oversample
    for t in range(n_layers):
        layer = tl.load(layers_ptr + t)
        for sub in range(subs):
            sub_s = (sub // oversample).to(tl.float64)
            sub_f = (sub % oversample).to(tl.float64)
            dx, dy, dz, omega, capture = geometry(
                panels_ptr, panel, ps, pf, t, layer, sub_s, sub_f, oversample, first_layer,
                depth, distance, beam_ptr, POINT, CURVED, CAPTURE)
            for s in range(n_sources):
                sx, sy, sz, keep, polar = source(dx, dy, dz, inc_ptr, wl_ptr, e_ptr, b_ptr, s,
                                                 kahn, dmin)
                e0 = ((t * subs + sub) * n_sources + s) * n_orient
                for o in range(n_orient):
                    h, k, l = miller(rows_ptr, o, sx, sy, sz)
                    off = keep & outside(h, k, l, mins_ptr, ranges_ptr)
                    if not WATER:
                        latt = lattice(h, k, l, n0, n1, n2, fudge, recip_ptr, SHAPE, REAL)
                        off = off & (latt != 0)
                    hit = tl.where((hit < 0) & off, e0 + o, hit)
    tl.store(hit_ptr + position - first, hit, mask=live)


def _launch_args(setup: Setup, fpixels: int) -> tuple[dict, list, list]:
    """The C kernel's parameters and arrays, on the setup's device, as kernel arguments:
    (the parameter struct's dict, the arrays, the counts). The model values go in float64
    arrays built on the device (:data:`REALS`, the reciprocal rows, the curved beam), so
    nothing is read back from a GPU."""
    args = fused._arguments(setup, fpixels, host_values=False)
    p = args["params"]
    dev = setup.device
    f64, i64 = torch.float64, torch.int64
    arrays = [t.to(dev) for t in args["keep"]]
    det, beam, crystal = setup.detector, setup.beam, setup.crystal

    def value(x) -> torch.Tensor:
        x = x.detach() if isinstance(x, torch.Tensor) else x
        return torch.as_tensor(x, dtype=f64, device=dev).reshape(())

    distance = det.distance if det.distance.dim() == 0 else 0.0
    cells = crystal.N.detach().to(setup.dtype).to(device=dev, dtype=f64)
    values = torch.stack([value(beam.kahn), value(p.dmin), value(p.default_F),
                          value(background(setup)), value(scale(setup)), *cells.unbind(),
                          value(crystal.fudge), value(det.thickstep * det.mu), value(distance)])
    arrays += [crystal.recip_rows.detach().reshape(-1).to(device=dev, dtype=f64).contiguous(),
               det.beam.detach().reshape(-1)[:3].to(device=dev, dtype=f64).contiguous(),
               torch.tensor(list(p.mins), dtype=i64, device=dev),
               torch.tensor(list(p.ranges), dtype=i64, device=dev), values]
    scalars = [p.oversample, p.n_layers, p.n_sources, p.n_orient, p.first_layer]
    return {name: getattr(p, name) for name, _ in p._fields_}, arrays, scalars


#: Positions (in the launch arrays) of the arrays that differ from shot to shot; the F
#: table and its grid (7, 10, 11) are shared.
SHOT_ARRAYS = (0, 1, 2, 3, 4, 5, 6, 8, 9, 12)


def _launch(setup: Setup, p: dict, arrays: list, scalars: list, stop: torch.Tensor,
            out: torch.Tensor, pixels: torch.Tensor | None, total: int, fpixels: int,
            shots: int, strides: tuple) -> None:
    """One launch of the render kernel over (pixel blocks, shots)."""
    render_kernel[(triton.cdiv(total, BLOCK), shots)](
        out, pixels if pixels is not None else out, 0, total, fpixels, p["frame"], *arrays,
        stop, *scalars, *strides, SHAPE=p["shape"], LOOKUP=p["lookup"], REAL=_real(setup),
        LISTED=pixels is not None, POINT=bool(p["point_pixel"]), CURVED=bool(p["curved"]),
        CAPTURE=bool(p["capture"]), NOPOLAR=bool(p["nopolar"]), WATER=bool(p["water"]),
        OVER_THICK=bool(p["over_thick"]), OVER_POLAR=bool(p["over_polar"]),
        OVER_OMEGA=bool(p["over_omega"]), BLOCK=BLOCK, enable_fp_fusion=False)


def render_shots(setups: list[Setup], flat_index: torch.Tensor | int, fpixels: int
                 ) -> torch.Tensor:
    """Photons of the same pixels of several shots in one launch (a shot axis in the
    grid), (shots, P) on the setups' device: the shots must share the sampling, every
    tensor's shape, N and the F table (a data set's batch). Each shot's image has the
    bits of :func:`render_frame` of it alone.

    Raises:
        ValueError: a lookup whose interpolation stops part-way (tricubic), which is
            per image.
    """
    first = setups[0]
    pixels = None if isinstance(flat_index, int) else flat_index.to(
        device=first.device, dtype=torch.int64).contiguous()
    total = flat_index if pixels is None else pixels.numel()
    launched = [_launch_args(s, fpixels) for s in setups]
    p, arrays, scalars = launched[0]
    if p["lookup"] == fused.TRICUBIC:
        raise ValueError("render_shots: tricubic interpolation stops per image; render "
                         "such shots one at a time")
    stacked = list(arrays)
    for at in SHOT_ARRAYS:
        stacked[at] = torch.stack([a[at] for _, a, _ in launched]).contiguous()
    strides = tuple(arrays[at].numel() for at in SHOT_ARRAYS)
    stop = torch.tensor([NEVER, 0], dtype=torch.int64, device=first.device)
    out = torch.empty((len(setups), total), dtype=first.dtype, device=first.device)
    if total:
        _launch(first, p, stacked, scalars, stop, out, pixels, total, fpixels,
                shots=len(setups), strides=strides + (0,))
    return out


def _real(setup: Setup):
    return tl.float32 if setup.dtype == torch.float32 else tl.float64


def find_stop(setup: Setup, launched: tuple, fpixels: int, pixels: torch.Tensor | None,
              total: int) -> torch.Tensor:
    """(2,) int64 on the device: the list position where tricubic interpolation stops
    and the evaluation there (:data:`NEVER`, 0 when it does not stop or does not
    interpolate), found on the device. ``launched``: the :func:`_launch_args` of the
    setup."""
    p, arrays, scalars = launched
    dev = setup.device
    never = torch.tensor([NEVER, 0], dtype=torch.int64, device=dev)
    if p["lookup"] != fused.TRICUBIC or total == 0:
        return never
    hit = torch.empty(total, dtype=torch.int64, device=dev)
    listed = pixels if pixels is not None else hit
    stop_kernel[(triton.cdiv(total, BLOCK),)](
        hit, listed, 0, total, fpixels, p["frame"], *arrays[:7], *arrays[8:], *scalars,
        SHAPE=p["shape"], REAL=_real(setup), LISTED=pixels is not None,
        POINT=bool(p["point_pixel"]), CURVED=bool(p["curved"]), CAPTURE=bool(p["capture"]),
        WATER=bool(p["water"]), BLOCK=BLOCK, enable_fp_fusion=False)
    found = hit >= 0
    first = torch.argmax(found.to(torch.int8))
    any_hit = found.any()
    return torch.stack([torch.where(any_hit, first, NEVER),
                        torch.where(any_hit, hit[first], 0)])


def render_frame(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
                 progress=None) -> tuple[torch.Tensor, int | None]:
    """As :func:`nanobragg.native.kernel.render_frame`, by the Triton kernel on the
    setup's device (one launch; ``progress`` is called once at the end)."""
    pixels = None if isinstance(flat_index, int) else flat_index.to(
        device=setup.device, dtype=torch.int64).contiguous()
    total = flat_index if pixels is None else pixels.numel()
    out = torch.empty(total, dtype=setup.dtype, device=setup.device)
    if total == 0:
        return out, None
    p, arrays, scalars = launched = _launch_args(setup, fpixels)
    stop = find_stop(setup, launched, fpixels, pixels, total)
    _launch(setup, p, arrays, scalars, stop, out, pixels, total, fpixels, shots=1,
            strides=(0,) * len(SHOT_ARRAYS) + (0,))
    if progress is not None:
        progress(total)
    position = int(stop[0])
    if position >= NEVER:
        return out, None
    return out, position if pixels is None else int(pixels[position])
