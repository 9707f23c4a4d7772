"""Reading data-set descriptions: good ones build, bad ones name the key."""

import json

import pytest

from nanobragg.dataset.description import load_description, parse_description
from nanobragg.dataset.variation import DescriptionError
from nanobragg.errors import InputError

from .conftest import small_document


def test_yaml_and_json_give_the_same_data_set(tmp_path):
    yaml = pytest.importorskip("yaml")
    doc = small_document()
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "a.json").write_text(json.dumps(doc))
    from_yaml = load_description(tmp_path / "a.yaml")
    from_json = load_description(tmp_path / "a.json")
    assert from_yaml.fingerprint() == from_json.fingerprint()
    assert from_yaml.config.detector.fpixels == 24
    assert from_yaml.variation.orientation == "random"
    assert from_yaml.variation.mosaic_spread_deg.kind == "uniform"


def test_fingerprint_follows_seed_and_variation_not_batch_or_shots():
    base = parse_description(small_document()).fingerprint()
    other_seed = small_document()
    other_seed["seed"] = 1
    other_var = small_document()
    other_var["variation"]["cell_length_sigma"] = 0.005
    same = small_document()
    same.update(batch=1, shots=100)
    assert parse_description(other_seed).fingerprint() != base
    assert parse_description(other_var).fingerprint() != base
    assert parse_description(same).fingerprint() == base


def _with(path: list, value) -> dict:
    doc = small_document()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, key", [
    (["sed"], 1, "sed"),
    (["dtype"], "float16", "dtype"),
    (["shots"], 0, "shots"),
    (["batch"], "8", "batch"),
    (["variation", "orientatoin"], "random", "variation.orientatoin"),
    (["variation", "orientation"], "sometimes", "variation.orientation"),
    (["variation", "fluence"], {"gamma": [1, 2]}, "variation.fluence"),
    (["variation", "wavelength_A"], {"uniform": [2.0, 1.0]}, "variation.wavelength_A.uniform"),
    (["variation", "N"], {"uniform": [-3, 5]}, "variation.N"),
    (["variation", "distance_sigma_mm"], -1, "variation.distance_sigma_mm"),
    (["variation", "spectrum"], {"lines": 0}, "variation.spectrum.lines"),
    (["experiment", "config", "detector", "pixels"], 5, "experiment.config.detector.pixels"),
    (["experiment", "config", "detector", "distance"], -1.0, "experiment"),
    (["experiment", "flags"], "-N 5", "experiment"),
])
def test_bad_description_names_the_key(path, value, key):
    with pytest.raises(DescriptionError) as err:
        parse_description(_with(path, value))
    message = str(err.value)
    assert message.startswith(f"{key}:"), message
    assert "\n" not in message


def test_missing_seed_and_flags_without_a_parser():
    doc = small_document()
    del doc["seed"]
    with pytest.raises(DescriptionError, match="^seed: missing"):
        parse_description(doc)
    doc = small_document()
    doc["experiment"] = {"flags": "-cell 79 79 38 90 90 90 -N 5"}
    with pytest.raises(DescriptionError, match="^experiment.flags: .*nanobragg-dataset"):
        parse_description(doc)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_description(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{seed: ")
    with pytest.raises(InputError, match="not valid JSON"):
        load_description(tmp_path / "bad.json")
