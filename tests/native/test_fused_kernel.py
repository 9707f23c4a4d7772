"""The compiled fast path gives the eager kernel's image up to float rounding."""

from __future__ import annotations

import dataclasses
import shlex

import pytest
import torch

from nanobragg.commandline.to_config import build_request
from nanobragg.native import build
from nanobragg.native import kernel as fast
from nanobragg.physics.structure_factors import FTable
from nanobragg.render import engines
from nanobragg.render.simulate import prepare, simulate

pytestmark = pytest.mark.skipif(build.load() is None, reason="no C compiler for the kernel")

BASE = "-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 -pixel 0.4"
CONFIGS = {
    "plain": "-detpixels 24",
    "oversample_mosaic_phi": "-detpixels 20 -oversample 2 -mosaic 0.5 -mosaic_dom 3 "
                             "-phi 1 -osc 2 -phisteps 2",
    "sources_layers": "-detpixels 16 -hdivrange 0.4 -hdivsteps 3 -dispersion 0.1 "
                      "-dispsteps 2 -detector_thick 0 -thicksteps 2",
    "dmin_point_nopolar": "-detpixels 30 -dmin 2.5 -point_pixel -nopolar -N 3",
    "roi_tilted": "-detpixels 40 -roi 5 30 2 37 -detector_rotx 5 -twotheta 10",
    "odd_pixels": "-detpixels_f 37 -detpixels_s 3",
}
#: Measured largest |fast - eager| / max over these cases: float64 1.4e-13 (the eager
#: kernel takes libm's sin of the full argument, the fast path a polynomial of the
#: reduced one), float32 1.2e-7 against the float64 eager image.
TOL = {torch.float64: 1e-11, torch.float32: 1e-5}


def _request(extra: str):
    return build_request(shlex.split(f"{BASE} {extra}"))


def _table(dtype) -> FTable:
    g = torch.Generator().manual_seed(1)
    values = torch.rand((9, 11, 13), generator=g, dtype=torch.float64) * 100
    return FTable(values.to(dtype), (-4, -5, -6), 7.0, True)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fast_path_matches_eager(name, dtype):
    request = _request(CONFIGS[name])
    for table in (None, _table(torch.float64)):
        assert engines.supports("fast", prepare(request.config, table, dtype))
        eager = simulate(request.config, table, dtype=torch.float64, engine="eager").image
        quick = simulate(request.config, table, dtype=dtype, engine="fast").image
        assert quick.dtype == dtype
        worst = float((quick.double() - eager).abs().max() / eager.abs().max())
        assert worst <= TOL[dtype], f"{name} {dtype}: {worst:g}"


def test_fast_path_is_chunk_and_thread_independent():
    """A pixel's value does not depend on the other pixels of its call or the threads."""
    request = _request(CONFIGS["oversample_mosaic_phi"])
    inp = prepare(request.config)
    index = torch.arange(400)
    whole = fast.render(inp, index, 20, threads=1)
    split = torch.cat([fast.render(inp, index[a:a + 7], 20, threads=3)
                       for a in range(0, 400, 7)])
    assert torch.equal(whole, split)
    assert torch.equal(fast.render(inp, 400, 20), whole)  # a whole frame, no index list


def test_gradients_take_the_fused_adjoint_for_every_option():
    for extra in ("", "-round_xtal -curved_det 1", "-oversample_omega -detector_thick 0.1"):
        cfg = _request(f"-detpixels 8 {extra}").config
        distance = torch.tensor(cfg.detector.distance, dtype=torch.float64, requires_grad=True)
        cfg = dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector,
                                                                    distance=distance))
        assert engines.choose(prepare(cfg)) == "fast"
        image = simulate(cfg, engine="auto").image
        image.sum().backward()
        assert distance.grad is not None and torch.isfinite(distance.grad)


def test_auto_takes_the_fused_engine_for_every_render_without_a_gradient():
    for extra in ("-detpixels 1", "-detpixels 1024", "-detpixels 8 -round_xtal -curved_det 1"):
        setup = prepare(_request(extra).config)
        assert engines.choose(setup) == "fast"
        assert engines.choose(setup, engine="eager") == "eager"


def test_trace_of_a_fast_rendered_pixel_equals_it_within_rounding(tmp_path, monkeypatch):
    """Traces run the eager kernel; on a fast-path image they agree to float rounding
    (measured 3e-15 relative here; the bound allows for other CPUs' libm)."""
    from nanobragg.diagnostics.taps import pixel_taps

    monkeypatch.chdir(tmp_path)
    argv = shlex.split(f"{BASE} {CONFIGS['oversample_mosaic_phi']}")
    image = simulate(build_request(argv).config, engine="fast").image
    data = pixel_taps(argv, [(3, 4), (10, 17)], dtype="float64", device="cpu")
    for entry in data["pixels"]:
        traced = entry["intensity"]["normalized_intensity"]
        pixel = float(image[entry["slow"], entry["fast"]])
        assert abs(traced - pixel) <= 1e-12 * abs(pixel)


def test_kernel_is_built_once_into_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBRAGG_CACHE_DIR", str(tmp_path))
    assert build.load(build=False) is None  # not built there yet, and not compiled
    assert build.load() is not None
    assert list(tmp_path.glob("*.so")) == [build.library_path(build.compiler())]
    assert build.library_path(build.compiler()).parent == tmp_path
