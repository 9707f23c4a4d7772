"""The refinement example (examples/refine.py), short versions: it recovers the truth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "refine.py"


def _example():
    spec = importlib.util.spec_from_file_location("refine_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_noiseless_fit_recovers_every_parameter_to_1e4_relative(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    summary = _example().main(["--no-noise", "--iterations", "4", "--out", str(tmp_path)])
    assert summary["losses"][-1] < 1e-6 * summary["losses"][0]
    for name, relative in summary["relative"].items():
        assert relative < 1e-4, name
    assert (tmp_path / "images.png").stat().st_size > 0
    assert (tmp_path / "convergence.png").stat().st_size > 0
    assert "iter" in capsys.readouterr().out


def test_noisy_fit_reaches_the_noise_limit():
    summary = _example().main(["--iterations", "4", "--size", "64"])
    for name, error in summary["errors"].items():
        assert error <= 1.5 * summary["noise_limit"][name], name


def test_fit_through_the_detector_reaches_the_noise_limit():
    # an ADU frame (PSF, gain, read-out noise); gain and PSF width start 20 % and 25 % off
    summary = _example().main(["--detector", "--iterations", "4", "--size", "64"])
    assert {"response.gain", "response.fwhm"} <= set(summary["errors"])
    for name, error in summary["errors"].items():
        assert error <= 1.5 * summary["noise_limit"][name] + 1e-6, name
    assert summary["relative"]["response.gain"] < 0.02
    assert summary["relative"]["response.fwhm"] < 0.05


MOSAIC = Path(__file__).resolve().parents[2] / "examples" / "refine_mosaic.py"


@pytest.mark.slow
def test_mosaic_example_fits_geometry_mosaic_N_and_amplitudes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("refine_mosaic_example", MOSAIC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--size", "32", "--iterations", "2", "--inner", "4",
                           "--reflections", "3", "--out", str(tmp_path)])
    assert summary["losses"][-1] < 0.5 * summary["losses"][0]
    assert len(summary["truth"]["structure_factors.F"]) == 3
    assert len(summary["seconds_per_iteration"]) == len(summary["losses"]) - 1
    assert (tmp_path / "images.png").stat().st_size > 0
    assert "time per outer L-BFGS iteration" in capsys.readouterr().out
