"""SMV (ADSC) image reading, header lookup and byte-exact header writing."""

from pathlib import Path

import numpy as np
import pytest

from nanobragg.errors import InputError
from nanobragg.io.smv import format_smv_header, header_value, read_smv, write_smv

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"

BASIC = {"HEADER_BYTES": 512, "DIM": 2, "BYTE_ORDER": "little_endian",
         "TYPE": "unsigned_short"}


def _golden(*parts):
    path = GOLDEN.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"golden data not found at {path}")
    return path


def _smv_bytes(header_text, pixels_bytes, size=512):
    return header_text.encode().ljust(size, b" ") + pixels_bytes


def test_header_value_last_substring_match():
    header = "{\nDISTANCE=100;\nCLOSE_DISTANCE=95.5;\nXDS_ORGX=12;\n}"
    assert header_value(header, "DISTANCE") == 95.5
    assert header_value(header, "ORGX") == 12.0
    assert header_value(header, "ORGY") is None


def test_header_value_c_atof_semantics():
    assert header_value("A=  1.5e2mm;", "A") == 150.0
    assert header_value("A=fake;", "A") == 0.0
    assert header_value("KEY without equals", "KEY") == 0.0
    assert header_value("X=1;\0Y=2;", "Y") is None  # C strings end at NUL
    with pytest.raises(ValueError):
        header_value("A=1", "")


def test_format_header_layout():
    fields = {**BASIC, "SIZE1": 3, "PIXEL_SIZE": 0.1, "ORIGIN": (-1.5, 2.0, 1e-7),
              "BEAMLINE": "fake"}
    header = format_smv_header(fields)
    assert len(header) == 512
    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            "SIZE1=3;\nPIXEL_SIZE=0.1;\nORIGIN=-1.5,2,1e-07\nBEAMLINE=fake;\n}\f")
    assert header == text.encode().ljust(512, b" ")


def test_format_header_too_long_is_written_whole_like_the_c():
    fields = {f"KEY{i}": 1.0 for i in range(100)}
    header = format_smv_header(fields)
    assert len(header) > 512
    assert header.endswith(b"}\f")
    assert header.count(b"=1;") == 100


def test_write_read_round_trip(tmp_path):
    data = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    fields = {**BASIC, "SIZE1": 4, "SIZE2": 3, "DISTANCE": 100.0}
    write_smv(tmp_path / "a.img", data, fields)
    raw = (tmp_path / "a.img").read_bytes()
    assert len(raw) == 512 + 24
    assert np.array_equal(np.frombuffer(raw[512:], "<u2"), data.ravel())
    image = read_smv(tmp_path / "a.img")
    assert (image.width, image.height) == (4, 3)
    assert image.data.dtype == np.uint16 and np.array_equal(image.data, data)
    assert header_value(image.header, "DISTANCE") == 100.0


def test_write_checks_size_and_dtype(tmp_path):
    data = np.zeros((3, 4), dtype=np.uint16)
    with pytest.raises(ValueError, match="SIZE1"):
        write_smv(tmp_path / "a.img", data, {**BASIC, "SIZE1": 3, "SIZE2": 3})
    with pytest.raises(ValueError, match="uint16"):
        write_smv(tmp_path / "a.img", data.astype(np.int32), BASIC)
    assert list(tmp_path.iterdir()) == []


def test_big_endian_is_swapped(tmp_path):
    data = np.array([[1, 2, 258], [65535, 0, 4096]], dtype=np.uint16)
    header = ("{\nHEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=3;\nSIZE2=2;\n"
              "BYTE_ORDER=big_endian;\n}\f")
    (tmp_path / "b.img").write_bytes(_smv_bytes(header, data.astype(">u2").tobytes()))
    assert np.array_equal(read_smv(tmp_path / "b.img").data, data)


def test_larger_header_and_detector_dimensions(tmp_path):
    data = np.arange(4, dtype=np.uint16).reshape(2, 2)
    header = "{\nHEADER_BYTES=1024;\nDETECTOR_DIMENSIONS=2;\n" + "X" * 600 + "\nPHI=3;\n}\f"
    (tmp_path / "c.img").write_bytes(_smv_bytes(header, data.tobytes(), size=1024) + b"extra")
    image = read_smv(tmp_path / "c.img")
    assert np.array_equal(image.data, data)
    assert header_value(image.header, "PHI") == 3.0


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"short", "too short"),
     (b"P5\n".ljust(600), "does not look like an SMV"),
     (b"{\nHEADER_BYTES=512;\nSIZE1=4;\nSIZE2=4;\n}".ljust(512 + 31), "too short for 4x4"),
     (b"{\nHEADER_BYTES=512;\n}".ljust(600), "SIZE1"),
     (b"{\nHEADER_BYTES=4096;\nSIZE1=1;\nSIZE2=1;\n}".ljust(600), "HEADER_BYTES=4096"),
     (b"{\nHEADER_BYTES=-1;\n}".ljust(600), "HEADER_BYTES")],
)
def test_read_errors(tmp_path, content, message):
    (tmp_path / "bad.img").write_bytes(content)
    with pytest.raises(InputError, match=f"SMV file '.*bad.img': .*{message}"):
        read_smv(tmp_path / "bad.img")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_smv(tmp_path / "none.img")


def test_golden_simple_cubic_header_byte_exact():
    raw = _golden("simple_cubic", "int.img").read_bytes()
    fields = {
        **BASIC, "SIZE1": 1024, "SIZE2": 1024, "PIXEL_SIZE": 0.1, "DISTANCE": 100.0,
        "WAVELENGTH": 6.2, "BEAM_CENTER_X": 51.25, "BEAM_CENTER_Y": 51.25,
        "ADXV_CENTER_X": 51.3, "ADXV_CENTER_Y": 51.1, "MOSFLM_CENTER_X": 51.25,
        "MOSFLM_CENTER_Y": 51.25, "DENZO_X_BEAM": 51.3, "DENZO_Y_BEAM": 51.3,
        "DIALS_ORIGIN": (-51.3, 51.3, -100.0), "XDS_ORGX": 513.5, "XDS_ORGY": 513.5,
        "CLOSE_DISTANCE": 100.0, "PHI": 0.0, "OSC_START": 0.0, "OSC_RANGE": 0.0,
        "TWOTHETA": 0.0, "DETECTOR_SN": "000", "BEAMLINE": "fake",
    }
    assert format_smv_header(fields) == raw[:512]


def _fields_from_header(header):
    """Parse a golden header back into typed fields."""
    fields = {}
    for line in header.split("\n")[1:]:
        if "=" not in line:
            break
        key, value = line.rstrip(";").split("=", 1)
        if "," in value:
            fields[key] = tuple(float(v) for v in value.split(","))
        elif key in ("HEADER_BYTES", "DIM", "SIZE1", "SIZE2"):
            fields[key] = int(value)
        elif key in ("BYTE_ORDER", "TYPE", "DETECTOR_SN", "BEAMLINE"):
            fields[key] = value
        else:
            fields[key] = float(value)
    return fields


def test_golden_images_rewrite_byte_exact(tmp_path):
    paths = sorted(_golden().glob("*/int.img")) + sorted(_golden().glob("*/noise.img"))
    assert paths
    for path in paths:
        image = read_smv(path)
        assert image.header.startswith("{\nHEADER_BYTES=512;")
        write_smv(tmp_path / "copy.img", image.data, _fields_from_header(image.header))
        assert (tmp_path / "copy.img").read_bytes() == path.read_bytes(), path


def test_golden_mask():
    image = read_smv(_golden("mask", "mask.img"))
    assert (image.width, image.height) == (128, 128)
    assert header_value(image.header, "PIXEL_SIZE") == 0.1
    assert header_value(image.header, "DISTANCE") is None
    assert set(np.unique(image.data)) <= {0, 1} and (image.data == 0).any()


def test_other_pixel_types_are_refused(tmp_path):
    header = "{\nHEADER_BYTES=512;\nTYPE=float;\nSIZE1=2;\nSIZE2=2;\n}\f"
    (tmp_path / "f.img").write_bytes(_smv_bytes(header, bytes(8)))
    with pytest.raises(InputError, match="TYPE=float is not supported"):
        read_smv(tmp_path / "f.img")
