"""Trace comparison: parsing, tolerance rule, planted differences and exit codes."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from nanobragg.diagnostics.tracediff import (
    compare_lines,
    first_difference,
    main,
    parse_trace,
    split_pixels,
)

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
CASE = GOLDEN / "simple_cubic"
LOG = CASE / "trace_451_512.log"


def _line(text: str):
    return parse_trace(text)[0]


def test_parse_splits_text_and_numbers():
    line = _line("TRACE_C:beam_center_m=X:5.125e-05 Y:5.125e-05 pixel_mm:0.1")
    assert line.key == "beam_center_m"
    assert line.values == (5.125e-05, 5.125e-05, 0.1)
    assert line.template == "TRACE_X:beam_center_m=X:# Y:# pixel_mm:#"
    phi = _line("TRACE_PY_PHI phi_tic=0 phi_deg=0 k_frac=-1e-3 F_latt_b=4 F_latt=5")
    assert phi.key == "TRACE_X_PHI" and phi.values == (0, 0, -1e-3, 4, 5)
    matrix = _line("TRACE_C:Rx=[1 0 0; 0 1 -0; 0 0 1]")
    assert matrix.values == (1, 0, 0, 0, 1, -0.0, 0, 0, 1)
    mapping = _line("TRACE_C:convention_mapping=Fbeam\u2190Ybeam_mm(+0.5px),beam_vec=[1 0 0]")
    assert mapping.values == (1, 0, 0)
    assert _line("TRACE_C: pix0_vector_meters 0.1 0 0").key == "pix0_vector_meters"


def test_tolerance_rule():
    c = _line("TRACE_C: diffracted_vec 1 0 -0")
    assert compare_lines(c, _line("TRACE_PY: diffracted_vec 1 1e-17 0")) is None
    assert compare_lines(c, _line("TRACE_PY: diffracted_vec 1 1e-9 0")) is not None
    value = _line("TRACE_C: I_pixel_final 152.03667569926")
    assert compare_lines(value, _line("TRACE_PY: I_pixel_final 152.036675699")) is None
    assert compare_lines(value, _line("TRACE_PY: I_pixel_final 152.0366759")) is not None
    single = _line("TRACE_C: floatimage_accumulated 152.036682128906")
    assert compare_lines(single, _line("TRACE_PY: floatimage_accumulated 152.0367")) is None
    assert compare_lines(single, _line("TRACE_PY: floatimage_accumulated 152.04")) is not None
    assert compare_lines(c, _line("TRACE_PY: incident_vec 1 0 0")) is not None


def test_planted_difference_is_found_with_line_numbers(tmp_path):
    if not LOG.is_file():
        pytest.skip("no golden data")
    lines = LOG.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if "I_before_scaling" in line)
    original = float(lines[target].split()[-1])
    lines[target] = f"TRACE_C: I_before_scaling {original * (1 + 1e-7):.15g}"
    planted = tmp_path / "planted.log"
    planted.write_text("\n".join(lines) + "\n")
    py = tmp_path / "py.log"
    py.write_text(re.sub(r"^TRACE_C(?=[:_ ])", "TRACE_PY", LOG.read_text(), flags=re.M))
    out = io.StringIO()
    assert main([str(LOG), str(py)], out=out) == 0
    out = io.StringIO()
    assert main([str(planted), str(py)], out=out) == 1
    report = out.getvalue()
    assert "I_before_scaling" in report
    assert f"line {target + 1}:" in report and str(original)[:10] in report


def test_missing_line_and_renamed_key_are_mismatches():
    c = parse_trace("TRACE_C: steps 1\nTRACE_C: polar 0.5\n")
    assert "ends after 1 lines" in first_difference(c, c[:1]).reason
    renamed = parse_trace("TRACE_PY: steps 1\nTRACE_PY: polarization 0.5\n")
    assert "text" in first_difference(c, renamed).reason


def test_runs_our_trace_from_arguments(tmp_path, monkeypatch):
    if not LOG.is_file():
        pytest.skip("no golden data")
    monkeypatch.chdir(tmp_path)
    args = (CASE / "args.txt").read_text().split()
    out = io.StringIO()
    assert main([str(LOG), "--", *args], out=out) == 0, out.getvalue()
    assert main([str(LOG), "--args", shlex.join(args)], out=out) == 0


def test_multi_pixel_log_is_split_by_pixel():
    text = ("TRACE_PY:a=1\nTRACE_CONFIG: tracing pixel (spixel=1, fpixel=2)\n"
            "TRACE_PY: x 1\nTRACE_PY:a=1\nTRACE_CONFIG: tracing pixel (spixel=3, fpixel=4)\n"
            "TRACE_PY: x 2\n")
    blocks = split_pixels(parse_trace(text))
    assert [len(b) for b in blocks] == [3, 3]
    c_log = "TRACE_C:a=1\nTRACE_CONFIG: tracing pixel (spixel=3, fpixel=4)\nTRACE_C: x 2\n"
    assert first_difference(parse_trace(c_log), blocks[1]) is None


def test_usage_errors(tmp_path):
    out = io.StringIO()
    assert main([], out=out) == 2
    log = tmp_path / "c.log"
    log.write_text("TRACE_C: steps 1\n")
    assert main([str(log)], out=out) == 2  # neither PY_LOG nor arguments
    assert main([str(log), str(tmp_path / "missing.log")], out=out) == 2
    assert main([str(log), "--", "-cell", "10"], out=out) == 2  # no TRACE_CONFIG line
