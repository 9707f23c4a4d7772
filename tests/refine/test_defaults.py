"""A refined field the configuration leaves unset starts from the value the render derives."""

from __future__ import annotations

import pytest
import torch

import nanobragg as nb
from nanobragg.refine.module import DiffractionModel

BASE = ["-cell", "79", "79", "38", "90", "90", "90", "-default_F", "100", "-N", "3",
        "-lambda", "1.0", "-detpixels", "40", "-pixel", "0.172", "-oversample", "1",
        "-distance", "100"]
CUSTOM = ["-fdet_vector", "1", "0", "0", "-sdet_vector", "0", "-1", "0", "-odet_vector",
          "0", "0", "1", "-beam_vector", "0", "0", "1"]
CASES = [
    (["-mosflm"], "detector.beam_center"),
    (["-mosflm", "-twotheta", "5"], "detector.beam_center"),
    (["-denzo"], "detector.beam_center"),
    (["-adxv", "-twotheta", "5"], "detector.beam_center"),
    (["-xds", "-twotheta", "5"], "detector.org"),
    (["-dials"], "detector.org"),
    (CUSTOM, "detector.org"),
    (CUSTOM + ["-ORGX", "3", "-ORGY", "4"], "detector.beam_center"),
    (["-mosflm"], "crystal.misset"),
    (["-mosflm", "-misset", "random", "-misset_seed", "3"], "crystal.misset"),
]


@pytest.mark.parametrize("extra, name", CASES)
def test_the_first_render_is_the_configured_one_and_has_a_gradient(extra, name):
    config = nb.from_command_line(BASE + extra)
    reference = nb.simulate(config).image
    model = DiffractionModel(config, refine=[name])
    image = model()
    # float64; the random misset goes through its angles once more (measured 4e-14)
    assert torch.allclose(image, reference, rtol=0, atol=1e-12 * float(reference.max()))
    image.sum().backward()
    grad = model.values[0].grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_a_field_whose_default_would_change_the_sampling_has_no_derived_start():
    config = nb.from_command_line(BASE + ["-mosflm"])
    with pytest.raises(ValueError, match="crystal.osc is not set and has no derived default"):
        DiffractionModel(config, refine=["crystal.osc"])


def test_org_is_refused_where_custom_ignores_it():
    config = nb.from_command_line(BASE + CUSTOM + ["-Xbeam", "3", "-Ybeam", "4"])
    with pytest.raises(ValueError, match="ignored by CUSTOM when a beam_center is given"):
        DiffractionModel(config, refine=["detector.org"])()
