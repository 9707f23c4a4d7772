"""The fused engine: the whole per-pixel sum in one compiled C loop (no gradient).

What it renders is listed in :mod:`nanobragg.engines`. It gives the eager kernel's image
up to float rounding: the lattice factor uses sin(pi x) as a polynomial on the reduced
argument instead of libm's sin of the full argument.
"""

from __future__ import annotations

import ctypes
import threading

import torch

from ..models.setup import Setup, background, scale
from ..vectors import unit, value_of
from ..workers import run_items
from . import abi, build

#: Pixels per work item handed to a thread (a multiple of the kernel's block of 64).
MIN_PIXELS_PER_ITEM = 256


def render(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
           threads: int | None = None, progress=None) -> torch.Tensor:
    """Photons of the pixels ``flat_index`` (slow*fpixels + fast), shape (P,), setup.dtype.

    An int ``flat_index`` means the first that many pixels (a whole frame).

    Work is split into items of whole pixel blocks that ``threads`` Python threads take
    in turn (:func:`nanobragg.workers.run_items`; the library call releases the GIL).
    ``progress(pixels_done)`` is called after each item when given.
    """
    lib = build.load()
    args = _arguments(setup, fpixels)
    fn = lib.nb_render_f32 if setup.dtype == torch.float32 else lib.nb_render_f64
    pixels = None if isinstance(flat_index, int) else flat_index.to(torch.int64).contiguous()
    total = flat_index if pixels is None else pixels.numel()
    out = torch.empty(total, dtype=setup.dtype)
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


def _arguments(setup: Setup, fpixels: int) -> dict:
    """The parameter struct and the array pointers (kept alive in the dict)."""
    f64 = torch.float64
    det, beam, crystal, s, table = (setup.detector, setup.beam, setup.crystal,
                                    setup.sampling, setup.table)
    incident = beam.incident.detach().to(f64).contiguous()
    axis = beam.polar_vector.detach().to(f64).expand_as(incident)
    b_in = unit(torch.linalg.cross(axis, incident, dim=-1)).contiguous()
    e_in = unit(torch.linalg.cross(incident, b_in, dim=-1)).contiguous()
    tensors = [det.layer_offsets.detach().to(f64).contiguous(), incident,
               beam.wavelength.detach().to(f64).contiguous(), e_in, b_in,
               crystal.real_rows.detach().to(f64).reshape(-1, 9).contiguous(),
               table.F.detach().to(s.dtype).contiguous()]
    p = abi.Params()
    for name in ("fdet", "sdet", "odet", "pix0"):
        getattr(p, name)[:] = [float(v) for v in getattr(det, name).detach()]
    p.N[:] = [value_of(n) for n in crystal.N.to(s.dtype)]
    p.pixel_size, p.close_distance = value_of(det.pixel_size), value_of(det.close_distance)
    p.kahn = value_of(beam.kahn)
    p.background, p.scale = value_of(background(setup)), value_of(scale(setup))
    p.dmin, p.default_F = float(s.dmin), float(table.default_F)
    p.oversample, p.fpixels = s.oversample, fpixels
    p.point_pixel, p.nopolar = int(s.point_pixel), int(s.nopolar)
    p.n_layers, p.n_sources = det.layer_offsets.shape[0], incident.shape[0]
    p.n_orient = crystal.real_rows.shape[0] * crystal.real_rows.shape[1]
    p.table_loaded = int(table.loaded)
    p.mins[:] = [int(m) for m in table.mins]
    p.ranges[:] = list(table.ranges)
    arrays = [ctypes.c_void_p(t.data_ptr()) for t in tensors]
    return {"params": p, "arrays": arrays, "keep": tensors}
