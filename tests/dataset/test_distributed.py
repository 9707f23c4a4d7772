"""Dask: a LocalCluster of two worker processes on loopback renders the same files."""

import os
import signal

import pytest

from nanobragg.dataset.description import parse_description
from nanobragg.dataset.runner import run_local

from .conftest import small_document

pytest.importorskip("h5py")
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from nanobragg.dataset.distributed import connect

    with connect(local_workers=2) as dask_client:
        yield dask_client


def _same_files(a, b):
    files_a, files_b = _files(a), _files(b)
    assert sorted(files_a) == sorted(files_b)
    for name, data in files_a.items():
        assert files_b[name] == data, f"{name} differs"
    return files_a


def _files(folder):
    """Every finished file (temporary files of a killed worker are not data)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_dask_equals_local_file_for_file(tmp_path, client):
    from nanobragg.dataset.distributed import run_distributed

    desc = parse_description(small_document(shots=6))
    local = run_local(desc, tmp_path / "local")
    in_flight = []

    def count(chunk, record):
        in_flight.append(sum(len(keys) for keys in client.processing().values()))

    remote = run_distributed(desc, tmp_path / "dask", client, max_in_flight=2,
                             progress=count)
    assert remote == local
    assert len(in_flight) == 3 and max(in_flight) <= 2  # back-pressure
    files = _same_files(tmp_path / "dask", tmp_path / "local")
    assert len([name for name in files if name.endswith(".h5")]) == 3


def test_killing_a_worker_mid_run_still_finishes_every_shot(tmp_path, client):
    from nanobragg.dataset.distributed import run_distributed

    doc = small_document(shots=10, pixels=40)
    doc["shots_per_file"] = 1
    desc = parse_description(doc)
    pids = list(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    killed = []

    def kill_one(chunk, record):
        if not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(chunk.number)

    manifest = run_distributed(desc, tmp_path / "dask", client, max_in_flight=3,
                               progress=kill_one)
    assert killed and manifest["done"] == 10 and manifest["missing"] == []
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()  # the nanny started a new one
    run_local(desc, tmp_path / "local")
    _same_files(tmp_path / "dask", tmp_path / "local")
