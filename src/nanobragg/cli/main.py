"""The ``nanoBragg`` command: parse, simulate, report and write, like the C program."""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..commandline.to_config import CliRequest, build_request
from ..errors import InputError
from ..io.output_set import OutputSet
from ..io.smv import format_smv_header
from ..io.structure_factors import dump_table, load_structure_factors, source_table
from ..models.crystal import phi_sampling
from ..physics.structure_factors import FTable
from ..products.formats import FORMATS
from ..products.images import (
    image_stats,
    smv_fields,
)
from ..products.reports import detector_report
from ..render.limits import (
    check_allocation,
    check_counts,
    check_render_cost,
    check_unsplit_memory,
    config_cost,
    render_cost,
)
from ..render.progress import RenderProgress
from ..render.simulate import Setup, SimulationResult, prepare, rendered_mask, simulate
from .outputs import check_formats, write_outputs
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


def load_table(request: CliRequest, out, files: OutputSet | None = None) -> FTable | None:
    """Structure factors: read ``-hkl`` or ``-pdb`` (and write the Fdump cache) or read the
    cache; the table of an MTZ or model file also goes to ``-hklout`` in ``files``.

    Returns None when there is neither (every reflection then gets default_F).
    """
    if request.config.structure_factors is not None:
        return _load_file_table(request, out, files)
    table, notes, warnings = load_structure_factors(
        request.hkl_path, request.dump_path, request.config.crystal.default_F,
        request.parsed.default_F_given)
    for warning in warnings:
        print(warning, file=sys.stderr)
    for note in notes:
        print(note, file=out)
    return table


def _load_file_table(request: CliRequest, out, files: OutputSet | None) -> FTable:
    """The table of the MTZ or model file; writes ``-hklout`` (in ``files``) and Fdump."""
    table, reflections, notes = source_table(request.config, request.config.crystal.default_F)
    for note in notes:
        print(note, file=out)
    hklout = request.outputs.hklout
    if hklout is not None and files is not None:
        from ..io.reflections import write_hkl_text

        print(f"writing {hklout} ({len(reflections)} P1 reflections, h k l F)", file=out)
        files.write("-hklout", lambda path: write_hkl_text(path, reflections))
    for note in dump_table(request.dump_path, table):
        print(note, file=out)
    return table


def output_paths(request: CliRequest) -> list[tuple[str, Path]]:
    """(flag, path) of every file the run writes, in writing order."""
    paths = [(FORMATS[name].flag, path) for name, path in request.outputs.files().items()]
    if request.outputs.hklout is not None:  # the structure factors, written before the render
        paths.append(("-hklout", Path(request.outputs.hklout)))
    return paths


def _check_config_cost(request: CliRequest) -> None:
    """Refuse, before any model is built, a render the configuration says is absurd."""
    override = request.parsed.no_cost_limit
    check_allocation(request.config)
    check_counts(request.config, override)
    check_render_cost(config_cost(request.config), override)


def _prepare_checked(request: CliRequest, table: FTable | None, dtype: torch.dtype) -> Setup:
    """The models of the render, refused when their real cost is absurd (render.limits)."""
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
        table = load_table(request, out, files)
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
                              progress=progress, setup=setup)
        report = detector_report(result.setup.detector, request.config)
        _print_setup(result, report, out)
        print(f"  rendered in {time.perf_counter() - started:.3f} s on "
              f"{result.image.device} ({request.runtime.dtype})", file=out)
        if request.trace_pixels:
            from ..diagnostics.trace import print_traces  # only a traced run needs it

            print_traces(request, result.setup, table, out, result.interpolation_stop)
        _write_outputs(request, result, report, table, started_at, out, files)
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
    """The C's setup lines; ``rep`` is :func:`nanobragg.products.reports.detector_report`."""
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


def _write_outputs(request: CliRequest, result: SimulationResult, report: dict, table,
                   started: datetime.datetime, out, files: OutputSet) -> None:
    """Print the C's statistics of the float image, then write every output of the run."""
    image = np.asarray(result.image.detach().cpu().numpy(), dtype=np.float32)
    _report_non_finite(image)
    rendered = result.rendered.cpu().numpy()
    roi = rendered_mask(request.config, None, torch.device("cpu")).numpy()
    stats = image_stats(image, rendered, roi)
    sub = result.setup.detector.pixel_size.item() / result.setup.oversample
    os_ = result.setup.oversample
    slow, fast = stats.max_pixel
    print(f"max_I = {stats.max_I:g}  at {sub * (fast * os_ + os_ - 1) + sub / 2:g} "
          f"{sub * (slow * os_ + os_ - 1) + sub / 2:g}", file=out)
    print(f"mean= {stats.mean:g} rms= {stats.rms:g} rmsd= {stats.rmsd:g}", file=out)
    header = format_smv_header(_header_fields(request, report))
    write_outputs(request, result, stats, header, table, started, out, files)


def _header_fields(request: CliRequest, report: dict) -> dict:
    cfg = request.config
    _, _, osc = phi_sampling(cfg.crystal)
    return smv_fields(report, cfg.detector.fpixels,
                      cfg.detector.spixels, float(cfg.beam.wavelength), float(cfg.crystal.phi0),
                      osc)
