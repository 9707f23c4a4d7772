"""Chunk files and manifest: atomic, resumable, never rewritten."""

import json

import numpy as np
import pytest

from nanobragg.dataset import runner
from nanobragg.dataset.description import parse_description
from nanobragg.dataset.manifest import plan
from nanobragg.dataset.render import render_shots
from nanobragg.dataset.storage import read_chunk, shot_checksum
from nanobragg.errors import InputError

from .conftest import small_document

pytest.importorskip("h5py")


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _count_renders(monkeypatch):
    calls = []
    real = runner.render_shots

    def counting(desc, indices, batch=None):
        calls.append(list(indices))
        return real(desc, indices, batch)

    monkeypatch.setattr(runner, "render_shots", counting)
    return calls


def test_chunks_hold_the_shots_with_labels_and_checksums(tmp_path, small_desc):
    manifest = runner.run_local(small_desc, tmp_path)
    assert manifest["done"] == 6 and manifest["missing"] == []
    reference = render_shots(small_desc, list(range(6)))
    for chunk, entry in zip(plan(small_desc), manifest["chunks"]):
        data = read_chunk(tmp_path / entry["file"])
        k = list(chunk.indices)
        assert data["index"].tolist() == k
        assert np.array_equal(data["images"], reference.images[k])
        assert np.array_equal(data["counts"], reference.counts[k])
        assert np.allclose(data["labels"]["quaternion"],
                           [reference.params[i].quaternion for i in k], rtol=0, atol=0)
        for i, shot in zip(k, entry["shots"]):
            assert shot["status"] == "done" and shot["seed"] == small_desc.seed
            assert shot["checksum"] == shot_checksum(reference.images[i], reference.counts[i])
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest


def test_same_shots_same_bytes(tmp_path, small_desc):
    runner.run_local(small_desc, tmp_path / "a")
    runner.run_local(parse_description(small_document()), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_restart_renders_only_missing_chunks_and_keeps_finished_files(tmp_path, small_desc,
                                                                      monkeypatch):
    runner.run_local(small_desc, tmp_path)
    before = _files(tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.h5")}
    # a killed run: one chunk never written, one written but not yet recorded,
    # and a half-written temporary file
    (tmp_path / "shots_000002.h5").unlink()
    (tmp_path / "records" / "shots_000002.json").unlink()
    (tmp_path / "records" / "shots_000001.json").unlink()
    (tmp_path / ".partial-shots_000002.h5.x").write_bytes(b"\x89HDF half")
    calls = _count_renders(monkeypatch)
    manifest = runner.run_local(small_desc, tmp_path)
    assert calls == [[4, 5]]
    assert manifest["done"] == 6
    assert _files(tmp_path) == before
    for name in ("shots_000000.h5", "shots_000001.h5"):
        assert (tmp_path / name).stat().st_mtime_ns == stamps[name]
    assert runner.run_local(small_desc, tmp_path)["done"] == 6 and len(calls) == 1


def test_a_corrupt_unrecorded_chunk_is_not_counted(tmp_path, small_desc, monkeypatch):
    runner.run_local(small_desc, tmp_path)
    good = (tmp_path / "shots_000000.h5").read_bytes()
    (tmp_path / "records" / "shots_000000.json").unlink()
    (tmp_path / "shots_000000.h5").write_bytes(good[:1000])
    calls = _count_renders(monkeypatch)
    runner.run_local(small_desc, tmp_path)
    assert calls == [[0, 1]]
    assert (tmp_path / "shots_000000.h5").read_bytes() == good


def test_another_data_set_in_the_same_folder_is_refused(tmp_path, small_desc):
    runner.run_local(small_desc, tmp_path)
    doc = small_document()
    doc["seed"] = 3
    with pytest.raises(InputError, match="different data set"):
        runner.run_local(parse_description(doc), tmp_path)
    with pytest.raises(InputError, match="^--shots"):
        runner.run_local(small_desc.with_shots(8), tmp_path)


def test_same_bytes_when_dataset_objects_live_on(tmp_path, small_desc, monkeypatch):
    """A caller that keeps h5py objects alive (Dask's profiler holds worker frames) must
    not change where the chunks land in the file."""
    import h5py

    runner.run_local(small_desc, tmp_path / "a")
    held = []
    real = h5py.Group.create_dataset

    def holding(self, *args, **kwargs):
        dataset = real(self, *args, **kwargs)
        held.append(dataset)
        return dataset

    monkeypatch.setattr(h5py.Group, "create_dataset", holding)
    runner.run_local(parse_description(small_document()), tmp_path / "b")
    assert held
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_chunks_are_written_on_the_writer_thread_while_the_next_renders(tmp_path, small_desc,
                                                                         monkeypatch):
    import threading

    events = []
    real_write, real_render = runner.write_chunk, runner.render_shots

    def write(path, *args):
        events.append(("write", path.name, threading.current_thread().name))
        real_write(path, *args)

    def render(desc, indices, batch=None):
        events.append(("render", tuple(indices), threading.current_thread().name))
        return real_render(desc, indices, batch)

    monkeypatch.setattr(runner, "write_chunk", write)
    monkeypatch.setattr(runner, "render_shots", render)
    manifest = runner.run_local(small_desc, tmp_path)
    assert manifest["done"] == 6
    writes = [e for e in events if e[0] == "write"]
    renders = [e for e in events if e[0] == "render"]
    assert len(writes) == len(renders) == len(plan(small_desc)) > 1
    assert all(e[2].startswith("nanobragg-writer") for e in writes)
    assert all(e[2] == threading.main_thread().name for e in renders)


def test_a_failed_write_stops_the_run_and_marks_nothing_after_it(tmp_path, small_desc,
                                                                 monkeypatch):
    def broken(path, *args):
        raise OSError(f"{path.name}: disk full")

    monkeypatch.setattr(runner, "write_chunk", broken)
    with pytest.raises(OSError, match="disk full"):
        runner.run_local(small_desc, tmp_path)
    assert not list(tmp_path.glob("*.h5"))
