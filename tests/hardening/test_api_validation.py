"""The Python API refuses what the command line refuses: a TypeError or ValueError that
names the configuration field, in the configuration's own units, before any model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import nanobragg as nb
from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig


def _config(**changes) -> SimulationConfig:
    parts = {"detector": DetectorConfig(fpixels=4, spixels=4, distance=0.1),
             "crystal": CrystalConfig(cell=(1e-8, 1e-8, 1e-8, 1.5707963267948966,
                                            1.5707963267948966, 1.5707963267948966),
                                      N=(3.0, 3.0, 3.0), default_F=100.0),
             "beam": BeamConfig()}
    top = {}
    for key, value in changes.items():
        part, _, name = key.partition("__")
        if name:
            parts[part] = dataclasses.replace(parts[part], **{name: value})
        else:
            top[part] = value
    return SimulationConfig(**(parts | top))


@pytest.mark.parametrize("field, value, error, message", [
    ("detector__distance", "abc", TypeError, "detector.distance must be a number in m "
                                             "(got the string 'abc')"),
    ("detector__distance", "0.1", TypeError, "detector.distance must be a number in m"),
    ("detector__pixel_size", -1e-4, ValueError, "detector.pixel_size must be > 0 "
                                                "(got -0.0001 m)"),
    ("detector__fpixels", 3.5, TypeError, "detector.fpixels must be a whole number"),
    ("detector__fpixels", 0, ValueError, "detector.fpixels must be >= 1 (got 0)"),
    ("detector__convention", "mosflm", ValueError, "detector.convention must be one of"),
    ("detector__curved", "yes", TypeError, "detector.curved must be True or False"),
    ("detector__beam_center", (0.01,), ValueError, "detector.beam_center must be 2 "),
    ("detector__roi", (0, 1, 2), ValueError, "detector.roi must be 4 pixel bounds (got 3)"),
    ("detector__thickness", float("nan"), ValueError, "detector.thickness must be a finite"),
    ("crystal__N", (5, 5), ValueError, "crystal.N must be 3 numbers of cells (got 2)"),
    ("crystal__N", 5, TypeError, "crystal.N must be 3 numbers of cells"),
    ("crystal__misset", (0.1, 0.2), ValueError, "crystal.misset must be 3 angles (got 2)"),
    ("crystal__default_F", "100", TypeError, "crystal.default_F must be a number"),
    ("crystal__mosaic_domains", 2.5, TypeError, "crystal.mosaic_domains must be a whole"),
    ("crystal__mosaic_spread", -0.1, ValueError, "crystal.mosaic_spread must be >= 0 "
                                                 "(got -0.1 rad)"),
    ("crystal__shape", "cube", ValueError, "crystal.shape must be one of"),
    ("crystal__cell", (1e-8,) * 5, ValueError, "crystal.cell must be 6 numbers"),
    ("beam__wavelength", 0.0, ValueError, "beam.wavelength must be > 0 (got 0 m)"),
    ("beam__fluence", float("inf"), ValueError, "beam.fluence must be a finite number"),
    ("beam__polar_vector", (0, 0), ValueError, "beam.polar_vector must be 3 numbers"),
    ("beam__sources", ((-10, 0, 0, "one"),), TypeError, "beam.sources[0][3] must be a "),
    ("dmin", "2e-10", TypeError, "dmin must be a number in m"),
    ("detector", "big", TypeError, "detector must be a DetectorConfig"),
])
def test_bad_field_names_the_field(field, value, error, message):
    with pytest.raises(error, match=_literal(message)):
        nb.simulate(_config(**{field: value}))


def _literal(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dtype": "float64"}, TypeError, "dtype must be torch.float32 or torch.float64 (got "
                                      "the string 'float64'; pass torch.float64)"),
    ({"dtype": torch.int32}, ValueError, "dtype must be torch.float32 or torch.float64"),
    ({"engine": "turbo"}, ValueError, "engine: unknown engine 'turbo'; known: "),
    ({"evaluations_per_chunk": 0}, ValueError, "evaluations_per_chunk must be >= 1"),
    ({"device": "gpu0"}, ValueError, "device must be 'cpu', 'cuda', 'auto'"),
])
def test_bad_run_options(kwargs, error, message):
    with pytest.raises(error, match=_literal(message)):
        nb.simulate(_config(), **kwargs)


def test_simulate_of_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="config must be a SimulationConfig "
                                        "\\(got the string 'hello'\\)"):
        nb.simulate("hello")


def test_numbers_of_every_kind_and_gradient_tensors_pass():
    distance = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    config = _config(detector__distance=distance, detector__fpixels=np.int64(4),
                     crystal__default_F=np.float32(100.0),
                     crystal__N=(torch.tensor(3.0), 3, np.float64(3.0)))
    image = nb.simulate(config).image
    assert image.shape == (4, 4) and image.requires_grad
    image.sum().backward()
    assert distance.grad is not None and torch.isfinite(distance.grad)
