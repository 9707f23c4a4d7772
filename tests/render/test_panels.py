"""Multi-panel detectors: one panel is today's detector, tiles are pieces of a big panel."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from nanobragg.config import (
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    PanelConfig,
    SimulationConfig,
)
from nanobragg.errors import InputError
from nanobragg.models.conventions import AXES, dxtbx_to_lab, lab_to_dxtbx
from nanobragg.models.panels import panel_frame, panel_from_detector
from nanobragg.products.reports import detector_report
from nanobragg.render.panels import panel_configs, simulate_panels
from nanobragg.render.simulate import simulate


def _config(**detector) -> SimulationConfig:
    options = dict(fpixels=40, spixels=32, distance=0.05, pixel_size=1e-4)
    options.update(detector)
    return SimulationConfig(
        detector=DetectorConfig(**options),
        crystal=CrystalConfig(cell=(50e-10, 60e-10, 70e-10, math.pi / 2, 1.7, math.pi / 2),
                              N=(5, 5, 5), default_F=100, misset=(0.1, 0.2, 0.3)),
        beam=BeamConfig(wavelength=1e-10, polarization=0.5),
    )


def _with_panels(cfg: SimulationConfig, panels) -> SimulationConfig:
    return dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector,
                                                                 panels=tuple(panels)))


@pytest.mark.parametrize("detector", [
    dict(convention="MOSFLM", rotx=0.02, roty=-0.01, rotz=0.03, twotheta=0.1),
    dict(convention="XDS", twotheta=0.05, thickness=1e-4, oversample=2),
    dict(convention="ADXV", roty=0.02),
])
def test_one_panel_is_todays_detector_bit_for_bit(detector):
    cfg = _config(**detector)
    ref = simulate(cfg)
    panel = panel_from_detector(ref.setup.detector)
    one = simulate_panels(_with_panels(cfg, [panel]))
    assert one.image.shape == (1, 32, 40)
    assert torch.equal(one.image[0], ref.image)
    assert one.oversample == ref.setup.oversample


def _tile(big: PanelConfig, f0: int, s0: int, nf: int, ns: int) -> PanelConfig:
    """The pixels [s0, s0+ns) x [f0, f0+nf) of a big panel as a panel of their own."""
    origin = [o + big.pixel_size * (f0 * f + s0 * s)
              for o, f, s in zip(big.origin, big.fast_axis, big.slow_axis)]
    return dataclasses.replace(big, origin=tuple(origin), fpixels=nf, spixels=ns)


def test_tiles_with_gaps_equal_the_pixels_of_one_big_panel():
    cfg = _config(convention="MOSFLM", rotx=0.03, rotz=-0.02, oversample=2)
    big_result = simulate(cfg)
    big = panel_from_detector(big_result.setup.detector)
    # 2 x 2 tiles of 17 x 14 pixels; gaps of 2 (fast) and 3 (slow) pixels between them
    corners = [(2, 1), (21, 1), (2, 18), (21, 18)]
    tiles = [_tile(big, f0, s0, 17, 14) for f0, s0 in corners]
    out = simulate_panels(_with_panels(cfg, tiles))
    assert out.image.shape == (4, 14, 17)
    peak = float(big_result.image.max())
    for image, (f0, s0) in zip(out.images, corners):
        expected = big_result.image[s0:s0 + 14, f0:f0 + 17]
        # only the rounding of pix0 + index * pixel differs: well below 1e-12 of the peak
        assert torch.allclose(image, expected, rtol=0, atol=1e-12 * peak)
    assert float(out.image.max()) > 0.1 * peak  # the tiles do see spots


def test_auto_oversample_is_chosen_once_for_all_panels():
    cfg = _config()
    near = panel_from_detector(simulate(cfg).setup.detector)
    far = dataclasses.replace(near, origin=tuple(4.0 * v for v in near.origin))
    per_panel = [simulate(_with_panels(cfg, [p])).setup.oversample for p in (near, far)]
    assert per_panel[0] > per_panel[1]
    configs = panel_configs(_with_panels(cfg, [near, far]))
    assert [c.detector.oversample for c in configs] == [max(per_panel)] * 2


def test_panel_rotation_about_its_centre():
    panel = PanelConfig(origin=(0.1, 0.002, -0.003), fast_axis=(0.0, 0.0, 1.0),
                        slow_axis=(0.0, -1.0, 0.0), pixel_size=1e-4, fpixels=60, spixels=40)
    turned = dataclasses.replace(panel, rotation=(0.0, 0.0, math.pi / 2))
    f0, s0, o0, p0 = panel_frame(panel, torch.float64, torch.device("cpu"))
    f1, s1, o1, p1 = panel_frame(turned, torch.float64, torch.device("cpu"))
    centre0 = p0 + 0.5e-4 * (60 * f0 + 40 * s0)
    centre1 = p1 + 0.5e-4 * (60 * f1 + 40 * s1)
    assert torch.allclose(centre0, centre1, atol=1e-15)
    assert torch.allclose(f1, s0, atol=1e-15) and torch.allclose(s1, -f0, atol=1e-15)
    assert torch.allclose(o1, o0, atol=1e-15)


def _gradient_setup():
    cfg = _config(fpixels=6, spixels=5, distance=0.05, oversample=1)
    panel = panel_from_detector(simulate(cfg).setup.detector)
    # a spot in the middle of the little panel
    image = simulate(cfg).image
    assert float(image.max()) > 0
    return cfg, panel


def test_gradcheck_panel_origin_and_rotation():
    cfg, panel = _gradient_setup()
    origin0 = torch.tensor(panel.origin, dtype=torch.float64)

    def render(shift_um, angles_mrad):
        moved = dataclasses.replace(panel, origin=origin0 + 1e-6 * shift_um, normal=None,
                                    rotation=tuple((1e-3 * angles_mrad).unbind()))
        return simulate_panels(_with_panels(cfg, [moved])).image

    # micrometres and milliradians, so that a finite-difference step of 1e-3 is well
    # above rounding and well below the scale of a spot
    shift = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    angles = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(render, (shift, angles), eps=1e-3, atol=1e-6, rtol=1e-4)


def test_gradients_reach_every_panel():
    cfg, panel = _gradient_setup()
    origins = [torch.tensor(panel.origin, dtype=torch.float64, requires_grad=True)
               for _ in range(2)]
    angles = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    panels = [dataclasses.replace(panel, origin=o, rotation=tuple(a.unbind()), normal=None)
              for o, a in zip(origins, angles)]
    simulate_panels(_with_panels(cfg, panels)).image.sum().backward()
    for tensor in origins + angles:
        assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0


def test_frame_map_to_dxtbx():
    mosflm = AXES["MOSFLM"]
    assert lab_to_dxtbx(mosflm.beam) == (0, 0, -1)
    assert lab_to_dxtbx(mosflm.spindle) == (1, 0, 0)
    assert lab_to_dxtbx(mosflm.polar) == (1, 0, 0)
    assert lab_to_dxtbx(mosflm.fdet) == (1, 0, 0)
    assert lab_to_dxtbx(mosflm.sdet) == (0, -1, 0)
    matrix = np.array([lab_to_dxtbx(v) for v in np.eye(3)]).T
    assert np.linalg.det(matrix) == 1.0
    v = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    assert torch.equal(dxtbx_to_lab(lab_to_dxtbx(v)), v)
    assert dxtbx_to_lab(lab_to_dxtbx((0.1, -0.2, 0.3))) == (0.1, -0.2, 0.3)


def test_frame_map_matches_the_c_dials_origin():
    cfg = _config(convention="MOSFLM", rotx=0.05)
    result = simulate(cfg)
    report = detector_report(result.setup.detector, cfg)
    expected = [1000.0 * x for x in lab_to_dxtbx(result.setup.detector.pix0.tolist())]
    assert report["dials_origin"] == pytest.approx(expected, abs=1e-12)


def test_multi_panel_config_through_simulate_is_an_error():
    cfg, panel = _gradient_setup()
    with pytest.raises(InputError, match="simulate_panels"):
        simulate(_with_panels(cfg, [panel, panel]))
    with pytest.raises(InputError, match="the panel 6 x 5"):
        simulate(_with_panels(dataclasses.replace(cfg, detector=dataclasses.replace(
            cfg.detector, fpixels=7)), [panel]))
    with pytest.raises(InputError, match="masks"):
        simulate_panels(_with_panels(cfg, [panel, panel]), masks=[None])


def test_panels_of_different_sizes_do_not_stack():
    cfg, panel = _gradient_setup()
    small = dataclasses.replace(panel, fpixels=3)
    out = simulate_panels(_with_panels(cfg, [panel, small]))
    assert [tuple(im.shape) for im in out.images] == [(5, 6), (5, 3)]
    assert torch.equal(out.images[1], out.images[0][:, :3])
    with pytest.raises(ValueError, match="stack"):
        _ = out.image
