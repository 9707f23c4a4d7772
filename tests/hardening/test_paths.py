"""Odd output and input paths: long names, standard streams, pipes, /dev/null twice,
/dev/full with regular outputs, a closed stdout, and temporary files of killed runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nanobragg.cli.main import run

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "3", "-lambda", "1",
        "-distance", "100", "-detpixels", "8", "-seed", "3", "-default_F", "10"]
PIXELS = 64
QUIET = ["-nonoise", "-nopgm"]


def _run(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = run(args)
    return status, capsys.readouterr().err.strip().splitlines()


def _child(args, cwd, **kwargs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "nanobragg", *args], cwd=cwd, env=env,
                          timeout=120, **kwargs)


@pytest.mark.parametrize("flag", ["-floatfile", "-intfile", "-noisefile", "-pgmfile",
                                  "-nexusfile", "-exptout", "-hkl", "-mat", "-sourcefile",
                                  "-dump", "-img"])
def test_a_name_over_255_characters_is_one_line_naming_the_flag(flag, tmp_path,
                                                                monkeypatch, capsys):
    status, err = _run(BASE + QUIET + [flag, "n" * 300], tmp_path, monkeypatch, capsys)
    assert status == 2
    assert len(err) == 1 and err[0].startswith("nanoBragg: error: ")
    assert flag in err[0] and ("300 characters" in err[0] or "too long" in err[0]), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("length", [243, 250, 255])
def test_legal_long_names_are_written(length, tmp_path, monkeypatch, capsys):
    name = "f" * (length - 4) + ".bin"
    status, err = _run(BASE + QUIET + ["-floatfile", name, "-intfile", "i" * length],
                       tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "i" * length])
    assert _image_of(tmp_path / name).size == PIXELS


def _image_of(path: Path) -> np.ndarray:
    return np.fromfile(path, "<f4")


def test_floatfile_to_stdout_into_a_pipe(tmp_path):
    done = _child(BASE + QUIET + ["-floatfile", "/dev/stdout", "-intfile", "i.img"],
                  tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    reference = np.fromfile(_reference(tmp_path), "<f4")
    assert done.stdout.endswith(reference.tobytes())
    assert b"writing /dev/stdout as 64 4-byte floats" in done.stdout


def _reference(tmp_path: Path) -> Path:
    """The same image written to a regular file (in this process: no second start-up)."""
    folder = tmp_path / "reference"
    folder.mkdir()
    out = folder / "f.bin"
    assert run(BASE + QUIET + ["-floatfile", str(out), "-intfile", str(folder / "i.img")],
               out=io.StringIO()) == 0
    return out


def test_floatfile_into_a_descriptor_like_process_substitution(tmp_path):
    read, write = os.pipe()  # what bash's >(cmd) passes: /dev/fd/N of a pipe
    with os.fdopen(read, "rb") as reader:
        child = subprocess.Popen(
            [sys.executable, "-m", "nanobragg", *BASE, *QUIET, "-floatfile",
             f"/dev/fd/{write}"], cwd=tmp_path, pass_fds=(write,),
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write)
        data = reader.read()
        _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert data == np.fromfile(_reference(tmp_path), "<f4").tobytes()


def test_stdout_redirected_to_a_file_keeps_the_report(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "wb") as handle:
        done = _child(BASE + QUIET + ["-floatfile", "/dev/stdout", "-intfile", "i.img"],
                      tmp_path, stdout=handle, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    data = log.read_bytes()
    assert b"max_I = " in data and b"intfile_scale = " in data  # the report is kept
    assert np.fromfile(_reference(tmp_path), "<f4").tobytes() in data


def test_dev_null_twice_is_accepted(tmp_path, monkeypatch, capsys):
    status, err = _run(BASE + QUIET + ["-floatfile", "/dev/null", "-intfile", "/dev/null"],
                       tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert list(tmp_path.iterdir()) == []


def test_same_regular_file_twice_is_still_refused(tmp_path, monkeypatch, capsys):
    status, err = _run(BASE + QUIET + ["-floatfile", "x.img", "-intfile", "x.img"],
                       tmp_path, monkeypatch, capsys)
    assert status == 2 and "also the output of -floatfile" in err[0]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_leaves_no_regular_output(tmp_path, monkeypatch, capsys):
    status, err = _run(BASE + ["-floatfile", "/dev/full", "-intfile", "x.img",
                               "-noisefile", "n.img", "-nopgm"],
                       tmp_path, monkeypatch, capsys)
    assert status == 2
    assert err == ["nanoBragg: error: -floatfile '/dev/full': cannot write: "
                   "No space left on device"]
    assert list(tmp_path.iterdir()) == []


def test_closed_stdout_is_quiet_and_the_files_are_written(tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is printed (`| true`)
    try:
        done = _child(BASE + QUIET + ["-floatfile", "f.bin"], tmp_path, stdout=write,
                      stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr  # 128 + SIGPIPE, as the shell shows the C
    assert done.stderr == b""
    assert _image_of(tmp_path / "f.bin").size == PIXELS


def test_stale_temporary_file_of_a_reused_pid_is_removed(tmp_path, monkeypatch, capsys):
    # pid 1 runs, but it started long before this file "was written" by a killed run
    old = tmp_path / ".other.bin.1.nbtmp"
    old.write_bytes(b"partial")
    os.utime(old, (1.0, 1.0))
    fresh = tmp_path / ".other.bin.1.nbtmp2"  # not our pattern
    fresh.write_bytes(b"x")
    status, err = _run(BASE + QUIET + ["-floatfile", "f.bin"], tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert not old.exists() and fresh.exists()


def test_many_arguments_parse_fast():
    from nanobragg.commandline.args import parse_argv

    argv = ["-N", "3"] * 50_000  # 100,000 arguments (the C: 0.08 s)
    started = time.perf_counter()
    parse_argv(argv)
    assert time.perf_counter() - started < 1.0
    # 50,000 different option-like values: 0.55 s measured on a quiet core (was 13-19 s
    # for repeated ones, quadratic in the count); 3 s leaves room for a loaded machine
    argv = [token for i in range(50_000) for token in ("-phi", f"-{i}.5")]
    started = time.perf_counter()
    parse_argv(argv)
    assert time.perf_counter() - started < 3.0
