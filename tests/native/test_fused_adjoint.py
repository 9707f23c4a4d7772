"""Gradients through the fused engine equal the eager kernel's: torch.autograd.grad with
random cotangents for every differentiable entry of the parameter table, at a generic
point, on a Bragg peak, 1e-6 pixel from one and at the direct beam (float64, relative
1e-9); for every tensor the fused kernel reads on a larger scene; the same bits for any
thread count; a double backward is an error that names the eager engine."""

from __future__ import annotations

import dataclasses
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
from nanobragg.models.setup import replace_fields, tensor_fields  # noqa: E402
from nanobragg.native import adjoint, build  # noqa: E402
from nanobragg.physics.structure_factors import FTable  # noqa: E402
from nanobragg.render import engines  # noqa: E402
from nanobragg.render.simulate import prepare, simulate  # noqa: E402

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


def _leaf_setup(extra: str = "", dtype=torch.float64):
    config = build_request(shlex.split(f"{ARGV} {extra}")).config
    g = torch.Generator().manual_seed(1)
    values = torch.rand((9, 11, 13), generator=g, dtype=torch.float64) * 100 + 10
    setup = prepare(config, FTable(values, (-4, -5, -6), 7.0, True), dtype)
    leaves = {f: getattr(getattr(setup, f[0]), f[1]).detach().clone().requires_grad_(True)
              for f in tensor_fields(setup) if f[1] not in UNREAD}
    setup = replace_fields(setup, leaves)
    table = setup.table.F.detach().clone().requires_grad_(True)
    setup = dataclasses.replace(setup, table=dataclasses.replace(setup.table, F=table))
    return config, setup, list(leaves) + ["F"], list(leaves.values()) + [table]


@pytest.mark.parametrize("extra", ["", "-water 50 -nopolar", "-dmin 2.5 -point_pixel",
                                   "-Na 1 -Nb 3 -Nc 4 -nointerpolate", "-Xbeam 2 -Ybeam 3"])
def test_every_tensor_the_kernel_reads_gets_the_eager_gradient(extra):
    config, setup, names, leaves = _leaf_setup(extra)
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


def test_gradients_with_options_the_adjoint_lacks_go_eager_or_fail_with_fast():
    config, setup, _, _ = _leaf_setup("-round_xtal")
    assert engines.choose(setup) == "eager"
    from nanobragg.errors import InputError

    with pytest.raises(InputError, match="no adjoint for shape='round'"):
        simulate(config, setup=setup, engine="fast")
