"""The ``nanoBragg`` command: parse, simulate, report and write, like the C program."""

from __future__ import annotations

import datetime
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..budget import (
    check_allocation,
    check_counts,
    check_render_cost,
    check_unsplit_memory,
    config_cost,
    render_cost,
)
from ..commandline.to_config import CliRequest, build_request
from ..errors import InputError
from ..io._atomic import write_chunks
from ..io.formats import FORMATS
from ..io.output_set import OutputSet
from ..io.pgm import pgm_header
from ..io.rawfloat import float_image_chunks
from ..io.smv import format_smv_header
from ..io.streaming import array_chunks, image_chunks
from ..models.crystal import phi_sampling
from ..outputs import (
    auto_int_scale,
    auto_pgm_scale,
    image_stats,
    int_image,
    pgm_pixels,
    smv_fields,
)
from ..physics.structure_factors import FTable
from ..progress import RenderProgress
from ..reports import detector_report
from ..simulator import Setup, SimulationResult, prepare, rendered_mask, simulate
from ..tables import load_structure_factors
from .formats import check_formats, format_writes
from .usage import USAGE

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def run(argv: list[str] | None = None, out=None) -> int:
    """Run the simulator on a C-style argument list.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
        out: stream for the report (default stdout).

    Returns:
        Exit status: 0 on success, 2 for a user error, 1 when memory ran out, 130 when
        interrupted (Ctrl-C); no output file of the run is written unless it succeeds.
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
    except KeyboardInterrupt:
        print("nanoBragg: interrupted; no output written", file=sys.stderr)
        return 130
    except (MemoryError, torch.OutOfMemoryError) as err:
        print(f"nanoBragg: error: out of memory ({_first_line(err)}); no output written",
              file=sys.stderr)
        return 1
    return 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def console_entry() -> None:
    """Entry point of the ``nanoBragg`` console script."""
    sys.exit(run())


def load_table(request: CliRequest, out) -> FTable | None:
    """Structure factors: read ``-hkl`` (and write the Fdump cache) or read the cache.

    Returns None when there is neither (every reflection then gets default_F).
    """
    table, notes, warnings = load_structure_factors(
        request.hkl_path, request.dump_path, request.config.crystal.default_F,
        request.parsed.default_F_given)
    for warning in warnings:
        print(warning, file=sys.stderr)
    for note in notes:
        print(note, file=out)
    return table


def output_paths(request: CliRequest) -> list[tuple[str, Path]]:
    """(flag, path) of every file the run writes, in writing order."""
    opts = request.outputs
    paths = [("-floatfile", opts.floatfile), ("-intfile", opts.intfile),
             ("-pgmfile", opts.pgmfile), ("-noisefile", opts.noisefile)]
    paths += [(FORMATS[name].flag, path) for name, path in opts.formats.items()]
    paths.append(("-exptout", opts.expt))
    return [(flag, Path(path)) for flag, path in paths if path]


def _check_config_cost(request: CliRequest) -> None:
    """Refuse, before any model is built, a render the configuration says is absurd."""
    override = request.parsed.no_cost_limit
    check_allocation(request.config)
    check_counts(request.config, override)
    check_render_cost(config_cost(request.config), override)


def _prepare_checked(request: CliRequest, table: FTable | None, dtype: torch.dtype) -> Setup:
    """The models of the render, refused when their real cost is absurd (nanobragg.budget)."""
    setup = prepare(request.config, table, dtype, request.runtime.device)
    check_render_cost(render_cost(request.config, setup), request.parsed.no_cost_limit)
    check_unsplit_memory(setup)
    return setup


def _simulate_and_write(request: CliRequest, out) -> None:
    for note in request.notes:
        print(note, file=out)
    dtype = DTYPES[request.runtime.dtype]
    with OutputSet() as files:
        for flag, path in output_paths(request):
            files.reserve(flag, path)
        check_formats(request)
        _check_config_cost(request)
        table = load_table(request, out)
        if _multi_panel(request):
            from .panel_outputs import render_panels

            render_panels(request, table, dtype, out, files)
            files.commit()
            return
        setup = _prepare_checked(request, table, dtype)
        started_at = datetime.datetime.now(datetime.timezone.utc)
        started = time.perf_counter()
        with RenderProgress(request.parsed.progress) as progress:
            result = simulate(request.config, table, request.mask, dtype=dtype,
                              device=request.runtime.device,
                              evaluations_per_chunk=request.runtime.chunk_evaluations,
                              engine=request.runtime.engine, progress=progress, setup=setup)
        report = detector_report(result.setup.detector, request.config)
        _print_setup(result, report, out)
        print(f"  rendered in {time.perf_counter() - started:.3f} s on "
              f"{result.image.device} ({request.runtime.dtype})", file=out)
        if request.trace_pixels:
            from ..diagnostics.trace import print_traces  # only a traced run needs it

            print_traces(request, result.setup, table, out, result.interpolation_stop)
        _write_outputs(request, result, report, out, files)
        for flag, writer in format_writes(request, result, table, started_at, out):
            files.write(flag, writer)
        files.commit()


def _multi_panel(request: CliRequest) -> bool:
    """Whether the detector has more than one panel (rendered by :func:`render_panels`)."""
    panels = request.config.detector.panels
    return panels is not None and len(panels) > 1


def _report_non_finite(image: np.ndarray) -> None:
    """Say on stderr how many pixels of the final float image are NaN or infinite."""
    nan = int(np.count_nonzero(np.isnan(image)))
    inf = int(np.count_nonzero(np.isinf(image)))
    if nan or inf:
        print(f"WARNING: the float image has {nan} NaN and {inf} infinite pixels "
              f"(of {image.size})", file=sys.stderr)


def _print_setup(result: SimulationResult, rep: dict, out) -> None:
    """The C's setup lines; ``rep`` is :func:`nanobragg.reports.detector_report`."""
    setup = result.setup
    det, cry, beam = setup.detector, setup.crystal, setup.beam
    print(f"  {beam.sources} sources, {cry.domains} mosaic domains, {cry.phisteps} phi steps, "
          f"{setup.oversample}x{setup.oversample} oversample, {det.layer_offsets.shape[0]} "
          f"detector layers: {setup.steps} steps", file=out)
    print(f"  distance={rep['distance']:g} detsize={det.fpixels * rep['pixel_size']:g}x"
          f"{det.spixels * rep['pixel_size']:g}  pixel={rep['pixel_size']:g} meters "
          f"({det.fpixels}x{det.spixels} pixels)", file=out)
    print(f"  Xbeam={rep['xbeam']:g} Ybeam={rep['ybeam']:g}", file=out)
    print(f"  Fbeam={rep['fbeam']:g} Sbeam={rep['sbeam']:g}", file=out)
    print(f"  Fclose={rep['fclose']:g} Sclose={rep['sclose']:g}", file=out)
    print(f"  pivoting detector around {'sample' if rep['pivot'] == 'SAMPLE' else 'direct beam'}",
          file=out)
    if result.interpolation_stop is not None:
        print("WARNING: out of range for three point interpolation: "
              "switched to nearest-neighbour structure factors", file=out)


def _write_outputs(request: CliRequest, result: SimulationResult, report: dict, out,
                   files: OutputSet) -> None:
    cfg, opts = request.config, request.outputs
    image = np.asarray(result.image.detach().cpu().numpy(), dtype=np.float32)
    _report_non_finite(image)
    rendered = result.rendered.cpu().numpy()
    roi = rendered_mask(cfg, None, torch.device("cpu")).numpy()
    stats = image_stats(image, rendered, roi)
    sub = result.setup.detector.pixel_size.item() / result.setup.oversample
    os_ = result.setup.oversample
    slow, fast = stats.max_pixel
    print(f"max_I = {stats.max_I:g}  at {sub * (fast * os_ + os_ - 1) + sub / 2:g} "
          f"{sub * (slow * os_ + os_ - 1) + sub / 2:g}", file=out)
    print(f"mean= {stats.mean:g} rms= {stats.rms:g} rmsd= {stats.rmsd:g}", file=out)
    if opts.floatfile:
        print(f"writing {opts.floatfile} as {image.size} 4-byte floats", file=out)
        files.write("-floatfile", lambda p: write_chunks(p, float_image_chunks(image)))
    scale = opts.intfile_scale if opts.intfile_scale else auto_int_scale(stats.max_I)
    print(f"intfile_scale = {scale:g}", file=out)
    header = format_smv_header(_header_fields(request, report))
    if opts.intfile:
        print(f"writing {opts.intfile} as 2-byte integers", file=out)
        pixels = image_chunks(image.shape, "<u2",
                              lambda r: int_image(image[r], roi[r], scale, opts.adc))
        files.write("-intfile", lambda p: write_chunks(p, itertools.chain([header], pixels)))
    if opts.pgmfile:
        pgm_scale = opts.pgm_scale if opts.pgm_scale else auto_pgm_scale(stats, scale)
        print(f"pgm_scale = {pgm_scale:g}", file=out)
        pixels = image_chunks(image.shape, "u1",
                              lambda r: pgm_pixels(image[r], roi[r], pgm_scale))
        top = pgm_header(image.shape[1], image.shape[0], pgm_scale)
        files.write("-pgmfile", lambda p: write_chunks(p, itertools.chain([top], pixels)))
    if opts.noisefile:
        from ..noise import poisson_noise_image

        noise, photons, overloads = poisson_noise_image(image, opts.seed, opts.adc,
                                                        cfg.detector.roi)
        print(f"{photons:.0f} photons on noise image ({overloads} overloads)", file=out)
        print(f"writing {opts.noisefile} as 2-byte integers", file=out)
        chunks = itertools.chain([header], array_chunks(noise, "<u2"))
        files.write("-noisefile", lambda p: write_chunks(p, chunks))
    if opts.expt:
        from ..experiments import write_experiment_list

        print(f"writing {opts.expt} (DIALS experiment list)", file=out)
        images = [str(opts.intfile or opts.floatfile)]
        files.write("-exptout", lambda p: write_experiment_list(p, cfg, images))


def _header_fields(request: CliRequest, report: dict) -> dict:
    cfg = request.config
    _, _, osc = phi_sampling(cfg.crystal)
    return smv_fields(report, cfg.detector.fpixels,
                      cfg.detector.spixels, float(cfg.beam.wavelength), float(cfg.crystal.phi0),
                      osc)
