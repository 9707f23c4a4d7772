"""Pixel trace: line-by-line agreement with the C program's golden TRACE_C logs, and the
traced intensity equals the rendered image.

Tolerance rule (the one of ``nanobragg-tracediff``): the lines' texts (names, separators)
must be identical and in the same order; every number must satisfy
``|c - py| <= max(rtol * max(|c|, |py|), 1e-12 * scale)`` with ``rtol = 1e-9``, or 1e-6
for values the C prints from float32 data (``floatimage_accumulated``), and ``scale`` the
largest magnitude among the numbers of the two lines (an absolute floor for components
near 0). ``-0`` equals ``0``.
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from nanobragg.cli.main import run
from nanobragg.commandline.to_config import build_request
from nanobragg.diagnostics.cformat import g15
from nanobragg.diagnostics.pixels import render_taps
from nanobragg.diagnostics.trace import trace_log
from nanobragg.diagnostics.tracediff import (
    first_difference,
    parse_trace,
    python_trace,
    traced_pixel,
)
from nanobragg.render.kernel import render_pixels
from nanobragg.render.simulate import prepare, simulate

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
TRACE_CASES = ("simple_cubic", "triclinic_P1", "cubic_tilted_detector", "xds_convention",
               "dials_convention", "detector_absorption", "highres_4096_roi")
SMALL = ("-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 "
         "-detpixels 40 -pixel 0.4")
#: Configurations whose traced intensity must equal the rendered pixel exactly.
IMAGE_CONFIGS = {
    "oversample2": "-oversample 2",
    "thickness": "-detector_thick 300 -detector_abs 200 -thicksteps 3 -twotheta 10",
    "mosaic_phi": "-mosaic 0.5 -mosaic_dom 4 -mosaic_seed 3 -phi 2 -osc 1 -phisteps 3",
    "oversample_omega_polar": "-oversample 2 -oversample_omega -oversample_polar -polar 0.9",
    "oversample_thick": "-oversample 2 -oversample_thick -detector_thick 100 -thicksteps 2",
    "gauss_dmin": "-gauss_xtal -dmin 4 -dispersion 2 -dispsteps 3",
}
PIXELS = ((0, 0), (20, 20), (7, 31), (39, 12))


def _golden_logs():
    for case in TRACE_CASES:
        for log in sorted((GOLDEN / case).glob("trace_*.log")):
            yield pytest.param(case, log.name, id=f"{case}-{log.stem}")


@pytest.mark.parametrize(("case", "log_name"), list(_golden_logs()) or [
    pytest.param("none", "none", marks=pytest.mark.skip(reason="no golden data"))])
def test_trace_matches_golden_c_log(case, log_name, tmp_path, monkeypatch):
    """Our float64 trace of the logged pixel agrees with the C log, line by line."""
    case_dir = GOLDEN / case
    if not case_dir.is_dir():
        pytest.skip(f"golden case {case_dir} not found")
    monkeypatch.chdir(tmp_path)  # no stale Fdump.bin, as the C was run
    c_lines = parse_trace((case_dir / log_name).read_text())
    argv = shlex.split((case_dir / "args.txt").read_text()) + ["-dtype", "float64"]
    py_lines = parse_trace(python_trace(argv, traced_pixel(c_lines)))
    assert [line.key for line in py_lines] == [line.key for line in c_lines]
    diff = first_difference(c_lines, py_lines)
    assert diff is None, diff.describe()


def _small_argv(extra: str) -> list[str]:
    return shlex.split(f"{SMALL} {extra}")


@pytest.mark.parametrize("name", list(IMAGE_CONFIGS))
def test_traced_intensity_equals_rendered_pixel(name, tmp_path, monkeypatch):
    """I_pixel_final of the trace is the value of that pixel in the full image."""
    monkeypatch.chdir(tmp_path)
    request = build_request(_small_argv(IMAGE_CONFIGS[name]))
    result = simulate(request.config, None, None, dtype=torch.float64, device="cpu")
    lines = trace_log(result.setup, request.config, PIXELS)
    finals = [line.split()[-1] for line in lines if line.startswith("TRACE_PY: I_pixel_final")]
    expected = [g15(result.image[s, f].item()) for s, f in PIXELS]
    assert finals == expected
    traced = render_taps(result.setup, PIXELS)
    image_values = torch.stack([result.image[s, f] for s, f in PIXELS])
    assert torch.equal(traced.intensity, image_values)


def test_single_pixel_kernel_call_is_batch_invariant():
    """The kernel gives a pixel the same bits alone as inside a large chunk (the trace
    relies on it)."""
    request = build_request(_small_argv("-detpixels 128 -mosaic 0.3 -mosaic_dom 3 "
                                        "-detector_thick 100 -thicksteps 3"))
    setup = prepare(request.config, None, torch.float64, "cpu")
    index = torch.arange(128 * 128)
    chunk = render_pixels(setup, index // 128, index % 128).intensity
    for flat in (0, 4000, 128 * 64 + 64, 16383):
        alone = render_pixels(setup, index[flat:flat + 1] // 128,
                              index[flat:flat + 1] % 128).intensity
        assert alone.item() == chunk[flat].item(), (
            f"pixel {flat}: the kernel's sum over evaluations rounds differently for one "
            "pixel than inside a chunk")


def test_cli_trace_pixel_prints_traces(tmp_path, monkeypatch):
    """``-trace_pixel`` (repeatable) prints one complete TRACE_PY log per pixel; the final
    value is the written float image's pixel."""
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    argv = _small_argv("-oversample 2 -floatfile f.bin -nopgm -nonoise "
                       "-trace_pixel 20 20 -trace_pixel 3 5")
    assert run(argv, out=out) == 0
    lines = out.getvalue().splitlines()
    configs = [line for line in lines if line.startswith("TRACE_CONFIG")]
    assert configs == ["TRACE_CONFIG: tracing pixel (spixel=20, fpixel=20)",
                       "TRACE_CONFIG: tracing pixel (spixel=3, fpixel=5)"]
    image = np.fromfile(tmp_path / "f.bin", dtype="<f4").reshape(40, 40)
    floats = [line.split()[-1] for line in lines if "floatimage_accumulated" in line]
    assert floats == [g15(image[20, 20]), g15(image[3, 5])]
    assert not any(line.startswith(("TRACE_C:", "TRACE_C ", "TRACE_C_PHI")) for line in lines)


def test_pixel_outside_roi_has_no_pixel_lines():
    """As in the C program, a pixel the ROI skips gets geometry and TRACE_CONFIG only."""
    request = build_request(_small_argv("-roi 10 20 10 20"))
    setup = prepare(request.config, None, torch.float64, "cpu")
    lines = trace_log(setup, request.config, [(0, 0)])
    assert lines[-1] == "TRACE_CONFIG: tracing pixel (spixel=0, fpixel=0)"
    assert all(line.startswith(("TRACE_PY:", "DETECTOR_", "TRACE_CONFIG")) for line in lines)


def test_phi_lines_follow_phi_zero_block():
    """One TRACE_PY_PHI line per phi step; phi step 0's comes before F_cell."""
    request = build_request(_small_argv("-phi 1 -osc 3 -phisteps 3"))
    setup = prepare(request.config, None, torch.float64, "cpu")
    lines = trace_log(setup, request.config, [(20, 20)])
    first = lines.index(next(line for line in lines if line.startswith("TRACE_PY: F_latt ")))
    assert lines[first + 1].startswith("TRACE_PY_PHI phi_tic=0 ")
    assert lines[first + 2].startswith("TRACE_PY: F_cell ")
    assert lines[first + 3].startswith("TRACE_PY_PHI phi_tic=1 ")
    assert lines[first + 4].startswith("TRACE_PY_PHI phi_tic=2 ")



def test_trace_follows_the_render_when_interpolation_switches_off(tmp_path):
    """A pixel traced after the one where tricubic interpolation left the grid uses nearest
    structure factors, as the full render (and the C) did there."""
    import io

    from nanobragg.cli.main import load_table
    from nanobragg.commandline.to_config import build_request
    from nanobragg.diagnostics.pixels import render_taps
    from nanobragg.render.simulate import simulate

    lines = [f"{h} {k} {l} {10 + h * h + 2 * k + 3 * l * l}"
             for h in range(-4, 5) for k in range(-4, 5) for l in range(-4, 5)]
    (tmp_path / "small.hkl").write_text("\n".join(lines) + "\n")
    argv = ("-hkl small.hkl -cell 60 60 60 90 90 90 -N 2 -lambda 1 -distance 100 "
            "-detpixels 48 -pixel 0.5 -misset 10 20 30 -roi 22 47 22 47").split()
    request = build_request(argv, cwd=tmp_path)
    (tmp_path / "Fdump.bin").unlink(missing_ok=True)
    table = load_table(request, io.StringIO())
    result = simulate(request.config, table)
    stop = result.interpolation_stop
    assert stop is not None and 22 * 48 < stop < 47 * 48
    pixels = [(22, 23), divmod(stop, 48), (30, 30), (47, 47)]
    traced = render_taps(result.setup, pixels, stop)
    image = result.image
    for p, (s, f) in enumerate(pixels):
        assert float(traced.intensity[p]) == float(image[s, f])
