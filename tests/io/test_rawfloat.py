"""Raw float32 images."""

import json
from pathlib import Path

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.rawfloat import read_float_image, write_float_image

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


def test_round_trip_and_layout(tmp_path):
    image = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    write_float_image(tmp_path / "f.bin", image)
    raw = (tmp_path / "f.bin").read_bytes()
    assert raw == image.astype("<f4").tobytes()
    back = read_float_image(tmp_path / "f.bin", width=3, height=2)
    assert back.dtype == np.float32 and back.shape == (2, 3)
    assert np.array_equal(back, image.astype(np.float32))


def test_size_mismatch_is_error(tmp_path):
    write_float_image(tmp_path / "f.bin", np.zeros((2, 3)))
    with pytest.raises(InputError, match="float image '.*f.bin': size is 24 bytes, expected 32"):
        read_float_image(tmp_path / "f.bin", width=4, height=2)


def test_missing_and_bad_shape(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_float_image(tmp_path / "none.bin", 1, 1)
    with pytest.raises(ValueError):
        write_float_image(tmp_path / "f.bin", np.zeros(3))


def test_golden_float_image(tmp_path):
    folder = GOLDEN / "simple_cubic"
    if not (folder / "float.bin").exists():
        pytest.skip(f"golden data not found at {folder}")
    info = json.loads((folder / "case.json").read_text())["float_image"]
    image = read_float_image(folder / "float.bin", info["width"], info["height"])
    assert image.sum(dtype=np.float64) == pytest.approx(info["full_frame_sum"], rel=1e-12)
    assert list(np.unravel_index(image.argmax(), image.shape)) == (
        info["full_frame_argmax_slow_fast"])
    write_float_image(tmp_path / "copy.bin", image)
    assert (tmp_path / "copy.bin").read_bytes() == (folder / "float.bin").read_bytes()
