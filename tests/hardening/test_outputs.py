"""Output safety: special files written in place, all outputs or none, stale temporary
files cleaned up, Ctrl-C leaves nothing, and the Fdump.bin rule."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import nanobragg.io._atomic as atomic
from nanobragg.cli.main import run
from nanobragg.io.output_set import OutputSet

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "3", "-lambda", "1",
        "-distance", "100", "-detpixels", "8", "-seed", "3"]
PIXELS = 64


def _image(folder: Path, name: str = "floatimage.bin") -> np.ndarray:
    return np.fromfile(folder / name, "<f4")


def test_fifo_output_stays_a_fifo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        assert run(BASE + ["-default_F", "10", "-floatfile", "stream", "-nonoise",
                           "-nopgm"]) == 0
    finally:
        if reader.is_alive():
            with open(fifo, "wb"):
                pass
        reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(received[0]) == 4 * PIXELS
    assert np.frombuffer(received[0], "<f4").max() > 0


def test_symlink_output_writes_its_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    os.symlink("data/real.bin", tmp_path / "link.bin")
    assert run(BASE + ["-default_F", "10", "-floatfile", "link.bin", "-nonoise",
                       "-nopgm"]) == 0
    assert os.path.islink(tmp_path / "link.bin")
    assert _image(tmp_path / "data", "real.bin").size == PIXELS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "intimage.img", "link.bin"]


def test_device_output_is_not_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = os.stat("/dev/null")
    assert run(BASE + ["-default_F", "10", "-floatfile", "/dev/null", "-nonoise",
                       "-nopgm"]) == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert [p.name for p in tmp_path.iterdir()] == ["intimage.img"]


def test_a_failing_writer_leaves_no_new_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "floatimage.bin").write_bytes(b"old")
    real = atomic.write_chunks
    calls = []

    def fail_on_the_third(path, chunks):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, chunks)

    monkeypatch.setattr(atomic, "write_chunks", fail_on_the_third)
    assert run(BASE + ["-default_F", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nanoBragg: error: -pgmfile 'image.pgm': cannot write: "
                   "No space left on device"]
    assert [p.name for p in tmp_path.iterdir()] == ["floatimage.bin"]
    assert (tmp_path / "floatimage.bin").read_bytes() == b"old"


def test_stale_temporary_files_of_ended_runs_are_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".floatimage.bin.{ended.pid}.nbtmp"
        live = tmp_path / f".floatimage.bin.{alive.pid}.nbtmp"
        other = tmp_path / f".unrelated.bin.{ended.pid}.nbtmp"
        for path in (stale, live, other):
            path.write_bytes(b"partial")
        assert run(BASE + ["-default_F", "10", "-nonoise", "-nopgm"]) == 0
        assert not stale.exists()
        assert live.exists() and other.exists()
    finally:
        alive.kill()
        alive.wait()


def test_output_set_discards_everything_without_commit(tmp_path):
    with OutputSet() as files:
        files.reserve("-a", tmp_path / "a.bin")
        files.reserve("-b", tmp_path / "b.bin")
        files.write("-a", lambda p: p.write_bytes(b"a"))
        assert len(list(tmp_path.iterdir())) == 2  # the two temporary files
    assert list(tmp_path.iterdir()) == []


def test_output_set_commits_only_written_outputs(tmp_path):
    with OutputSet() as files:
        files.reserve("-a", tmp_path / "a.bin")
        files.reserve("-b", tmp_path / "b.bin")
        files.write("-a", lambda p: p.write_bytes(b"a"))
        files.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    assert (tmp_path / "a.bin").read_bytes() == b"a"


def test_ctrl_c_mid_render_writes_nothing(tmp_path):
    command = [sys.executable, "-m", "nanobragg", *BASE, "-default_F", "10",
               "-detpixels", "1024", "-oversample", "64", "-N", "5"]
    # about 4e9 evaluations: many seconds even on the compiled path, so the SIGINT below
    # always lands mid-render
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".*.nbtmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the temporary files exist before the render starts
    assert child.poll() is None, "the render finished before it could be interrupted"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip().splitlines() == ["nanoBragg: interrupted; no output written"]
    assert list(tmp_path.iterdir()) == []


def _fdump(folder: Path, F: float) -> None:
    (folder / "F.hkl").write_text(f"0 0 0 {F}\n")
    assert run(BASE + ["-hkl", "F.hkl", "-nonoise", "-nopgm", "-floatfile", "x.bin"]) == 0
    (folder / "F.hkl").unlink()


def test_stale_fdump_is_ignored_when_default_F_is_given(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fdump(tmp_path, 1000.0)
    capsys.readouterr()
    assert run(BASE + ["-default_F", "10", "-nonoise", "-nopgm", "-floatfile", "a.bin"]) == 0
    assert "ignoring" in capsys.readouterr().err
    assert run(BASE + ["-default_F", "10", "-nonoise", "-nopgm", "-floatfile", "b.bin",
                       "-dump", "none.bin"]) == 0
    np.testing.assert_array_equal(_image(tmp_path, "a.bin"), _image(tmp_path, "b.bin"))


def test_fdump_without_default_F_is_used_and_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fdump(tmp_path, 1000.0)
    capsys.readouterr()
    assert run(BASE + ["-nonoise", "-nopgm", "-floatfile", "a.bin"]) == 0
    err = capsys.readouterr().err
    assert "reading structure factors from" in err and "Fdump.bin" in err
    np.testing.assert_array_equal(_image(tmp_path, "a.bin"), _image(tmp_path, "x.bin"))


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_streamed_writers_write_the_same_bytes(tmp_path, monkeypatch, rows):
    from nanobragg.io import streaming
    from nanobragg.io.rawfloat import write_float_image

    monkeypatch.setattr(streaming, "BLOCK_BYTES", rows * 7 * 4)
    image = np.random.default_rng(0).random((11, 7)).astype(np.float32)
    write_float_image(tmp_path / "f.bin", image)
    assert (tmp_path / "f.bin").read_bytes() == image.astype("<f4").tobytes()
