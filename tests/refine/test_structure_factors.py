"""Refining amplitudes of chosen reflections, and finding the reflections an image holds."""

from __future__ import annotations

import pytest
import torch

import nanobragg as nb
from nanobragg.physics.structure_factors import FTable
from nanobragg.refine.fit import fit
from nanobragg.refine.module import F_NAME, DiffractionModel
from nanobragg.refine.reflections import strongest_reflections

ARGS = ["-cell", "40", "45", "50", "90", "90", "90", "-N", "4", "-default_F", "1",
        "-lambda", "1", "-distance", "80", "-detpixels", "24", "-pixel", "0.4",
        "-misset", "10", "20", "30", "-oversample", "1"]


def _table(seed: int = 0) -> FTable:
    """A random P1 table with equal Friedel mates, h, k, l in -8..8."""
    g = torch.Generator().manual_seed(seed)
    F = 50 + 100 * torch.rand((17, 17, 17), generator=g, dtype=torch.float64)
    return FTable((F + F.flip(0, 1, 2)) / 2, (-8, -8, -8), 0.0, True)


@pytest.fixture(scope="module")
def scene():
    config = nb.from_command_line(ARGS)
    table = _table()
    return config, table, strongest_reflections(config, table, 3)


def test_strongest_reflections_are_distinct_pairs_on_the_image(scene):
    config, table, chosen = scene
    assert len(chosen) == 3
    pairs = {frozenset({h, tuple(-i for i in h)}) for h in chosen}
    assert len(pairs) == 3
    model = DiffractionModel(config, [], table=table, refine_F=chosen)
    model().sum().backward()
    assert (model.F_values.grad > 0).all()


def test_the_first_render_and_the_gradient_match_the_eager_reference(scene):
    config, table, chosen = scene
    model = DiffractionModel(config, ["detector.distance"], table=table, refine_F=chosen)
    image = model()
    assert torch.equal(image.detach(), nb.simulate(config, table).image)
    cotangent = torch.rand(image.shape, generator=torch.Generator().manual_seed(1),
                           dtype=torch.float64)
    (got,) = torch.autograd.grad(image, model.F_values, cotangent)
    F = table.F.clone().requires_grad_(True)
    reference = nb.simulate(config, FTable(F, table.mins, 0.0, True)).image
    (full,) = torch.autograd.grad(reference, F, cotangent)
    expected = [sum(full[tuple(i + 8 for i in mate)] for mate in {h, tuple(-i for i in h)})
                for h in chosen]
    assert torch.allclose(got, torch.stack(expected), rtol=1e-12, atol=0)


def test_perturbed_amplitudes_are_recovered_from_a_noiseless_image(scene):
    config, table, chosen = scene
    target = nb.simulate(config, table).image
    model = DiffractionModel(config, [], table=table, refine_F=chosen)
    truth = model.F_values.detach().clone()
    with torch.no_grad():
        model.F_values.mul_(torch.tensor([1.1, 0.9, 1.05], dtype=torch.float64))
    result = fit(model, target, iterations=6)
    assert torch.allclose(torch.tensor(result.values[F_NAME], dtype=torch.float64), truth,
                          rtol=1e-6)


@pytest.mark.parametrize("refine_F, table, problem", [
    ([(1, 0, 0)], None, "needs a structure-factor table"),
    ([(9, 0, 0)], _table(), r"reflection \(9, 0, 0\) is outside the table"),
    ([(1, 2, 3), (-1, -2, -3)], _table(), "refined twice"),
    ([(1, 2, 3)], FTable(torch.arange(17.0**3, dtype=torch.float64).reshape(17, 17, 17),
                         (-8, -8, -8), 0.0, True), "friedel=False"),
])
def test_bad_requests_are_refused(refine_F, table, problem):
    with pytest.raises(ValueError, match=problem):
        DiffractionModel(nb.from_command_line(ARGS), [], table=table, refine_F=refine_F)
