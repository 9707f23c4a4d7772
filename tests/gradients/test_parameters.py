"""The declared parameter table: complete, and enforced (no silent detach)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.parameters import BY_NAME, PARAMETERS, check_gradient_requests, lookup
from nanobragg.render.simulate import simulate

#: Configuration fields that are not continuous inputs (choices, counts, flags, seeds).
DISCRETE = {
    "detector": {"convention", "fpixels", "spixels", "pivot", "curved", "point_pixel",
                 "thicksteps", "oversample", "oversample_thick", "oversample_polar",
                 "oversample_omega", "roi"},
    "crystal": {"misset_random_seed", "shape", "interpolate", "mosaic_domains", "mosaic_seed",
                "phisteps", "c_rounding"},
    "beam": {"dispsteps", "hdivsteps", "vdivsteps", "round_div", "nopolar"},
}


def _grad(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def _config(**changes) -> SimulationConfig:
    cfg = SimulationConfig(
        detector=DetectorConfig(fpixels=4, spixels=4, pixel_size=1e-3, distance=0.08,
                                oversample=1),
        crystal=CrystalConfig(cell=(50e-10,) * 3 + (math.pi / 2,) * 3, N=(4, 4, 4),
                              default_F=100.0, misset=(0.3, 0.2, 0.1)),
        beam=BeamConfig(wavelength=1.2e-10, fluence=1e28))
    for dotted, value in changes.items():
        part, field = dotted.split("__")
        section = dataclasses.replace(getattr(cfg, part), **{field: value})
        cfg = dataclasses.replace(cfg, **{part: section})
    return cfg


def test_every_continuous_field_is_listed_once():
    listed = {}
    for p in PARAMETERS:
        for index in (p.indices or (None,)):
            key = (p.field, index)
            assert key not in listed, f"{p.field}[{index}] listed twice"
            listed[key] = p
    config = SimulationConfig()
    for part in ("detector", "crystal", "beam"):
        for f in dataclasses.fields(getattr(config, part)):
            if f.name in DISCRETE[part]:
                continue
            name = f"{part}.{f.name}"
            assert any(k[0] == name or k[0].startswith(name + ".") for k in listed), name
    assert ("dmin", None) in listed
    for p in PARAMETERS:
        assert p.unit and p.natural_unit and p.doc, p.name


@pytest.mark.parametrize("field, value, message", [
    ("crystal__default_F", _grad(100.0), "crystal.default_F: not differentiable"),
    ("crystal__sample_size", (_grad(1e-7), 0.0, 0.0), "crystal.sample_size: not differentiable"),
    ("beam__beamsize", _grad(1e-4), "beam.beamsize: not differentiable"),
    ("detector__fpixels", _grad(4.0), r"detector.fpixels: not a continuous input"),
    ("detector__thickness", _grad(0.0), "detector.thickness: the gradient needs a thickness"),
    ("detector__mu", _grad(1e3), "detector.mu: mu has no effect without a sensor"),
    ("beam__hdivrange", _grad(0.0), "beam.hdivrange: the gradient needs a range > 0"),
    ("crystal__mosaic_spread", _grad(0.0), "crystal.mosaic_spread: the gradient needs"),
    ("crystal__fudge", _grad(1.0), "crystal.fudge: only used by the round"),
    ("crystal__N", (_grad(0.0), 4.0, 4.0), r"crystal\.N\[0\] must be > 0"),
    ("detector__org", (_grad(2.0), None), "detector.org: not used by MOSFLM"),
])
def test_gradient_requests_the_table_cannot_honour_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        simulate(_config(**{field: value}))


def test_dmin_with_a_gradient_is_refused():
    cfg = dataclasses.replace(_config(), dmin=_grad(1e-10))
    with pytest.raises(ValueError, match="dmin: not differentiable"):
        check_gradient_requests(cfg)


@pytest.mark.parametrize("field, value, steps", [
    ("beam__dispersion", 0.002, ("beam__dispsteps", 3)),
    ("beam__hdivrange", 1e-3, ("beam__hdivsteps", 3)),
    ("beam__vdivrange", 1e-3, ("beam__vdivsteps", 3)),
    ("detector__thickness", 3e-4, ("detector__thicksteps", 3)),
])
def test_formerly_detached_inputs_now_have_gradients(field, value, steps):
    x = _grad(value)
    image = simulate(_config(**{field: x, steps[0]: steps[1]})).image
    assert image.grad_fn is not None
    (grad,) = torch.autograd.grad(image.sum(), x)
    assert torch.isfinite(grad) and grad != 0


def test_sensor_mu_has_a_gradient():
    mu = _grad(2e3)
    image = simulate(_config(detector__thickness=3e-4, detector__mu=mu)).image
    (grad,) = torch.autograd.grad(image.sum(), mu)
    assert torch.isfinite(grad) and grad != 0


def test_smooth_mosaic_stays_within_float32_rounding_of_the_c_angles():
    smooth = simulate(_config(crystal__mosaic_spread=0.01, crystal__mosaic_domains=5)).image
    c = simulate(_config(crystal__mosaic_spread=0.01, crystal__mosaic_domains=5,
                         crystal__c_rounding=True)).image
    assert torch.allclose(smooth, c, rtol=1e-4, atol=1e-6 * float(c.max()))


def test_names_and_natural_units_of_the_refinement_entries():
    assert BY_NAME["crystal.cell_lengths"].natural_unit == "A"
    assert BY_NAME["crystal.cell_angles"].natural_unit == "deg"
    assert BY_NAME["detector.distance"].scale == 1e-3
    assert BY_NAME["detector.beam_center"].natural_unit == "pixel"


def test_panel_fields_are_listed_and_refused_by_the_module():
    from nanobragg.refine.module import DiffractionModel

    for name in ("detector.panels.origin", "detector.panels.rotation"):
        entry = lookup(name)
        assert entry.differentiable and entry.field == name
        with pytest.raises(ValueError, match="simulate_panels"):
            DiffractionModel(SimulationConfig(), refine=[name])
