"""PNG writer read back with Pillow; the asinh stretch and the resolution rings."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.io.geometry import resolution_map
from nanobragg.io.png import (
    BETA_RANGE,
    KNEE_PERCENTILE,
    asinh_stretch,
    auto_rings,
    preview_pixels,
    ring_pixels,
    write_png,
    write_preview,
)
from nanobragg.products.product import image_product

Image = pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_pillow_reads_what_write_png_writes(shape, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    write_png(tmp_path / "x.png", pixels)
    with Image.open(tmp_path / "x.png") as picture:
        np.testing.assert_array_equal(np.asarray(picture), pixels)


def test_asinh_stretch_is_dark_on_white_and_monotone():
    image = np.linspace(0.0, 1000.0, 1001).reshape(7, 143)
    grey = asinh_stretch(image)
    assert grey.flat[0] == 255 and grey.flat[-1] == 0
    assert (np.diff(grey.reshape(-1).astype(int)) <= 0).all()
    assert (asinh_stretch(np.full((3, 3), 5.0)) == 255).all()


def test_asinh_knee_lifts_faint_signal_of_a_sparse_image():
    image = np.full((100, 100), 2.0)  # background 2 photons, 2% of pixels are spots
    image.flat[::50] = np.linspace(10.0, 1e4, 200)
    grey = asinh_stretch(image)
    lo, knee, hi = np.percentile(image, [1.0, KNEE_PERCENTILE, 99.9])
    assert lo == knee == 2.0  # the background is the knee: beta takes its upper bound
    beta = BETA_RANGE[1]
    spot = int(np.argmin(np.abs(image.reshape(-1) - 100.0)))
    t = (image.flat[spot] - lo) / (hi - lo)
    expected = 255.0 * (1.0 - np.arcsinh(beta * t) / np.arcsinh(beta))
    assert abs(int(grey.flat[spot]) - expected) <= 1.0
    assert grey.flat[spot] < 255 * (1 - 3 * t)  # far darker than a linear stretch
    assert grey.flat[1] == 255
    assert (asinh_stretch(np.full((3, 3), 5.0)) == 255).all()


def test_rings_lie_at_their_resolution(mosflm_render):
    cfg, result = mosflm_render
    product = image_product(result, cfg)
    panel = product.geometry.panels[0]
    d_map = resolution_map(panel, product.geometry.beam, product.geometry.wavelength)
    rings = auto_rings(d_map)
    assert 1 <= len(rings) <= 4
    assert all(d_map.min() <= d <= d_map.max() for d in rings)
    on = ring_pixels(d_map, rings[:1])
    q, q_ring = 1.0 / d_map[on], 1.0 / rings[0]
    # a ring pixel is within one pixel's change of 1/d of the ring
    step = np.abs(np.diff(1.0 / d_map, axis=1)).max()
    assert on.any() and np.abs(q - q_ring).max() <= step
    rgb = preview_pixels(product, rings=rings[:1])
    assert (rgb[on] == (230, 90, 0)).all()
    assert (rgb[~on][:, 0] == rgb[~on][:, 1]).all()  # grey elsewhere


def test_preview_file(mosflm_render, tmp_path):
    cfg, result = mosflm_render
    write_preview(tmp_path / "p.png", image_product(result, cfg), rings="auto")
    with Image.open(tmp_path / "p.png") as picture:
        assert picture.size == (cfg.detector.fpixels, cfg.detector.spixels)
