"""The command's image formats (NeXus, CBF, PNG): option checks before the render, writing after.

The formats come from the table :data:`nanobragg.io.formats.FORMATS`.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..commandline.to_config import CliRequest
from ..errors import InputError
from ..io.formats import FORMATS
from ..simulator import SimulationResult

# The product, PNG and series modules are imported where a format is written, so a plain
# render does not load them.


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


def format_writes(request: CliRequest, result: SimulationResult, table,
                  started: datetime.datetime, out) -> list[tuple[str, Callable[[Path], None]]]:
    """(flag, writer) for every requested image format; ``writer(temp)`` reports and writes.

    The writer puts the whole file at the (temporary) path it is given; the command
    renames it over the requested path with the run's other outputs.

    A rotation series (``-nexus_stack``) is rendered here, before anything is written.
    """
    opts = request.outputs
    if not opts.formats:
        return []
    from ..io.product import image_product

    ended = datetime.datetime.now(datetime.timezone.utc)
    package = functools.partial(image_product, result, request.config, scale=opts.intfile_scale,
                                adc=opts.adc, exposure=opts.exposure, start_time=started,
                                end_time=ended)
    still = package()
    series = None
    if opts.phi_frames and "nexus" in opts.formats:
        series = package(frames=_phi_frames(request, table, out))
    writes = []
    for name, path in opts.formats.items():
        product = series if name == "nexus" and series is not None else still
        writes.append((FORMATS[name].flag, functools.partial(
            _write_one, name, path, product, opts.format_options, out)))
    return writes


def _phi_frames(request: CliRequest, table, out) -> np.ndarray:
    from ..series import phi_frames

    runtime = request.runtime
    frames = phi_frames(request.config, table, request.mask,
                        dtype=getattr(torch, runtime.dtype), device=runtime.device,
                        evaluations_per_chunk=runtime.chunk_evaluations,
                        engine=runtime.engine)
    print(f"rendered {frames.shape[0]} phi-step frames for the NeXus series", file=out)
    return frames.detach().to("cpu", torch.float32).numpy()


def _write_one(name: str, path: str, product, options: dict, out, temp: Path) -> None:
    fmt = FORMATS[name]
    print(f"writing {path} as {fmt.description}", file=out)
    if name == "png" and options.get("rings"):
        from ..io.png import ring_spacings

        spacings = ring_spacings(product, options["rings"])
        print(f"  resolution rings at {' '.join(f'{d * 1e10:g}' for d in spacings)} A",
              file=out)
    fmt.write(temp, product, **options)
