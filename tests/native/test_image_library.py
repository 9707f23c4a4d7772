"""Image statistics computed a block of rows at a time agree with whole-image numpy."""

import math

import numpy as np
import pytest

from nanobragg.io import streaming
from nanobragg.products.images import image_stats


def _whole_image(image, rendered, roi):
    values = image[rendered].astype(np.float64)
    mean = values.sum() / values.size
    rms = math.sqrt((values * values).sum() / (values.size - 1))
    inside = image[roi].astype(np.float64)
    rmsd = math.sqrt(((inside - mean) ** 2).sum() / (inside.size - 1))
    flat = np.flatnonzero(rendered.reshape(-1))[int(values.argmax())]
    return values.max(), divmod(int(flat), image.shape[1]), mean, rms, rmsd


@pytest.mark.parametrize("seed", range(6))
def test_blocked_statistics_match_whole_image(seed, monkeypatch):
    monkeypatch.setattr(streaming, "BLOCK_BYTES", 8 * 37 * 3)  # three rows per block
    rng = np.random.default_rng(seed)
    image = (rng.random((53, 37)) * 100).astype(np.float32)
    image[rng.integers(53), :] = image.max()  # ties: the first maximum wins
    rendered = rng.random(image.shape) > 0.3
    roi = rendered | (rng.random(image.shape) > 0.5)
    stats = image_stats(image, rendered, roi)
    max_i, where, mean, rms, rmsd = _whole_image(image, rendered, roi)
    assert stats.max_I == max_i and stats.max_pixel == where
    assert stats.rendered == int(rendered.sum())
    # the sums are added up in a different order: agreement to float64 rounding
    for ours, theirs in ((stats.mean, mean), (stats.rms, rms), (stats.rmsd, rmsd)):
        assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("case", ["plain", "nan", "zero", "masked_ties"])
def test_compiled_statistics_equal_numpy(case, monkeypatch):
    """The library's sums and the numpy twin: same maximum rule, sums to float64 rounding."""
    from nanobragg.native import build
    from nanobragg.products import images as outputs

    if build.load() is None:
        pytest.skip("no C compiler for the library")
    rng = np.random.default_rng(7)
    image = (rng.random((41, 29)) * 50).astype(np.float32)
    rendered = np.ones(image.shape, bool)
    roi = rendered
    if case == "nan":
        image[3, 4] = np.nan
        image[0, 0] = np.float32(1e3)
    elif case == "zero":
        image[:] = 0
    elif case == "masked_ties":
        image[10, :] = image.max()
        rendered = rng.random(image.shape) > 0.4
        roi = rendered | (rng.random(image.shape) > 0.5)
    compiled = outputs.image_stats(image, rendered, roi)
    monkeypatch.setattr(outputs, "_built_library", lambda: None)
    twin = outputs.image_stats(image, rendered, roi)
    assert (compiled.max_I, compiled.max_pixel, compiled.rendered) == (
        twin.max_I, twin.max_pixel, twin.rendered)
    if case == "nan":
        assert compiled.max_I == 1e3 and compiled.max_pixel == (0, 0)
        assert math.isnan(compiled.mean) and math.isnan(twin.mean)
        return
    for ours, theirs in ((compiled.mean, twin.mean), (compiled.rms, twin.rms),
                         (compiled.rmsd, twin.rmsd)):
        assert ours == pytest.approx(theirs, rel=1e-12, abs=0.0)
