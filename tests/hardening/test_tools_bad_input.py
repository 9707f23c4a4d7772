"""Bad input through the other doors: nanobragg-dataset, nanobragg-trace, nb-compare,
nanobragg-tracediff. One line on stderr, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import pytest

from nanobragg.cli import dataset
from nanobragg.diagnostics import compare, taps, tracediff

NB = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "3", "-lambda", "1",
      "-distance", "100", "-detpixels", "8", "-default_F", "10"]
GOOD = "seed: 1\nshots: 2\nexperiment:\n  flags: " + " ".join(NB) + "\n"


def _one_line(call, argv, tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    try:
        status = call(argv)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert set(tmp_path.iterdir()) == before
    return err[0]


@pytest.mark.parametrize("spec, extra, needle", [
    (b"\x80\x81binary", [], "not a text file"),
    (GOOD.encode(), ["--out", "o" * 300], "--out"),
    (GOOD.encode(), ["--out", "/proc/self/nope/x"], "--out"),
    (GOOD.encode(), ["--max-in-flight", "0"], "--max-in-flight: must be at least 1"),
    (GOOD.encode(), ["--retries", "-1"], "--retries: must not be negative"),
    (b"seed: 1\nshots: 2\nexperiment:\n  config: {detector: {distance: abc}, crystal: "
     b"{cell: [1e-8, 1e-8, 1e-8, 1.57, 1.57, 1.57], default_F: 1}}\n", [],
     "detector.distance must be a number in m (got the string 'abc')"),
])
def test_dataset(spec, extra, needle, tmp_path, monkeypatch, capsys):
    pytest.importorskip("yaml")
    (tmp_path / "spec.yaml").write_bytes(spec)
    argv = ["spec.yaml", "--out", "out", *extra] if "--out" not in extra else \
        ["spec.yaml", *extra]
    line = _one_line(dataset.run, argv, tmp_path, monkeypatch, capsys)
    assert line.startswith("nanobragg-dataset: error: ") and needle in line, line


@pytest.mark.parametrize("call, argv, needle", [
    (taps.main, ["--pixel", "a", "b", "--", *NB], "argument --pixel: invalid int value"),
    (taps.main, ["--pixel", "1", "1", "--device", "tpu", "--", *NB],
     "'tpu' is not a torch device"),
    (taps.main, ["--log", "--pixel", "1", "1", "--device", "xyz", "--", *NB],
     "'xyz' is not a torch device"),
    (taps.main, ["--pixel", "1", "1", "-o", "q" * 300, "--", *NB], "-o"),
    (compare.main, ["--rtol", "x", "--", *NB], "nb-compare: error: "),
    (tracediff.main, [], "nanobragg-tracediff: error: "),
])
def test_diagnostic_tools(call, argv, needle, tmp_path, monkeypatch, capsys):
    line = _one_line(call, argv, tmp_path, monkeypatch, capsys)
    assert needle in line, line
