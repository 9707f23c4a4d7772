"""The fused engine: the whole per-pixel sum in one compiled C loop (no gradient).

What it renders is listed in :mod:`nanobragg.render.engines`. It gives the eager kernel's image
up to float rounding: the lattice factor uses sin(pi x) as a polynomial on the reduced
argument instead of libm's sin of the full argument.
"""

from __future__ import annotations

import ctypes
import threading

import torch

from ..models.setup import Setup, background, scale
from ..physics.vectors import unit, value_of
from . import abi, build
from .threads import run_items

#: Pixels per work item handed to a thread (a multiple of the kernel's block of 64).
MIN_PIXELS_PER_ITEM = 256


#: Lattice shapes and structure-factor lookups as the kernel numbers them.
SHAPE_CODES = {"square": 0, "round": 1, "gauss": 2, "tophat": 3}
SQUARE_DIRECT = 4
ROUND_DIRECT = 5
DEFAULT_F, NEAREST, TRICUBIC = 0, 1, 2


def render(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
           threads: int | None = None, progress=None) -> torch.Tensor:
    """Photons of the pixels ``flat_index``, shape (P,), setup.dtype (see :func:`render_frame`)."""
    return render_frame(setup, flat_index, fpixels, threads, progress)[0]


def render_frame(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
                 threads: int | None = None, progress=None) -> tuple[torch.Tensor, int | None]:
    """Photons of the pixels ``flat_index`` (panel*frame + slow*fpixels + fast), shape
    (P,), setup.dtype, and where tricubic interpolation stopped.

    An int ``flat_index`` means the first that many pixels (a whole frame). A detector of
    stacked panels takes the panel from the index (frame = spixels * fpixels).

    Work is split into items of whole pixel blocks that ``threads`` Python threads take
    in turn (:func:`nanobragg.native.threads.run_items`; the library call releases the GIL).
    ``progress(pixels_done)`` is called after each item when given.

    Returns:
        The photons, and the flat index of the pixel at which tricubic interpolation
        left the grid and was switched off for the rest (None: it did not, or no
        tricubic interpolation).
    """
    lib = build.load()
    args = _arguments(setup, fpixels)
    f32 = setup.dtype == torch.float32
    fn = lib.nb_render_f32 if f32 else lib.nb_render_f64
    pixels = None if isinstance(flat_index, int) else flat_index.to(torch.int64).contiguous()
    total = flat_index if pixels is None else pixels.numel()
    out = torch.empty(total, dtype=setup.dtype)
    threads = max(1, threads or torch.get_num_threads())
    starts, item = _items(total, threads)
    params = ctypes.byref(args["params"])

    def listed(start: int):
        return None if pixels is None else ctypes.c_void_p(pixels[start:].data_ptr())

    stop = find_stop(setup, args, pixels, total, threads)
    lock = threading.Lock()

    def work(start: int) -> None:
        count = min(item, total - start)
        fn(params, listed(start), start, count, *args["arrays"],
           ctypes.c_void_p(out[start:].data_ptr()))
        if progress is not None:
            with lock:
                progress(count)

    run_items(starts, work, threads)
    if stop is None:
        return out, None
    return out, stop if pixels is None else int(pixels[stop])


def _items(total: int, threads: int) -> tuple[range, int]:
    """The first pixel of each work item, and the item size (whole blocks of 64)."""
    item = max(MIN_PIXELS_PER_ITEM, -(-total // (threads * 64)) // 64 * 64)
    return range(0, total, item), item


def find_stop(setup: Setup, args: dict, pixels: torch.Tensor | None, total: int,
              threads: int) -> int | None:
    """Where tricubic interpolation stops: the first position (in the pixel list) whose
    evaluation leaves the grid, items scanned in parallel and the earliest item's find
    winning. Sets it in the parameter struct of ``args`` (from :func:`_arguments`).

    Returns:
        That position, or None (no tricubic interpolation, or it never stops).
    """
    params = args["params"]
    if params.lookup != TRICUBIC:
        return None
    lib = build.load()
    fn = lib.nb_stop_f32 if setup.dtype == torch.float32 else lib.nb_stop_f64
    starts, item = _items(total, threads)
    found = {start: (ctypes.c_int64 * 2)() for start in starts}

    def scan(start: int) -> None:
        listed = None if pixels is None else ctypes.c_void_p(pixels[start:].data_ptr())
        fn(ctypes.byref(params), listed, start, min(item, total - start),
           *args["arrays"][:-1], found[start])

    run_items(starts, scan, threads)
    for start in starts:
        position, evaluation = found[start]
        if position >= 0:
            params.stop_position, params.stop_eval = position, evaluation
            return position
    return None


def _panels(det) -> torch.Tensor:
    """The detector frame per panel, (panels, 14) float64: fdet, sdet, odet, pix0,
    pixel size, close distance (one row for a detector of one panel)."""
    count = det.pix0.shape[0] if det.pix0.dim() > 1 else 1
    columns = [getattr(det, name).detach().to(torch.float64).reshape(-1, width)
               .expand(count, width)
               for name, width in abi.PANEL_FIELDS]
    return torch.cat(columns, 1).contiguous()


def _lattice_code(setup: Setup) -> int:
    """The kernel's shape code: the C's direct formula for the square shape (float64,
    non-whole N) and the round shape (both precisions) in C-parity mode, as the eager
    kernel's ``c_formula``."""
    s = setup.sampling
    code = SHAPE_CODES[s.shape]
    direct = s.c_formula and s.dtype == torch.float64
    if code == 0 and direct and any(value_of(n) != round(value_of(n)) for n in setup.crystal.N):
        code = SQUARE_DIRECT
    if code == SHAPE_CODES["round"] and s.c_formula:
        code = ROUND_DIRECT
    return code


def _arguments(setup: Setup, fpixels: int, host_values: bool = True) -> dict:
    """The parameter struct and the array pointers (kept alive in the dict).

    ``host_values=False`` leaves the struct's model values (N, fudge, reciprocal rows,
    Kahn factor, background, scale, absorption, curved distance and beam) at 0, so that
    nothing is read back from a GPU; the Triton kernels take those from the device.
    """
    f64 = torch.float64
    det, beam, crystal, s, table = (setup.detector, setup.beam, setup.crystal,
                                    setup.sampling, setup.table)
    incident = beam.incident.detach().to(f64).contiguous()
    axis = beam.polar_vector.detach().to(f64).expand_as(incident)
    b_in = unit(torch.linalg.cross(axis, incident, dim=-1)).contiguous()
    e_in = unit(torch.linalg.cross(incident, b_in, dim=-1)).contiguous()
    tensors = [_panels(det), det.layer_offsets.detach().to(f64).contiguous(), incident,
               beam.wavelength.detach().to(f64).contiguous(), e_in, b_in,
               crystal.real_rows.detach().to(f64).reshape(-1, 9).contiguous(),
               table.F.detach().to(s.dtype).contiguous()]
    p = abi.Params()
    if host_values:
        p.N[:] = [value_of(n) for n in crystal.N.to(s.dtype)]
        p.fudge = value_of(crystal.fudge)
        p.recip[:] = [float(v) for v in crystal.recip_rows.detach().reshape(-1)]
        p.kahn = value_of(beam.kahn)
        p.background, p.scale = value_of(background(setup)), value_of(scale(setup))
        p.depth = value_of(det.thickstep * det.mu)
        p.distance = value_of(det.distance) if det.distance.dim() == 0 else 0.0
        p.beam[:] = [float(v) for v in det.beam.detach().reshape(-1)[:3]]
    p.shape = _lattice_code(setup)
    p.dmin, p.default_F = float(s.dmin), float(table.default_F)
    p.oversample, p.fpixels, p.frame = s.oversample, fpixels, fpixels * det.spixels
    p.point_pixel, p.nopolar, p.curved = int(s.point_pixel), int(s.nopolar), int(s.curved)
    p.capture = int(s.thick or s.oversample_thick)
    p.first_layer, p.water = s.first_layer, int(s.water)
    p.over_thick, p.over_polar = int(s.oversample_thick), int(s.oversample_polar)
    p.over_omega = int(s.oversample_omega)
    p.lookup = (DEFAULT_F if not table.loaded else
                TRICUBIC if s.lookup == "tricubic" else NEAREST)
    p.n_layers, p.n_sources = det.layer_offsets.shape[0], incident.shape[0]
    p.n_orient = crystal.real_rows.shape[0] * crystal.real_rows.shape[1]
    p.mins[:] = [int(m) for m in table.mins]
    p.ranges[:] = list(table.ranges)
    p.stop_position, p.stop_eval = 2**63 - 1, 0
    p.n_panels = tensors[0].shape[0]
    arrays = [ctypes.c_void_p(t.data_ptr()) for t in tensors]
    return {"params": p, "arrays": arrays, "keep": tensors}
