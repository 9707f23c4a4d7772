"""The fused engine renders every option of the eager kernel: both engines on the same
inputs, images compared (float64 to 1e-12 of the maximum, float32 to 1e-5).

Each case switches one option on top of a generic scene (tilted detector, misset
crystal, polarization), so a wrong or missing term of the fused kernel for that option
changes the image far beyond the tolerance."""

from __future__ import annotations

import dataclasses
import math
import shlex

import pytest
import torch

from nanobragg.commandline.to_config import build_request
from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.models.panels import panel_from_detector
from nanobragg.models.setup import with_lookup
from nanobragg.native import build
from nanobragg.native import kernel as fast_module
from nanobragg.physics.structure_factors import FTable
from nanobragg.render import engines
from nanobragg.render.panels import simulate_panels
from nanobragg.render.simulate import prepare, simulate

pytestmark = pytest.mark.skipif(build.load() is None, reason="no C compiler for the kernel")

BASE = ("-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 -pixel 0.4 "
        "-detpixels 24 -misset 10 20 30 -detector_rotx 4 -detector_roty -3 -polar 0.8")
#: Measured largest |fast - eager| / max over these cases: float64 2e-14 (the fused
#: kernel's sin(pi x) is a polynomial of the reduced argument, the eager kernel takes
#: libm's sin), float32 ~1e-6.
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}

CASES = {
    "plain": "",
    "round": "-round_xtal",
    "gauss": "-gauss_xtal",
    "tophat": "-tophat_spots -fudge 3",
    "N1": "-N 1",
    "axes_1_3_6": "-Na 1 -Nb 3 -Nc 6",
    "thick_layers": "-detector_thick 450 -detector_abs 300 -thicksteps 3",
    "curved": "-curved_det 1",
    "point_pixel": "-point_pixel",
    "nopolar": "-nopolar",
    "unpolarized": "-polar 0",
    "water": "-water 150",
    "dmin": "-dmin 2.2",
    "oversample_omega": "-oversample 2 -oversample_omega",
    "oversample_polar": "-oversample 2 -oversample_polar -water 50",
    "oversample_thick": "-oversample 2 -oversample_thick -detector_thick 300 -thicksteps 2",
    "oversample_thick_flat": "-oversample_thick",
    "tophat_products": "-tophat_spots -fudge 3 -oversample 2 -oversample_omega "
                       "-oversample_polar",
    "all_products": "-oversample 2 -oversample_omega -oversample_polar -oversample_thick "
                    "-detector_thick 200 -thicksteps 2 -dmin 2.5 -water 20",
    "sources_mosaic_phi": "-hdivrange 0.4 -hdivsteps 3 -dispersion 0.1 -dispsteps 2 "
                          "-mosaic 0.5 -mosaic_dom 3 -phi 1 -osc 2 -phisteps 2 -round_xtal",
    "roi": "-roi 3 20 5 17 -gauss_xtal",
}


def _config(extra: str, first: str = ""):
    return build_request(shlex.split(f"{first} {BASE} {extra}")).config


def _table(dtype=torch.float64, size=(9, 11, 13), mins=(-4, -5, -6)) -> FTable:
    g = torch.Generator().manual_seed(1)
    values = torch.rand(size, generator=g, dtype=torch.float64) * 100 + 10
    return FTable(values.to(dtype), mins, 7.0, True)


def _worst(fast: torch.Tensor, eager: torch.Tensor) -> float:
    assert fast.dtype == eager.dtype and torch.isfinite(fast).all()
    peak = float(eager.abs().max())
    if peak == 0:  # -oversample_thick without a sensor: the C's blank image
        return float(fast.abs().max())
    return float((fast.double() - eager.double()).abs().max()) / peak


def _compare(config, dtype, table=None) -> tuple:
    setup = prepare(config, table, dtype)
    assert engines.supports("fast", setup), engines.reasons("fast", setup)
    eager = simulate(config, table, dtype=dtype, engine="eager")
    fast = simulate(config, table, dtype=dtype, engine="fast")
    worst = _worst(fast.image, eager.image)
    print(f"worst {dtype} {worst:.3g}")
    assert worst <= TOL[dtype], f"{dtype}: {worst:g}"
    return eager, fast


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_engine_matches_eager(name, dtype):
    first, extra = ("-curved_det 1", "") if name == "curved" else ("", CASES[name])
    config = _config(extra, first)
    _compare(config, dtype)
    if name in ("plain", "round", "thick_layers", "oversample_polar"):
        _compare(config, dtype, _table())


@pytest.mark.parametrize("N", [(3.5, 4.25, 2.7), (0.6, 1.0, 5.0), (1.3, 0.9, 2.0)])
@pytest.mark.parametrize("c_formula", [True, False])
def test_any_number_of_cells(N, c_formula):
    """Non-whole N and N <= 1 (an axis with N <= 1 has factor 1), with and without the
    C's direct formula (which for non-whole N differs from the reduced one)."""
    config = _config("")
    crystal = dataclasses.replace(config.crystal, N=N, c_rounding=c_formula)
    config = dataclasses.replace(config, crystal=crystal)
    for dtype in (torch.float64, torch.float32):
        _compare(config, dtype)


def _tricubic(extra: str = "", size=(9, 11, 13), mins=(-4, -5, -6)):
    config = _config(f"-interpolate -N 2 {extra}")
    return config, _table(torch.float64, size, mins)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tricubic_interpolation_stops_where_the_eager_kernel_stops(dtype):
    config, table = _tricubic("-distance 150 -Xbeam 0.5 -Ybeam 0.5")
    eager, fast = _compare(config, dtype, table)
    assert eager.interpolation_stop == 23  # the end of the first row
    assert fast.interpolation_stop == eager.interpolation_stop
    # the nearest reflection everywhere gives another image: the comparison bites
    nearest = fast_module.render(with_lookup(prepare(config, table, dtype), "nearest"), 576, 24)
    assert _worst(nearest, eager.image.reshape(-1)) > 1e-3


@pytest.mark.parametrize("shape", ["-square_xtal", "-tophat_spots -N 20"])
@pytest.mark.parametrize("mins", [(-4, -5, -6), (-2, -2, -2), (-40, -40, -40)])
def test_tricubic_stop_at_either_edge_of_the_grid(shape, mins):
    """Grids whose lower or upper edge is met first; the top-hat's zeros are passed over
    (the C tests the range only where F_latt != 0)."""
    config, table = _tricubic(f"{shape} -distance 150 -Xbeam 0.5 -Ybeam 0.5",
                              size=(44, 44, 44), mins=mins)
    eager, fast = _compare(config, torch.float64, table)
    assert fast.interpolation_stop == eager.interpolation_stop
    # measured: square stops at 239, 0, 7; the top-hat only on the (-2, -2, -2) grid
    assert (eager.interpolation_stop is None) == ("tophat" in shape and mins != (-2, -2, -2))


def test_tricubic_without_a_stop_and_with_a_mask_and_water():
    config, table = _tricubic("-distance 300", size=(41, 41, 41), mins=(-20, -20, -20))
    eager, fast = _compare(config, torch.float64, table)
    assert eager.interpolation_stop is None and fast.interpolation_stop is None
    config, table = _tricubic("-roi 2 21 3 22 -water 30 -dmin 2.4")
    eager, fast = _compare(config, torch.float64, table)
    assert fast.interpolation_stop == eager.interpolation_stop is not None


def test_tricubic_stop_is_thread_and_chunk_independent():
    config, table = _tricubic()
    setup = prepare(config, table)
    whole, stop = fast_module.render_frame(setup, 576, 24, threads=1)
    index = torch.arange(576)
    split, stop_split = fast_module.render_frame(setup, index, 24, threads=5)
    assert stop is not None and stop == stop_split and torch.equal(whole, split)


def test_sources_from_a_file_with_weights(tmp_path):
    path = tmp_path / "sources.txt"
    path.write_text("0 0 10 1.0 1.2e-10\n0.02 0.01 10 0.3 1.1e-10\n-0.01 0.03 10 2.0 1.3e-10\n")
    config = _config(f"-sourcefile {path}")
    assert len(config.beam.sources) == 3
    for dtype in (torch.float64, torch.float32):
        _compare(config, dtype)


def _panel_config():
    cfg = SimulationConfig(
        detector=DetectorConfig(fpixels=12, spixels=10, distance=0.05, pixel_size=1e-4,
                                oversample=2, thickness=1e-4, thicksteps=2),
        crystal=CrystalConfig(cell=(50e-10, 60e-10, 70e-10, math.pi / 2, 1.7, math.pi / 2),
                              N=(5, 5, 5), default_F=100, misset=(0.1, 0.2, 0.3),
                              shape="gauss"),
        beam=BeamConfig(wavelength=1e-10, polarization=0.5),
    )
    base = panel_from_detector(prepare(cfg).detector)
    moved = dataclasses.replace(base, origin=(0.06, 0.001, -0.002), rotation=(0.0, 0.1, 0.2))
    tilted = dataclasses.replace(base, normal=None, rotation=(0.05, -0.03, 0.0))
    return dataclasses.replace(cfg, detector=dataclasses.replace(
        cfg.detector, panels=(base, moved, tilted)))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stacked_panels_in_one_fused_pass(dtype, monkeypatch):
    from nanobragg.render import panels as multipanel

    cfg = _panel_config()
    eager = simulate_panels(cfg, dtype=dtype, engine="eager").image
    monkeypatch.setattr(multipanel, "simulate", None)  # one pass: simulate is never called
    fast = simulate_panels(cfg, dtype=dtype, engine="fast").image
    assert fast.shape == (3, 10, 12)
    assert _worst(fast, eager) <= TOL[dtype]
    assert float(fast[1].max()) != float(fast[0].max())
