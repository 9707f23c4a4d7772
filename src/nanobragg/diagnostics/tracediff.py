"""Compare a C trace log (``TRACE_C``) with a nanobragg trace (``TRACE_PY``) line by line.

Each trace line is split into its text (prefix, names, separators) and its numbers. Two
lines match when their texts are identical (after mapping ``TRACE_C``/``TRACE_PY`` to one
prefix) and every pair of numbers agrees within the tolerance rule:

``|a - b| <= max(rtol * max(|a|, |b|), atol_scale * scale)``

where ``scale`` is the largest magnitude among the numbers of the two lines (so a
component that is zero in one log and 1e-17 of a unit vector in the other matches) and
``rtol`` is ``--rtol`` (default 1e-9) or ``--float-rtol`` (default 1e-6) for values the C
prints from single-precision data (``floatimage_accumulated``). ``-0`` equals ``0`` and
NaN equals NaN.

Command: ``nanobragg-tracediff C_LOG [PY_LOG | -- nanoBragg args...]`` (or ``--args
"..."``). Without PY_LOG, our trace is made from the nanoBragg arguments for the pixel
named in the C log's ``TRACE_CONFIG`` line. Exit status: 0 match, 1 mismatch, 2 usage
error.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .cliparse import OneLineParser

DEFAULT_RTOL = 1e-9
DEFAULT_FLOAT_RTOL = 1e-6
DEFAULT_ATOL_SCALE = 1e-12
#: Labels whose values the C prints from float32 data.
FLOAT_DATA_KEYS = frozenset({"floatimage_accumulated"})

_NUMBER = re.compile(
    r"(?<![\w.+-])[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])",
    re.IGNORECASE)
_PREFIX = re.compile(r"^TRACE_(?:C|PY)(_PHI)?(?=[:\s])")
_CONFIG = re.compile(r"TRACE_CONFIG: tracing pixel \(spixel=(\d+), fpixel=(\d+)\)")
_GEOMETRY = re.compile(r"^TRACE_(?:C|PY):\S")


@dataclass(frozen=True)
class TraceLine:
    """One trace line: where it was, its label, its text template and its numbers."""

    number: int
    raw: str
    key: str
    template: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Difference:
    """The first disagreement between two logs (None fields where a line is missing)."""

    c_line: TraceLine | None
    py_line: TraceLine | None
    reason: str

    def describe(self) -> str:
        """A human-readable, multi-line report."""
        out = [self.reason]
        for side, line in (("C ", self.c_line), ("PY", self.py_line)):
            if line is not None:
                out.append(f"  {side} line {line.number}: {line.raw}")
        return "\n".join(out)


def parse_trace(text: str) -> list[TraceLine]:
    """Trace lines (``TRACE_*`` and ``DETECTOR_*``) of a log; other lines are ignored."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        raw = raw.rstrip()
        if not (raw.startswith("TRACE_") or raw.startswith("DETECTOR_")):
            continue
        normal = _PREFIX.sub(lambda m: "TRACE_X" + (m.group(1) or ""), raw)
        values = tuple(float(m.group()) for m in _NUMBER.finditer(normal))
        template = _NUMBER.sub("#", normal)
        lines.append(TraceLine(number, raw, line_key(normal), template, values))
    return lines


def line_key(line: str) -> str:
    """The label of a trace line (``I_pixel_final``, ``fdet_after_rotz``, ``TRACE_X_PHI``)."""
    head, _, rest = line.partition(":")
    if head.startswith("TRACE_X") and not head.endswith("_PHI") and rest:
        if rest.startswith(" "):
            return rest.split()[0]
        return rest.split("=", 1)[0]
    return line.split()[0].rstrip(":")


def values_match(a: float, b: float, rtol: float, atol: float) -> bool:
    """The tolerance rule of the module docstring for one pair of numbers."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rtol * max(abs(a), abs(b)), atol)


def compare_lines(c: TraceLine, py: TraceLine, rtol: float = DEFAULT_RTOL,
                  float_rtol: float = DEFAULT_FLOAT_RTOL,
                  atol_scale: float = DEFAULT_ATOL_SCALE) -> str | None:
    """None when the lines match, else the reason."""
    if c.template != py.template or len(c.values) != len(py.values):
        return f"lines differ in their text: {c.key!r} vs {py.key!r}"
    tol = float_rtol if c.key in FLOAT_DATA_KEYS else rtol
    finite = [abs(v) for v in c.values + py.values if math.isfinite(v)]
    atol = atol_scale * max(finite, default=0.0)
    for i, (a, b) in enumerate(zip(c.values, py.values)):
        if not values_match(a, b, tol, atol):
            rel = abs(a - b) / max(abs(a), abs(b))
            return (f"{c.key}: value {i + 1} differs: C {a!r} vs PY {b!r} "
                    f"(relative {rel:.3g}, rtol {tol:g})")
    return None


def first_difference(c_lines: list[TraceLine], py_lines: list[TraceLine],
                     **tolerances) -> Difference | None:
    """The first pair of lines that does not match, or a missing line; None if all match."""
    for c, py in zip(c_lines, py_lines):
        reason = compare_lines(c, py, **tolerances)
        if reason is not None:
            return Difference(c, py, reason)
    if len(c_lines) != len(py_lines):
        shorter = "PY" if len(py_lines) < len(c_lines) else "C"
        n = min(len(c_lines), len(py_lines))
        extra_c = c_lines[n] if len(c_lines) > n else None
        extra_py = py_lines[n] if len(py_lines) > n else None
        return Difference(extra_c, extra_py,
                          f"{shorter} trace ends after {n} lines "
                          f"(C {len(c_lines)}, PY {len(py_lines)})")
    return None


def split_pixels(lines: list[TraceLine]) -> list[list[TraceLine]]:
    """Split a log of several traced pixels into one complete log per pixel.

    A pixel's log is its geometry lines, its ``TRACE_CONFIG`` line and its per-pixel lines;
    the next geometry line after a ``TRACE_CONFIG`` starts the next pixel.
    """
    blocks: list[list[TraceLine]] = [[]]
    configured = False
    for line in lines:
        geometry = line.raw.startswith("DETECTOR_") or bool(_GEOMETRY.match(line.raw))
        if geometry and configured:
            blocks.append([])
            configured = False
        configured = configured or line.raw.startswith("TRACE_CONFIG")
        blocks[-1].append(line)
    return blocks


def select_pixel(lines: list[TraceLine], pixel: tuple[int, int]) -> list[TraceLine]:
    """The part of a multi-pixel log that traces ``pixel`` (the first part if none does)."""
    blocks = split_pixels(lines)
    for block in blocks:
        if traced_pixel_or_none(block) == pixel:
            return block
    return blocks[0]


def traced_pixel_or_none(lines: list[TraceLine]) -> tuple[int, int] | None:
    """(slow, fast) of the first ``TRACE_CONFIG`` line, or None."""
    for line in lines:
        match = _CONFIG.search(line.raw)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def traced_pixel(c_lines: list[TraceLine]) -> tuple[int, int]:
    """(slow, fast) named by the C log's ``TRACE_CONFIG`` line."""
    pixel = traced_pixel_or_none(c_lines)
    if pixel is not None:
        return pixel
    raise InputError("the C log has no 'TRACE_CONFIG: tracing pixel (spixel=S, fpixel=F)' line")


def python_trace(argv: list[str], pixel: tuple[int, int]) -> str:
    """Our trace log for one pixel from nanoBragg arguments (no image is rendered)."""
    from .taps import prepared_request
    from .trace import trace_log

    request, setup = prepared_request(list(argv), io.StringIO())
    lines = trace_log(setup, request.config, [pixel], request.mask)
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="nanobragg-tracediff",
        description="Compare a TRACE_C log with a nanobragg TRACE_PY log, or with a trace "
                    "made from nanoBragg arguments (after '--' or with --args).")
    parser.add_argument("c_log", type=Path, help="log with TRACE_C lines")
    parser.add_argument("py_log", type=Path, nargs="?", help="log with TRACE_PY lines")
    parser.add_argument("--args", dest="nb_args", help="nanoBragg arguments as one string")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    parser.add_argument("--float-rtol", type=float, default=DEFAULT_FLOAT_RTOL,
                        help="relative tolerance of values printed from float32 data")
    parser.add_argument("--atol-scale", type=float, default=DEFAULT_ATOL_SCALE,
                        help="absolute floor, as a fraction of the line's largest value")
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run the command; returns the exit status (0 match, 1 mismatch, 2 usage error)."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    nb_args = None
    if "--" in argv:
        split = argv.index("--")
        argv, nb_args = argv[:split], argv[split + 1:]
    parser = _parser()
    try:
        opts = parser.parse_args(argv)
    except SystemExit as stop:
        return 0 if stop.code == 0 else 2
    try:
        return _run(opts, nb_args, out)
    except (InputError, OSError) as err:
        print(f"nanobragg-tracediff: error: {err}", file=sys.stderr)
        return 2


def _run(opts, nb_args: list[str] | None, out) -> int:
    if opts.nb_args is not None:
        nb_args = (nb_args or []) + shlex.split(opts.nb_args)
    if (opts.py_log is None) == (nb_args is None):
        raise InputError("give either PY_LOG or nanoBragg arguments (after '--' or --args)")
    c_lines = parse_trace(opts.c_log.read_text())
    if not c_lines:
        raise InputError(f"{opts.c_log}: no trace lines")
    if opts.py_log is not None:
        py_text = opts.py_log.read_text()
    else:
        py_text = python_trace(nb_args, traced_pixel(c_lines))
    py_lines = select_pixel(parse_trace(py_text), traced_pixel(c_lines))
    diff = first_difference(c_lines, py_lines, rtol=opts.rtol, float_rtol=opts.float_rtol,
                            atol_scale=opts.atol_scale)
    if diff is None:
        print(f"traces match: {len(c_lines)} lines (rtol {opts.rtol:g}, "
              f"float data {opts.float_rtol:g})", file=out)
        return 0
    print(diff.describe(), file=out)
    return 1


def console_entry() -> None:
    """Entry point of the ``nanobragg-tracediff`` console script."""
    sys.exit(main())
