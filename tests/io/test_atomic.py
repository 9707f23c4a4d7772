"""Atomic writing: a failed write leaves neither a partial file nor a temporary file."""

import os

import numpy as np
import pytest

import nanobragg.io._atomic as atomic
from nanobragg.errors import InputError
from nanobragg.io.hkl import HKLGrid, write_fdump
from nanobragg.io.pgm import write_pgm
from nanobragg.io.rawfloat import write_float_image
from nanobragg.io.smv import write_smv


def _failing_chunks():
    yield b"first part"
    raise RuntimeError("simulated failure mid-write")


def test_failure_mid_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="simulated"):
        atomic.atomic_write(target, _failing_chunks(), "test file")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, _failing_chunks(), "test file")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def _writers(path):
    image = np.zeros((2, 3), dtype=np.uint16)
    grid = HKLGrid(F=np.ones((1, 1, 1)), h_min=0, k_min=0, l_min=0, count=1)
    return [
        lambda: write_smv(path, image, {"HEADER_BYTES": 512, "SIZE1": 3, "SIZE2": 2}),
        lambda: write_float_image(path, image.astype(np.float32)),
        lambda: write_pgm(path, image.astype(np.uint8), 1.0),
        lambda: write_fdump(path, grid),
    ]


@pytest.mark.parametrize("which", range(4))
def test_writers_are_atomic(tmp_path, monkeypatch, which):
    target = tmp_path / "image.out"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(InputError, match="image.out.*No space left"):
        _writers(target)[which]()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", range(4))
def test_writers_replace_existing_file(tmp_path, which):
    target = tmp_path / "image.out"
    target.write_bytes(b"x" * 10000)
    _writers(target)[which]()
    assert target.stat().st_size < 10000
    assert list(tmp_path.iterdir()) == [target]


def test_unwritable_folder_is_input_error(tmp_path):
    target = tmp_path / "missing" / "out.img"
    with pytest.raises(InputError, match="'.*out.img': cannot write"):
        atomic.atomic_write(target, [b"x"], "SMV file")


def test_file_mode_follows_umask(tmp_path):
    target = tmp_path / "out.bin"
    atomic.atomic_write(target, [b"x"], "test file")
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_relative_path_in_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atomic.atomic_write("plain.bin", [b"abc", b"def"], "test file")
    assert (tmp_path / "plain.bin").read_bytes() == b"abcdef"
