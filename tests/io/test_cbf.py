"""miniCBF files read back with fabio and with CBFlib's pycbf (where installed)."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from nanobragg.io.cbf import byte_offset_compress, format_cbf, is_pilatus_size, write_cbf
from nanobragg.io.geometry import ImageGeometry, PanelGeometry
from nanobragg.io.product import ImageProduct
from nanobragg.products.product import image_product
from nanobragg.products.reports import detector_report

fabio = pytest.importorskip("fabio")


def _header_values(header_contents: str) -> dict[str, str]:
    """``# Key value`` lines of a Pilatus header -> {key: rest of the line}."""
    values = {}
    for line in header_contents.splitlines():
        match = re.match(r"#\s*([A-Za-z_]+)[:]?\s+(.*)", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _with_counts(product: ImageProduct, counts: np.ndarray) -> ImageProduct:
    return dataclasses.replace(product, counts=counts[None])


def test_fabio_reads_data_and_pilatus_header(mosflm_render, tmp_path):
    cfg, result = mosflm_render
    product = image_product(result, cfg, exposure=0.5)
    write_cbf(tmp_path / "image.cbf", product)
    image = fabio.open(str(tmp_path / "image.cbf"))
    np.testing.assert_array_equal(image.data, product.counts[0])
    assert image.header["_array_data.header_convention"] == "GENERIC_MINI"  # 40x32
    values = _header_values(image.header["_array_data.header_contents"])
    rep = detector_report(result.setup.detector, cfg)
    pixel = [float(v) for v in re.findall(r"[-+0-9.e]+(?= m)", values["Pixel_size"])]
    assert pixel == pytest.approx([rep["pixel_size"]] * 2, rel=1e-6)
    assert float(values["Detector_distance"].split()[0]) == pytest.approx(rep["distance"],
                                                                          rel=1e-7)
    assert float(values["Wavelength"].split()[0]) == pytest.approx(1.2, rel=1e-6)
    beam_x, beam_y = (float(v) for v in re.findall(r"[-0-9.]+", values["Beam_xy"]))
    assert beam_x == pytest.approx(rep["fbeam"] / rep["pixel_size"], abs=1e-4)
    assert beam_y == pytest.approx(rep["sbeam"] / rep["pixel_size"], abs=1e-4)
    assert float(values["Exposure_time"].split()[0]) == pytest.approx(0.5)
    assert float(values["Start_angle"].split()[0]) == pytest.approx(0.0)
    assert float(values["Angle_increment"].split()[0]) == pytest.approx(1.0)
    assert "PILATUS" not in values["Detector"].upper()


def test_pilatus_sizes_get_the_pilatus_convention():
    assert is_pilatus_size(2463, 2527) and is_pilatus_size(1475, 1679)
    assert is_pilatus_size(487, 195) and is_pilatus_size(487, 619)
    assert not is_pilatus_size(2463, 2526) and not is_pilatus_size(1024, 1024)
    counts = np.zeros((1, 619, 487), dtype=np.int32)
    geometry = dataclasses.replace(
        _tiny_geometry(), panels=(dataclasses.replace(_tiny_geometry().panels[0],
                                                      size=(487, 619)),))
    product = ImageProduct(np.zeros((619, 487), np.float32), counts,
                           np.ones((619, 487), bool), geometry)
    text = format_cbf(product)[:2000].decode("ascii", "replace")
    assert '_array_data.header_convention "PILATUS_1.2"' in text
    assert "# Detector: PILATUS" in text


def _tiny_geometry():
    panel = PanelGeometry(origin=(0.1, 0.0, 0.0), fast=(0.0, 0.0, 1.0), slow=(0.0, -1.0, 0.0),
                          pixel_size=(172e-6, 172e-6), size=(2, 2))
    return ImageGeometry(panels=(panel,), beam=(1.0, 0.0, 0.0), wavelength=1e-10,
                         total_flux=1e12, exposure=0.1, distance=0.1, beam_center=(1.0, 1.0),
                         spindle=(0.0, 0.0, 1.0))


def test_byte_offset_widths_round_trip_through_fabio(mosflm_render, tmp_path):
    cfg, result = mosflm_render
    product = image_product(result, cfg)
    shape = product.counts.shape[1:]
    rng = np.random.default_rng(3)
    counts = rng.integers(-2**31, 2**31 - 1, size=shape, dtype=np.int64)
    counts[0, :8] = [0, 127, -127, 128, -32767, 32768, 2**31 - 1, -2**31]
    counts[1] = rng.integers(0, 300, size=shape[1])  # 1- and 3-byte steps
    write_cbf(tmp_path / "wide.cbf", _with_counts(product, counts.astype(np.int32)))
    np.testing.assert_array_equal(fabio.open(str(tmp_path / "wide.cbf")).data, counts)


def test_byte_offset_sizes():
    assert byte_offset_compress(np.array([0, 5, -2])) == bytes([0, 5, 0xF9])
    assert byte_offset_compress(np.array([200])) == bytes([0x80, 200, 0])
    assert byte_offset_compress(np.array([70000])) == bytes(
        [0x80, 0, 0x80]) + (70000).to_bytes(4, "little")


def test_cbflib_reads_it_with_digest_check(mosflm_render, tmp_path):
    pycbf = pytest.importorskip("pycbf")
    cfg, result = mosflm_render
    product = image_product(result, cfg)
    write_cbf(tmp_path / "image.cbf", product)
    handle = pycbf.cbf_handle_struct()
    handle.read_widefile(str(tmp_path / "image.cbf").encode(), pycbf.MSG_DIGEST)
    handle.find_category(b"array_data")
    handle.find_column(b"data")
    params = handle.get_integerarrayparameters_wdims_fs()
    assert params[0] == pycbf.CBF_BYTE_OFFSET
    data = np.frombuffer(handle.get_integerarray_as_string(), np.int32)
    np.testing.assert_array_equal(data.reshape(product.counts.shape[1:]), product.counts[0])


def test_series_start_angle_is_per_frame(mosflm_render):
    from nanobragg.io.cbf import cbf_header_lines

    cfg, result = mosflm_render
    frames = np.stack([result.image.numpy() / 2] * 2)
    product = image_product(result, cfg, frames=frames)
    second = _header_values("\n".join(cbf_header_lines(product, frame=1)))
    assert float(second["Start_angle"].split()[0]) == pytest.approx(0.5)
    assert float(second["Angle_increment"].split()[0]) == pytest.approx(0.5)
    assert math.isclose(product.geometry.exposure, 0.5)
