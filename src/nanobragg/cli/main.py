"""The ``nanoBragg`` command: parse, simulate, report and write, like the C program."""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import torch

from ..commandline.to_config import CliRequest, build_request
from ..diagnostics.trace import print_traces
from ..errors import InputError
from ..experiments import write_experiment_list
from ..io.pgm import write_pgm
from ..io.rawfloat import write_float_image
from ..io.smv import write_smv
from ..models.crystal import phi_sampling
from ..noise import poisson_noise_image
from ..outputs import (
    auto_int_scale,
    auto_pgm_scale,
    image_stats,
    int_image,
    pgm_pixels,
    smv_fields,
)
from ..physics.structure_factors import FTable
from ..simulator import SimulationResult, rendered_mask, simulate
from ..tables import load_structure_factors
from .formats import check_formats, write_formats
from .panel_outputs import render_panels
from .usage import USAGE

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def run(argv: list[str] | None = None, out=None) -> int:
    """Run the simulator on a C-style argument list.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
        out: stream for the report (default stdout).

    Returns:
        Exit status: 0 on success, 2 for a user error.
    """
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        request = build_request(argv)
        if request.show_help:
            print(USAGE, file=out)
            return 0
        _simulate_and_write(request, out)
    except InputError as err:
        print(f"nanoBragg: error: {err}", file=sys.stderr)
        return 2
    return 0


def console_entry() -> None:
    """Entry point of the ``nanoBragg`` console script."""
    sys.exit(run())


def load_table(request: CliRequest, out) -> FTable | None:
    """Structure factors: read ``-hkl`` (and write the Fdump cache) or read the cache.

    Returns None when there is neither (every reflection then gets default_F).
    """
    table, notes = load_structure_factors(request.hkl_path, request.dump_path,
                                          request.config.crystal.default_F)
    for note in notes:
        print(note, file=out)
    return table


def _simulate_and_write(request: CliRequest, out) -> None:
    for note in request.notes:
        print(note, file=out)
    _check_output_folders(request)
    check_formats(request)
    table = load_table(request, out)
    dtype = DTYPES[request.runtime.dtype]
    panels = request.config.detector.panels
    if panels is not None and len(panels) > 1:
        render_panels(request, table, dtype, out)
        return
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    result = simulate(request.config, table, request.mask, dtype=dtype,
                      device=request.runtime.device,
                      evaluations_per_chunk=request.runtime.chunk_evaluations)
    _print_setup(result, out)
    print(f"  rendered in {time.perf_counter() - started:.3f} s on "
          f"{result.image.device} ({request.runtime.dtype})", file=out)
    if request.trace_pixels:
        print_traces(request, result.setup, table, out, result.interpolation_stop)
    _write_outputs(request, result, out)
    write_formats(request, result, table, started_at, out)


def _check_output_folders(request: CliRequest) -> None:
    """Fail before the render, not after it, when an output folder does not exist."""
    opts = request.outputs
    flags = {"-floatfile": opts.floatfile, "-intfile": opts.intfile,
             "-pgmfile": opts.pgmfile, "-noisefile": opts.noisefile, "-exptout": opts.expt}
    for flag, path in flags.items():
        if path and not Path(path).resolve().parent.is_dir():
            raise InputError(f"{flag}: folder of '{path}' does not exist")


def _print_setup(result: SimulationResult, out) -> None:
    setup = result.setup
    det, cry, beam = setup.detector, setup.crystal, setup.beam
    rep = det.report
    print(f"  {beam.sources} sources, {cry.domains} mosaic domains, {cry.phisteps} phi steps, "
          f"{setup.oversample}x{setup.oversample} oversample, {det.layer_offsets.shape[0]} "
          f"detector layers: {setup.steps} steps", file=out)
    print(f"  distance={rep['distance']:g} detsize={det.fpixels * rep['pixel_size']:g}x"
          f"{det.spixels * rep['pixel_size']:g}  pixel={rep['pixel_size']:g} meters "
          f"({det.fpixels}x{det.spixels} pixels)", file=out)
    print(f"  Xbeam={rep['xbeam']:g} Ybeam={rep['ybeam']:g}", file=out)
    print(f"  Fbeam={rep['fbeam']:g} Sbeam={rep['sbeam']:g}", file=out)
    print(f"  Fclose={rep['fclose']:g} Sclose={rep['sclose']:g}", file=out)
    print(f"  pivoting detector around {'sample' if det.pivot == 'SAMPLE' else 'direct beam'}",
          file=out)
    if result.interpolation_stop is not None:
        print("WARNING: out of range for three point interpolation: "
              "switched to nearest-neighbour structure factors", file=out)


def _write_outputs(request: CliRequest, result: SimulationResult, out) -> None:
    cfg, opts = request.config, request.outputs
    image = result.image.detach().to("cpu", torch.float32).numpy()
    rendered = result.rendered.cpu().numpy()
    roi = rendered_mask(cfg, None, torch.device("cpu")).numpy()
    stats = image_stats(image, rendered, roi)
    sub = result.setup.inputs.pixel_size.item() / result.setup.oversample
    os_ = result.setup.oversample
    slow, fast = stats.max_pixel
    print(f"max_I = {stats.max_I:g}  at {sub * (fast * os_ + os_ - 1) + sub / 2:g} "
          f"{sub * (slow * os_ + os_ - 1) + sub / 2:g}", file=out)
    print(f"mean= {stats.mean:g} rms= {stats.rms:g} rmsd= {stats.rmsd:g}", file=out)
    if opts.floatfile:
        print(f"writing {opts.floatfile} as {image.size} 4-byte floats", file=out)
        write_float_image(opts.floatfile, image)
    scale = opts.intfile_scale if opts.intfile_scale else auto_int_scale(stats.max_I)
    print(f"intfile_scale = {scale:g}", file=out)
    fields = _header_fields(request, result)
    if opts.intfile:
        print(f"writing {opts.intfile} as 2-byte integers", file=out)
        write_smv(opts.intfile, int_image(image, roi, scale, opts.adc), fields)
    if opts.pgmfile:
        pgm_scale = opts.pgm_scale if opts.pgm_scale else auto_pgm_scale(stats, scale)
        print(f"pgm_scale = {pgm_scale:g}", file=out)
        write_pgm(opts.pgmfile, pgm_pixels(image, roi, pgm_scale), pgm_scale)
    if opts.noisefile:
        roi_bounds = cfg.detector.roi
        noise, photons, overloads = poisson_noise_image(image, opts.seed, opts.adc, roi_bounds)
        print(f"{photons:.0f} photons on noise image ({overloads} overloads)", file=out)
        print(f"writing {opts.noisefile} as 2-byte integers", file=out)
        write_smv(opts.noisefile, noise, fields)
    if opts.expt:
        print(f"writing {opts.expt} (DIALS experiment list)", file=out)
        write_experiment_list(opts.expt, cfg, [str(opts.intfile or opts.floatfile)])


def _header_fields(request: CliRequest, result: SimulationResult) -> dict:
    cfg = request.config
    _, _, osc = phi_sampling(cfg.crystal)
    return smv_fields(result.setup.detector.report, cfg.detector.fpixels, cfg.detector.spixels,
                      float(cfg.beam.wavelength), float(cfg.crystal.phi0), osc)
