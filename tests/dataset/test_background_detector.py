"""The ``background`` section: amorphous scattering added to every shot."""

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
from nanobragg.dataset.variation import DescriptionError
from nanobragg.render import engines
from nanobragg.render.simulate import simulate

from .conftest import small_document

VARIED = {"orientation": "random", "mosaic_spread_deg": {"uniform": [0.05, 0.3]},
          "fluence": {"log_uniform": [1e28, 1e29]}, "noise": "poisson"}


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
        monkeypatch.setattr(engines, "_library_available", lambda: False)
    return request.param


def _doc(shots=4, variation=VARIED, background=None) -> dict:
    doc = small_document(pixels=32, shots=shots, **variation)
    if background is not None:
        doc["background"] = background
    return doc


def _desc(folder, **kwargs):
    return parse_description(_doc(**kwargs), folder)


BACKGROUND = {"stol": "w.stol", "thickness_mm": {"uniform": [0.05, 0.2]},
              "density_g_cm3": {"normal": [1.0, 0.02]}, "molecular_weight": 18}


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
    desc = _desc(folder, shots=5, background=BACKGROUND)
    batched = render_shots(desc, list(range(5)), batch=5)
    single = render_shots(desc, list(range(5)), batch=1)
    alone = render_shots(desc, [3])
    backwards = render_shots(desc, [4, 3, 2], batch=2)
    assert batched.images.tobytes() == single.images.tobytes()
    assert batched.counts.tobytes() == single.counts.tobytes()
    assert alone.images[0].tobytes() == batched.images[3].tobytes()
    assert alone.counts[0].tobytes() == batched.counts[3].tobytes()
    assert backwards.counts[::-1].tobytes() == batched.counts[2:].tobytes()
    assert [p.labels() for p in single.params] == [p.labels() for p in batched.params]


def test_labels_and_manifest_hold_the_drawn_values(folder):
    pytest.importorskip("h5py")
    from nanobragg.dataset.storage import read_chunk

    desc = _desc(folder, shots=2, background=BACKGROUND)
    manifest = runner.run_local(desc, folder / "out")
    data = read_chunk(folder / "out" / "shots_000000.h5")
    params = [sample_shot(desc, i).labels() for i in (0, 1)]
    for name in ("background_thickness_mm", "background_density_g_cm3",
                 "background_molecular_weight"):
        assert np.array_equal(data["labels"][name], [p[name] for p in params]), name
        assert manifest["chunks"][0]["shots"][1]["params"][name] == params[1][name]
    assert len(set(data["labels"]["background_thickness_mm"])) == 2


def test_background_enters_the_fingerprint_by_its_table_content(folder):
    plain = _desc(folder).fingerprint()
    with_bg = _desc(folder, background=BACKGROUND)
    assert with_bg.fingerprint() != plain
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
])
def test_bad_sections_name_the_key(folder, section, change, key):
    doc = _doc(background=dict(BACKGROUND))
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
            "background": {"stol": "w.stol", "thickness_mm": 0.1}}
    (folder / "spec.json").write_text(json.dumps(spec))
    out = folder / "out"
    assert run([str(folder / "spec.json"), "--out", str(out), "--no-progress"]) == 0
    data = read_chunk(out / "shots_000000.h5")
    assert data["images"].min() > 1
    assert data["labels"]["background_thickness_mm"][0] == 0.1
