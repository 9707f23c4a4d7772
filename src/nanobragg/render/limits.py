"""Refuse renders whose size or cost is absurd, before anything is allocated or rendered.

Two checks, both cheap:

* :func:`check_allocation` from the configuration alone: the detector must have at
  most ``MAX_PIXELS`` pixels and its images must fit in the machine's memory.
* :func:`check_render_cost` from :func:`config_cost` (before the models are built,
  since building them grows with the counts) and then from the prepared setup
  (:func:`render_cost`, which knows the automatic oversample): an auto-selected oversample above
  ``MAX_AUTO_OVERSAMPLE`` needs an explicit ``-oversample``, and more than
  ``MAX_EVALUATIONS`` evaluations (pixels x sources x mosaic domains x phi steps x
  sub-pixels x sensor layers) need an explicit override.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..config import SimulationConfig
from ..errors import InputError
from ..models.beam import source_axis_steps
from ..models.crystal import mosaic_settings, phi_sampling
from ..models.detector import sensor_layers

#: Largest auto-selected oversample accepted without an explicit ``-oversample``.
MAX_AUTO_OVERSAMPLE = 32
#: Most evaluations accepted without the explicit override.
MAX_EVALUATIONS = 10**13
#: Most sources, mosaic domains or phi steps: the models build each one separately.
MAX_COUNT = 10**6
#: Most detector pixels (flat pixel indices stay below 2**31).
MAX_PIXELS = 2**31 - 1
#: Most sub-steps per pixel where a pixel must be evaluated in one piece (about 190 bytes
#: each, so about 0.8 GB): the ``-oversample_*`` running products, ``-dmin`` and tricubic
#: interpolation are not split into blocks by the eager kernel.
MAX_UNSPLIT_EVALUATIONS = 2**22
#: Bytes per detector pixel a run holds at its peak (float64 image, float32 copy,
#: masks and 16-bit output images), used to check that the images fit in memory.
BYTES_PER_PIXEL = 32


@dataclass(frozen=True)
class RenderCost:
    """What one render costs.

    Attributes:
        pixels: pixels to render (inside the ROI).
        steps: sources x mosaic domains x phi steps x oversample^2.
        layers: sensor thickness layers.
        oversample: sub-pixels per pixel edge.
        auto_oversample: the oversample was chosen automatically.
    """

    pixels: int
    steps: int
    layers: int
    oversample: int
    auto_oversample: bool

    @property
    def evaluations(self) -> int:
        """pixels x steps x layers."""
        return self.pixels * self.steps * self.layers


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def check_allocation(config: SimulationConfig, memory: int | None = None) -> None:
    """Raise InputError when the detector's images cannot be allocated.

    Args:
        config: the simulation (detector pixel counts are read).
        memory: bytes available (default: the machine's physical memory).
    """
    det = config.detector
    pixels = int(det.fpixels) * int(det.spixels)
    where = f"-detpixels: a {det.fpixels}x{det.spixels} detector"
    if pixels > MAX_PIXELS:
        raise InputError(f"{where} has {pixels:.3g} pixels, more than the {MAX_PIXELS:.3g} "
                         f"this program can index")
    memory = physical_memory() if memory is None else memory
    needed = pixels * BYTES_PER_PIXEL
    if memory is not None and needed > memory:
        raise InputError(f"{where} needs about {needed / 2**30:.3g} GiB for its images, more "
                         f"than this machine's {memory / 2**30:.3g} GiB")


def roi_pixels(config: SimulationConfig) -> int:
    """Pixels inside the ROI (the whole detector without one)."""
    det = config.detector
    if det.roi is None:
        return int(det.fpixels) * int(det.spixels)
    xmin, xmax, ymin, ymax = det.roi
    width = max(0, min(xmax, det.fpixels - 1) - max(xmin, 0) + 1)
    height = max(0, min(ymax, det.spixels - 1) - max(ymin, 0) + 1)
    return width * height


def _counts(config: SimulationConfig) -> dict[str, int]:
    """Sources (the full divergence grid, before a ``-round_div`` cut), mosaic domains and
    phi steps, keyed by the flags that set them."""
    beam = config.beam
    if beam.sources is not None:
        sources = len(beam.sources)
    else:
        sources = math.prod(source_axis_steps(r, step, n)[0] for r, step, n in (
            (beam.hdivrange, beam.hdivstep, beam.hdivsteps),
            (beam.vdivrange, beam.vdivstep, beam.vdivsteps),
            (beam.dispersion, beam.dispstep, beam.dispsteps)))
    return {"-divsteps/-dispsteps (sources)": sources,
            "-mosaic_domains": mosaic_settings(config.crystal)[1],
            "-phisteps": max(1, phi_sampling(config.crystal)[0])}


def check_counts(config: SimulationConfig, override: bool = False) -> None:
    """Raise InputError when a source, domain or phi-step count exceeds ``MAX_COUNT``."""
    if override:
        return
    for flag, count in _counts(config).items():
        if count > MAX_COUNT:
            raise InputError(f"{flag}: {count:.3g} is more than {MAX_COUNT:.0e}; reduce it "
                             f"or give -nocostlimit to render anyway")


def config_cost(config: SimulationConfig) -> RenderCost:
    """The cost as far as the configuration alone says (oversample 1 unless given),
    without the models, whose construction itself grows with the counts."""
    sources, domains, phisteps = _counts(config).values()
    oversample = config.detector.oversample or 1
    return RenderCost(pixels=roi_pixels(config), steps=sources * domains * phisteps
                      * oversample**2, layers=sensor_layers(config.detector)[0],
                      oversample=oversample, auto_oversample=False)


def render_cost(config: SimulationConfig, setup) -> RenderCost:
    """The cost of rendering ``config`` with its prepared ``setup`` (simulator.Setup)."""
    return RenderCost(
        pixels=roi_pixels(config),
        steps=int(setup.steps),
        layers=setup.layers,
        oversample=int(setup.oversample),
        auto_oversample=config.detector.oversample is None,
    )


def check_render_cost(cost: RenderCost, override: bool = False) -> None:
    """Raise InputError, in one line, for a render whose cost is absurd.

    Args:
        cost: what the render would cost.
        override: the user asked to render whatever the cost (``-nocostlimit``).
    """
    if cost.auto_oversample and cost.oversample > MAX_AUTO_OVERSAMPLE:
        raise InputError(
            f"-oversample: the automatic choice is {cost.oversample} "
            f"({cost.oversample**2:.3g} sub-pixels per pixel, above the limit of "
            f"{MAX_AUTO_OVERSAMPLE}); give -oversample N explicitly")
    if not override and cost.evaluations > MAX_EVALUATIONS:
        raise InputError(
            f"-nocostlimit: this render needs {cost.evaluations:.3g} evaluations "
            f"({cost.pixels} pixels x {cost.steps} steps x {cost.layers} layers), more than "
            f"{MAX_EVALUATIONS:.0e}; reduce it or give -nocostlimit to render anyway")



def check_unsplit_memory(setup) -> None:
    """Raise InputError when a pixel's sub-steps must stay in one piece and are too many.

    Pixels rendered by the compiled path, or whose sub-steps the eager kernel splits into
    blocks, need bounded memory at any count; the others hold every sub-step of a pixel
    at once.

    Args:
        setup: the prepared simulation (simulator.Setup).
    """
    per_pixel = setup.evaluations_per_pixel
    if per_pixel <= MAX_UNSPLIT_EVALUATIONS:
        return
    from ..native.kernel import supported
    from .substeps import unsplit_reason  # loads the eager kernel: only when it matters

    reason = unsplit_reason(setup)
    if reason is None or supported(setup):
        return
    raise InputError(
        f"{reason}: with it each pixel's {per_pixel:.3g} sub-steps are "
        f"evaluated at once, more than the {MAX_UNSPLIT_EVALUATIONS:.3g} that fit the "
        f"memory bound; lower -oversample, the mosaic domains, sources or phi steps")
