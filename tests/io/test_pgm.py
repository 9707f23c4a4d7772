"""PGM (P5) preview images."""

import re
from pathlib import Path

import numpy as np
import pytest

from nanobragg.io.pgm import pgm_header, write_pgm

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


def test_header_format():
    assert pgm_header(3, 2, 1234567.0) == b"P5\n3 2\n# pixels scaled by 1.23457e+06\n255\n"


def test_write_pgm(tmp_path):
    pixels = np.array([[0, 1, 255], [7, 8, 9]], dtype=np.uint8)
    write_pgm(tmp_path / "a.pgm", pixels, 0.5)
    assert (tmp_path / "a.pgm").read_bytes() == (
        b"P5\n3 2\n# pixels scaled by 0.5\n255\n" + pixels.tobytes())
    with pytest.raises(ValueError):
        write_pgm(tmp_path / "b.pgm", pixels.astype(np.uint16), 1.0)


def test_golden_pgm_byte_exact(tmp_path):
    folder = GOLDEN / "pgm_output"
    if not (folder / "image.pgm").exists():
        pytest.skip(f"golden data not found at {folder}")
    golden = (folder / "image.pgm").read_bytes()
    scale = float(re.search(rb"# pixels scaled by (\S+)\n", golden).group(1))
    image = np.fromfile(folder / "float.bin", "<f4").reshape(256, 256)
    pixels = np.minimum(image.astype(np.float64) * scale, 255.0).astype(np.uint8)
    write_pgm(tmp_path / "image.pgm", pixels, scale)
    assert (tmp_path / "image.pgm").read_bytes() == golden
