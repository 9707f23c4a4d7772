"""The render engines and what each supports: one table, read by every caller.

Two engines render an image:

* ``"eager"``: the tensor kernel (:mod:`nanobragg.render.kernel`), the reference; it renders
  everything, on any device, with gradients.
* ``"fast"``: the fused C kernel (:mod:`nanobragg.native.kernel`), CPU only, whole
  pixels; gradients through its compiled adjoint (:mod:`nanobragg.native.adjoint`), first
  derivatives only.

``"auto"`` picks the fused kernel for every render it applies to (every render on the
CPU, with or without a gradient) when a C compiler is there (the library is built once per machine,
about five seconds), else the eager one. What an engine supports is a table over every field of
:class:`~nanobragg.models.sampling.Sampling` (:data:`SAMPLING_SUPPORT`) and over the
features of the tensor models (:data:`FEATURE_SUPPORT`): for each engine a check that
returns why it cannot render a value, or None. A Sampling field missing from the table
is a failing test, so a new option has to say which engine renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import InputError
from ..models.setup import Setup, requires_grad
from ..physics.lattice import SHAPES
from ..physics.structure_factors import LOOKUPS
from ..physics.vectors import value_of

#: The engines by name, and the names ``engine=`` accepts.
ENGINES = ("eager", "fast")
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


#: Per Sampling field, per engine: the check of its value.
SAMPLING_SUPPORT: dict[str, dict[str, Check]] = {
    "oversample": {"eager": everything, "fast": everything},
    "steps": {"eager": everything, "fast": everything},
    "shape": {"eager": everything, "fast": only(tuple(SHAPES), "knows no such shape")},
    "lookup": {"eager": everything, "fast": only(tuple(LOOKUPS), "knows no such lookup")},
    "dtype": {"eager": everything,
              "fast": only((torch.float32, torch.float64), "works in float32 or float64")},
    "c_formula": {"eager": everything, "fast": everything},
    "thick": {"eager": everything, "fast": everything},
    "curved": {"eager": everything, "fast": everything},
    "point_pixel": {"eager": everything, "fast": everything},
    "nopolar": {"eager": everything, "fast": everything},
    "water": {"eager": everything, "fast": everything},
    "dmin": {"eager": everything, "fast": everything},
    "oversample_thick": {"eager": everything, "fast": everything},
    "oversample_polar": {"eager": everything, "fast": everything},
    "oversample_omega": {"eager": everything, "fast": everything},
    "subpixels": {"eager": everything,
                  "fast": only((None,), "renders whole pixels (no sub-pixel ranges)")},
    "first_layer": {"eager": everything, "fast": everything},
}


def _device(setup: Setup) -> str:
    return setup.device.type


def _gradient(setup: Setup) -> bool:
    """Whether the render is to carry a gradient (first derivatives only on ``"fast"``;
    second derivatives through it are an error that names the eager engine)."""
    return torch.is_grad_enabled() and requires_grad(setup)


def _panels(setup: Setup) -> bool:
    """Whether the detector is panels stacked into one model ((panels, 3) frames)."""
    return setup.detector.pix0.dim() > 1


def _cells(setup: Setup) -> tuple[float, ...]:
    return tuple(value_of(n) for n in setup.crystal.N)


#: Per model feature: how to read it from a setup, and per engine the check of its value.
FEATURE_SUPPORT: dict[str, tuple[Callable[[Setup], Any], dict[str, Check]]] = {
    "device": (_device, {"eager": everything,
                         "fast": only(("cpu",), "runs on the CPU only")}),
    "gradient": (_gradient, {"eager": everything, "fast": everything}),
    "panels": (_panels, {"eager": everything, "fast": everything}),
    "N": (_cells, {"eager": everything, "fast": everything}),
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
    """The engine that renders ``setup``: ``"eager"`` or ``"fast"``.

    Args:
        setup: the models.
        engine: ``"auto"`` (the fused kernel wherever it applies and can be built, else
            the eager one), ``"fast"`` or ``"eager"``.

    Raises:
        ValueError: an unknown engine name.
        InputError: ``"fast"`` for a render the fused kernel cannot do, or without a
            C compiler to build it (the message says why).
    """
    check_name(engine)
    if engine == "eager":
        return "eager"
    why = reasons("fast", setup)
    if engine == "auto":
        return "fast" if not why and _library_available() else "eager"
    if why:
        raise InputError("engine 'fast' cannot render this: " + "; ".join(why)
                         + " (use engine 'eager' or 'auto')")
    if not _library_available():
        raise InputError("engine 'fast': the fused kernel could not be built (no C compiler "
                         "found; set $CC) (use engine 'eager' or 'auto')")
    return "fast"


def _library_available() -> bool:
    """Whether the fused kernel's library is built or can be built now."""
    from ..native import build

    return build.load() is not None
