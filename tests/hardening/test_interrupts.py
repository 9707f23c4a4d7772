"""Ctrl-C: one line on stderr, exit status 130, no output file and no abort.

The child runs the real command with one addition: the first work item of a render
writes a marker line on stderr, so that the test sends SIGINT only once the render is
running (instead of sleeping a guessed time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

MARKER = "@@render-started@@"

#: runs the command of argv[1] (``nanobragg`` or ``dataset``) with a render marker
HARNESS = textwrap.dedent(f"""
    import importlib, os, sys, threading
    lock, said = threading.Lock(), []
    def say():
        with lock:
            if not said:
                said.append(1)
                os.write(2, b"{MARKER}\\n")
    for name in ("nanobragg.render.simulate", "nanobragg.native.kernel"):
        module = importlib.import_module(name)
        original = getattr(module, "run_items", None)
        if original is None:
            continue
        def marked(items, work, *args, _original=original, **kwargs):
            def first(item):
                say()
                return work(item)
            return _original(items, first, *args, **kwargs)
        module.run_items = marked
    for name in ("nanobragg.render.kernel",):
        module = importlib.import_module(name)
        def marked_pixels(*args, _original=module.render_pixels, **kwargs):
            say()
            return _original(*args, **kwargs)
        module.render_pixels = marked_pixels
        break
    if sys.argv[1] == "dataset":
        import nanobragg.dataset.runner as runner
        shots = runner.render_shots
        def marked_shots(*args, **kwargs):
            say()
            return shots(*args, **kwargs)
        runner.render_shots = marked_shots
        from nanobragg.cli.dataset import console_entry
    else:
        from nanobragg.cli.main import console_entry
    sys.argv = sys.argv[1:]
    console_entry()
""")

EAGER = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
         "-lambda", "1", "-distance", "100", "-detpixels", "512", "-oversample", "2",
         "-mosaic", "0.5", "-mosaic_dom", "50", "-round_xtal", "-nonoise", "-nopgm"]


def _interrupt(command: list[str], cwd: Path, threads: int) -> tuple[int, list[str]]:
    """Start the harness, wait for the marker, send SIGINT; (status, other stderr lines)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-c", HARNESS, *command], cwd=cwd, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    for line in child.stderr:
        if line.strip() == MARKER:
            break
        lines.append(line.rstrip("\n"))
        assert time.monotonic() < deadline
    else:
        child.wait()
        pytest.fail(f"no render started; stderr: {lines}")
    assert child.poll() is None, "the render ended before it could be interrupted"
    child.send_signal(signal.SIGINT)
    rest = child.stderr.read()
    child.wait(timeout=120)
    return child.returncode, lines + [x for x in rest.splitlines() if x.strip()]


@pytest.mark.parametrize("threads", [2, 1])
def test_ctrl_c_in_eager_render_exits_130_without_abort(tmp_path, threads):
    status, err = _interrupt(["nanobragg", *EAGER, "-floatfile", "f.bin"], tmp_path,
                             threads)
    assert status == 130, err
    assert err == ["nanoBragg: interrupted; no output written"]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_fast_render_writes_nothing(tmp_path):
    pytest.importorskip("nanobragg.native.build")
    command = ["nanobragg", "-cell", "100", "100", "100", "90", "90", "90", "-lambda", "1",
               "-distance", "100", "-default_F", "10", "-detpixels", "1024",
               "-oversample", "64", "-N", "5"]
    status, err = _interrupt(command, tmp_path, 2)
    assert status == 130, err
    assert err == ["nanoBragg: interrupted; no output written"]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_dataset_is_one_line(tmp_path):
    pytest.importorskip("h5py")
    pytest.importorskip("yaml")
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""
        experiment:
          flags: -cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100
            -detpixels 256 -oversample 2 -mosaic 0.5 -mosaic_dom 50 -round_xtal
        shots: 4
        shots_per_file: 1
        seed: 1
    """))
    status, err = _interrupt(["dataset", str(spec), "--out", str(tmp_path / "out"),
                              "--no-progress"], tmp_path, 2)
    assert status == 130, err
    assert len(err) == 1 and err[0].startswith("nanobragg-dataset: interrupted"), err
    assert "Traceback" not in "\n".join(err)
