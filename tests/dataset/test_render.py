"""Batched rendering gives every shot the bits it gets alone."""

import dataclasses

import numpy as np
import pytest
import torch

from nanobragg.dataset.description import parse_description
from nanobragg.dataset.draws import sample_shot, shot_config
from nanobragg.dataset.render import render_shots
from nanobragg.render.simulate import simulate

from .conftest import small_document

MIXED = {
    "orientation": "random", "cell_length_sigma": 0.003, "cell_angle_sigma_deg": 0.1,
    "mosaic_spread_deg": {"uniform": [0.0, 0.3]}, "mosaic_domains": 2,
    "wavelength_A": {"normal": [1.0, 0.002]}, "spectrum": {"bandwidth": 0.002, "lines": 2},
    "beam_center_sigma_mm": 0.2, "distance_sigma_mm": 1.0,
    "fluence": {"log_uniform": [1e29, 1e30]}, "noise": "poisson",
}


@pytest.mark.parametrize("variation", [
    {"orientation": "random"},
    MIXED,
    {"orientation": "random", "crystal_size_um": {"uniform": [0.02, 0.06]}},
], ids=["orientation", "everything", "crystal-size"])
def test_batched_equals_one_at_a_time(variation):
    desc = parse_description(small_document(shots=7, **variation))
    batched = render_shots(desc, list(range(7)), batch=7)
    single = render_shots(desc, list(range(7)), batch=1)
    assert np.array_equal(batched.images, single.images)
    assert (batched.counts is None) == ("noise" not in variation)
    if batched.counts is not None:
        assert np.array_equal(batched.counts, single.counts)
    assert batched.images.max() > 0
    assert len({float(im.sum()) for im in batched.images}) == 7


def test_a_shot_is_the_simulator_image_of_its_configuration(small_desc):
    shots = render_shots(small_desc, [3, 4, 5])
    cfg = shot_config(small_desc, sample_shot(small_desc, 4))
    image = simulate(cfg, dtype=torch.float32).image.numpy()
    assert np.array_equal(shots.images[1], image)


def test_float64_batched_equals_simulator():
    doc = small_document(shots=3, **MIXED)
    doc["dtype"] = "float64"
    desc = parse_description(doc)
    shots = render_shots(desc, [0, 1, 2])
    assert shots.images.dtype == np.float64
    for k in range(3):
        cfg = shot_config(desc, sample_shot(desc, k))
        assert np.array_equal(shots.images[k], simulate(cfg, dtype=torch.float64).image.numpy())


def test_noise_is_seeded_per_shot(small_desc):
    a = render_shots(small_desc, [1, 2])
    b = render_shots(small_desc, [2])
    assert np.array_equal(a.counts[1], b.counts[0])
    assert a.counts.dtype == np.uint32
    mean_ratio = a.counts.sum() / a.images.sum()
    assert abs(mean_ratio - 1) < 0.05


def test_unvaried_shots_are_identical_and_batched():
    desc = parse_description(small_document(shots=3, noise="none"))
    shots = render_shots(desc, [0, 1, 2])
    assert np.array_equal(shots.images[0], shots.images[2])
    desc2 = dataclasses.replace(desc, batch=1)
    assert np.array_equal(render_shots(desc2, [1]).images[0], shots.images[1])


def test_thread_count_does_not_change_the_bits():
    """Dask workers run single-threaded; the driver may not. Large enough tensors
    (160x160 pixels x 2 domains) that torch splits them over threads."""
    desc = parse_description(small_document(pixels=160, shots=3, **MIXED))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = render_shots(desc, [0, 1, 2])
        torch.set_num_threads(2)
        two = render_shots(desc, [0, 1, 2])
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one.images, two.images)


def test_amorphous_material_of_the_experiment_is_in_batched_shots(tmp_path, monkeypatch):
    """With the eager kernel (shots share vmapped calls) as with the fused one, a shot
    of an experiment with amorphous material (``-stol``) is the simulator's image."""
    from nanobragg.config import AmorphousConfig
    from nanobragg.dataset.description import make_description
    from nanobragg.render import engines

    rows = [f"{0.05 * k:.2f} {2.6 - 2.0 * (0.05 * k) ** 0.5:.4f}" for k in range(25)]
    (tmp_path / "w.stol").write_text("\n".join(rows) + "\n")
    base = parse_description(small_document(shots=3, orientation="random"))
    config = dataclasses.replace(base.config,
                                 amorphous=AmorphousConfig(stol=str(tmp_path / "w.stol")))
    desc = make_description(config, base.variation, seed=base.seed, shots=3)
    for eager in (False, True):
        if eager:
            monkeypatch.setattr(engines, "_available", lambda engine: False)
        shots = render_shots(desc, [0, 1, 2], batch=3)
        for k in range(3):
            cfg = shot_config(desc, shots.params[k])
            assert np.array_equal(shots.images[k],
                                  simulate(cfg, dtype=torch.float32).image.numpy())
