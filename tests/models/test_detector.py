"""Detector conventions, beam-centre mapping, pivots and sensor layers."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.config import BeamConfig, DetectorConfig, SimulationConfig
from nanobragg.models.conventions import AXES, beam_centre, forced_pivot
from nanobragg.models.detector import sensor_layers
from nanobragg.models.panels import build_detector
from nanobragg.products.reports import detector_report

F64 = torch.float64
CPU = torch.device("cpu")


def _detector(**kw):
    cfg = DetectorConfig(**{"fpixels": 1024, "spixels": 1024, "distance": 0.1, **kw})
    return build_detector(cfg, BeamConfig(), F64, CPU)


def _report(**kw) -> dict:
    cfg = DetectorConfig(**{"fpixels": 1024, "spixels": 1024, "distance": 0.1, **kw})
    return detector_report(build_detector(cfg, BeamConfig(), F64, CPU),
                           SimulationConfig(detector=cfg))


def _beam_spot(det) -> tuple[float, float]:
    """Fast/slow coordinates (m) where the beam meets the detector plane."""
    t = torch.dot(det.pix0, det.odet) / torch.dot(det.beam, det.odet)
    hit = t * det.beam - det.pix0
    return float(torch.dot(hit, det.fdet)), float(torch.dot(hit, det.sdet))


@pytest.mark.parametrize("name", sorted(AXES))
def test_convention_axes_are_right_handed_orthonormal(name):
    axes = AXES[name]
    f, s, o = (torch.tensor(v, dtype=F64) for v in (axes.fdet, axes.sdet, axes.odet))
    basis = torch.stack([f, s, o])
    assert torch.allclose(basis @ basis.T, torch.eye(3, dtype=F64))
    # the normal points away from the sample along the beam for every convention
    assert float(torch.dot(o, torch.tensor(axes.beam, dtype=F64))) == 1.0


def test_mosflm_default_beam_centre_is_half_a_pixel_past_the_middle():
    det = _detector()
    fast, slow = _beam_spot(det)
    # pixel index 512.5 (pixel i spans i..i+1 pixels): 51.3 mm from the corner
    assert fast == pytest.approx(0.0513, abs=1e-15)
    assert slow == pytest.approx(0.0513, abs=1e-15)
    assert _report()["orgx"] == pytest.approx(513.5)


def test_mosflm_swaps_x_and_y_and_adds_half_a_pixel():
    det = _detector(beam_center=(0.030, 0.040))
    fast, slow = _beam_spot(det)
    assert (fast, slow) == pytest.approx((0.04005, 0.03005), abs=1e-15)


def test_denzo_swaps_without_the_half_pixel():
    det = _detector(convention="DENZO", beam_center=(0.030, 0.040))
    assert _beam_spot(det) == pytest.approx((0.040, 0.030), abs=1e-15)


def test_adxv_counts_slow_from_the_other_edge():
    det = _detector(convention="ADXV", beam_center=(0.030, 0.040))
    assert _beam_spot(det) == pytest.approx((0.030, 0.1024 - 0.040), abs=1e-15)


@pytest.mark.parametrize("name", ["XDS", "DIALS"])
def test_xds_and_dials_origin_in_pixels(name):
    det = _detector(convention=name, org=(140.5, 120.25))
    assert _beam_spot(det) == pytest.approx(((140.5 - 0.5) * 1e-4, (120.25 - 0.5) * 1e-4),
                                            abs=1e-15)
    report = _report(convention=name, org=(140.5, 120.25))
    assert (report["orgx"], report["orgy"]) == pytest.approx((140.5, 120.25))


def test_hand_computed_pixel_position_mosflm():
    det = _detector(beam_center=(0.0512, 0.0512))
    # pixel (slow 10, fast 20) centre: fast 2.05 mm, slow 1.05 mm from the corner
    position = det.pix0 + 0.00205 * det.fdet + 0.00105 * det.sdet
    expected = torch.tensor([0.1, 0.0512 + 0.00005 - 0.00105, 0.00205 - 0.0512 - 0.00005],
                            dtype=F64)
    assert torch.allclose(position, expected, atol=1e-15)


def test_pivot_is_forced_by_every_convention_but_custom():
    assert forced_pivot("MOSFLM", "SAMPLE") == "BEAM"
    assert forced_pivot("XDS", "BEAM") == "SAMPLE"
    assert forced_pivot("CUSTOM", "SAMPLE") == "SAMPLE"


def test_beam_pivot_keeps_the_beam_spot_under_twotheta():
    flat = _beam_spot(_detector(beam_center=(0.03, 0.04)))
    swung = _detector(beam_center=(0.03, 0.04), twotheta=math.radians(20), pivot="SAMPLE")
    assert _report(beam_center=(0.03, 0.04), twotheta=math.radians(20),
                   pivot="SAMPLE")["pivot"] == "BEAM"
    assert _beam_spot(swung) == pytest.approx(flat, abs=1e-12)


def test_sample_pivot_keeps_the_close_point_under_twotheta():
    det = _detector(convention="XDS", org=(300.0, 400.0), twotheta=math.radians(20))
    close = torch.dot(det.pix0, det.odet) * det.odet - det.pix0
    assert float(torch.dot(close, det.fdet)) == pytest.approx(299.5e-4, abs=1e-12)
    assert float(torch.dot(close, det.sdet)) == pytest.approx(399.5e-4, abs=1e-12)
    assert float(det.close_distance) == pytest.approx(0.1, abs=1e-15)


def test_custom_normal_that_is_not_unit_length_is_regenerated():
    cfg = DetectorConfig(convention="CUSTOM", fpixels=8, spixels=8, distance=0.1,
                         fdet_vector=(0, 0, 1), sdet_vector=(0, -1, 0), odet_vector=(2, 0, 0))
    det = build_detector(cfg, BeamConfig(), F64, CPU)
    assert torch.equal(det.odet, torch.linalg.cross(det.fdet, det.sdet))


def test_beam_centre_defaults_follow_the_unsnapped_detector_size():
    centre = beam_centre("MOSFLM", 1e-4, 0.02007, 0.02007, (None, None), (None, None),
                         (None, None))
    assert centre.xbeam == pytest.approx((0.02007 + 1e-4) / 2)
    assert centre.fbeam == pytest.approx((0.02007 + 1e-4) / 2 + 0.5e-4)


@pytest.mark.parametrize("thick,steps,expected", [
    (0.0, None, (1, 0.0)),
    (0.0, 5, (1, 0.0)),
    (500e-6, None, (2, 250e-6)),
    (500e-6, 1, (2, 500e-6)),
    (500e-6, 5, (5, 125e-6)),
])
def test_sensor_layer_rules(thick, steps, expected):
    layers, step, mu, total = sensor_layers(DetectorConfig(thickness=thick, thicksteps=steps))
    assert (layers, step) == pytest.approx(expected)
    if thick > 0:
        assert mu == pytest.approx(1.0 / thick)


def test_geometry_is_differentiable_in_distance_beam_centre_and_rotations():
    params = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (0.1, 0.03, 0.05, 0.2)]
    cfg = DetectorConfig(fpixels=64, spixels=64, distance=params[0],
                         beam_center=(params[1], None), rotx=params[2], twotheta=params[3],
                         pivot="SAMPLE")
    det = build_detector(cfg, BeamConfig(), F64, CPU)
    det.pix0.sum().backward()
    assert all(p.grad is not None and p.grad != 0 for p in params)


def test_custom_spindle_axis_is_used_and_normalised():
    from nanobragg.models.detector import frame_vectors

    cfg = DetectorConfig(convention="CUSTOM")
    frame = frame_vectors(cfg, BeamConfig(), F64, CPU, spindle_axis=(0.0, 2.0, 0.0))
    assert frame["spindle"].tolist() == [0.0, 1.0, 0.0]
    mosflm = frame_vectors(DetectorConfig(), BeamConfig(), F64, CPU, spindle_axis=(0, 2, 0))
    assert mosflm["spindle"].tolist() == [0.0, 0.0, 1.0]


def test_custom_twotheta_axis_is_used_unnormalised_like_the_c():
    from nanobragg.models.detector import frame_vectors

    cfg = DetectorConfig(convention="CUSTOM", twotheta_axis=(0.0, 0.0, 0.9))
    assert frame_vectors(cfg, BeamConfig(), F64, CPU)["twotheta_axis"].tolist() == [0, 0, 0.9]


def test_config_to_dict_gives_plain_numbers():
    from nanobragg.config import SimulationConfig

    cfg = SimulationConfig(detector=DetectorConfig(distance=torch.tensor(0.2, requires_grad=True)))
    plain = cfg.to_dict()
    assert plain["detector"]["distance"] == pytest.approx(0.2)
    assert plain["detector"]["beam_center"] == [None, None]
