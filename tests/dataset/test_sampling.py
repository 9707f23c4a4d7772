"""Per-shot parameters: determined by (description, seed, index), orientations uniform."""

import math

import numpy as np
import torch

from nanobragg.dataset.description import parse_description
from nanobragg.dataset.draws import (
    misset_angles,
    quaternion_matrix,
    random_quaternion,
    sample_shot,
    shot_config,
    stream,
)
from nanobragg.models.panels import build_detector
from nanobragg.models.rotations import rotation_xyz

from .conftest import small_document


def test_a_shot_does_not_depend_on_order_or_on_other_shots(small_desc):
    forward = [sample_shot(small_desc, i) for i in range(6)]
    backward = [sample_shot(small_desc, i) for i in reversed(range(6))][::-1]
    assert forward == backward
    again = parse_description(small_document())  # a new object, as on another machine
    assert sample_shot(again, 4) == forward[4]
    assert len({p.quaternion for p in forward}) == 6


def test_streams_are_independent_of_each_other():
    plain = parse_description(small_document(orientation="random"))
    more = parse_description(small_document(orientation="random",
                                            wavelength_A={"uniform": [0.9, 1.1]}))
    assert sample_shot(plain, 3).quaternion == sample_shot(more, 3).quaternion
    assert sample_shot(plain, 3).wavelength_A == 1.0
    assert sample_shot(more, 3).wavelength_A != 1.0


def test_other_seed_other_shots():
    doc = small_document()
    doc["seed"] += 1
    assert sample_shot(parse_description(doc), 0) != sample_shot(
        parse_description(small_document()), 0)


def test_misset_angles_reproduce_the_rotation():
    rng = stream(1, 0, "orientation")
    for _ in range(20):
        matrix = quaternion_matrix(random_quaternion(rng))
        mx, my, mz = rotation_xyz(*misset_angles(matrix), like=torch.zeros(3, dtype=torch.float64))
        assert np.allclose((mz @ my @ mx).numpy(), matrix, atol=1e-12)
        assert np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)


def test_orientations_are_uniform_on_so3():
    """Haar measure: E[R] = 0, a rotated axis has E[z^2] = 1/3, and the rotation angle
    has density (1 - cos t) / pi, so E[cos t] = -1/2. Tolerances are 5 standard errors."""
    n = 4000
    rng = stream(7, 0, "orientation")
    mats = np.stack([quaternion_matrix(random_quaternion(rng)) for _ in range(n)])
    assert np.abs(mats.mean(0)).max() < 5 * math.sqrt(1 / 3 / n)
    z = mats[:, :, 2]
    assert abs((z[:, 2] ** 2).mean() - 1 / 3) < 5 * math.sqrt(4 / 45 / n)
    cos_angle = (np.trace(mats, axis1=1, axis2=2) - 1) / 2
    assert abs(cos_angle.mean() + 0.5) < 5 * math.sqrt(0.25 / n)


def test_jitter_is_centred_on_the_experiment_geometry():
    desc = parse_description(small_document(beam_center_sigma_mm=0.0))
    jittered = parse_description(small_document(beam_center_sigma_mm=1e-12,
                                                distance_sigma_mm=1e-12))
    cfg0, cfg1 = desc.config, shot_config(jittered, sample_shot(jittered, 0))
    assert cfg1.detector.beam_center[0] is not None
    det0 = build_detector(cfg0.detector, cfg0.beam, torch.float64, torch.device("cpu"))
    det1 = build_detector(cfg1.detector, cfg1.beam, torch.float64, torch.device("cpu"))
    assert torch.allclose(det0.pix0, det1.pix0, rtol=0, atol=1e-12)


def test_variation_reaches_the_configuration(small_desc):
    shot = sample_shot(small_desc, 2)
    cfg = shot_config(small_desc, shot)
    assert cfg.crystal.misset == shot.misset
    assert math.isclose(cfg.beam.wavelength, shot.wavelength_A * 1e-10)
    assert math.isclose(math.degrees(cfg.crystal.mosaic_spread), shot.mosaic_spread_deg)
    assert 0.05 <= shot.mosaic_spread_deg <= 0.3 and 1e29 <= shot.fluence <= 1e30
    assert cfg.crystal.cell[0] == shot.cell[0] * 1e-10
    assert cfg.detector == small_desc.config.detector  # not varied: left exactly as given
