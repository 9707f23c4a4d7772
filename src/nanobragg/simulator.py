"""One execution path for a whole image: build the models, run the kernel chunk by chunk."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from . import fast
from .config import SimulationConfig
from .errors import InputError
from .kernel import KernelInputs, render_pixels
from .models.beam import Beam, build_beam
from .models.crystal import Crystal, build_crystal
from .models.detector import Detector, build_detector, frame_vectors
from .parameters import check_gradient_requests
from .physics.structure_factors import FTable
from .substeps import render_blocked, splittable
from .units import R_E_SQR
from .vectors import value_of
from .workers import run_items

log = logging.getLogger(__name__)

#: Evaluations (pixels x sub-steps) per chunk; bounds the kernel's memory.
EVALUATIONS_PER_CHUNK = 1 << 16
#: Tricubic interpolation gathers 64 neighbours per evaluation, so chunks are smaller.
INTERPOLATION_EVALUATIONS_PER_CHUNK = 1 << 13
#: Default budgets are multiplied by this on a GPU.
GPU_CHUNK_FACTOR = 64


@dataclass(frozen=True)
class Setup:
    """The models and derived sampling of one simulation."""

    detector: Detector
    crystal: Crystal
    beam: Beam
    oversample: int
    steps: int
    inputs: KernelInputs


@dataclass
class SimulationResult:
    """A rendered image and its statistics.

    Attributes:
        image: photons per pixel, shape (spixels, fpixels), in the working dtype.
        rendered: pixels the C would visit (inside ROI and not masked), bool, same shape.
        setup: the models used.
        interpolation_stop: flat index (slow*fpixels + fast) of the pixel where tricubic
            interpolation left the grid and was switched off for the rest, else None.
    """

    image: torch.Tensor
    rendered: torch.Tensor
    setup: Setup
    interpolation_stop: int | None = None


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks CUDA when available, else CPU.

    Raises:
        InputError: CUDA was asked for but this torch cannot use it.
    """
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("-device cuda: no CUDA device is available to this torch build")
    return device


def prepare(config: SimulationConfig, table: FTable | None = None,
            dtype: torch.dtype = torch.float64, device: torch.device | str | None = "cpu"
            ) -> Setup:
    """Build the detector, crystal and beam models and the kernel inputs.

    The models (setup geometry) are always float64; ``dtype`` sets the precision of the
    per-evaluation work in the kernel.

    Args:
        config: the simulation configuration.
        table: structure factors; None means every reflection has ``default_F``.
        dtype: working precision.
        device: where to compute ("cpu", "cuda", "auto").

    Returns:
        The setup shared by the full render and the pixel trace.
    """
    config.validate()
    check_gradient_requests(config)
    device = resolve_device(device)
    det_cfg, cry_cfg = config.detector, config.crystal
    geometry = torch.float64
    frame = frame_vectors(det_cfg, config.beam, geometry, device, cry_cfg.spindle_axis)
    detector = build_detector(det_cfg, config.beam, geometry, device)
    crystal = build_crystal(cry_cfg, frame["spindle"], geometry, device)
    beam = build_beam(config.beam, frame["beam"], frame["polar"])
    table = _table_on(table, cry_cfg.default_F, dtype, device)
    oversample = choose_oversample(det_cfg.oversample, crystal, detector, config.beam.wavelength)
    steps = beam.sources * crystal.domains * crystal.phisteps * oversample**2
    interpolate = _interpolation_on(cry_cfg.interpolate, cry_cfg.N, table)
    inputs = KernelInputs(
        fdet=detector.fdet, sdet=detector.sdet, odet=detector.odet, pix0=detector.pix0,
        beam=detector.beam, pixel_size=detector.pixel_size,
        close_distance=detector.close_distance, distance=detector.distance,
        oversample=oversample, layer_offsets=detector.layer_offsets,
        thickstep=detector.thickstep, mu=detector.mu, thick=detector.thickness > 0,
        curved=detector.curved, point_pixel=detector.point_pixel,
        incident=beam.incident, wavelength=beam.wavelength, polar_vector=beam.polar_vector,
        kahn=beam.kahn, nopolar=beam.nopolar, real_rows=crystal.real_rows,
        recip_rows=crystal.recip_rows.to(dtype), N=crystal.N.to(dtype), shape=crystal.shape,
        fudge=crystal.fudge.to(dtype),
        table=table, interpolate=interpolate,
        oversample_thick=det_cfg.oversample_thick, oversample_polar=det_cfg.oversample_polar,
        oversample_omega=det_cfg.oversample_omega, dmin=value_of(config.dmin),
        water=value_of(beam.water_size) != 0.0,
        background=beam.background_intensity().to(dtype),
        scale=(R_E_SQR * beam.fluence / steps).to(dtype), dtype=dtype,
        c_formula=cry_cfg.c_rounding,
    )
    return Setup(detector, crystal, beam, oversample, steps, inputs)


def choose_oversample(requested: int | None, crystal: Crystal, detector: Detector,
                      wavelength) -> int:
    """The user's oversample, or the C's ``ceil(3*max crystal size / (lambda*d/pixel))``."""
    if requested is not None and requested > 0:
        return int(requested)
    size = max(crystal.xtal_size)
    pixel = value_of(detector.pixel_size)
    reciprocal_pixel = value_of(wavelength) * detector.report["distance"] / pixel
    return max(1, math.ceil(3.0 * size / reciprocal_pixel))


def rendered_mask(config: SimulationConfig, mask: np.ndarray | None,
                  device: torch.device) -> torch.Tensor:
    """Pixels the C visits: inside the ROI (inclusive bounds) and not zero in the mask.

    Without an ROI and a mask it is a read-only broadcast of one True (no memory and no
    parallel fill, which costs milliseconds on the first call of a process).
    """
    det = config.detector
    shape = (det.spixels, det.fpixels)
    if det.roi is None and mask is None:
        return torch.ones((), dtype=torch.bool, device=device).expand(shape)
    keep = torch.ones(shape, dtype=torch.bool, device=device)
    if det.roi is not None:
        xmin, xmax, ymin, ymax = det.roi
        f = torch.arange(det.fpixels, device=device)
        s = torch.arange(det.spixels, device=device)
        keep &= ((f >= xmin) & (f <= xmax))[None, :] & ((s >= ymin) & (s <= ymax))[:, None]
    if mask is not None:
        keep &= torch.as_tensor(mask.astype(bool), device=device)
    return keep


def simulate(config: SimulationConfig, table: FTable | None = None,
             mask: np.ndarray | None = None, dtype: torch.dtype = torch.float64,
             device: torch.device | str | None = "cpu",
             evaluations_per_chunk: int | None = None, engine: str = "auto",
             progress=None, setup: Setup | None = None) -> SimulationResult:
    """Render the full image.

    Args:
        config: the simulation configuration.
        table: structure factors (None: default_F everywhere).
        mask: uint16 (spixels, fpixels); pixels equal to 0 are skipped.
        dtype, device: working precision and device.
        evaluations_per_chunk: memory bound per kernel call (pixels x sub-steps).
        engine: ``"auto"`` picks the compiled fast path (:mod:`nanobragg.fast`) for large
            renders it covers and the eager kernel otherwise; ``"eager"`` or ``"fast"``
            force one (``"fast"`` still falls back where it does not apply).
        progress: optional callable ``progress(pixels_just_finished, pixels_in_total)``.
        setup: the result of ``prepare(config, table, dtype, device)`` when the caller
            has it already (then ``table``, ``dtype`` and ``device`` are taken from it).

    Returns:
        The image (zero outside ROI and mask) and its setup.
    """
    if setup is None:
        setup = prepare(config, table, dtype, device)
    inp = setup.inputs
    dtype = inp.dtype
    dev = inp.pix0.device
    rendered = rendered_mask(config, mask, dev)
    everything = _is_broadcast(rendered) or bool(rendered.all())
    count = rendered.numel() if everything else int(rendered.sum())
    if fast.choose(inp, count, engine):
        return _render_fast(config, setup, rendered, everything, progress)
    flat_index = torch.nonzero(rendered.reshape(-1)).squeeze(1)
    image = torch.zeros(rendered.numel(), dtype=dtype, device=dev)
    chunks = _chunks(flat_index, pixels_per_chunk(inp, evaluations_per_chunk))
    render = functools.partial(_render_chunk, fpixels=config.detector.fpixels,
                               evaluations_per_chunk=evaluations_per_chunk)
    report = _chunk_progress(progress, flat_index.numel())
    if _chunks_independent(inp):
        _render_in_parallel(inp, chunks, image, render, report)
        return SimulationResult(image.reshape(rendered.shape), rendered, setup, None)
    stop = None
    for idx in chunks:
        values, failed = render(inp if stop is None else _without_interpolation(inp), idx)
        image.index_put_((idx,), values)
        if failed is not None and bool(failed.any()):
            stop = int(idx[int(torch.argmax(failed.to(torch.int8)))])
        report(idx)
    return SimulationResult(image.reshape(rendered.shape), rendered, setup, stop)


def _chunks(flat_index: torch.Tensor, pixels: int) -> list[torch.Tensor]:
    """Consecutive pieces of ``flat_index`` with at most ``pixels`` pixels each."""
    return [flat_index[start:start + pixels] for start in range(0, flat_index.numel(), pixels)]


def _render_chunk(inp: KernelInputs, idx: torch.Tensor, fpixels: int,
                  evaluations_per_chunk: int | None):
    """Photons of the pixels ``idx`` (P,) and, with interpolation, which left the grid."""
    budget = _budget(inp, evaluations_per_chunk)
    if inp.evaluations_per_pixel > budget and splittable(inp):
        return render_blocked(inp, idx // fpixels, idx % fpixels, budget), None
    out = render_pixels(inp, idx // fpixels, idx % fpixels)
    return out.intensity, out.interpolation_failed


def _chunk_progress(progress, total: int):
    """``report(idx)`` passing a finished chunk to ``progress`` (a no-op without one)."""
    lock = threading.Lock()

    def report(idx: torch.Tensor) -> None:
        if progress is not None:
            with lock:
                progress(idx.numel(), total)
    return report


def _chunks_independent(inp: KernelInputs) -> bool:
    """Whether chunks may run in any order on several CPU threads.

    Not on a GPU (one stream), not when an input requires grad (one autograd graph)
    and not with tricubic interpolation (the C switches it off for every pixel after
    the first that leaves the grid, so chunks depend on the ones before).
    """
    if inp.pix0.device.type != "cpu" or inp.interpolate or torch.get_num_threads() < 2:
        return False
    tensors = [v for v in vars(inp).values() if isinstance(v, torch.Tensor)] + [inp.table.F]
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _render_in_parallel(inp: KernelInputs, chunks: list[torch.Tensor], image: torch.Tensor,
                        render, report) -> None:
    """Chunks on as many threads as torch has, each chunk's operators on one thread."""
    def work(idx: torch.Tensor) -> None:
        values, _ = render(inp, idx)
        image.index_put_((idx,), values)
        report(idx)

    run_items(chunks, work, torch.get_num_threads(), single_threaded_ops=True)


def _is_broadcast(rendered: torch.Tensor) -> bool:
    """Whether ``rendered`` is the all-True broadcast of :func:`rendered_mask`."""
    return all(stride == 0 for stride in rendered.stride())


def _render_fast(config: SimulationConfig, setup: Setup, rendered: torch.Tensor,
                 everything: bool, progress) -> SimulationResult:
    """The image through :mod:`nanobragg.fast` (a whole frame needs no index list)."""
    inp = setup.inputs
    flat_index = rendered.numel() if everything else torch.nonzero(
        rendered.reshape(-1)).squeeze(1)
    total = rendered.numel() if everything else flat_index.numel()
    report = None if progress is None else (lambda n: progress(n, total))
    values = fast.render(inp, flat_index, config.detector.fpixels, progress=report)
    if everything:
        image = values
    else:
        image = torch.zeros(rendered.numel(), dtype=inp.dtype, device=rendered.device)
        image.index_put_((flat_index,), values)
    return SimulationResult(image.reshape(rendered.shape), rendered, setup, None)


def pixels_per_chunk(inp: KernelInputs, evaluations_per_chunk: int | None) -> int:
    """Pixels per kernel call so that pixels x evaluations stays under the budget.

    The default budget is sized for a CPU cache; on a GPU, where each call has a launch
    cost and memory is plentiful, it is 64 times larger.
    """
    return max(1, _budget(inp, evaluations_per_chunk) // inp.evaluations_per_pixel)


def _budget(inp: KernelInputs, evaluations_per_chunk: int | None) -> int:
    """Evaluations per kernel call: the caller's, or the default for this device."""
    budget = evaluations_per_chunk or (
        INTERPOLATION_EVALUATIONS_PER_CHUNK if inp.interpolate else EVALUATIONS_PER_CHUNK)
    if evaluations_per_chunk is None and inp.pix0.is_cuda:
        budget *= GPU_CHUNK_FACTOR
    return budget


def _without_interpolation(inp: KernelInputs) -> KernelInputs:
    return dataclasses.replace(inp, interpolate=False)


def _interpolation_on(requested: bool | None, cells, table: FTable) -> bool:
    """The C's rule: auto-on when any N given on the command line is <= 2 (checked before
    the crystal size sets N); never without a loaded table."""
    if not table.loaded:
        return False
    if requested is None:
        return any(value_of(n) <= 2 for n in cells)
    return bool(requested)


def _table_on(table: FTable | None, default_F: float, dtype, device) -> FTable:
    if table is None:
        return FTable(torch.zeros((1, 1, 1), dtype=dtype, device=device), (0, 0, 0),
                      value_of(default_F), loaded=False)
    return FTable(table.F.to(dtype=dtype, device=device), table.mins, value_of(default_F),
                  table.loaded)
