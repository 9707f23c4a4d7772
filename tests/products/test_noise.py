"""Noise image: bit-exact against the reference C noise stage."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from nanobragg.products.noise import poisson_noise_image

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
SMV_HEADER_BYTES = 512


def _synthetic_image():
    """(12, 24) float32 image covering all poidev regimes, overloads and a negative mean."""
    idx = np.arange(12 * 24)
    img = ((idx * 7919) % 1009).astype(np.float32) * np.float32(0.03125)
    special = np.array(
        [0, 0.5, 11.9, 12, 1e6, 1000000.0625, 2.5e6, 7e4, 65500, 1e5, -3], dtype=np.float32
    )
    img[::7] = special[(idx[::7] // 7) % special.size]
    return img.reshape(12, 24)


def _digest(noise):
    return hashlib.sha256(noise.astype("<u2").tobytes()).hexdigest()


def test_golden_noise_image_bit_exact():
    folder = GOLDEN / "noise_seed"
    if not folder.is_dir():
        pytest.skip(f"golden data not found at {folder}")
    assert "-seed 12345" in (folder / "args.txt").read_text()
    image = np.fromfile(folder / "float.bin", dtype="<f4").reshape(128, 128)
    expected = np.frombuffer(
        (folder / "noise.img").read_bytes()[SMV_HEADER_BYTES:], dtype="<u2"
    ).reshape(128, 128)
    noise, photons, overloads = poisson_noise_image(image, seed=-12345, adc=40.0)
    np.testing.assert_array_equal(noise, expected)
    stdout = (folder / "stdout.txt").read_text()
    reported = re.search(r"(\d+) photons on noise image \((\d+) overloads\)", stdout)
    assert f"{photons:.0f}" == reported.group(1)
    assert overloads == int(reported.group(2))


@pytest.mark.parametrize(
    ("seed", "adc", "roi", "digest", "photons", "overloads"),
    [
        # The reference's noise loop run by a C harness on _synthetic_image().
        (
            -4711,
            40.0,
            (3, 20, 2, 9),
            "a6f6b862dc7ad5418ca7624d6444a449a17e1081fbb535698bed88ac6dbc73f0",
            6038332.625,
            9,
        ),
        # Negative ADC: counts below zero wrap like the C cast (0 - 20 -> 65516).
        (
            -1,
            -20.0,
            (0, 24, 0, 12),
            "ad4c5272a11588b1951d21dc6dc5eb512b8cc07e42eb06aefb47b2df4ad9c0ca",
            18852461.9375,
            19,
        ),
    ],
)
def test_matches_c_noise_loop(seed, adc, roi, digest, photons, overloads):
    noise, got_photons, got_overloads = poisson_noise_image(_synthetic_image(), seed, adc, roi)
    assert noise.dtype == np.uint16
    assert noise.shape == (12, 24)
    assert _digest(noise) == digest
    assert got_photons == photons
    assert got_overloads == overloads


def test_roi_outside_is_zero_and_consumes_no_random_numbers():
    image = _synthetic_image()
    roi = (3, 20, 2, 9)
    noise, _, _ = poisson_noise_image(image, -4711, 40.0, roi)
    cropped, _, _ = poisson_noise_image(image[2:10, 3:21], -4711, 40.0)
    np.testing.assert_array_equal(noise[2:10, 3:21], cropped)
    outside = np.ones(noise.shape, dtype=bool)
    outside[2:10, 3:21] = False
    assert not noise[outside].any()


def test_same_seed_same_image_different_seed_differs():
    image = np.full((16, 16), 7.5, dtype=np.float32)
    first, _, _ = poisson_noise_image(image, -5, 40.0)
    again, _, _ = poisson_noise_image(image, -5, 40.0)
    other, _, _ = poisson_noise_image(image, -6, 40.0)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_float64_input_is_rounded_to_float32():
    image64 = _synthetic_image().astype(np.float64) * (1.0 + 1e-12)
    noise64, photons64, _ = poisson_noise_image(image64, -4711, 40.0)
    noise32, photons32, _ = poisson_noise_image(_synthetic_image(), -4711, 40.0)
    np.testing.assert_array_equal(noise64, noise32)
    assert photons64 == photons32


def test_clipping_counts_overloads():
    image = np.array([[70000.0, 0.0]], dtype=np.float32)
    noise, _, overloads = poisson_noise_image(image, -1, 40.0)
    assert noise[0, 0] == 65535
    assert overloads == 1


def test_rejects_non_2d_image():
    with pytest.raises(ValueError, match="2-D"):
        poisson_noise_image(np.zeros(4, dtype=np.float32), -1)
