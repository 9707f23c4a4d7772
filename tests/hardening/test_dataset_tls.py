"""nanobragg-dataset --scheduler tls://: Dask's TLS settings reach the client."""

from __future__ import annotations

import json

import pytest

from nanobragg.cli.dataset import run

distributed = pytest.importorskip("distributed")


def _spec(tmp_path):
    right = 1.5707963267948966
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"seed": 1, "shots": 2, "experiment": {"config": {
        "detector": {"fpixels": 8, "spixels": 8, "distance": 0.08, "oversample": 1},
        "crystal": {"cell": [79e-10, 79e-10, 38e-10, right, right, right], "N": [6, 6, 6],
                    "default_F": 100},
        "beam": {"wavelength": 1e-10}}}}))
    return path


def _pems(tmp_path):
    names = []
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("not checked here\n")
        names.append(str(tmp_path / name))
    return names


def test_tls_certificates_are_passed_to_the_client(tmp_path, monkeypatch, capsys):
    seen = {}

    def client(address, **kwargs):
        seen.update(kwargs, address=address)
        raise OSError("no scheduler in this test")

    monkeypatch.setattr(distributed, "Client", client)
    ca, cert, key = _pems(tmp_path)
    status = run([str(_spec(tmp_path)), "--out", str(tmp_path / "out"), "--scheduler",
                  "tls://127.0.0.1:8786", "--tls-ca-file", ca, "--tls-cert", cert,
                  "--tls-key", key])
    assert status == 2
    assert "cannot connect" in capsys.readouterr().err
    security = seen["security"]
    assert seen["address"] == "tls://127.0.0.1:8786"
    assert security.require_encryption
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == (
        ca, cert, key)


@pytest.mark.parametrize("extra, needle", [
    (["--scheduler", "tls://127.0.0.1:8786"], "give --tls-ca-file, --tls-cert and --tls-key"),
    (["--tls-cert", "client.pem"], "--tls-cert: needs --scheduler tls://HOST:PORT"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--tls-key", "client.key"],
     "--tls-key: needs --scheduler tls://"),
    (["--scheduler", "tls://h:1", "--tls-ca-file", "missing.pem"],
     "--tls-ca-file: cannot read 'missing.pem'"),
])
def test_tls_usage_errors_are_one_line(extra, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _pems(tmp_path)
    status = run([str(_spec(tmp_path)), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "out").exists()
