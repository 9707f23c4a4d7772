"""The public API: lazy names, no CLI import from the library, configs through JSON."""

from __future__ import annotations

import json
import math
import pkgutil
import subprocess
import sys

import pytest
import torch

import nanobragg
from nanobragg.commandline.to_config import build_request
from nanobragg.config import (
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    PanelConfig,
    SimulationConfig,
)
from nanobragg.errors import InputError

ARGV = ["-cell", "70", "80", "90", "90", "95", "90", "-N", "5", "-default_F", "100",
        "-distance", "80", "-detpixels", "64", "-lambda", "1.1", "-misset", "10", "20", "30"]


def test_every_public_name_resolves():
    assert "simulate" in nanobragg.__all__ and "from_expt" in nanobragg.__all__
    for name in nanobragg.__all__:
        assert getattr(nanobragg, name) is not None
    assert set(nanobragg.__all__) <= set(dir(nanobragg))
    with pytest.raises(AttributeError):
        nanobragg.not_a_name  # noqa: B018


def _fresh_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout


def test_import_is_cheap_and_lazy():
    out = _fresh_python("import sys, nanobragg; print('torch' in sys.modules)")
    assert out.strip() == "False"


def test_the_library_never_imports_the_cli():
    names = [m.name for m in pkgutil.walk_packages(nanobragg.__path__, "nanobragg.")
             if not m.name.startswith(("nanobragg.cli", "nanobragg.__main__"))]
    code = ("import importlib, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "import nanobragg\n"
            "for name in nanobragg.__all__: getattr(nanobragg, name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('nanobragg.cli')))")
    assert _fresh_python(code).strip() == "[]"


def test_from_command_line_is_the_requests_config(tmp_path):
    assert nanobragg.from_command_line(ARGV, cwd=tmp_path) == build_request(ARGV,
                                                                          tmp_path).config


def _through_json(cfg: SimulationConfig) -> SimulationConfig:
    return SimulationConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))


def test_config_round_trips_through_json(tmp_path):
    cfg = nanobragg.from_command_line(ARGV + ["-mosaic", "0.5", "-phi", "3", "-osc", "1",
                                              "-roi", "2", "40", "3", "50"], cwd=tmp_path)
    assert _through_json(cfg) == cfg
    panels = (PanelConfig(origin=(0.1, 0.01, -0.02), fast_axis=(0.0, 0.0, 1.0),
                          slow_axis=(0.0, -1.0, 0.0), fpixels=10, spixels=8, name="a"),
              PanelConfig(origin=(0.1, 0.01, 0.0), fast_axis=(0.0, 0.0, 1.0),
                          slow_axis=(0.0, -1.0, 0.0), rotation=(0.0, 0.0, 0.01)))
    cfg = SimulationConfig(
        detector=DetectorConfig(panels=panels, fpixels=10, spixels=8),
        crystal=CrystalConfig(reciprocal_matrix=((0.01, 0, 0), (0, 0.01, 0), (0, 0, 0.01))),
        beam=BeamConfig(sources=((1.0, 0.0, 0.0, 1.0, math.nan),)))
    back = _through_json(cfg)
    assert back.detector == cfg.detector and back.crystal == cfg.crystal
    assert back.beam.sources[0][:4] == (1.0, 0.0, 0.0, 1.0) and math.isnan(back.beam.sources[0][4])


def test_tensors_become_plain_numbers():
    cfg = SimulationConfig(detector=DetectorConfig(distance=torch.tensor(0.1,
                                                                         requires_grad=True)),
                           crystal=CrystalConfig(cell=(5e-9,) * 3 + (math.pi / 2,) * 3))
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["detector"]["distance"] == pytest.approx(0.1)
    assert SimulationConfig.from_dict(data).detector.distance == pytest.approx(0.1)


def test_unknown_fields_are_input_errors():
    with pytest.raises(InputError, match="unknown field 'distnce'"):
        SimulationConfig.from_dict({"detector": {"distnce": 0.1}})
    with pytest.raises(InputError, match="panels\\[0\\]"):
        SimulationConfig.from_dict({"detector": {"panels": [{"origin": [0, 0, 1], "x": 1}]}})
