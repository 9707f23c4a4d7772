"""Gradients through the fused kernel: a torch.autograd.Function whose forward is the
compiled render and whose backward is its compiled adjoint (``nb_adjoint``).

The function's inputs are the tensors the kernel reads (per panel the detector frame,
origin, pixel size and close distance; layer offsets, absorption per layer (layer step
times mu), the distance and beam of a curved detector; the scale and water background;
the polarization vectors and Kahn factor; sources and wavelengths; crystal rows per phi
step and mosaic domain, reciprocal rows, N and fudge; the F table); everything upstream
of them (configuration -> models) stays ordinary autograd. The backward runs in double
on fixed items of :data:`ITEM_PIXELS` pixels, each summed pixel after pixel into its own
buffer, and the buffers are added in item order: the same bits for any thread count,
memory O(pixels + threads * parameters).

Second derivatives are not available here: a backward that would build a graph (for
``create_graph=True``, gradgradcheck, Hessian-vector products) raises an error that says
to render with ``engine="eager"``.
"""

from __future__ import annotations

import ctypes

import torch

from ..models.setup import Setup, background, scale
from ..physics.vectors import unit
from . import abi, build
from . import kernel as fused
from .threads import run_items

#: Pixels per backward work item (fixed, so that the sum order is the same for any
#: thread count).
ITEM_PIXELS = 2048
#: The detector fields of the kernel's panel array, with their widths (per panel).
PANEL_FIELDS = abi.PANEL_FIELDS
#: The first column of each panel field in a panel's doubles.
_PANEL_COLUMNS = tuple(sum(w for _, w in PANEL_FIELDS[:k]) for k in range(len(PANEL_FIELDS)))
#: The kernel's inputs in the order of :class:`FusedRender` and of the gradient buffer,
#: as (model, field) or a name: the panel fields, then the globals, then the arrays.
INPUTS = (*(("detector", name) for name, _ in PANEL_FIELDS),
          "scale", "background", ("beam", "kahn"), ("crystal", "N"), ("crystal", "fudge"),
          ("crystal", "recip_rows"), "depth", ("detector", "distance"),
          ("detector", "beam"), ("detector", "layer_offsets"), ("beam", "incident"),
          ("beam", "wavelength"), "e_in", "b_in", ("crystal", "real_rows"), "table")
#: Doubles of each global in the buffer (the kernel reads one value of each).
GLOBAL_SIZES = dict(abi.GRADIENT_GLOBALS)

SECOND_DERIVATIVE_MESSAGE = (
    "second derivatives (create_graph=True, gradgradcheck, Hessian-vector products) are "
    "not available through the fused engine; render with engine='eager' for them")


def inputs(setup: Setup) -> list[torch.Tensor]:
    """The tensors of :data:`INPUTS` for a setup (e_in, b_in, scale and background by
    ordinary autograd from the models)."""
    beam = setup.beam
    axis = beam.polar_vector.expand_as(beam.incident)
    b_in = unit(torch.linalg.cross(axis, beam.incident, dim=-1))
    e_in = unit(torch.linalg.cross(beam.incident, b_in, dim=-1))
    det = setup.detector
    named = {"scale": scale(setup), "background": background(setup), "e_in": e_in,
             "b_in": b_in, "table": setup.table.F,
             "depth": torch.as_tensor(det.thickstep * det.mu, dtype=torch.float64)}
    return [named[key] if isinstance(key, str) else getattr(getattr(setup, key[0]), key[1])
            for key in INPUTS]


def render(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
           progress=None, backend: str = "fast") -> tuple[torch.Tensor, int | None]:
    """As :func:`nanobragg.native.kernel.render_frame`, differentiable in the inputs.

    ``backend``: ``"fast"`` (the C kernel and adjoint) or ``"triton"`` (the Triton ones,
    :mod:`nanobragg.native.triton_kernel`, on the setup's device).
    """
    holder: dict = {}
    values = FusedRender.apply((setup, flat_index, fpixels, progress, holder, backend),
                               *inputs(setup))
    return values, holder.get("stop")


def _backend(name: str):
    """(forward render_frame, adjoint) of a backend; Triton is imported only when used."""
    if name == "triton":
        from . import triton_adjoint, triton_kernel

        return triton_kernel.render_frame, triton_adjoint.adjoint
    return fused.render_frame, adjoint


class FusedRender(torch.autograd.Function):
    """Photons of a pixel list by the fused kernel; backward by its adjoint."""

    @staticmethod
    def forward(ctx, spec, *tensors):
        setup, flat_index, fpixels, progress, holder, backend = spec
        forward, _ = _backend(backend)
        values, holder["stop"] = forward(setup, flat_index, fpixels, progress=progress)
        ctx.spec = (setup, flat_index, fpixels, backend)
        return values

    @staticmethod
    def backward(ctx, grad_out):
        if torch.is_grad_enabled():
            raise RuntimeError(SECOND_DERIVATIVE_MESSAGE)
        setup, flat_index, fpixels, backend = ctx.spec
        wanted = ctx.needs_input_grad[1:]
        _, backward = _backend(backend)
        flat = backward(setup, flat_index, fpixels, grad_out, with_table=wanted[-1])
        return (None, *_unpack(setup, flat, wanted))


def adjoint(setup: Setup, flat_index: torch.Tensor | int, fpixels: int,
            grad_out: torch.Tensor, with_table: bool, threads: int | None = None
            ) -> torch.Tensor:
    """The gradient buffer (float64, the layout of ``nb_adjoint``) for cotangents
    ``grad_out`` (P,) of the photons of ``flat_index``."""
    lib = build.load()
    args = fused._arguments(setup, fpixels)
    params = args["params"]
    f64 = torch.float64
    arrays = [t.to(f64).contiguous() for t in args["keep"]]  # the table in double
    pointers = [ctypes.c_void_p(t.data_ptr()) for t in arrays]
    g = grad_out.detach().to(f64).contiguous()
    pixels = None if isinstance(flat_index, int) else flat_index.to(torch.int64).contiguous()
    total = g.numel()
    threads = max(1, threads or torch.get_num_threads())
    fused.find_stop(setup, args, pixels, total, threads)
    size = lib.nb_grad_size(ctypes.byref(params), int(with_table))
    starts = list(range(0, total, ITEM_PIXELS))
    result = torch.zeros(size, dtype=f64)
    slots = torch.zeros((threads, size), dtype=f64)
    scratch = torch.empty((threads, max(1, lib.nb_adjoint_scratch(ctypes.byref(params)))),
                          dtype=f64)
    for wave in range(0, len(starts), threads):
        batch = starts[wave:wave + threads]
        slots[:len(batch)].zero_()

        def work(k: int, batch=batch) -> None:
            start = batch[k]
            count = min(ITEM_PIXELS, total - start)
            listed = None if pixels is None else ctypes.c_void_p(pixels[start:].data_ptr())
            lib.nb_adjoint(ctypes.byref(params), listed, start, count, *pointers,
                           ctypes.c_void_p(g[start:].data_ptr()), int(with_table),
                           ctypes.c_void_p(slots[k].data_ptr()),
                           ctypes.c_void_p(scratch[k].data_ptr()))

        run_items(range(len(batch)), work, threads)
        for k in range(len(batch)):  # in item order: the same sum for any thread count
            result += slots[k]
    return result


def _unpack(setup: Setup, flat: torch.Tensor, wanted) -> list[torch.Tensor | None]:
    """Gradients of :data:`INPUTS` from the buffer, in their shapes and dtypes.

    A panel field shared by every panel (one frame) gets the sum over the panels; a
    global the kernel does not read as one value (the per-panel distance of stacked
    panels, read only by a curved detector) gets a zero gradient.
    """
    tensors = inputs_like(setup)
    panels = 1 if setup.detector.pix0.dim() == 1 else setup.detector.pix0.shape[0]
    per_panel = flat[:abi.PANEL_DOUBLES * panels].reshape(panels, abi.PANEL_DOUBLES)
    out: list[torch.Tensor | None] = []
    for (_, width), column, like, want in zip(PANEL_FIELDS, _PANEL_COLUMNS, tensors,
                                               wanted):
        part = per_panel[:, column:column + width]
        if like.numel() == width:
            part = part.sum(0)
        out.append(part.reshape(like.shape).to(like.dtype) if want else None)
    at = abi.PANEL_DOUBLES * panels
    for key, like, want in zip(INPUTS[len(PANEL_FIELDS):], tensors[len(PANEL_FIELDS):],
                               wanted[len(PANEL_FIELDS):]):
        name = key if isinstance(key, str) else key[1]
        count = GLOBAL_SIZES.get(name, like.numel())
        if name == "table" and not want:
            out.append(None)
            continue
        part = flat[at:at + count]
        at += count
        if not want:
            out.append(None)
        elif part.numel() == like.numel():
            out.append(part.reshape(like.shape).to(like.dtype))
        else:
            out.append(torch.zeros_like(like))
    return out


def inputs_like(setup: Setup) -> list[torch.Tensor]:
    """The inputs' shapes and dtypes without building the graph of e_in, b_in."""
    with torch.no_grad():
        return inputs(setup)
