"""DIALS experiment lists: hand-written dxtbx JSON in, our geometry out and back."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nanobragg.config import CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.errors import InputError
from nanobragg.io.expt import config_from_experiments, detector_from_dxtbx, from_expt
from nanobragg.models.conventions import dxtbx_to_lab, lab_to_dxtbx
from nanobragg.products.experiments import experiment_list, write_experiment_list
from nanobragg.products.reports import detector_report
from nanobragg.render.panels import simulate_panels
from nanobragg.render.simulate import prepare, simulate

DATA = Path(__file__).parent / "data"
PILATUS = DATA / "pilatus6m.expt"
TWO_PANEL = DATA / "two_panel.expt"


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def test_pilatus_6m_geometry():
    cfg = from_expt(PILATUS, image=11)
    det, beam, cry = cfg.detector, cfg.beam, cfg.crystal
    assert len(det.panels) == 1
    panel = det.panels[0]
    assert (panel.fpixels, panel.spixels) == (2463, 2527)
    assert panel.pixel_size == pytest.approx(172e-6, rel=1e-15)
    # dxtbx origin (-212.4612, 219.6948, -250) mm -> lab (250, 219.6948, -212.4612) mm
    assert panel.origin == pytest.approx((0.25, 0.2196948, -0.2124612), rel=1e-15)
    assert panel.fast_axis == (0.0, 0.0, 1.0) and panel.slow_axis == (0.0, -1.0, 0.0)
    assert (det.thickness, det.mu) == pytest.approx((0.32e-3, 3960.5))
    assert beam.wavelength == pytest.approx(0.9795e-10)
    assert beam.beam_vector == (1.0, 0.0, 0.0) and beam.polar_vector == (0.0, 0.0, 1.0)
    assert beam.polarization == pytest.approx(0.998)
    assert cry.spindle_axis == (0.0, 0.0, 1.0)
    assert math.degrees(cry.phi0) == pytest.approx(1.0)
    assert math.degrees(cry.osc) == pytest.approx(0.1)


def test_pilatus_crystal_and_beam_centre_in_the_models():
    cfg = from_expt(PILATUS, base=SimulationConfig(crystal=CrystalConfig(N=(5, 5, 5))))
    setup = prepare(cfg)
    real_dxtbx = np.array([_raw(PILATUS)["crystal"][0][f"real_space_{n}"] for n in "abc"])
    recip = torch.linalg.inv(setup.crystal.recip_rows).T  # rows a, b, c (Angstrom)
    expected = np.array([dxtbx_to_lab(tuple(v)) for v in real_dxtbx])
    assert np.allclose(recip.numpy(), expected, rtol=0, atol=1e-9)
    assert [float(n) for n in torch.linalg.norm(recip, dim=1)] == pytest.approx(
        [79.1, 79.1, 37.9], abs=1e-9)
    report = detector_report(setup.detector, cfg)
    # the beam meets the panel at (212.4612, 219.6948) mm from the first pixel's corner
    assert (report["fbeam"], report["sbeam"]) == pytest.approx((0.2124612, 0.2196948), abs=1e-15)
    assert report["distance"] == pytest.approx(0.25, abs=1e-15)


def test_pilatus_roi_render_equals_the_matching_mosflm_detector():
    roi = (1250, 1269, 1290, 1309)
    base = SimulationConfig(
        detector=DetectorConfig(roi=roi, oversample=1),
        crystal=CrystalConfig(N=(5, 5, 5), default_F=100))
    cfg = from_expt(PILATUS, base=base)
    pixel_mm, half = 0.172, 0.086
    mosflm = SimulationConfig(
        detector=DetectorConfig(
            convention="MOSFLM", pixel_size=pixel_mm * 1e-3, fpixels=2463, spixels=2527,
            distance=0.25, beam_center=((219.6948 - half) * 1e-3, (212.4612 - half) * 1e-3),
            thickness=0.32e-3, mu=3960.5, roi=roi, oversample=1),
        crystal=dataclasses.replace(cfg.crystal, spindle_axis=None),
        beam=dataclasses.replace(cfg.beam, beam_vector=None, polar_vector=None))
    ours = simulate_panels(cfg).image[0]
    ref = simulate(mosflm).image
    s0, f0 = roi[2], roi[0]
    window = (slice(s0, roi[3] + 1), slice(f0, roi[1] + 1))
    peak = float(ref[window].max())
    assert peak > 0
    assert torch.allclose(ours[window], ref[window], rtol=0, atol=1e-9 * peak)
    assert float(ours.sum()) == pytest.approx(float(ours[window].sum()))  # ROI only


def test_two_panel_hierarchy_is_composed_into_lab_frames():
    cfg = from_expt(TWO_PANEL, image=2)
    panels = cfg.detector.panels
    assert [p.name for p in panels] == ["left", "right"]
    origins = [tuple(1000.0 * v for v in lab_to_dxtbx(p.origin)) for p in panels]
    assert origins[0] == pytest.approx((-6.0, -12.0, -120.0), abs=1e-12)
    assert origins[1] == pytest.approx((-6.0, 1.0, -120.0), abs=1e-12)
    for p in panels:
        assert lab_to_dxtbx(p.fast_axis) == pytest.approx((0.0, 1.0, 0.0), abs=1e-15)
        assert lab_to_dxtbx(p.slow_axis) == pytest.approx((1.0, 0.0, 0.0), abs=1e-15)
        assert (p.fpixels, p.spixels, p.pixel_size) == (64, 64, 0.2e-3)
    assert cfg.detector.convention == "CUSTOM"
    assert cfg.beam.polarization == pytest.approx(0.0)
    assert math.degrees(cfg.crystal.phi0) == pytest.approx(20.5)
    assert math.degrees(cfg.crystal.osc) == pytest.approx(0.5)


def _rotation(axis, angle):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def test_two_panel_spots_sit_at_integer_hkl_in_the_dxtbx_frame():
    """The brightest spot of each panel, mapped with dxtbx's formulas, indexes to whole hkl.

    The spot is located with the file's own numbers (hierarchy, axes, beam, crystal, axis
    and angle in the dxtbx frame); with the rotation sense reversed it does not index,
    so a wrong frame map, rotation sense or hierarchy would fail.
    """
    base = SimulationConfig(crystal=CrystalConfig(N=(20, 20, 20), default_F=100, phisteps=1),
                            detector=DetectorConfig(oversample=1))
    out = simulate_panels(from_expt(TWO_PANEL, image=2, base=base)).image.numpy()
    raw = _raw(TWO_PANEL)
    wavelength = raw["beam"][0]["wavelength"]
    s0 = -np.array(raw["beam"][0]["direction"]) / wavelength
    real0 = np.array([raw["crystal"][0][f"real_space_{n}"] for n in "abc"])
    axis = raw["goniometer"][0]["rotation_axis"]
    group = raw["detector"][0]["hierarchy"]
    g = np.column_stack([group["fast_axis"], group["slow_axis"],
                         np.cross(group["fast_axis"], group["slow_axis"])])
    for index, panel in enumerate(raw["detector"][0]["panels"]):
        origin = g @ np.array(panel["origin"]) + np.array(group["origin"])
        fast, slow = g @ np.array(panel["fast_axis"]), g @ np.array(panel["slow_axis"])
        image = out[index]
        for flat in np.argsort(image.reshape(-1))[::-1]:
            s, f = divmod(int(flat), image.shape[1])
            xyz = origin + 0.2 * ((f + 0.5) * fast + (s + 0.5) * slow)
            q = xyz / np.linalg.norm(xyz) / wavelength - s0
            if np.linalg.norm(q) > 0.025:  # away from the direct beam (hkl 000 anywhere)
                break
        assert image[s, f] > 0.01 * image.max()
        for angle, indexes in ((20.5, True), (-20.5, False)):
            hkl = real0 @ _rotation(axis, math.radians(angle)).T @ q
            assert (np.abs(hkl - np.round(hkl)).max() < 0.1) == indexes, (index, angle, hkl)


def test_round_trip_of_our_experiment_list(tmp_path):
    cfg = from_expt(TWO_PANEL, image=3,
                    base=SimulationConfig(crystal=CrystalConfig(N=(4, 4, 4), default_F=10)))
    path = tmp_path / "sim.expt"
    write_experiment_list(path, cfg, ["sim.bin"])
    back = from_expt(path, base=cfg)
    for a, b in zip(cfg.detector.panels, back.detector.panels):
        for field in ("origin", "fast_axis", "slow_axis"):
            assert getattr(b, field) == pytest.approx(getattr(a, field), rel=1e-15, abs=1e-18)
        assert (a.fpixels, a.spixels, a.name) == (b.fpixels, b.spixels, b.name)
        assert b.pixel_size == pytest.approx(a.pixel_size, rel=1e-15)
    assert np.allclose(back.crystal.reciprocal_matrix, cfg.crystal.reciprocal_matrix,
                       rtol=1e-14, atol=0)
    for field in ("beam_vector", "polar_vector"):
        assert getattr(back.beam, field) == pytest.approx(getattr(cfg.beam, field), abs=1e-15)
    assert back.beam.wavelength == pytest.approx(cfg.beam.wavelength, rel=1e-15)
    assert back.beam.polarization == pytest.approx(cfg.beam.polarization, abs=1e-15)
    assert (back.crystal.phi0, back.crystal.osc) == pytest.approx(
        (cfg.crystal.phi0, cfg.crystal.osc), rel=1e-14)
    assert json.loads(path.read_text())["imageset"][0]["images"] == ["sim.bin"]
    assert _close(experiment_list(back), experiment_list(cfg))


def _close(a, b) -> bool:
    """Nested dicts/lists equal, floats to 1e-12."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("convention", ["MOSFLM", "XDS", "DIALS", "ADXV"])
def test_c_detector_written_and_read_back_renders_the_same(tmp_path, convention):
    cfg = SimulationConfig(
        detector=DetectorConfig(convention=convention, fpixels=24, spixels=20, distance=0.05,
                                rotx=0.02, roty=-0.01, twotheta=0.05, oversample=1),
        crystal=CrystalConfig(cell=(50e-10, 60e-10, 70e-10, math.pi / 2, 1.7, math.pi / 2),
                              N=(5, 5, 5), default_F=100, misset=(0.1, 0.2, 0.3), phi0=0.1,
                              osc=0.02))
    path = tmp_path / "c.expt"
    write_experiment_list(path, cfg)
    ref = simulate(cfg).image
    back = simulate_panels(from_expt(path, base=cfg)).image[0]
    assert float(ref.max()) > 0
    assert torch.allclose(back, ref, rtol=0, atol=1e-9 * float(ref.max()))
    assert _close(experiment_list(from_expt(path, base=cfg)), experiment_list(cfg))


def test_detector_from_a_plain_dict_with_a_flat_hierarchy():
    det = detector_from_dxtbx({"panels": [
        {"origin": [-10.0, 5.0, -100.0], "fast_axis": [2.0, 0.0, 0.0],
         "slow_axis": [0.0, -1.0, 0.0], "pixel_size": [0.1, 0.1], "image_size": [30, 20]}]})
    panel = det.panels[0]
    assert panel.origin == pytest.approx((0.1, 0.005, -0.01), rel=1e-15)
    assert panel.fast_axis == (0.0, 0.0, 1.0)  # normalised, as dxtbx does
    assert (det.convention, det.fpixels, det.spixels, det.pixel_size) == ("MOSFLM", 30, 20, 1e-4)


def _broken(change) -> dict:
    data = _raw(TWO_PANEL)
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["detector"][0]["panels"][0].update(pixel_size=[0.2, 0.1]), "rectangular"),
    (lambda d: d["goniometer"][0].update(axes=[[1, 0, 0]]), "multi-axis"),
    (lambda d: d["experiment"][0].update(beam=3), "beam 3"),
    (lambda d: d["beam"][0].update(direction=[0, 0]), "direction"),
    (lambda d: d["detector"][0]["panels"][1].update(slow_axis=[1.0, 0.0, 0.0]), "perpendicular"),
    (lambda d: d["detector"][0]["hierarchy"].update(children=[{"panel": 0}]), "panel 1"),
    (lambda d: d["detector"][0]["panels"][0].pop("image_size"), "missing entry 'image_size'"),
    (lambda d: d["scan"][0].update(image_range="x"), "malformed entry"),
])
def test_malformed_experiment_lists_are_input_errors(tmp_path, change, message):
    path = tmp_path / "bad.expt"
    path.write_text(json.dumps(_broken(change)))
    with pytest.raises(InputError, match=message) as info:
        from_expt(path)
    assert str(path) in str(info.value)


def test_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        from_expt(tmp_path / "missing.expt")
    bad = tmp_path / "bad.expt"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        from_expt(bad)
    with pytest.raises(InputError, match="image 7"):
        config_from_experiments(_raw(TWO_PANEL), image=7)
