"""The compiled sampler with its helper thread, ring wrap-around, chunk and block
boundaries, the fast tangent and the final ran1 state, bit for bit against Python."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from nanobragg.models.rng import PoissonSampler, Ran1, ShuffleTable
from nanobragg.native import build
from nanobragg.products import noise

pytestmark = pytest.mark.skipif(build.load() is None, reason="no C compiler for the kernel")

#: Uniforms per chunk and pixels per block in nbnoise.c, and slots in each ring.
CHUNK = BLOCK = 4096
RING = 16


def _mixed_means(n: int, seed: int) -> np.ndarray:
    """n means switching between the regimes in runs, so that blocks mix them."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.02, 2.0, 11.5, 40.0, 3e4, 3e6], size=n // 64 + 1).repeat(64)[:n]
    values = rng.exponential(scale).astype(np.float32)
    values[rng.integers(0, n, 20)] = rng.choice([np.nan, np.inf, -np.inf, -4.0, 12.0, 1e6])
    return values


def _assert_same(got, want):
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] or (np.isnan(got[1]) and np.isnan(want[1]))
    assert got[2] == want[2]


@pytest.mark.parametrize("helper", [True, False])
def test_many_chunks_and_blocks_equal_python(helper):
    """More pixels than the block ring holds and more uniforms than the chunk ring."""
    means = _mixed_means(RING * BLOCK + 1234, 7)
    want = noise._python_noise(means.tolist(), -31337, 40.0, None)
    got = noise._compiled_noise(build.load(), means, -31337, 40.0, None, helper=helper)
    assert got[0].size == means.size
    _assert_same(got, want)


@pytest.mark.parametrize("helper", [True, False])
@pytest.mark.parametrize("mean", [0.5, 7.0, 60.0])
def test_flat_images_cross_chunk_boundaries(helper, mean):
    """Flat means put chunk ends at every offset inside a pixel's draws."""
    means = np.full(3 * BLOCK + 17, mean, dtype=np.float32)
    want = noise._python_noise(means.tolist(), -5, 10.0, None)
    _assert_same(noise._compiled_noise(build.load(), means, -5, 10.0, None, helper=helper),
                 want)


@pytest.mark.parametrize("n", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1])
def test_block_edges(n):
    means = _mixed_means(max(n, 1), n)[:n]
    want = noise._python_noise(means.tolist(), -77, 40.0, None)
    _assert_same(noise._compiled_noise(build.load(), means, -77, 40.0, None, helper=True),
                 want)


def test_positive_seed_continues_a_shared_table_with_the_helper():
    first = ShuffleTable()
    Ran1(-4242, first).fill(11)
    second = ShuffleTable(first.iy, list(first.iv))
    means = _mixed_means(2 * BLOCK, 3)
    want = noise._python_noise(means.tolist(), 99, 40.0, first)
    got = noise._compiled_noise(build.load(), means, 99, 40.0, second, helper=True)
    _assert_same(got, want)


@pytest.mark.parametrize("helper", [True, False])
def test_table_left_after_exactly_the_uniforms_used(helper):
    """The shuffle table written back is ran1's after the draws, not after the chunks."""
    means = _mixed_means(3000, 11)
    sampler = PoissonSampler(Ran1(-2024))
    used = 0
    draw = sampler._uniform

    def counted() -> float:
        nonlocal used
        used += 1
        return draw()

    sampler._uniform = counted
    for mean in means.tolist():
        sampler.poidev(mean)
    expected = ShuffleTable()
    Ran1(-2024, expected).fill(used)
    table = ShuffleTable()
    noise._compiled_noise(build.load(), means, -2024, 40.0, table, helper=helper)
    assert (table.iy, table.iv) == (expected.iy, expected.iv)


def test_roi_through_the_public_function_equals_python(monkeypatch):
    image = _mixed_means(300 * 310, 5).reshape(300, 310)
    roi = (7, 301, 3, 280)
    compiled = noise.poisson_noise_image(image, -8, 40.0, roi)
    monkeypatch.setattr(build, "load", lambda build=True: None)
    python = noise.poisson_noise_image(image, -8, 40.0, roi)
    _assert_same(compiled, python)


def _tan_mismatches(lo: float, count: int) -> int:
    """Fast-tangent values differing from (float)tan(pi u) over count floats from lo."""
    fn = build.load().nb_noise_tan_check
    fn.argtypes, fn.restype = (ctypes.c_uint32, ctypes.c_uint32), ctypes.c_int64
    start = int(np.array(lo, dtype=np.float32).view(np.uint32))
    return fn(start, start + count)


@pytest.mark.parametrize("lo", [0.0, 1e-9, 0.2499, 0.4999, 0.5, 0.7499, 0.9999, 0.123, 0.61])
def test_fast_tangent_equals_libm(lo):
    """Near 0, the octant edges, the pole at 1/2, 1 and elsewhere (1/2 gives 1.6e16)."""
    assert _tan_mismatches(lo, 1 << 16) == 0


def _prepare_mismatches(lo: float, count: int) -> int:
    """Vectorised per-pixel values differing from libm's over count floats from lo."""
    fn = build.load().nb_noise_prepare_check
    fn.argtypes, fn.restype = (ctypes.c_uint32, ctypes.c_uint32), ctypes.c_int64
    start = int(np.array(lo, dtype=np.float32).view(np.uint32))
    return fn(start, start + count)


@pytest.mark.parametrize("lo", [0.0, 1e-30, 0.7, 11.99, 12.0, 13.3, 255.9, 4097.0, 7.7e4,
                                999000.0, 1e6, -0.0, -1.5, -79.99, -80.0, -1e30])
def test_vectorised_prepare_equals_libm(lo):
    """exp(-xm) below 12; sqrt, log and the gammln term up to 1e6; edges of both."""
    assert _prepare_mismatches(lo, 1 << 15) == 0


@pytest.mark.slow
def test_fast_tangent_equals_libm_for_every_float_uniform():
    """All 1065353217 floats in [0, 1] (about 10 s)."""
    assert _tan_mismatches(0.0, int(np.array(1.0, np.float32).view(np.uint32)) + 1) == 0


@pytest.mark.parametrize("seed", [42, -2147483647, 2147483646])
@pytest.mark.parametrize("helper", [True, False])
def test_irregular_starts_equal_python(seed, helper):
    """A positive idum with a never-loaded table starts from 1; -IM draws 0.0 once."""
    means = _mixed_means(BLOCK + 100, 13)
    want = noise._python_noise(means.tolist(), seed, 40.0, None)
    got = noise._compiled_noise(build.load(), means, seed, 40.0, None, helper=helper)
    _assert_same(got, want)


@pytest.mark.parametrize("lo", [1e-10, 4.6e-10, 1e-3, 0.499, 0.9, 1.0, 1.4142, 3e7, 1e16, 9e32])
def test_float_logarithm_of_the_acceptance_shortcut_is_within_1e_5(lo):
    """The margin of the log-domain test (2^-12) assumes errors below 1e-5 each."""
    fn = build.load().nb_noise_logf_error
    fn.argtypes, fn.restype = (ctypes.c_uint32, ctypes.c_uint32), ctypes.c_double
    start = int(np.array(lo, dtype=np.float32).view(np.uint32))
    assert fn(start, start + (1 << 16)) < 1e-5
