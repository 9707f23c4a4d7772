"""The render engines and what each supports: one table, read by every caller.

Three engines render an image:

* ``"eager"``: the tensor kernel (:mod:`nanobragg.render.kernel`), the reference; it renders
  everything, on any device, with gradients.
* ``"fast"``: the fused C kernel (:mod:`nanobragg.native.kernel`), CPU only, whole
  pixels; gradients through its compiled adjoint (:mod:`nanobragg.native.adjoint`), first
  derivatives only.
* ``"triton"``: the same fused kernel and adjoint written in Triton
  (:mod:`nanobragg.native.triton_kernel`, :mod:`nanobragg.native.triton_adjoint`) for CUDA
  tensors (the ``[gpu]`` extra); with ``TRITON_INTERPRET=1`` it runs on CPU tensors
  (slowly: that is how it is tested without a GPU).

``"auto"`` picks the fused kernel for every render it applies to: on the CPU the C one
when a C compiler is there (the library is built once per machine, about five seconds),
on CUDA the Triton one when Triton is installed, else the eager one. What an engine
supports is a table over every field of :class:`~nanobragg.models.sampling.Sampling`
(:data:`SAMPLING_SUPPORT`) and over the
features of the tensor models (:data:`FEATURE_SUPPORT`): for each engine a check that
returns why it cannot render a value, or None. A Sampling field missing from the table
is a failing test, so a new option has to say which engine renders it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import torch

from ..errors import InputError
from ..models.setup import Setup, requires_grad
from ..physics.lattice import SHAPES
from ..physics.structure_factors import LOOKUPS
from ..physics.vectors import value_of

#: The engines by name, and the names ``engine=`` accepts.
ENGINES = ("eager", "fast", "triton")
#: The fused engines (one kernel per pixel list, with a compiled adjoint).
FUSED = ("fast", "triton")
CHOICES = (*ENGINES, "auto")

#: ``check(value) -> reason it is not supported, or None``.
Check = Callable[[Any], "str | None"]


def everything(value: Any) -> str | None:
    """The check of a value every engine renders."""
    return None


def only(allowed: tuple, why: str) -> Check:
    """A check that accepts the values in ``allowed`` and otherwise says ``why``."""
    def check(value: Any) -> str | None:
        return None if value in allowed else why
    return check


def _fused(fast: Check) -> dict[str, Check]:
    """The checks of one Sampling field: the eager engine renders every value, the two
    fused ones (C and Triton) the same values."""
    return {"eager": everything, "fast": fast, "triton": fast}


#: Per Sampling field, per engine: the check of its value.
SAMPLING_SUPPORT: dict[str, dict[str, Check]] = {
    "oversample": _fused(everything),
    "steps": _fused(everything),
    "shape": _fused(only(tuple(SHAPES), "knows no such shape")),
    "lookup": _fused(only(tuple(LOOKUPS), "knows no such lookup")),
    "dtype": _fused(only((torch.float32, torch.float64), "works in float32 or float64")),
    "c_formula": _fused(everything),
    "thick": _fused(everything),
    "curved": _fused(everything),
    "point_pixel": _fused(everything),
    "nopolar": _fused(everything),
    "water": _fused(everything),
    "dmin": _fused(everything),
    "oversample_thick": _fused(everything),
    "oversample_polar": _fused(everything),
    "oversample_omega": _fused(everything),
    "subpixels": _fused(only((None,), "renders whole pixels (no sub-pixel ranges)")),
    "first_layer": _fused(everything),
}


def _device(setup: Setup) -> str:
    return setup.device.type


def _gradient(setup: Setup) -> bool:
    """Whether the render is to carry a gradient (first derivatives only on the fused
    engines; second derivatives through them are an error that names the eager engine)."""
    return torch.is_grad_enabled() and requires_grad(setup)


def _triton_device(device: str) -> str | None:
    """The check of the Triton engine's device: CUDA, or the CPU under TRITON_INTERPRET=1."""
    if device == "cuda" or (device == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"):
        return None
    return "runs on CUDA (or on the CPU under TRITON_INTERPRET=1)"


def _panels(setup: Setup) -> bool:
    """Whether the detector is panels stacked into one model ((panels, 3) frames)."""
    return setup.detector.pix0.dim() > 1


def _cells(setup: Setup) -> tuple[float, ...]:
    return tuple(value_of(n) for n in setup.crystal.N)


#: Per model feature: how to read it from a setup, and per engine the check of its value.
FEATURE_SUPPORT: dict[str, tuple[Callable[[Setup], Any], dict[str, Check]]] = {
    "device": (_device, {"eager": everything,
                         "fast": only(("cpu",), "runs on the CPU only"),
                         "triton": _triton_device}),
    "gradient": (_gradient, {"eager": everything, "fast": everything, "triton": everything}),
    "panels": (_panels, {"eager": everything, "fast": everything, "triton": everything}),
    "N": (_cells, {"eager": everything, "fast": everything, "triton": everything}),
}


def check_name(engine: str) -> str:
    """``engine`` itself if it is one of :data:`CHOICES`.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if engine not in CHOICES:
        raise ValueError(f"engine: unknown engine {engine!r}; known: {', '.join(CHOICES)}")
    return engine


def reasons(engine: str, setup: Setup) -> list[str]:
    """Why ``engine`` cannot render ``setup`` (empty: it can), one phrase per cause."""
    out = []
    for name, checks in SAMPLING_SUPPORT.items():
        why = checks[engine](getattr(setup.sampling, name))
        if why is not None:
            out.append(f"{name}={getattr(setup.sampling, name)!r}: {why}")
    for name, (read, checks) in FEATURE_SUPPORT.items():
        value = read(setup)
        why = checks[engine](value)
        if why is not None:
            out.append(f"{name}={value!r}: {why}")
    return out


def supports(engine: str, setup: Setup) -> bool:
    """Whether ``engine`` can render ``setup``."""
    return not reasons(engine, setup)


def choose(setup: Setup, engine: str = "auto") -> str:
    """The engine that renders ``setup``: ``"eager"``, ``"fast"`` or ``"triton"``.

    Args:
        setup: the models.
        engine: ``"auto"`` (the fused kernel wherever it applies and can run: C on the
            CPU, Triton on CUDA; else the eager one), ``"fast"``, ``"triton"`` or
            ``"eager"``.

    Raises:
        ValueError: an unknown engine name.
        InputError: a fused engine for a render it cannot do, or that cannot run here (no
            C compiler, no Triton); the message says why.
    """
    check_name(engine)
    if engine == "eager":
        return "eager"
    if engine == "auto":
        fused = "triton" if setup.device.type == "cuda" else "fast"
        return fused if supports(fused, setup) and _available(fused) else "eager"
    why = reasons(engine, setup)
    if why:
        raise InputError(f"engine '{engine}' cannot render this: " + "; ".join(why)
                         + " (use engine 'eager' or 'auto')")
    if not _available(engine):
        raise InputError(MISSING[engine] + " (use engine 'eager' or 'auto')")
    return engine


#: Why a fused engine cannot run on this machine.
MISSING = {
    "fast": "engine 'fast': the fused kernel could not be built (no C compiler found; set $CC)",
    "triton": "engine 'triton' needs Triton: pip install 'nanobragg[gpu]'",
}


def _available(engine: str) -> bool:
    """Whether a fused engine can run here: the C library is built or can be built now;
    Triton is installed."""
    if engine == "triton":
        return importlib.util.find_spec("triton") is not None
    from ..native import build

    return build.load() is not None
