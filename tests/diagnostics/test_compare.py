"""``nb-compare`` against a stand-in "C program": a Python script that writes the reference
image with a known perturbation. One comparison runs the real ``python -m nanobragg``; the
others use a stand-in for it too (``--py-cmd``) to stay fast."""

from __future__ import annotations

import io
import json
import os
import shlex
import stat
import sys
import zlib

import numpy as np
import pytest
import torch

from nanobragg.commandline.to_config import build_request
from nanobragg.diagnostics.compare import correlation, main, prepare_args
from nanobragg.io.png import write_png
from nanobragg.render.simulate import simulate

ARGS = ("-cell 70 80 90 85 95 100 -N 4 -lambda 1.2 -distance 80 -detpixels 32 -pixel 0.5 "
        "-hkl P1.hkl -default_F 0 -nopgm -nonoise -floatfile mine.bin -dtype float64 "
        "-device cpu")
STAND_IN = '''#!{python}
"""Stand-in C runner: writes NB_FAKE_REF, changed as NB_FAKE_MODE (or argv[1]) says."""
import os, sys
import numpy as np
args = sys.argv[1:]
mode = os.environ.get("NB_FAKE_MODE", "scale")
if args and args[0] == "--same":
    mode, args = "same", args[1:]
if mode == "fail" or not os.path.isfile("P1.hkl"):
    sys.exit(1)
ref = np.fromfile(os.environ["NB_FAKE_REF"], dtype="<f4")
if mode == "scale":
    ref = ref * np.float32(1.01)
elif mode == "noise":
    ref = np.random.default_rng(1).random(ref.size, dtype=np.float32)
elif mode == "short":
    ref = ref[:-5]
elif mode == "outside":
    ref = ref.copy(); ref[0] += 1000.0
ref.astype("<f4").tofile(args[args.index("-floatfile") + 1])
'''


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    """A folder with the hkl input, the reference image and the executable stand-in."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "P1.hkl").write_text("".join(
        f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}\n"
        for h in range(-6, 7) for k in range(-6, 7) for l in range(-6, 7)))
    request = build_request(shlex.split(ARGS))
    from nanobragg.cli.main import load_table

    table = load_table(request, io.StringIO())
    image = simulate(request.config, table, None, dtype=torch.float64).image
    image.numpy().astype("<f4").tofile(tmp_path / "ref.bin")
    (tmp_path / "Fdump.bin").unlink(missing_ok=True)
    script = tmp_path / "fake_c.py"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("NB_FAKE_REF", str(tmp_path / "ref.bin"))
    monkeypatch.setenv("NB_FAKE_MODE", "scale")  # restored after the test
    monkeypatch.delenv("NB_C_BIN", raising=False)
    return tmp_path


def _compare(workspace, outdir: str, mode: str, *options: str, real_py: bool = False) -> int:
    os.environ["NB_FAKE_MODE"] = mode
    fake = str(workspace / "fake_c.py")
    py = [] if real_py else ["--py-cmd", f"{shlex.quote(fake)} --same"]
    argv = ["--c-bin", fake, "--outdir", outdir, *py, *options, "--", *shlex.split(ARGS)]
    return main(argv, out=io.StringIO())


def _summary(workspace, outdir: str) -> dict:
    return json.loads((workspace / outdir / "summary.json").read_text())


def test_real_nanobragg_against_scaled_c_image(workspace):
    assert _compare(workspace, "out", "scale", "--save-diff", real_py=True) == 0
    out = workspace / "out"
    summary = _summary(workspace, "out")
    stats = summary["stats"]
    assert stats["correlation"] > 0.99999
    assert stats["sum_ratio_py_over_c"] == pytest.approx(1 / 1.01, rel=1e-5)
    ref = np.fromfile(workspace / "ref.bin", dtype="<f4").astype(np.float64)
    assert stats["max_abs_diff"] == pytest.approx(0.01 * ref.max(), rel=1e-3)
    assert summary["timing"]["c_wall_s"] > 0 and summary["timing"]["py_wall_s"] > 0
    assert summary["run_args"][-2:] == ["-floatfile", "float.bin"]
    assert (out / "c_run" / "P1.hkl").is_file() and (out / "py_run" / "P1.hkl").is_file()
    assert np.array_equal(np.fromfile(out / "py_float.bin", "<f4"), ref.astype("<f4"))
    for name in ("c_preview.png", "py_preview.png", "diff.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "diff_float.bin").stat().st_size == ref.size * 4


def test_threshold_miss(workspace):
    assert _compare(workspace, "noise", "noise") == 4
    assert _summary(workspace, "noise")["status"] == "below_min_corr"
    assert _compare(workspace, "noise_ok", "noise", "--min-corr", "-1") == 0


def test_runner_failure_and_shape_mismatch(workspace):
    assert _compare(workspace, "fail", "fail") == 3
    assert _summary(workspace, "fail")["status"] == "runner_failure"
    assert _compare(workspace, "short", "short") == 5
    assert _summary(workspace, "short")["float_values"] == {"c": 32 * 32 - 5, "py": 32 * 32}


def test_roi_restricts_the_statistics(workspace):
    _compare(workspace, "full", "outside")
    full = _summary(workspace, "full")["stats"]
    assert full["max_abs_diff"] == pytest.approx(1000.0, rel=1e-3)
    assert full["max_abs_diff_at"] == {"slow": 0, "fast": 0}
    assert _compare(workspace, "roi", "outside", "--roi", "5", "30", "2", "31") == 0
    stats = _summary(workspace, "roi")["stats"]
    assert stats["correlation"] == 1.0 and stats["max_abs_diff"] == 0.0
    assert stats["pixels"] == 26 * 30
    assert _compare(workspace, "roi_bad", "outside", "--roi", "0", "40", "0", "5") == 2


def test_usage_errors(workspace):
    fake = str(workspace / "fake_c.py")
    assert main(["--outdir", "x", "--", "-cell", "1"], out=io.StringIO()) == 2  # no C binary
    assert main(["--c-bin", fake, "--outdir", "x"], out=io.StringIO()) == 2  # no '--'
    (workspace / "busy").mkdir()
    (workspace / "busy" / "file").write_text("x")
    assert main(["--c-bin", fake, "--outdir", "busy", "--", "-cell", "1"],
                out=io.StringIO()) == 2
    assert main(["--c-bin", str(workspace / "P1.hkl"), "--", "-cell", "1"],
                out=io.StringIO()) == 2  # not executable


def test_prepare_args_copies_inputs_and_forces_float_file(tmp_path):
    (tmp_path / "in.hkl").write_text("0 0 0 1\n")
    runs = [tmp_path / "a", tmp_path / "b"]
    for folder in runs:
        folder.mkdir()
    args = prepare_args(["-hkl", "in.hkl", "-floatfile", "/x/f.bin", "-intfile", "/y/i.img",
                         "-mat", "missing.mat"], tmp_path, runs)
    assert args == ["-hkl", "in.hkl", "-intfile", "i.img", "-mat", "missing.mat",
                    "-floatfile", "float.bin"]
    assert all((folder / "in.hkl").is_file() for folder in runs)


def test_correlation_edge_cases():
    flat = np.ones((3, 3))
    assert correlation(flat, flat) == 1.0
    assert correlation(flat, np.arange(9.0).reshape(3, 3)) == 0.0


def test_png_round_trip(tmp_path):
    pixels = (np.arange(12, dtype=np.uint8) * 20).reshape(3, 4)
    write_png(tmp_path / "g.png", pixels)
    data = (tmp_path / "g.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length = int.from_bytes(data[8:12], "big")
    assert data[12:16] == b"IHDR" and int.from_bytes(data[16:20], "big") == 4
    idat = data.index(b"IDAT")
    size = int.from_bytes(data[idat - 4:idat], "big")
    raw = zlib.decompress(data[idat + 4:idat + 4 + size])
    rows = np.frombuffer(raw, np.uint8).reshape(3, 5)
    assert length == 13 and np.array_equal(rows[:, 1:], pixels) and not rows[:, 0].any()
    crc = int.from_bytes(data[idat + 4 + size:idat + 8 + size], "big")
    assert crc == zlib.crc32(data[idat:idat + 4 + size])
