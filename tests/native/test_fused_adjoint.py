"""Gradients through the fused engine equal the eager kernel's: torch.autograd.grad with
random cotangents for every differentiable entry of the parameter table, at a generic
point, on a Bragg peak, 1e-6 pixel from one and at the direct beam (float64, relative
1e-9); for every tensor the fused kernel reads on a larger scene; the same bits for any
thread count; a double backward is an error that names the eager engine."""

from __future__ import annotations

import dataclasses
import math
import shlex
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gradients"))
from gradient_scenes import (  # noqa: E402
    DIFFERENTIABLE,
    POINTS,
    config_of,
    scene,
    start_tensor,
    with_input,
)

from nanobragg.commandline.to_config import build_request  # noqa: E402
from nanobragg.config import (  # noqa: E402
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    SimulationConfig,
)
from nanobragg.models.panels import panel_from_detector, stack_panels  # noqa: E402
from nanobragg.models.setup import replace_fields, tensor_fields  # noqa: E402
from nanobragg.native import adjoint, build  # noqa: E402
from nanobragg.physics.structure_factors import FTable  # noqa: E402
from nanobragg.render import engines  # noqa: E402
from nanobragg.render.panels import panel_configs  # noqa: E402
from nanobragg.render.simulate import prepare, render_eager, render_fast, simulate  # noqa: E402

pytestmark = pytest.mark.skipif(build.load() is None, reason="no C compiler for the kernel")

#: Measured largest |fast - eager| / max|eager| over these checks: 2e-13 (the closed
#: forms against autograd's operator-by-operator derivatives).
REL = 1e-9


def _gradients(render, leaves, cotangent_seed=0):
    image = render()
    g = torch.Generator().manual_seed(cotangent_seed)
    v = (torch.rand(image.shape, generator=g, dtype=torch.float64) - 0.25).to(image.dtype)
    return image.detach(), torch.autograd.grad((image * v).sum(), leaves, allow_unused=True)


def _close(fast, eager, label):
    if eager is None:
        assert fast is None or not fast.abs().max(), label
        return
    scale = float(eager.abs().max())
    worst = float((fast - eager).abs().max())
    assert worst <= REL * scale or (scale == 0 and worst == 0), f"{label}: {worst:g} of {scale:g}"


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_every_parameter_gradient_equals_eager(name, point):
    values = scene(name, point)
    x = start_tensor(values, name)
    config = config_of(with_input(values, name, x))
    if not engines.supports("fast", prepare(config)):
        # options the adjoint lacks (a sensor, other shapes): auto takes the eager engine
        assert engines.choose(prepare(config)) == "eager"
        return
    results = {}
    for engine in ("eager", "fast"):
        x = start_tensor(values, name)

        def image(x=x, engine=engine):
            return simulate(config_of(with_input(values, name, x)), engine=engine).image

        results[engine] = _gradients(image, [x])
    _close(results["fast"][0], results["eager"][0], f"{name} {point} image")
    _close(results["fast"][1][0], results["eager"][1][0], f"{name} {point}")


ARGV = ("-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 -pixel 0.4 "
        "-detpixels 20 -misset 10 20 30 -detector_rotx 4 -polar 0.8 -oversample 2 "
        "-mosaic 0.5 -mosaic_dom 3 -hdivrange 0.3 -hdivsteps 2 -dispersion 0.05 "
        "-dispsteps 2 -phi 0 -osc 1 -phisteps 2")
#: Model tensors the square kernel on a flat detector does not read (no gradient).
UNREAD = ("recip_rows", "fudge", "thickstep", "mu", "distance", "beam", "phi")
SENSOR = "-detector_thick 0.3 -detector_abs 300 -detector_thicksteps 3"
#: Every option of the fused kernel beyond the base scene (square shape, nearest F from a
#: loaded table, flat detector of one panel, Kahn factor, no sensor).
OPTIONS = ["", "-water 50 -nopolar", "-dmin 2.5 -point_pixel",
           "-Na 1 -Nb 3 -Nc 4 -nointerpolate", "-Xbeam 2 -Ybeam 3",
           "-round_xtal -fudge 1.3", "-gauss_xtal -fudge 0.8", "-tophat_spots -fudge 2",
           "-round_xtal -N 1", SENSOR, f"{SENSOR} -round_xtal", "-curved_det -pixel 2",
           "-oversample_omega", "-oversample_polar", f"{SENSOR} -oversample_thick",
           f"{SENSOR} -oversample_thick -oversample_polar -oversample_omega -water 20",
           "-interpolate", "-interpolate -N 2 -detpixels 24 -Xbeam 1 -Ybeam 9",
           "-interpolate -gauss_xtal"]


def _leaf_setup(extra: str = "", dtype=torch.float64, unread=UNREAD, device="cpu"):
    config = build_request(shlex.split(f"{ARGV} {extra}")).config
    g = torch.Generator().manual_seed(1)
    values = torch.rand((17, 19, 21), generator=g, dtype=torch.float64) * 100 + 10
    setup = prepare(config, FTable(values, (-8, -9, -10), 7.0, True), dtype, device)
    leaves = {f: getattr(getattr(setup, f[0]), f[1]).detach().clone().requires_grad_(True)
              for f in tensor_fields(setup) if f[1] not in unread}
    setup = replace_fields(setup, leaves)
    table = setup.table.F.detach().clone().requires_grad_(True)
    setup = dataclasses.replace(setup, table=dataclasses.replace(setup.table, F=table))
    return config, setup, list(leaves) + ["F"], list(leaves.values()) + [table]


@pytest.mark.parametrize("extra", OPTIONS)
def test_every_tensor_the_kernel_reads_gets_the_eager_gradient(extra):
    config, setup, names, leaves = _leaf_setup(extra, unread=() if extra else UNREAD)
    assert engines.choose(setup) == "fast"
    eager = _gradients(lambda: simulate(config, setup=setup, engine="eager").image, leaves)
    fast = _gradients(lambda: simulate(config, setup=setup, engine="fast").image, leaves)
    _close(fast[0], eager[0], "image")
    for name, a, b in zip(names, fast[1], eager[1]):
        _close(a, b, str(name))
    if not extra:  # every input the kernel reads moves the image (odet only with layers)
        assert all(g is not None and g.abs().max() > 0 for n, g in zip(names, fast[1])
                   if n not in (("detector", "odet"), ("beam", "water_size")))


def test_float32_gradients_follow_float64():
    config, setup, names, leaves = _leaf_setup()
    single = dataclasses.replace(setup, sampling=dataclasses.replace(setup.sampling,
                                                                     dtype=torch.float32))
    exact = _gradients(lambda: simulate(config, setup=setup, engine="fast").image, leaves)
    rough = _gradients(lambda: simulate(config, setup=single, engine="fast").image, leaves)
    for name, a, b in zip(names, rough[1], exact[1]):
        if b is not None and b.abs().max() > 0:
            assert float((a.double() - b).abs().max()) <= 1e-4 * float(b.abs().max()), name


def test_the_backward_has_the_same_bits_for_any_thread_count():
    _, setup, _, _ = _leaf_setup()
    g = torch.rand(400, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    one = adjoint.adjoint(setup, 400, 20, g, with_table=True, threads=1)
    for threads in (2, 3, 7):
        assert torch.equal(adjoint.adjoint(setup, 400, 20, g, with_table=True,
                                           threads=threads), one)
    listed = adjoint.adjoint(setup, torch.arange(400), 20, g, with_table=True, threads=2)
    assert torch.equal(listed, one)


def test_a_double_backward_says_to_use_the_eager_engine():
    config, setup, _, leaves = _leaf_setup()
    image = simulate(config, setup=setup, engine="fast").image
    with pytest.raises(RuntimeError, match="engine='eager'"):
        torch.autograd.grad(image.sum(), leaves[0], create_graph=True)


def _stacked_panels(dtype=torch.float64):
    """Three panels (moved, tilted) of a gauss crystal with a two-layer sensor, stacked
    into one model, with every detector tensor a leaf."""
    cfg = SimulationConfig(
        detector=DetectorConfig(fpixels=9, spixels=7, distance=0.05, pixel_size=1e-4,
                                oversample=2, thickness=1e-4, thicksteps=2),
        crystal=CrystalConfig(cell=(50e-10, 60e-10, 70e-10, math.pi / 2, 1.7, math.pi / 2),
                              N=(5, 5, 5), default_F=100, misset=(0.1, 0.2, 0.3),
                              shape="gauss"),
        beam=BeamConfig(wavelength=1e-10, polarization=0.5))
    base = panel_from_detector(prepare(cfg).detector)
    moved = dataclasses.replace(base, origin=(0.06, 0.001, -0.002), rotation=(0.0, 0.1, 0.2))
    tilted = dataclasses.replace(base, normal=None, rotation=(0.05, -0.03, 0.0))
    cfg = dataclasses.replace(cfg, detector=dataclasses.replace(
        cfg.detector, panels=(base, moved, tilted)))
    setups = [prepare(c, None, dtype) for c in panel_configs(cfg)]
    stacked = dataclasses.replace(setups[0], detector=stack_panels([s.detector for s in setups]))
    fields = [("detector", n) for n in ("pix0", "fdet", "sdet", "odet", "pixel_size",
                                        "close_distance", "layer_offsets", "thickstep", "mu")]
    leaves = {f: getattr(stacked.detector, f[1]).detach().clone().requires_grad_(True)
              for f in fields}
    return replace_fields(stacked, leaves), list(leaves), list(leaves.values())


def test_stacked_panels_get_the_eager_gradient_per_panel():
    setup, names, leaves = _stacked_panels()
    keep = torch.ones((3, setup.detector.spixels, setup.detector.fpixels), dtype=torch.bool)
    eager = _gradients(lambda: render_eager(setup, keep)[0], leaves)
    fast = _gradients(lambda: render_fast(setup, keep)[0], leaves)
    _close(fast[0], eager[0], "image")
    for name, a, b in zip(names, fast[1], eager[1]):
        _close(a, b, str(name))
        assert a.shape == b.shape and a.abs().max() > 0, name
