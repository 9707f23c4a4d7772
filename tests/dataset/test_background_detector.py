"""The ``background`` (amorphous scattering) and ``detector`` (ADU frames) sections."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from nanobragg.cli.dataset import run
from nanobragg.config import AmorphousConfig
from nanobragg.dataset import runner
from nanobragg.dataset.description import make_description, parse_description
from nanobragg.dataset.draws import sample_shot, shot_config
from nanobragg.dataset.render import render_shots
from nanobragg.dataset.response import calibration_map
from nanobragg.dataset.variation import DescriptionError
from nanobragg.physics.detector_response import apply_psf, psf_kernel
from nanobragg.render import engines
from nanobragg.render.simulate import simulate

from .conftest import small_document

PIXEL_UM = 400.0  # the small document's pixel size
VARIED = {"orientation": "random", "mosaic_spread_deg": {"uniform": [0.05, 0.3]},
          "fluence": {"log_uniform": [1e28, 1e29]}, "noise": "poisson"}
#: ~40 photons of background per pixel (Bragg spots are negligible at this fluence).
DIM = {"orientation": "random", "fluence": 1e18, "noise": "poisson"}


@pytest.fixture
def folder(tmp_path):
    """A folder holding a smooth made-up table ``w.stol`` (F falls from 2.6 to 0.2)."""
    rows = [f"{0.05 * k:.2f} {2.6 - 2.0 * (0.05 * k) ** 0.5:.4f}" for k in range(25)]
    (tmp_path / "w.stol").write_text("\n".join(rows) + "\n")
    return tmp_path


@pytest.fixture(params=["auto", "eager"])
def engine(request, monkeypatch):
    """Render as the machine would (the fused kernel on a CPU with a compiler) or with
    the eager kernel only, so shots share vmapped kernel calls."""
    if request.param == "eager":
        monkeypatch.setattr(engines, "_available", lambda engine: False)
    return request.param


def _doc(shots=4, variation=VARIED, background=None, detector=None) -> dict:
    doc = small_document(pixels=32, shots=shots, **variation)
    if background is not None:
        doc["background"] = background
    if detector is not None:
        doc["detector"] = detector
    return doc


def _desc(folder, **kwargs):
    return parse_description(_doc(**kwargs), folder)


BACKGROUND = {"stol": "w.stol", "thickness_mm": {"uniform": [0.05, 0.2]},
              "density_g_cm3": {"normal": [1.0, 0.02]}, "molecular_weight": 18}
DETECTOR = {"gain": {"uniform": [1.0, 2.0]}, "readout": 2.0, "adc": 10.0,
            "psf": {"kind": "gauss", "fwhm_um": 600.0, "radius": 3}, "flicker": 0.05,
            "calibration": 0.02}


def test_background_adds_exactly_the_amorphous_render(folder, engine):
    """Each shot is its Bragg image (the same draws as without a background) plus the
    amorphous render of its drawn material: bit-equal to ``simulate`` of the shot's
    configuration with that material, and equal within float32 rounding (1e-5 of the
    image's maximum) to the Bragg image plus the material rendered alone."""
    plain = _desc(folder)
    desc = _desc(folder, background=BACKGROUND)
    with_bg = render_shots(desc, [0, 1, 2, 3])
    without = render_shots(plain, [0, 1, 2, 3])
    thickness = set()
    for k in range(4):
        labels = with_bg.params[k].labels()
        assert {n: v for n, v in labels.items() if not n.startswith("background_")} == \
            without.params[k].labels()
        material = AmorphousConfig(
            stol=str(folder / "w.stol"), thickness=labels["background_thickness_mm"] * 1e-3,
            density=labels["background_density_g_cm3"] * 1e6, molecular_weight=18.0)
        cfg = dataclasses.replace(shot_config(plain, without.params[k]), amorphous=material)
        assert np.array_equal(with_bg.images[k],
                              simulate(cfg, dtype=torch.float32).image.numpy())
        alone = dataclasses.replace(cfg, crystal=dataclasses.replace(cfg.crystal, default_F=0))
        extra = simulate(alone, dtype=torch.float32).image.numpy()
        assert extra.min() > 0
        tolerance = 1e-5 * with_bg.images[k].max()
        np.testing.assert_allclose(with_bg.images[k], without.images[k] + extra, rtol=0,
                                   atol=tolerance)
        thickness.add(labels["background_thickness_mm"])
    assert len(thickness) == 4 and all(0.05 <= t <= 0.2 for t in thickness)


def test_shots_have_the_same_bytes_alone_in_any_batch_and_order(folder, engine):
    desc = _desc(folder, shots=5, background=BACKGROUND, detector=DETECTOR)
    batched = render_shots(desc, list(range(5)), batch=5)
    single = render_shots(desc, list(range(5)), batch=1)
    alone = render_shots(desc, [3])
    backwards = render_shots(desc, [4, 3, 2], batch=2)
    assert batched.counts.dtype == np.float32
    assert batched.images.tobytes() == single.images.tobytes()
    assert batched.counts.tobytes() == single.counts.tobytes()
    assert alone.images[0].tobytes() == batched.images[3].tobytes()
    assert alone.counts[0].tobytes() == batched.counts[3].tobytes()
    assert backwards.counts[::-1].tobytes() == batched.counts[2:].tobytes()
    assert [p.labels() for p in single.params] == [p.labels() for p in batched.params]


def test_expected_frame_is_gain_times_psf_of_the_photons_plus_offset(folder):
    """Without noise the frame is ``gain * PSF(flicker * calibration * photons) + adc``
    (float32 rounding: 1e-5 relative)."""
    variation = {**DIM, "noise": "none"}
    desc = _desc(folder, shots=2, variation=variation, background=BACKGROUND,
                 detector=DETECTOR)
    shots = render_shots(desc, [0, 1])
    calibration = calibration_map(desc)
    for k in range(2):
        values = shots.params[k].labels()
        photons = shots.images[k].astype(np.float64) * values["detector_flicker_scale"]
        blurred = apply_psf(torch.from_numpy(photons * calibration), "gauss",
                            600.0 / PIXEL_UM, 3).numpy()
        expected = values["detector_gain"] * blurred + 10.0
        np.testing.assert_allclose(shots.counts[k], expected, rtol=1e-5)
    assert shots.params[0].detector["flicker_scale"] != shots.params[1].detector["flicker_scale"]


def test_calibration_map_is_one_per_data_set_from_its_own_seed(folder):
    detector = {"calibration": 0.05}
    desc = _desc(folder, shots=3, variation={**DIM, "noise": "none"},
                 background=BACKGROUND, detector=detector)
    shots = render_shots(desc, [0, 2])
    ratios = shots.counts.astype(np.float64) / shots.images
    np.testing.assert_allclose(ratios[0], ratios[1], rtol=1e-5)
    np.testing.assert_allclose(ratios[0], calibration_map(desc), rtol=1e-5)
    assert abs(ratios[0].std() - 0.05) < 0.01 and abs(ratios[0].mean() - 1) < 0.01
    reseeded = _desc(folder, shots=3, variation={**DIM, "noise": "none"},
                     background=BACKGROUND, detector={**detector, "calibration_seed": 7})
    assert not np.allclose(calibration_map(reseeded), calibration_map(desc))
    assert reseeded.fingerprint() != desc.fingerprint()


def _residuals(folder, detector, shots=4):
    desc = _desc(folder, shots=shots, variation=DIM, background=BACKGROUND, detector=detector)
    rendered = render_shots(desc, list(range(shots)))
    return rendered.images.astype(np.float64), rendered.counts.astype(np.float64)


def test_frame_statistics_without_psf(folder):
    """Over 4 x 32 x 32 pixels of ~40 photons: the mean of ``frame - (gain * photons +
    adc)`` is within 5 standard errors of 0, and its variance is ``gain^2 * photons +
    readout^2`` within 10 % (the estimate's own sd is about 2 %)."""
    gain, readout, adc = 1.7, 4.0, 100.0
    photons, frames = _residuals(folder, {"gain": gain, "readout": readout, "adc": adc})
    assert 20 < photons.mean() < 100
    residual = frames - (gain * photons + adc)
    expected = gain ** 2 * photons.mean() + readout ** 2
    assert abs(residual.mean()) < 5 * np.sqrt(expected / residual.size)
    assert abs(residual.var() / expected - 1) < 0.1


def test_frame_statistics_with_psf_follow_noisify_order(folder):
    """The PSF spreads the Poisson counts (as ``noisify`` does): the mean is
    ``gain * PSF(photons) + adc`` and, away from the edges, the variance is
    ``gain^2 * sum(kernel^2) * photons + readout^2`` (10 %)."""
    gain, readout, adc, radius = 2.0, 1.0, 5.0, 2
    fwhm = 800.0
    detector = {"gain": gain, "readout": readout, "adc": adc,
                "psf": {"kind": "gauss", "fwhm_um": fwhm, "radius": radius}}
    photons, frames = _residuals(folder, detector, shots=6)
    mean = gain * apply_psf(torch.from_numpy(photons), "gauss", fwhm / PIXEL_UM,
                            radius).numpy() + adc
    inner = (slice(None), slice(radius, -radius), slice(radius, -radius))
    residual = (frames - mean)[inner]
    kernel = psf_kernel("gauss", fwhm / PIXEL_UM, radius).numpy()
    expected = gain ** 2 * (kernel ** 2).sum() * photons[inner].mean() + readout ** 2
    of_mean = gain ** 2 * kernel.sum() ** 2 * photons[inner].mean() + readout ** 2
    assert abs(residual.mean()) < 5 * np.sqrt(of_mean / residual.size)
    assert abs(residual.var() / expected - 1) < 0.1


def test_labels_and_manifest_hold_the_drawn_values(folder):
    pytest.importorskip("h5py")
    from nanobragg.dataset.storage import read_chunk

    desc = _desc(folder, shots=2, background=BACKGROUND, detector=DETECTOR)
    manifest = runner.run_local(desc, folder / "out")
    data = read_chunk(folder / "out" / "shots_000000.h5")
    assert data["counts"].dtype == np.float32
    params = [sample_shot(desc, i).labels() for i in (0, 1)]
    for name in ("background_thickness_mm", "background_density_g_cm3",
                 "background_molecular_weight", "detector_gain", "detector_readout",
                 "detector_adc", "detector_psf_fwhm_um", "detector_flicker_scale"):
        assert np.array_equal(data["labels"][name], [p[name] for p in params]), name
        assert manifest["chunks"][0]["shots"][1]["params"][name] == params[1][name]
    assert len(set(data["labels"]["detector_gain"])) == 2


def test_sections_enter_the_fingerprint_and_leave_others_alone(folder):
    """Without the sections a description has the labels it had before them."""
    assert not [n for n in sample_shot(_desc(folder), 0).labels()
                if n.startswith(("background_", "detector_"))]
    plain = _desc(folder).fingerprint()
    with_bg = _desc(folder, background=BACKGROUND)
    assert with_bg.fingerprint() != plain
    assert _desc(folder, detector=DETECTOR).fingerprint() != plain
    (folder / "other").mkdir()
    (folder / "other" / "w.stol").write_text((folder / "w.stol").read_text())
    moved = parse_description(_doc(background=BACKGROUND), folder / "other")
    assert moved.fingerprint() == with_bg.fingerprint()
    (folder / "other" / "w.stol").write_text("0 1\n1 1\n")
    changed = parse_description(_doc(background=BACKGROUND), folder / "other")
    assert changed.fingerprint() != with_bg.fingerprint()


@pytest.mark.parametrize("section, change, key", [
    ("background", {"colour": 1}, "background.colour"),
    ("background", {"thickness_mm": -0.1}, "background.thickness_mm"),
    ("background", {"thickness_mm": {"normal": [0.1, 0.05]}}, "background.thickness_mm"),
    ("background", {"stol": "absent.stol"}, "background.stol"),
    ("background", {"stol_unit": "-Q"}, "background.stol_unit"),
    ("background", {"molecular_weight": 0}, "background.molecular_weight"),
    ("detector", {"colour": 1}, "detector.colour"),
    ("detector", {"gain": -1}, "detector.gain"),
    ("detector", {"readout": {"uniform": [-1, 2]}}, "detector.readout"),
    ("detector", {"psf": {"kind": "lorentz", "fwhm_um": 100, "radius": 2}},
     "detector.psf.kind"),
    ("detector", {"psf": {"kind": "gauss", "fwhm_um": 100}}, "detector.psf.radius"),
    ("detector", {"psf": {"kind": "gauss", "fwhm_um": 100, "radius": 2, "r": 1}},
     "detector.psf.r"),
    ("detector", {"flicker": {"uniform": [0, 0.1]}}, "detector.flicker"),
    ("detector", {"calibration": -0.01}, "detector.calibration"),
])
def test_bad_sections_name_the_key(folder, section, change, key):
    doc = _doc(background=dict(BACKGROUND), detector=dict(DETECTOR))
    doc[section].update(change)
    with pytest.raises(DescriptionError) as err:
        parse_description(doc, folder)
    message = str(err.value)
    assert message.startswith(f"{key}:"), message
    assert "\n" not in message


def test_background_and_experiment_material_do_not_mix(folder):
    base = _desc(folder, background=BACKGROUND)
    material = AmorphousConfig(stol=str(folder / "w.stol"))
    with pytest.raises(DescriptionError, match="^background: .*-stol"):
        make_description(dataclasses.replace(base.config, amorphous=material),
                         seed=1, background=base.background)


@pytest.mark.parametrize("section, body, key", [
    ("background", {"stol": "absent.stol"}, "background.stol"),
    ("detector", {"psf": {"kind": "box", "fwhm_um": 100, "radius": 2}}, "detector.psf.kind"),
])
def test_command_exits_2_on_a_bad_section(tmp_path, capsys, section, body, key):
    spec = {"seed": 5, "shots": 1,
            "experiment": {"flags": "-cell 79 79 38 90 90 90 -default_F 100 -N 6 -lambda 1 "
                                    "-distance 80 -detpixels 20 -pixel 0.4 -oversample 1"},
            section: body}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    assert run([str(tmp_path / "spec.json"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nanobragg-dataset: error: {key}:"), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_command_reads_the_table_relative_to_the_description(folder, capsys):
    pytest.importorskip("h5py")
    from nanobragg.dataset.storage import read_chunk

    spec = {"seed": 5, "shots": 1,
            "experiment": {"flags": "-cell 79 79 38 90 90 90 -default_F 100 -N 6 -lambda 1 "
                                    "-distance 80 -detpixels 20 -pixel 0.4 -oversample 1 "
                                    "-fluence 1e18"},
            "variation": {"noise": "poisson"},
            "background": {"stol": "w.stol", "thickness_mm": 0.1},
            "detector": {"gain": 2.0, "adc": 10}}
    (folder / "spec.json").write_text(json.dumps(spec))
    out = folder / "out"
    assert run([str(folder / "spec.json"), "--out", str(out), "--no-progress"]) == 0
    data = read_chunk(out / "shots_000000.h5")
    assert data["images"].min() > 1
    assert data["counts"].dtype == np.float32 and data["counts"].min() >= 10
    assert data["labels"]["background_thickness_mm"][0] == 0.1


def test_training_items_are_the_detector_frames(folder):
    from nanobragg.dataset.torch_data import ShotDataset

    desc = _desc(folder, shots=3, background=BACKGROUND, detector=DETECTOR)
    image, labels = ShotDataset(desc)[2]
    assert np.array_equal(image.numpy(), render_shots(desc, [1, 2]).counts[1])
    assert float(labels["detector_gain"]) == sample_shot(desc, 2).detector["gain"]
