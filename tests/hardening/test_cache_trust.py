"""Compiled kernels are loaded only from a cache folder and file of the current user
that nobody else can write; otherwise they are built privately, and stderr says why."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from nanobragg.native import build, trust


def test_own_private_folder_is_trusted(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert trust.untrusted_reason(folder) is None
    assert trust.safe_library_path(folder / "k.so") == folder / "k.so"


def test_missing_folder_is_created_private(tmp_path):
    folder = tmp_path / "new" / "cache"
    assert trust.safe_library_path(folder / "k.so") == folder / "k.so"
    assert (folder.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_group_or_other_writable_folder_is_refused(mode, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, mode)
    assert "writable by group or others" in trust.untrusted_reason(folder)
    assert trust.safe_library_path(folder / "k.so").parent != folder


def test_writable_or_linked_library_file_is_refused(tmp_path):
    (tmp_path / "k.so").write_bytes(b"x")
    os.chmod(tmp_path / "k.so", 0o666)
    assert "writable by group or others" in trust.untrusted_reason(tmp_path / "k.so")
    (tmp_path / "l.so").symlink_to(tmp_path / "k.so")
    assert "symlink" in trust.untrusted_reason(tmp_path / "l.so")


def test_another_users_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(trust.os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    assert "belongs to another user" in trust.untrusted_reason(tmp_path)


def test_a_planted_library_is_never_loaded(tmp_path, monkeypatch, caplog):
    cc = build.compiler()
    if cc is None:
        pytest.skip("no C compiler")
    good = build.load()
    if good is None:
        pytest.skip("the kernel does not build here")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("NANOBRAGG_CACHE_DIR", str(shared))
    planted = build.library_path(cc)
    planted.write_bytes(b"not a library: loading it would raise OSError")
    built = []

    def compile_copy(_cc, path):  # the real build, without minutes of compiling
        built.append(path)
        shutil.copyfile(good._name, path)

    monkeypatch.setattr(build, "_compile", compile_copy)
    monkeypatch.setattr(build, "_loaded", {})
    with caplog.at_level(logging.WARNING, logger=trust.__name__):
        lib = build.load()
    assert lib is not None
    assert built and built[0].parent != shared and built[0].name == planted.name
    assert (built[0].parent.stat().st_mode & 0o077) == 0
    assert "not loading compiled kernels from" in caplog.text
    assert "writable by group or others" in caplog.text
