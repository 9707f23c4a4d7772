"""Fast forward path: the whole per-pixel sum in one compiled C loop (no gradient).

It covers the common case (square crystal with whole N > 1, flat detector without
sensor absorption, no tricubic interpolation, no ``-oversample_*`` running products,
nearest or default structure factors, on the CPU) and gives the same image as the
kernel up to float rounding: the lattice factor uses sin(pi x) as a polynomial on the
reduced argument instead of libm's sin of the full argument. Everything else, and any
input that requires grad, takes the eager kernel.
"""

from __future__ import annotations

import ctypes
import threading

import torch

from ..kernel import KernelInputs
from ..physics.lattice import lattice_shape
from ..vectors import unit, value_of
from ..workers import run_items
from . import build

#: Evaluations below which the eager kernel is used even when the library is built.
MIN_EVALUATIONS = 1 << 20
#: Evaluations above which the library is compiled when it is not built yet (a compile
#: takes about a second; the eager kernel needs several seconds for this many).
COMPILE_EVALUATIONS = 1 << 20
#: Pixels per work item handed to a thread (a multiple of the kernel's block of 64).
MIN_PIXELS_PER_ITEM = 256


class _Params(ctypes.Structure):
    _fields_ = [(name, ctypes.c_double * 3) for name in ("fdet", "sdet", "odet", "pix0")] + [
        (name, ctypes.c_double) for name in ("pixel_size", "close_distance", "kahn", "dmin")
    ] + [("N", ctypes.c_double * 3)] + [
        (name, ctypes.c_double) for name in ("default_F", "background", "scale")
    ] + [(name, ctypes.c_int64) for name in (
        "oversample", "fpixels", "point_pixel", "nopolar", "n_layers", "n_sources",
        "n_orient", "table_loaded")] + [("mins", ctypes.c_int64 * 3),
                                        ("ranges", ctypes.c_int64 * 3)]


def supported(inp: KernelInputs) -> bool:
    """Whether the fast path covers these inputs."""
    tensors = [inp.fdet, inp.sdet, inp.odet, inp.pix0, inp.pixel_size, inp.close_distance,
               inp.incident, inp.wavelength, inp.polar_vector, inp.kahn, inp.real_rows,
               inp.N, inp.table.F, inp.background, inp.scale, inp.layer_offsets]
    if any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        return False
    if inp.pix0.device.type != "cpu" or inp.dtype not in (torch.float32, torch.float64):
        return False
    whole = all(value_of(n) == round(value_of(n)) and value_of(n) > 1 for n in inp.N)
    return (whole and lattice_shape(inp.shape).per_axis and not inp.curved and not inp.thick
            and not inp.interpolate and not (inp.oversample_thick or inp.oversample_polar
                                             or inp.oversample_omega))


def choose(inp: KernelInputs, pixels: int, engine: str = "auto") -> bool:
    """Whether to render with the fast path.

    Args:
        inp: kernel inputs.
        pixels: pixels to render.
        engine: ``"auto"`` (fast for renders big enough to gain, compiling the library
            only for large ones), ``"fast"`` (whenever supported) or ``"eager"``.
    """
    if engine == "eager" or not supported(inp):
        return False
    work = pixels * inp.evaluations_per_pixel
    if engine == "fast":
        return build.load() is not None
    if work < MIN_EVALUATIONS:
        return False
    return build.load(build=work >= COMPILE_EVALUATIONS) is not None


def render(inp: KernelInputs, flat_index: torch.Tensor | int, fpixels: int,
           threads: int | None = None, progress=None) -> torch.Tensor:
    """Photons of the pixels ``flat_index`` (slow*fpixels + fast), shape (P,), inp.dtype.

    An int ``flat_index`` means the first that many pixels (a whole frame).

    Work is split into items of whole pixel blocks that ``threads`` Python threads take
    in turn (:func:`nanobragg.workers.run_items`; the library call releases the GIL).
    ``progress(pixels_done)`` is called after each item when given.
    """
    lib = build.load()
    args = _arguments(inp, fpixels)
    fn = lib.nb_render_f32 if inp.dtype == torch.float32 else lib.nb_render_f64
    pixels = None if isinstance(flat_index, int) else flat_index.to(torch.int64).contiguous()
    total = flat_index if pixels is None else pixels.numel()
    out = torch.empty(total, dtype=inp.dtype)
    threads = threads or torch.get_num_threads()
    item = max(MIN_PIXELS_PER_ITEM, -(-total // (threads * 64)) // 64 * 64)
    lock = threading.Lock()

    def work(start: int) -> None:
        count = min(item, total - start)
        listed = None if pixels is None else ctypes.c_void_p(pixels[start:].data_ptr())
        fn(ctypes.byref(args["params"]), listed, ctypes.c_int64(start),
           ctypes.c_int64(count), *args["arrays"], ctypes.c_void_p(out[start:].data_ptr()))
        if progress is not None:
            with lock:
                progress(count)

    run_items(range(0, total, item), work, max(1, threads))
    return out


def _arguments(inp: KernelInputs, fpixels: int) -> dict:
    """The parameter struct and the array pointers (kept alive in the dict)."""
    f64 = torch.float64
    incident = inp.incident.detach().to(f64).contiguous()
    axis = inp.polar_vector.detach().to(f64).expand_as(incident)
    b_in = unit(torch.linalg.cross(axis, incident, dim=-1)).contiguous()
    e_in = unit(torch.linalg.cross(incident, b_in, dim=-1)).contiguous()
    tensors = [inp.layer_offsets.detach().to(f64).contiguous(), incident,
               inp.wavelength.detach().to(f64).contiguous(), e_in, b_in,
               inp.real_rows.detach().to(f64).reshape(-1, 9).contiguous(),
               inp.table.F.detach().to(inp.dtype).contiguous()]
    p = _Params()
    for name in ("fdet", "sdet", "odet", "pix0"):
        getattr(p, name)[:] = [float(v) for v in getattr(inp, name).detach()]
    p.N[:] = [value_of(n) for n in inp.N]
    for name in ("pixel_size", "close_distance", "kahn", "background", "scale"):
        setattr(p, name, value_of(getattr(inp, name)))
    p.dmin, p.default_F = float(inp.dmin), float(inp.table.default_F)
    p.oversample, p.fpixels = inp.oversample, fpixels
    p.point_pixel, p.nopolar = int(inp.point_pixel), int(inp.nopolar)
    p.n_layers, p.n_sources = inp.layer_offsets.shape[0], incident.shape[0]
    p.n_orient = inp.real_rows.shape[0] * inp.real_rows.shape[1]
    p.table_loaded = int(inp.table.loaded)
    p.mins[:] = [int(m) for m in inp.table.mins]
    p.ranges[:] = list(inp.table.ranges)
    arrays = [ctypes.c_void_p(t.data_ptr()) for t in tensors]
    return {"params": p, "arrays": arrays, "keep": tensors}
