"""Panels of equal size render in one kernel pass, each pixel taking its panel's frame."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.models.panels import panel_from_detector, pixel_frames, stack_panels
from nanobragg.render import panels as multipanel
from nanobragg.render.panels import simulate_panels
from nanobragg.render.simulate import prepare, simulate


def _config(**detector) -> SimulationConfig:
    options = dict(fpixels=12, spixels=10, distance=0.05, pixel_size=1e-4, oversample=2)
    options.update(detector)
    return SimulationConfig(
        detector=DetectorConfig(**options),
        crystal=CrystalConfig(cell=(50e-10, 60e-10, 70e-10, math.pi / 2, 1.7, math.pi / 2),
                              N=(5, 5, 5), default_F=100, misset=(0.1, 0.2, 0.3)),
        beam=BeamConfig(wavelength=1e-10, polarization=0.5),
    )


def _panels(cfg):
    """Three panels of one size in different places and orientations."""
    base = panel_from_detector(simulate(cfg).setup.detector)
    moved = dataclasses.replace(base, origin=(0.06, 0.001, -0.002), rotation=(0.0, 0.1, 0.2))
    tilted = dataclasses.replace(base, normal=None, rotation=(0.05, -0.03, 0.0))
    return [base, moved, tilted]


def _with_panels(cfg, panels):
    return dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector,
                                                                 panels=tuple(panels)))


@pytest.mark.parametrize("detector", [{}, dict(thickness=1e-4, thicksteps=3),
                                      dict(oversample=3, point_pixel=True)])
def test_one_pass_equals_each_panel_alone_bit_for_bit(detector, monkeypatch):
    cfg = _config(**detector)
    panels = _panels(cfg)
    alone = [simulate(_with_panels(cfg, [p])).image for p in panels]
    monkeypatch.setattr(multipanel, "simulate", None)  # one pass: simulate is never called
    out = simulate_panels(_with_panels(cfg, panels))
    assert out.image.shape == (3, 10, 12)
    for k, image in enumerate(alone):
        assert torch.equal(out.image[k], image), f"panel {k}"
    assert float(out.image[1].max()) != float(out.image[0].max())  # the panels differ


def test_masks_apply_per_panel_in_one_pass(monkeypatch):
    cfg = _config()
    panels = _panels(cfg)[:2]
    mask = np.ones((10, 12), dtype=np.uint16)
    mask[2:5, 3:9] = 0
    full = simulate_panels(_with_panels(cfg, panels))
    monkeypatch.setattr(multipanel, "simulate", None)
    out = simulate_panels(_with_panels(cfg, panels), masks=[None, mask])
    assert torch.equal(out.images[0], full.images[0])
    keep = torch.as_tensor(mask.astype(bool))
    assert torch.equal(out.images[1][keep], full.images[1][keep])
    assert not bool(out.images[1][~keep].any())
    assert torch.equal(out.results[1].rendered, keep)


def test_pixel_frames_pick_each_pixels_panel():
    cfg = _config()
    detectors = [prepare(_with_panels(cfg, [p])).detector for p in _panels(cfg)]
    stacked = stack_panels(detectors)
    assert stacked.fdet.shape == (3, 3) and stacked.pixel_size.shape == (3,)
    frames = pixel_frames(stacked, torch.tensor([2, 0, 1, 2]))
    for row, k in enumerate((2, 0, 1, 2)):
        assert torch.equal(frames.pix0[row], detectors[k].pix0)
        assert torch.equal(frames.odet[row], detectors[k].odet)
        assert frames.close_distance[row] == detectors[k].close_distance
    assert pixel_frames(detectors[0], None) is detectors[0]


def test_one_pass_splits_sub_steps_like_each_panel_alone(monkeypatch):
    """A budget below one pixel's sub-steps renders them block by block, panels too."""
    cfg = _config(oversample=3)
    panels = _panels(cfg)[1:]
    alone = [simulate(_with_panels(cfg, [p]), evaluations_per_chunk=4).image for p in panels]
    monkeypatch.setattr(multipanel, "simulate", None)
    out = simulate_panels(_with_panels(cfg, panels), evaluations_per_chunk=4)
    for k, image in enumerate(alone):
        assert torch.equal(out.images[k], image), f"panel {k}"


def test_trace_of_a_panel_pixel_equals_the_rendered_pixel():
    """A one-panel detector traces like any other (the geometry block is its frame)."""
    from nanobragg.diagnostics.trace import trace_log

    cfg = _with_panels(_config(), _panels(_config())[2:])
    result = simulate(cfg)
    lines = trace_log(result.setup, cfg, [(4, 6)])
    assert lines[0].startswith("DETECTOR_FAST_AXIS")
    final = [line for line in lines if "I_pixel_final" in line]
    assert float(final[0].split()[-1]) == pytest.approx(float(result.image[4, 6]), rel=1e-14)


def test_progress_counts_blocked_chunks_too():
    cfg = _config(oversample=3)
    seen = []
    simulate(cfg, evaluations_per_chunk=4, progress=lambda n, total: seen.append((n, total)))
    assert sum(n for n, _ in seen) == 120 and {t for _, t in seen} == {120}
