"""Outputs of a multi-panel render: the panels' float images stacked in one raw file.

An SMV, PGM or noise frame holds one rectangle, so for more than one panel only the
float file (panels in order, each slow-major, little-endian 4-byte floats) and the
``-exptout`` experiment list are written.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..commandline.to_config import CliRequest
from ..errors import InputError
from ..io.output_set import OutputSet
from ..io.product import ImageProduct
from ..physics.structure_factors import FTable
from ..products.formats import FORMATS
from ..render.panels import simulate_panels
from .outputs import write_one


def render_panels(request: CliRequest, table: FTable | None, dtype: torch.dtype, out,
                  files: OutputSet) -> None:
    """Render every panel, print a summary per panel and write the float file.

    The files go into the run's :class:`OutputSet` ``files`` (committed by the caller).

    Raises:
        InputError: an image format was asked for (they are written for one panel).
    """
    for name in request.outputs.formats:
        raise InputError(f"{FORMATS[name].flag}: not written for a multi-panel detector "
                         f"(the float file holds the panels stacked)")
    started = time.perf_counter()
    result = simulate_panels(request.config, table, dtype=dtype,
                             device=request.runtime.device,
                             evaluations_per_chunk=request.runtime.chunk_evaluations)
    images = [im.detach().to("cpu", torch.float32).numpy() for im in result.images]
    print(f"  {len(images)} panels, {result.oversample}x{result.oversample} oversample, "
          f"rendered in {time.perf_counter() - started:.3f} s", file=out)
    for index, image in enumerate(images):
        print(f"  panel {index}: {image.shape[1]}x{image.shape[0]} pixels, "
              f"max_I = {float(image.max()):g}  mean= {float(image.mean()):g}", file=out)
    opts = request.outputs
    stacked = np.concatenate([im.reshape(-1) for im in images])[None, :]
    product = ImageProduct(stacked, config=request.config,
                           image_names=(str(opts.floatfile),))
    print(f"writing {opts.floatfile} as {stacked.size} 4-byte floats "
          f"({len(images)} panels in order)", file=out)
    files.write(FORMATS["float"].flag, lambda p: FORMATS["float"].write(p, product))
    if opts.intfile or opts.pgmfile or opts.noisefile:
        print("  (no SMV, PGM or noise images for a multi-panel detector: "
              "one such frame holds one panel)", file=out)
    if opts.expt:
        write_one("expt", opts.expt, product, {}, out, files)
