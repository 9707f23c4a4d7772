"""The nanobragg-dataset command."""

import json

import numpy as np
import pytest

from nanobragg.cli.dataset import run
from nanobragg.dataset.storage import read_chunk

pytest.importorskip("h5py")

SPEC = {
    "seed": 5, "shots": 3, "shots_per_file": 2,
    "experiment": {"flags": "-cell 79 79 38 90 90 90 -default_F 100 -N 6 -lambda 1 "
                            "-distance 80 -detpixels 20 -pixel 0.4 -oversample 1"},
    "variation": {"orientation": "random", "noise": "poisson"},
}


def _spec(tmp_path, doc=None, name="spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc or SPEC))
    return path


def test_renders_from_flags_and_resumes(tmp_path, capsys):
    spec = _spec(tmp_path)
    out = tmp_path / "out"
    assert run([str(spec), "--out", str(out), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "rendered 3 shots" in first and "3 of 3 shots done" in first
    data = read_chunk(out / "shots_000001.h5")
    assert data["images"].shape == (1, 20, 20) and data["images"].dtype == np.float32
    assert data["counts"].sum() > 0
    assert run([str(spec), "--out", str(out), "--no-progress"]) == 0
    assert "rendered 0 shots" in capsys.readouterr().out


def test_hkl_file_in_the_flags_is_read_relative_to_the_spec(tmp_path, capsys):
    (tmp_path / "p1.hkl").write_text("0 0 0 10\n1 0 0 2000\n0 1 0 3000\n")
    doc = json.loads(json.dumps(SPEC))
    doc["experiment"]["flags"] += " -hkl p1.hkl"
    out = tmp_path / "out"
    assert run([str(_spec(tmp_path, doc)), "--out", str(out), "--no-progress",
                "--shots", "1"]) == 0
    header = json.loads((out / "dataset.json").read_text())
    assert header["shots"] == 1


@pytest.mark.parametrize("change, key", [
    ({"variation": {"noise": "gaussian"}}, "variation.noise"),
    ({"experiment": {"flags": "-cell 79 79 38 90 90 90 -lambda -1"}}, "experiment.flags"),
    ({"shots_per_file": 0}, "shots_per_file"),
    ({"colour": "red"}, "colour"),
])
def test_bad_description_is_one_line_naming_the_key(tmp_path, capsys, change, key):
    out = tmp_path / "out"
    assert run([str(_spec(tmp_path, {**SPEC, **change})), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nanobragg-dataset: error: {key}:"), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_usage_errors(tmp_path, capsys, monkeypatch):
    spec = str(_spec(tmp_path))
    with pytest.raises(SystemExit) as stop:
        run([spec])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert run([spec, "--out", str(tmp_path / "o"), "--cluster", "remote:3"]) == 2
    assert "--cluster" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    pytest.importorskip("distributed")
    monkeypatch.setattr("nanobragg.dataset.distributed.CONNECT_TIMEOUT", "1s")
    assert run([spec, "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert run([str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as stop:
        run(["--help"])
    assert stop.value.code == 0
    assert "--scheduler" in capsys.readouterr().out
