"""NeXus NXmx files read back with the DIALS team's nxmx reader and with h5py."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from nanobragg.io.geometry import mcstas_rotation
from nanobragg.io.nexus import USER_MASK_BIT, write_nexus
from nanobragg.io.product import ImageProduct
from nanobragg.products.images import auto_int_scale, int_image
from nanobragg.products.product import image_product
from nanobragg.products.reports import detector_report
from nanobragg.render.series import phi_frames
from nanobragg.render.simulate import simulate

h5py = pytest.importorskip("h5py")
nxmx = pytest.importorskip("nxmx")

TOL = 1e-9  # mm, pixels and unit vectors


def _read(path):
    """(file handle, entry, detector, modules) via nxmx."""
    handle = h5py.File(path, "r")
    entry = nxmx.NXmx(handle).entries[0]
    detector = entry.instruments[0].detectors[0]
    return handle, entry, detector, detector.modules


def _module_frame(module):
    """Corner of pixel (0, 0) (mm), fast and slow unit vectors, from the depends_on chain."""
    fast, slow = module.fast_pixel_direction, module.slow_pixel_direction
    chain = nxmx.get_dependency_chain(fast.depends_on)
    matrix = nxmx.get_cumulative_transformation(chain)[0]
    rotate = matrix[:3, :3]
    return matrix[:3, 3], rotate @ fast.vector, rotate @ slow.vector


def _beam_hit(origin, fast, slow):
    """Where the McStas beam (+z from the sample) meets the panel plane, in pixels' mm."""
    normal = np.cross(fast, slow)
    t = np.dot(origin, normal) / normal[2]
    hit = np.array([0.0, 0.0, t]) - origin
    return np.dot(hit, fast), np.dot(hit, slow), t


def _our_beam_hit(rep):
    """Direct-beam point (fast, slow pixels) and distance (m) in nanobragg's own frame."""
    pix0, fdet, sdet, odet, beam = (np.array(rep[k]) for k in ("pix0", "fdet", "sdet", "odet",
                                                               "beam"))
    distance = np.dot(pix0, odet) / np.dot(beam, odet)
    hit = distance * beam - pix0
    return (np.dot(hit, fdet) / rep["pixel_size"], np.dot(hit, sdet) / rep["pixel_size"],
            distance)


@pytest.mark.parametrize("case", ["mosflm_render", "tilted_render", "xds_render"])
def test_nxmx_reads_our_geometry(case, request, tmp_path):
    cfg, result = request.getfixturevalue(case)
    product = image_product(result, cfg, exposure=2.5)
    write_nexus(tmp_path / "image.h5", product)
    handle, entry, detector, modules = _read(tmp_path / "image.h5")
    with handle:
        rep = detector_report(result.setup.detector, cfg)
        rotation = mcstas_rotation(rep["beam"])
        assert entry.definition == "NXmx"
        assert entry.start_time <= entry.end_time
        assert len(modules) == 1
        origin, fast, slow = _module_frame(modules[0])
        np.testing.assert_allclose(origin, rotation @ np.array(rep["pix0"]) * 1e3, atol=TOL)
        np.testing.assert_allclose(fast, rotation @ np.array(rep["fdet"]), atol=TOL)
        np.testing.assert_allclose(slow, rotation @ np.array(rep["sdet"]), atol=TOL)
        pixel_mm = modules[0].fast_pixel_direction[()].to("mm").magnitude[0]
        assert abs(pixel_mm - rep["pixel_size"] * 1e3) < TOL
        f_mm, s_mm, along_beam = _beam_hit(origin, fast, slow)
        centre_x = detector.beam_center_x.to("pixel").magnitude
        centre_y = detector.beam_center_y.to("pixel").magnitude
        want_f, want_s, want_distance = _our_beam_hit(rep)
        assert abs(centre_x - want_f) < TOL and abs(centre_y - want_s) < TOL
        assert abs(f_mm / pixel_mm - centre_x) < TOL and abs(s_mm / pixel_mm - centre_y) < TOL
        assert abs(detector.distance.to("mm").magnitude - want_distance * 1e3) < TOL
        assert abs(along_beam - want_distance * 1e3) < TOL
        if cfg.detector.twotheta == 0:  # the C's reported values are geometric then
            assert abs(want_f - rep["fbeam"] / rep["pixel_size"]) < TOL
            assert abs(want_s - rep["sbeam"] / rep["pixel_size"]) < TOL
            assert abs(want_distance - rep["distance"]) < 1e-12
        assert detector.count_time.to("s").magnitude == pytest.approx(2.5)
        assert list(modules[0].data_size) == [cfg.detector.spixels, cfg.detector.fpixels]
        assert list(modules[0].data_origin) == [0, 0]


def test_mosflm_frame_is_the_c_dials_origin_turned_to_mcstas(mosflm_render, tmp_path):
    """MOSFLM: McStas = (-z, y, x) of nanobragg; the C's DIALS_ORIGIN (imgCIF frame,
    beam along -z) is McStas turned 180 degrees about y."""
    cfg, result = mosflm_render
    write_nexus(tmp_path / "image.h5", image_product(result, cfg))
    handle, _, _, modules = _read(tmp_path / "image.h5")
    with handle:
        origin, fast, slow = _module_frame(modules[0])
    dials = np.array(detector_report(result.setup.detector, cfg)["dials_origin"])
    np.testing.assert_allclose(origin, [-dials[0], dials[1], -dials[2]], atol=TOL)
    np.testing.assert_allclose(fast, [-1.0, 0.0, 0.0], atol=TOL)  # fdet = +z nanobragg
    np.testing.assert_allclose(slow, [0.0, -1.0, 0.0], atol=TOL)  # sdet = -y nanobragg


def test_xds_frame_is_the_identity(xds_render):
    _, result = xds_render
    np.testing.assert_allclose(mcstas_rotation(result.setup.detector.beam.tolist()),
                               np.eye(3), atol=1e-15)


def test_data_mask_beam_sample_source(tilted_render, tmp_path):
    cfg, result = tilted_render
    product = image_product(result, cfg)
    write_nexus(tmp_path / "image.h5", product)
    handle, entry, detector, _ = _read(tmp_path / "image.h5")
    with handle:
        data = handle["/entry/data/data"]
        assert data.compression == "gzip" and data.shape == (1, 32, 40)
        image = result.image.to(torch.float32).numpy()
        roi = result.rendered.numpy()
        scale = auto_int_scale(float(image[roi].max()))
        np.testing.assert_array_equal(data[0], int_image(image, roi, scale, 40.0))
        mask = detector.pixel_mask[()]
        np.testing.assert_array_equal(mask == USER_MASK_BIT, ~roi)
        assert (mask[roi] == 0).all()
        beam = entry.instruments[0].beams[0]
        assert beam.incident_wavelength.to("angstrom").magnitude == pytest.approx(1.2)
        assert beam.total_flux.magnitude > 0
        assert detector.sensor_material == "Si"
        assert entry.source.name
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(entry.samples[0].depends_on))
        np.testing.assert_allclose(axes.axes[0], [-1.0, 0.0, 0.0], atol=TOL)  # MOSFLM spindle z
        assert list(axes.names) == ["phi"]


def test_rotation_series_frames_and_scan_axis(make_config, tmp_path):
    cfg = make_config()
    summed = simulate(cfg)
    frames = phi_frames(cfg)
    assert frames.shape == (2, 32, 40)
    scale = float(summed.image.abs().max())
    assert float((frames.sum(0) - summed.image).abs().max()) <= 1e-12 * scale
    product = image_product(summed, cfg, frames=frames.numpy(), exposure=2.0)
    write_nexus(tmp_path / "series.h5", product)
    handle, entry, detector, _ = _read(tmp_path / "series.h5")
    with handle:
        assert handle["/entry/data/data"].shape == (2, 32, 40)
        chain = nxmx.get_dependency_chain(entry.samples[0].depends_on)
        phi = chain[0]
        np.testing.assert_allclose(phi[()].to("deg").magnitude, [0.0, 0.5], atol=1e-12)
        np.testing.assert_allclose(phi.increment_set.to("deg").magnitude, [0.5, 0.5])
        assert nxmx.get_rotation_axes(chain).is_scan_axis[0]
        assert detector.count_time.to("s").magnitude == pytest.approx(1.0)
        # the file's rotation turns the crystal as nanobragg's phi steps do
        rows = summed.setup.crystal.real_rows[:, 0].numpy()  # (phi, axis, xyz)
        rotation = mcstas_rotation(summed.setup.detector.beam.tolist())
        turn = phi.matrix[1][:3, :3]
        np.testing.assert_allclose(rotation @ rows[1].T, turn @ (rotation @ rows[0].T),
                                   atol=1e-9 * np.abs(rows).max())


def test_two_panels_become_two_modules(mosflm_render, tmp_path):
    cfg, result = mosflm_render
    product = image_product(result, cfg)
    one = product.geometry.panels[0]
    half = one.size[1] // 2
    top = dataclasses.replace(one, size=(one.size[0], half), name="top")
    shifted = tuple(np.array(one.origin) + half * one.pixel_size[1] * np.array(one.slow)
                    + np.array([0.001, 0.0, 0.0]))
    bottom = dataclasses.replace(one, origin=shifted, size=(one.size[0], half),
                                 data_origin=(half, 0), name="bottom")
    geometry = dataclasses.replace(product.geometry, panels=(top, bottom))
    write_nexus(tmp_path / "two.h5", ImageProduct(product.image, product.counts,
                                                  product.valid, geometry))
    handle, _, _, modules = _read(tmp_path / "two.h5")
    with handle:
        assert len(modules) == 2
        rotation = mcstas_rotation(geometry.beam)
        for module, panel in zip(modules, (top, bottom)):
            origin, fast, _ = _module_frame(module)
            np.testing.assert_allclose(origin, rotation @ np.array(panel.origin) * 1e3,
                                       atol=TOL)
            np.testing.assert_allclose(fast, rotation @ np.array(panel.fast), atol=TOL)
            assert list(module.data_origin) == list(panel.data_origin)
            assert list(module.data_size) == [half, one.size[0]]


def test_bitshuffle_when_hdf5plugin_is_installed(mosflm_render, tmp_path):
    pytest.importorskip("hdf5plugin")
    cfg, result = mosflm_render
    product = image_product(result, cfg)
    write_nexus(tmp_path / "bs.h5", product, compression="bitshuffle")
    with h5py.File(tmp_path / "bs.h5", "r") as handle:
        data = handle["/entry/data/data"]
        assert 32008 in data._filters or "32008" in data._filters  # bitshuffle filter id
        np.testing.assert_array_equal(data[()], product.counts)


def test_failed_write_leaves_no_file(mosflm_render, tmp_path, monkeypatch):
    import nanobragg.io.nexus as nexus

    cfg, result = mosflm_render

    def broken(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(nexus, "_write_sample", broken)
    with pytest.raises(RuntimeError):
        write_nexus(tmp_path / "x.h5", image_product(result, cfg))
    assert list(tmp_path.iterdir()) == []


def test_phi_values_follow_phi0(mosflm_render):
    cfg, result = mosflm_render
    moved = dataclasses.replace(cfg, crystal=dataclasses.replace(cfg.crystal, phi0=0.3))
    geometry = image_product(result, moved).geometry
    assert geometry.phi_values[0] == pytest.approx(0.3)
    assert geometry.phi_increment == pytest.approx(math.radians(1.0))
