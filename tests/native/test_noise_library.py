"""The compiled noise sampler and int image give exactly what the Python versions give."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.models.rng import Ran1, ShuffleTable
from nanobragg.native import build
from nanobragg.products import noise

pytestmark = pytest.mark.skipif(build.load() is None, reason="no C compiler for the kernel")


def _means(seed: int) -> np.ndarray:
    """Means over every poidev regime: direct (<12), rejection, Gaussian (>1e6), odd ones."""
    rng = np.random.default_rng(seed)
    parts = [rng.exponential(3.0, 3000), rng.uniform(12, 2e5, 2000),
             rng.uniform(1e6, 5e7, 300), [0, -2.5, 11.999999, 12, 1e6, np.nan, np.inf, -np.inf]]
    values = np.concatenate(parts).astype(np.float32)
    rng.shuffle(values)
    return values


@pytest.mark.parametrize("seed,adc", [(-12345, 40.0), (-1, 0.0), (0, -20.0), (-987654, 10.5)])
def test_compiled_noise_equals_python(seed, adc):
    means = _means(abs(seed))
    want = noise._python_noise(means.tolist(), seed, adc, None)
    got = noise._compiled_noise(build.load(), means, seed, adc, None)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] or (np.isnan(got[1]) and np.isnan(want[1]))
    assert got[2] == want[2]


def test_compiled_noise_continues_a_shared_table():
    """A positive idum continues the table the previous generator left, in both paths."""
    first = ShuffleTable()
    Ran1(-77, first).fill(5)
    second = ShuffleTable(first.iy, list(first.iv))
    means = _means(3)[:500]
    want = noise._python_noise(means.tolist(), 42, 40.0, first)
    got = noise._compiled_noise(build.load(), means, 42, 40.0, second)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1:] == want[1:]


def test_compiled_int_image_equals_numpy(monkeypatch):
    from nanobragg.products import images as outputs

    rng = np.random.default_rng(5)
    image = rng.exponential(30.0, (40, 50)).astype(np.float32)
    image.flat[::37] = np.nan
    image.flat[1::41] = -np.inf
    image.flat[2::43] = 1e9
    roi = rng.random(image.shape) > 0.2
    compiled = outputs.int_image(image, roi, 1234.5, 40.0)
    monkeypatch.setattr(outputs, "_built_library", lambda: None)
    np.testing.assert_array_equal(compiled, outputs.int_image(image, roi, 1234.5, 40.0))
