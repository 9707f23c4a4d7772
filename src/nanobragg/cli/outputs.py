"""The command's output files: option checks before the render, writing after.

Every output is a row of :data:`nanobragg.products.formats.FORMATS`; the command prints
each row's lines and writes the rows it was given, in the table's order.
"""

from __future__ import annotations

import datetime
import functools

import numpy as np
import torch

from ..commandline.to_config import CliRequest
from ..errors import InputError
from ..io.output_set import OutputSet
from ..products.formats import FORMATS
from ..products.images import ImageStats
from ..render.simulate import SimulationResult

# The product and series modules are imported where a file is written, so a check that
# fails before the render does not load them.


def check_formats(request: CliRequest) -> None:
    """Fail before the render: conflicting options and missing packages.

    Output paths themselves (folders, clashes between outputs) are checked when the
    command reserves them.

    Raises:
        InputError: one line naming the flag.
    """
    opts = request.outputs
    parsed = request.parsed
    if parsed.png_rings and "png" not in opts.formats:
        raise InputError("-pngrings: draws rings on the -pngfile preview; give -pngfile NAME")
    if "nexus" not in opts.formats:
        if parsed.nexus_stack:
            raise InputError("-nexus_stack: writes a NeXus rotation series; "
                             "give -nexusfile NAME")
        if parsed.nexus_compression != "gzip":
            raise InputError("-nexus_compression: applies to -nexusfile; give -nexusfile NAME")
    for name in opts.formats:
        FORMATS[name].check_available(opts.format_options)


def write_outputs(request: CliRequest, result: SimulationResult, stats: ImageStats,
                  smv_header: bytes, table, started: datetime.datetime, out,
                  files: OutputSet) -> None:
    """Print each output's lines and write it into the run's :class:`OutputSet`.

    A rotation series (``-nexus_stack``) is rendered here, before anything is written.
    """
    from ..products.product import image_product

    opts = request.outputs
    paths = opts.files()
    needs_counts = any(FORMATS[name].needs_counts for name in paths)
    images = (str(opts.intfile or opts.floatfile),)
    package = functools.partial(
        image_product, result, request.config, scale=opts.intfile_scale, adc=opts.adc,
        exposure=opts.exposure, start_time=started,
        end_time=datetime.datetime.now(datetime.timezone.utc), with_counts=needs_counts,
        stats=stats, pgm_scale=opts.pgm_scale, smv_header=smv_header, image_names=images)
    still = package(noise_seed=opts.seed if "noise" in paths else None)
    series = None
    if opts.phi_frames and "nexus" in paths:
        series = package(frames=_phi_frames(request, table, out))
    for name, path in paths.items():
        product = series if name == "nexus" and series is not None else still
        write_one(name, path, product, opts.format_options, out, files)


def write_one(name: str, path, product, options: dict, out, files: OutputSet) -> None:
    """Print the lines of output ``name`` and write ``product`` to its reserved file."""
    fmt = FORMATS[name]
    for line in fmt.announce(str(path), product, options):
        print(line, file=out)
    files.write(fmt.flag, functools.partial(_write, fmt.write, product, options))


def _write(write, product, options: dict, temp) -> None:
    write(temp, product, **options)


def _phi_frames(request: CliRequest, table, out) -> np.ndarray:
    from ..render.series import phi_frames

    runtime = request.runtime
    frames = phi_frames(request.config, table, request.mask,
                        dtype=getattr(torch, runtime.dtype), device=runtime.device,
                        evaluations_per_chunk=runtime.chunk_evaluations)
    print(f"rendered {frames.shape[0]} phi-step frames for the NeXus series", file=out)
    return frames.detach().to("cpu", torch.float32).numpy()
