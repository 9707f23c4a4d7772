"""The Triton engine (forward and adjoint) against the eager reference.

Without a GPU the kernels run under ``TRITON_INTERPRET=1`` (numpy-backed, on CPU
tensors), which this module sets before Triton is imported; the scenes are small because
the interpreter takes milliseconds per operation. Images: float64 within 1e-12 of the
maximum (measured 3e-16; 7e-14 with sensor layers, whose exp is numpy's), float32 within
1e-5. Gradients: float64 within 1e-9 of each tensor's largest (measured 1e-15). The tests
marked ``gpu`` run the compiled kernels on CUDA (``TRITON_INTERPRET`` unset) and are
skipped without one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TRITON_INTERPRET", "0" if torch.cuda.is_available() else "1")
pytest.importorskip("triton")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_fused_adjoint import (  # noqa: E402
    SENSOR,
    _close,
    _gradients,
    _leaf_setup,
    _stacked_panels,
)

from nanobragg.errors import InputError  # noqa: E402
from nanobragg.render import engines  # noqa: E402
from nanobragg.render.simulate import render_eager, render_fast, simulate  # noqa: E402

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
interpreted = pytest.mark.skipif(not INTERPRETED, reason="TRITON_INTERPRET is not 1")
_no_gpu = pytest.mark.skipif(INTERPRETED or not torch.cuda.is_available(), reason="no CUDA")


def gpu(test):
    """A test of the compiled kernels on CUDA: marked ``gpu``, skipped without CUDA."""
    return pytest.mark.gpu(_no_gpu(test))

#: A small scene (16 pixels, 2 sources, 2 phi steps x 2 domains) and the options on top.
SMALL = "-detpixels 4 -oversample 1 -mosaic_dom 2 -dispsteps 1"
OPTIONS = ["", "-water 50 -nopolar", "-dmin 2.5 -point_pixel", "-Na 1 -Nb 3 -Nc 4",
           "-round_xtal -fudge 1.3", "-gauss_xtal -fudge 0.8", "-tophat_spots -fudge 2",
           "-round_xtal -N 1", SENSOR, "-curved_det -pixel 2",
           "-interpolate -detpixels 3 -phisteps 1 -hdivsteps 1 -Xbeam 1 -Ybeam 2"]
RUNNING = ["-oversample_omega -oversample_polar", f"{SENSOR} -oversample_thick",
           f"{SENSOR} -oversample_thick -oversample_polar -oversample_omega -water 20"]
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def _worst(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max())


@interpreted
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("extra", OPTIONS + RUNNING)
def test_the_triton_image_equals_the_eager_one(extra, dtype):
    config, setup, _, _ = _leaf_setup(f"{SMALL} {extra}", dtype)
    with torch.no_grad():
        eager = simulate(config, setup=setup, engine="eager").image
        fused = simulate(config, setup=setup, engine="triton").image
    assert eager.abs().max() > 0
    assert _worst(fused, eager) <= TOL[dtype]


@interpreted
@pytest.mark.parametrize("extra", OPTIONS + RUNNING)
def test_every_tensor_gets_the_eager_gradient_through_triton(extra):
    config, setup, names, leaves = _leaf_setup(f"{SMALL} {extra}", unread=())
    assert engines.choose(setup, "triton") == "triton"
    eager = _gradients(lambda: simulate(config, setup=setup, engine="eager").image, leaves)
    fused = _gradients(lambda: simulate(config, setup=setup, engine="triton").image, leaves)
    _close(fused[0], eager[0], "image")
    for name, a, b in zip(names, fused[1], eager[1]):
        _close(a, b, str(name))


@interpreted
def test_stacked_panels_through_triton():
    setup, names, leaves = _stacked_panels()
    keep = torch.ones((3, setup.detector.spixels, setup.detector.fpixels), dtype=torch.bool)
    eager = _gradients(lambda: render_eager(setup, keep)[0], leaves)
    fused = _gradients(lambda: render_fast(setup, keep, backend="triton")[0], leaves)
    _close(fused[0], eager[0], "image")
    for name, a, b in zip(names, fused[1], eager[1]):
        _close(a, b, str(name))


@interpreted
def test_tricubic_interpolation_stops_where_the_c_kernel_stops():
    config, setup, _, _ = _leaf_setup("-interpolate -detpixels 24 -Xbeam 1 -Ybeam 9 "
                                      "-oversample 1 -mosaic_dom 1 -phisteps 1 -hdivsteps 1 "
                                      "-dispsteps 1")
    with torch.no_grad():
        c = simulate(config, setup=setup, engine="fast")
        t = simulate(config, setup=setup, engine="triton")
    assert 0 < c.interpolation_stop < 24 * 24 - 1
    assert t.interpolation_stop == c.interpolation_stop
    assert _worst(t.image, c.image) <= 1e-12


@interpreted
def test_shots_in_one_launch_have_the_bits_of_each_alone():
    from nanobragg.native import triton_kernel

    setups = [_leaf_setup(f"{SMALL} -misset {a} 20 30 -lambda {w}")[1]
              for a, w in ((10, 1.2), (40, 1.1), (70, 1.3))]
    with torch.no_grad():
        together = triton_kernel.render_shots(setups, 16, 4)
        alone = [triton_kernel.render_frame(s, 16, 4)[0] for s in setups]
    for k in range(3):
        assert torch.equal(together[k], alone[k])
    assert not torch.equal(together[0], together[1])


@interpreted
def test_a_data_set_batch_takes_one_triton_launch(monkeypatch):
    import importlib.util

    from nanobragg.dataset import render as dataset_render
    from nanobragg.dataset.description import parse_description
    from nanobragg.native import triton_kernel

    path = Path(__file__).resolve().parents[1] / "dataset" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dataset_documents", path)
    documents = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(documents)
    desc = parse_description(documents.small_document(pixels=8, shots=3,
                                                      orientation="random"))
    alone = dataset_render.render_shots(desc, [0, 1, 2], batch=1).images
    launches = []
    real = triton_kernel.render_shots

    def counted(setups, *args):
        launches.append(len(setups))
        return real(setups, *args)

    monkeypatch.setattr(triton_kernel, "render_shots", counted)
    monkeypatch.setattr(engines, "choose", lambda setup, engine="auto": "triton")
    together = dataset_render.render_shots(desc, [0, 1, 2], batch=3).images
    assert launches == [3]
    assert float(abs(together - alone).max()) <= 1e-5 * float(abs(alone).max())


@interpreted
def test_a_double_backward_through_triton_names_the_eager_engine():
    config, setup, _, leaves = _leaf_setup(SMALL)
    image = simulate(config, setup=setup, engine="triton").image
    with pytest.raises(RuntimeError, match="engine='eager'"):
        torch.autograd.grad(image.sum(), leaves[0], create_graph=True)


def test_triton_on_a_cpu_without_the_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    _, setup, _, _ = _leaf_setup(SMALL)
    with pytest.raises(InputError, match="runs on CUDA"):
        engines.choose(setup, "triton")
    assert engines.choose(setup) == "fast"


@gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("extra", OPTIONS + RUNNING)
def test_the_gpu_image_equals_the_cpu_engine(extra, dtype):
    config = _leaf_setup(extra)[0]
    with torch.no_grad():
        cpu = simulate(config, dtype=dtype, engine="fast").image
        cuda = simulate(config, dtype=dtype, device="cuda").image
    assert _worst(cuda.cpu(), cpu) <= TOL[dtype]


@gpu
@pytest.mark.parametrize("extra", OPTIONS + RUNNING)
def test_gpu_gradients_equal_the_cpu_engine(extra):
    config, setup, names, leaves = _leaf_setup(extra, unread=())
    cpu = _gradients(lambda: simulate(config, setup=setup, engine="fast").image, leaves)
    config, setup, names, leaves = _leaf_setup(extra, unread=(), device="cuda")
    assert engines.choose(setup) == "triton"
    cuda = _gradients(lambda: simulate(config, setup=setup).image, leaves)
    _close(cuda[0].cpu(), cpu[0], "image")
    for name, a, b in zip(names, cuda[1], cpu[1]):
        _close(None if a is None else a.cpu(), b, str(name))


@pytest.mark.slow
def test_the_kernels_compile_for_a_cuda_gpu():
    """Triton's compiler (not its interpreter) accepts one kernel of each kind, for sm_90,
    on this machine without a GPU (benchmarks/triton_compile_check.py, a subprocess: the
    kernels of this process are interpreted)."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "triton_compile_check.py"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "compiled 5 kernels for sm_90" in done.stdout


def _golden_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "parity" / "test_golden.py"
    spec = importlib.util.spec_from_file_location("golden_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_GOLDEN = _golden_module()
#: The quick golden cases.
GOLDEN_CASES = [(_GOLDEN.GOLDEN if name in _GOLDEN.CASES else _GOLDEN.EXTRA) / name
                for name, slow in {**_GOLDEN.CASES, **_GOLDEN.EXTRA_CASES}.items() if not slow]


def _interpolated(case: Path) -> bool:
    """Whether the case interpolates F (its pixels then depend on the whole image: the
    interpolation stops at the first pixel of the image that leaves the grid)."""
    from nanobragg.commandline.to_config import build_request
    from nanobragg.models.sampling import interpolation_on

    args = (case / "args.txt").read_text().split()
    crystal = build_request(args, cwd=case).config.crystal
    return interpolation_on(crystal.interpolate, crystal.N, "-hkl" in args)


@interpreted
@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda case: case.name)
def test_golden_pixels_through_the_cli_on_triton(case, tmp_path, monkeypatch, capsys):
    """The 3x3 pixels around each quick golden case's brightest pixel, rendered by the
    command line with -engine triton (float64, -roi around them): within one float32 ulp
    of the C's float image (both are float64 sums written as float32; the Triton kernel
    rounds differently from the C in the last bits of the double, measured 1e-15)."""
    import json

    import numpy as np

    if not case.is_dir():
        _GOLDEN._missing(case)
    if _interpolated(case):
        pytest.skip("tricubic interpolation: a window's pixels depend on the whole image "
                    "(the stop is tested against the C engine above)")
    meta = json.loads((case / "case.json").read_text())
    ref, window = _GOLDEN._reference_float(case, meta)
    det = meta["detector"]
    full = np.zeros((det["slow_pixels"], det["fast_pixels"]), np.float32)
    full[window] = ref
    slow, fast = np.unravel_index(int(np.argmax(full)), full.shape)
    f0, f1 = max(fast - 1, 0), min(fast + 1, full.shape[1] - 1)
    s0, s1 = max(slow - 1, 0), min(slow + 1, full.shape[0] - 1)
    from nanobragg.cli.main import run

    monkeypatch.setattr(_GOLDEN, "run", lambda args: run(
        args + ["-roi", str(f0), str(f1), str(s0), str(s1)]))
    _GOLDEN._run_case(case, "float64", tmp_path, monkeypatch, capsys, "triton")
    ours = np.fromfile(tmp_path / "float.bin", "<f4").reshape(full.shape)
    c = full[s0:s1 + 1, f0:f1 + 1].astype(np.float64)
    mine = ours[s0:s1 + 1, f0:f1 + 1].astype(np.float64)
    assert c.max() > 0
    assert np.all(np.abs(mine - c) <= 2.0 ** -23 * np.abs(c)), (mine, c)
