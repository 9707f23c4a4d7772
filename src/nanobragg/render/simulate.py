"""One execution path for a whole image: build the models, run the kernel chunk by chunk."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..config import SimulationConfig
from ..errors import InputError
from ..models.beam import build_beam
from ..models.crystal import build_crystal
from ..models.detector import frame_vectors
from ..models.panels import build_detector
from ..models.sampling import build_sampling, choose_oversample
from ..models.setup import Setup, requires_grad, with_lookup
from ..native import kernel as fused
from ..native.threads import run_items
from ..parameters import check_gradient_requests
from ..physics.structure_factors import FTable, structure_factor_lookup
from ..physics.vectors import value_of
from ..validation import check_config, check_run_options
from . import engines

__all__ = ["Setup", "SimulationResult", "choose_oversample", "pixels_per_chunk", "prepare",
           "render_eager", "render_fast", "rendered_mask", "resolve_device", "simulate"]

log = logging.getLogger(__name__)

#: Evaluations (pixels x sub-steps) per chunk; bounds the kernel's memory.
EVALUATIONS_PER_CHUNK = 1 << 16
#: Tricubic interpolation gathers 64 neighbours per evaluation, so chunks are smaller.
INTERPOLATION_EVALUATIONS_PER_CHUNK = 1 << 13
#: Default chunk sizes are multiplied by this on a GPU.
GPU_CHUNK_FACTOR = 64


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
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"-device: '{name}' is not a torch device (cpu, cuda, cuda:N, "
                         f"auto)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("-device cuda: no CUDA device is available to this torch build")
    return device


def prepare(config: SimulationConfig, table: FTable | None = None,
            dtype: torch.dtype = torch.float64, device: torch.device | str | None = "cpu"
            ) -> Setup:
    """Build the detector, crystal, beam and sampling models: the kernel's inputs.

    The models (setup geometry) are always float64; ``dtype`` sets the precision of the
    per-evaluation work in the kernel (and of the F table).

    Args:
        config: the simulation configuration.
        table: structure factors; None means every reflection has ``default_F``.
        dtype: working precision.
        device: where to compute ("cpu", "cuda", "auto").

    Returns:
        The setup shared by the full render and the pixel trace.
    """
    check_config(config)
    check_run_options(dtype, device=device)
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
    sampling = build_sampling(config, detector, crystal, beam, table.loaded, dtype)
    return Setup(detector, crystal, beam, sampling, table)


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
        table: structure factors (None: those of ``config.structure_factors``, an MTZ or
            model file, if any, else default_F everywhere).
        mask: uint16 (spixels, fpixels); pixels equal to 0 are skipped.
        dtype, device: working precision and device.
        evaluations_per_chunk: memory bound per kernel call (pixels x sub-steps).
        engine: ``"auto"``, ``"eager"``, ``"fast"`` or ``"triton"``
            (:func:`nanobragg.render.engines.choose`: a fused engine where it cannot render
            is an error saying why).
        progress: optional callable ``progress(pixels_just_finished, pixels_in_total)``.
        setup: the result of ``prepare(config, table, dtype, device)`` when the caller
            has it already (then ``table``, ``dtype`` and ``device`` are taken from it).

    Returns:
        The image (zero outside ROI and mask) and its setup.

    Raises:
        ValueError: an unknown ``engine``; InputError: ``"fast"`` where it cannot render.
    """
    check_config(config)
    check_run_options(dtype, engine, evaluations_per_chunk, device)
    engines.check_name(engine)
    if setup is None:
        if table is None and config.structure_factors is not None:
            from ..io.structure_factors import source_table

            table = source_table(config, value_of(config.crystal.default_F))[0]
        setup = prepare(config, table, dtype, device)
    dev = setup.device
    rendered = rendered_mask(config, mask, dev)
    chosen = engines.choose(setup, engine)
    if chosen in engines.FUSED:
        image, stop = render_fast(setup, rendered, progress=progress, backend=chosen)
    else:
        image, stop = render_eager(setup, rendered, evaluations_per_chunk, progress)
    return _with_amorphous(config, SimulationResult(image, rendered, setup, stop))


def _with_amorphous(config: SimulationConfig, result: SimulationResult) -> SimulationResult:
    """The result with the configuration's amorphous scattering added (if any)."""
    if config.amorphous is None:
        return result
    from .amorphous import with_amorphous

    return replace(result, image=with_amorphous(config, result.setup, result.image,
                                                result.rendered))


def render_eager(setup: Setup, rendered: torch.Tensor, evaluations_per_chunk: int | None = None,
                 progress=None) -> tuple[torch.Tensor, int | None]:
    """The image through the eager kernel, chunk by chunk.

    Chunks run on several CPU threads when they are independent (see
    :func:`_chunks_independent`), else one after the other in the C's pixel order.

    Args:
        setup: the models; a detector of stacked panels takes a (panels, slow, fast)
            ``rendered``.
        rendered: pixels to render, bool (slow, fast) or (panels, slow, fast).
        evaluations_per_chunk: memory bound per kernel call (pixels x sub-steps).
        progress: optional callable ``progress(pixels_just_finished, pixels_in_total)``.

    Returns:
        Photons per pixel (zero where not rendered), the shape of ``rendered``, and the
        flat index where a stopping structure-factor lookup left its grid (else None).
    """
    flat_index = torch.nonzero(rendered.reshape(-1)).squeeze(1)
    image = torch.zeros(rendered.numel(), dtype=setup.dtype, device=rendered.device)
    chunks = _chunks(flat_index, pixels_per_chunk(setup, evaluations_per_chunk))
    render = functools.partial(_render_chunk, shape=rendered.shape,
                               evaluations_per_chunk=evaluations_per_chunk)
    report = _chunk_progress(progress, flat_index.numel())
    if _chunks_independent(setup):
        _render_in_parallel(setup, chunks, image, render, report)
        return image.reshape(rendered.shape), None
    stop = None
    for idx in chunks:
        values, failed = render(setup if stop is None else with_lookup(setup, "nearest"), idx)
        image.index_put_((idx,), values)
        if failed is not None and bool(failed.any()):
            stop = int(idx[int(torch.argmax(failed.to(torch.int8)))])
        report(idx)
    return image.reshape(rendered.shape), stop


def _chunks(flat_index: torch.Tensor, pixels: int) -> list[torch.Tensor]:
    """Consecutive pieces of ``flat_index`` with at most ``pixels`` pixels each."""
    return [flat_index[start:start + pixels] for start in range(0, flat_index.numel(), pixels)]


def _render_chunk(setup: Setup, idx: torch.Tensor, shape: torch.Size,
                  evaluations_per_chunk: int | None):
    """Photons of the flat pixels ``idx`` (P,) of an image of ``shape`` ((slow, fast) or
    (panels, slow, fast)) and, for a stopping lookup, which pixels left the grid."""
    from .kernel import render_pixels  # the eager path only: a fast render never loads it
    from .substeps import render_blocked, splittable

    fpixels = shape[-1]
    frame = shape[-2] * fpixels
    panel, local = (idx // frame, idx % frame) if len(shape) == 3 else (None, idx)
    chunk = _chunk_evaluations(setup, evaluations_per_chunk)
    if setup.evaluations_per_pixel > chunk and splittable(setup):
        return render_blocked(setup, local // fpixels, local % fpixels, chunk, panel), None
    out = render_pixels(setup, local // fpixels, local % fpixels, panel=panel)
    return out.intensity, out.interpolation_failed


def _chunk_progress(progress, total: int):
    """``report(idx)`` passing a finished chunk to ``progress`` (a no-op without one)."""
    lock = threading.Lock()

    def report(idx: torch.Tensor) -> None:
        if progress is not None:
            with lock:
                progress(idx.numel(), total)
    return report


def _chunks_independent(setup: Setup) -> bool:
    """Whether chunks may run in any order on several CPU threads.

    Not on a GPU (one stream), not when an input requires grad (one autograd graph)
    and not with a lookup that stops part-way (the C switches tricubic interpolation
    off for every pixel after the first that leaves the grid, so chunks depend on the
    ones before).
    """
    if setup.device.type != "cpu" or torch.get_num_threads() < 2:
        return False
    if structure_factor_lookup(setup.sampling.lookup).stops:
        return False
    return not (torch.is_grad_enabled() and requires_grad(setup))


def _render_in_parallel(setup: Setup, chunks: list[torch.Tensor], image: torch.Tensor,
                        render, report) -> None:
    """Chunks on as many threads as torch has, each chunk's operators on one thread."""
    def work(idx: torch.Tensor) -> None:
        values, _ = render(setup, idx)
        image.index_put_((idx,), values)
        report(idx)

    run_items(chunks, work, torch.get_num_threads(), single_threaded_ops=True)


def _is_broadcast(rendered: torch.Tensor) -> bool:
    """Whether ``rendered`` is the all-True broadcast of :func:`rendered_mask`."""
    return all(stride == 0 for stride in rendered.stride())


def render_fast(setup: Setup, rendered: torch.Tensor, everything: bool | None = None,
                progress=None, backend: str = "fast") -> tuple[torch.Tensor, int | None]:
    """The image through a fused kernel (a whole frame needs no index list):
    :mod:`nanobragg.native.kernel` (``backend="fast"``) or
    :mod:`nanobragg.native.triton_kernel` (``"triton"``).

    Args:
        setup: the models; a detector of stacked panels takes a (panels, slow, fast)
            ``rendered``.
        rendered: pixels to render, bool (slow, fast) or (panels, slow, fast).
        everything: whether every pixel is rendered (None: find out).
        progress: optional callable ``progress(pixels_just_finished, pixels_in_total)``.
        backend: ``"fast"`` or ``"triton"``.

    Returns:
        As :func:`render_eager`.
    """
    if everything is None:
        everything = _is_broadcast(rendered) or bool(rendered.all())
    flat_index = rendered.numel() if everything else torch.nonzero(
        rendered.reshape(-1)).squeeze(1)
    total = rendered.numel() if everything else flat_index.numel()
    report = None if progress is None else (lambda n: progress(n, total))
    if (torch.is_grad_enabled() and requires_grad(setup)) or backend == "triton":
        from ..native import adjoint  # only a render with gradients (or Triton) needs it

        values, stop = adjoint.render(setup, flat_index, setup.detector.fpixels,
                                      progress=report, backend=backend)
    else:
        values, stop = fused.render_frame(setup, flat_index, setup.detector.fpixels,
                                          progress=report)
    if everything:
        image = values
    else:
        image = torch.zeros(rendered.numel(), dtype=setup.dtype, device=rendered.device)
        image.index_put_((flat_index,), values)
    return image.reshape(rendered.shape), stop


def pixels_per_chunk(setup: Setup, evaluations_per_chunk: int | None) -> int:
    """Pixels per kernel call so that pixels x evaluations stays under the chunk size.

    The default chunk is sized for a CPU cache; on a GPU, where each call has a launch
    cost and memory is plentiful, it is 64 times larger.
    """
    chunk = _chunk_evaluations(setup, evaluations_per_chunk)
    return max(1, chunk // setup.evaluations_per_pixel)


def _chunk_evaluations(setup: Setup, evaluations_per_chunk: int | None) -> int:
    """Evaluations per kernel call: the caller's, or the default for this device (smaller
    for a structure-factor lookup that reads many table values per evaluation)."""
    many = structure_factor_lookup(setup.sampling.lookup).neighbours > 1
    chunk = evaluations_per_chunk or (
        INTERPOLATION_EVALUATIONS_PER_CHUNK if many else EVALUATIONS_PER_CHUNK)
    if evaluations_per_chunk is None and setup.device.type == "cuda":
        chunk *= GPU_CHUNK_FACTOR
    return chunk


def _table_on(table: FTable | None, default_F: float, dtype, device) -> FTable:
    if table is None:
        return FTable(torch.zeros((1, 1, 1), dtype=dtype, device=device), (0, 0, 0),
                      value_of(default_F), loaded=False)
    return FTable(table.F.to(dtype=dtype, device=device), table.mins, value_of(default_F),
                  table.loaded)
