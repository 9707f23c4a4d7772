"""JSON intensity taps: stable keys, plain data, caller's dtype/device, and the
normalized intensity equals the rendered image pixel."""

from __future__ import annotations

import io
import json
import shlex

import pytest
import torch

from nanobragg.commandline.to_config import build_request
from nanobragg.diagnostics.taps import main, pixel_taps
from nanobragg.render.simulate import simulate

BASE = ("-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 "
        "-detpixels 40 -pixel 0.4")
CONFIGS = {
    "oversample2": "-oversample 2",
    "thickness": "-detector_thick 300 -detector_abs 200 -thicksteps 3",
    "mosaic": "-mosaic 0.5 -mosaic_dom 4 -phi 1 -osc 1 -phisteps 2",
    "oversample_omega_polar": "-oversample 2 -oversample_omega -oversample_polar",
}
PIXELS = [(20, 20), (3, 35)]
INTENSITY_KEYS = {"intensity_pre_norm", "steps", "omega", "polar", "capture_fraction",
                  "normalized_intensity"}


def _argv(extra: str) -> list[str]:
    return shlex.split(f"{BASE} {extra}")


def _image(argv: list[str], dtype: torch.dtype) -> torch.Tensor:
    request = build_request(argv)
    return simulate(request.config, None, None, dtype=dtype, device="cpu").image


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_normalized_intensity_equals_image(name, dtype, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _argv(CONFIGS[name])
    data = pixel_taps(argv, PIXELS, dtype=dtype, device="cpu")
    image = _image(argv, getattr(torch, dtype))
    assert data["provenance"]["dtype"] == dtype
    assert data["provenance"]["device"] == "cpu"
    for entry in data["pixels"]:
        assert entry["intensity"]["normalized_intensity"] == image[entry["slow"],
                                                                   entry["fast"]].item()


def test_taps_layout_is_plain_and_stable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _argv("-oversample 2 -detector_thick 100 -thicksteps 2 -phisteps 2 -osc 1")
    data = pixel_taps(argv, PIXELS)
    assert json.loads(json.dumps(data)) == data  # plain numbers, lists, strings only
    assert set(data) == {"provenance", "setup", "pixels"}
    prov = data["provenance"]
    assert prov["argv"] == argv and prov["command_line"].startswith("nanoBragg -cell 70")
    assert {"nanobragg_version", "torch_version"} <= set(prov)
    setup = data["setup"]
    assert (setup["oversample"], setup["layers"], setup["phi_steps"]) == (2, 2, 2)
    pixel = data["pixels"][0]
    assert set(pixel["intensity"]) == INTENSITY_KEYS
    assert set(pixel["geometry"]) >= {"pix0_m", "fdet", "sdet", "odet"}
    assert len(pixel["subpixels"]) == 2 * 4  # layers x sub-pixels, C loop order
    sub = pixel["subpixels"][1]
    assert (sub["layer"], sub["sub_slow"], sub["sub_fast"]) == (0, 0, 1)
    source = sub["sources"][0]
    assert len(source["scattering_per_m"]) == 3
    evaluation = source["evaluations"][1]
    assert (evaluation["phi_step"], evaluation["mosaic_domain"]) == (1, 0)
    assert len(evaluation["F_latt_axes"]) == 3
    assert evaluation["hkl_rounded"] == [int(v) for v in evaluation["hkl_rounded"]]
    assert pixel["intensity"]["steps"] == 2 * 4


def test_taps_do_not_change_a_normal_render(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _argv("-oversample 2")
    before = _image(argv, torch.float64)
    pixel_taps(argv, PIXELS)
    assert torch.equal(before, _image(argv, torch.float64))


def test_pixel_outside_detector_is_an_input_error(tmp_path, monkeypatch):
    from nanobragg.errors import InputError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="outside"):
        pixel_taps(_argv(""), [(40, 0)])


def test_trace_command_json_and_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["--pixel", "20", "20", "-o", "taps.json", "--", *_argv("")], out=out) == 0
    data = json.loads((tmp_path / "taps.json").read_text())
    assert [(p["slow"], p["fast"]) for p in data["pixels"]] == [(20, 20)]
    assert main(["--log", "--", *_argv("-trace_pixel 5 6")], out=out) == 0
    assert "TRACE_CONFIG: tracing pixel (spixel=5, fpixel=6)" in out.getvalue()
    assert main(["--pixel", "1", "1"], out=out) == 2  # no '--'
    assert main(["--", *_argv("")], out=out) == 2  # no pixel
