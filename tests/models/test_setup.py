"""The kernel's inputs are the models: tensors in the detector, crystal and beam models,
static choices in one hashable sampling model."""

import dataclasses

import torch

from nanobragg.config import CrystalConfig, SimulationConfig
from nanobragg.models.setup import replace_fields, tensor_fields, with_lookup
from nanobragg.render.simulate import prepare


def _setup(**crystal):
    cfg = SimulationConfig(crystal=CrystalConfig(cell=(5e-9, 5e-9, 5e-9, 1.5708, 1.5708, 1.5708),
                                                 N=(3, 3, 3), **crystal))
    return prepare(cfg, dtype=torch.float32)


def test_sampling_is_plain_and_hashable():
    sampling = _setup().sampling
    for f in dataclasses.fields(sampling):
        assert not isinstance(getattr(sampling, f.name), torch.Tensor), f.name
    assert hash(sampling) == hash(_setup().sampling) and sampling == _setup().sampling
    assert sampling.dtype == torch.float32 and sampling.lookup == "nearest"


def test_tensor_models_are_float64_geometry():
    setup = _setup()
    paths = tensor_fields(setup)
    assert ("detector", "pix0") in paths and ("crystal", "real_rows") in paths
    assert ("beam", "fluence") in paths
    for model, name in paths:
        assert getattr(getattr(setup, model), name).dtype == torch.float64, (model, name)


def test_replacing_fields_and_lookup_keeps_the_rest():
    setup = _setup()
    moved = replace_fields(setup, {("detector", "pix0"): setup.detector.pix0 * 2})
    assert torch.equal(moved.detector.pix0, setup.detector.pix0 * 2)
    assert moved.crystal is setup.crystal and moved.sampling is setup.sampling
    assert with_lookup(setup, "tricubic").sampling.lookup == "tricubic"
    assert setup.sampling.lookup == "nearest"
    assert setup.evaluations_per_pixel == setup.layers * setup.oversample**2


def test_models_hold_tensors_and_sizes_only():
    """Reported values are computed on demand (nanobragg.products.reports), not kept in models."""
    setup = _setup()
    for model in ("detector", "crystal", "beam"):
        value = getattr(setup, model)
        for f in dataclasses.fields(value):
            kept = getattr(value, f.name)
            assert isinstance(kept, (torch.Tensor, int, float, tuple)), (model, f.name)
