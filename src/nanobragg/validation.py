"""The one check of a configuration at the boundary of the library.

:func:`check_config` walks the declared fields of :class:`~nanobragg.config.SimulationConfig`
and its parts and checks each value's type, shape and range before any model is built.
A problem is a :class:`~nanobragg.errors.ConfigTypeError` (a TypeError) or an
:class:`~nanobragg.errors.InputError` (a ValueError) whose message names the field in
the configuration's own terms and units, e.g. ``detector.pixel_size must be > 0 (got
-0.0001 m)``. Numbers may be Python or numpy numbers or one-element tensors (also with
``requires_grad``); counts must be whole numbers; strings are never numbers.

:func:`check_run_options` does the same for the other arguments of ``simulate``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .errors import ConfigTypeError, InputError

#: The render engines of ``simulate(engine=...)`` (see nanobragg.fast.choose).
ENGINES = ("auto", "eager", "fast")
DTYPES = (torch.float32, torch.float64)

Check = Callable[[str, Any], None]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {str(value)[:40]}"


def _number(name: str, value: Any, unit: str) -> float:
    """The value as a float; ConfigTypeError unless it is one real number."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise ConfigTypeError(f"{name} must be one real number{unit and ' in ' + unit} "
                                  f"(got a tensor of shape {tuple(value.shape)})")
        return float(value.detach().reshape(()))
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigTypeError(f"{name} must be a number{unit and ' in ' + unit} "
                              f"(got {_show(value)})")
    return float(value)


def real(unit: str = "", low: float | None = None, strict: bool = False,
         optional: bool = False) -> Check:
    """A finite real number, optionally ``> low`` (strict) or ``>= low``."""

    def check(name: str, value: Any) -> None:
        if value is None and optional:
            return
        number = _number(name, value, unit)
        shown = f"{number:g}{' ' + unit if unit else ''}"
        if not math.isfinite(number):
            raise InputError(f"{name} must be a finite number (got {shown})")
        if low is not None and (number <= low if strict else number < low):
            raise InputError(f"{name} must be {'>' if strict else '>='} {low:g} (got {shown})")
    return check


def count(low: int = 0, optional: bool = False) -> Check:
    """A whole number (int, numpy integer or integer tensor of one element) >= low."""

    def check(name: str, value: Any) -> None:
        if value is None and optional:
            return
        whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if isinstance(value, torch.Tensor):
            if value.requires_grad:
                raise InputError(f"{name}: not a continuous input, it cannot take a "
                                 f"gradient")
            whole = value.numel() == 1 and not value.is_floating_point() \
                and value.dtype != torch.bool
        if not whole:
            raise ConfigTypeError(f"{name} must be a whole number (got {_show(value)})")
        if int(value) < low:
            raise InputError(f"{name} must be >= {low} (got {int(value)})")
    return check


def flag(optional: bool = False) -> Check:
    """True or False."""

    def check(name: str, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigTypeError(f"{name} must be True or False (got {_show(value)})")
    return check


def choice(options: tuple[str, ...]) -> Check:
    """One of the given strings."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise ConfigTypeError(f"{name} must be one of {', '.join(options)} "
                                  f"(got {_show(value)})")
        if value not in options:
            raise InputError(f"{name} must be one of {', '.join(options)} (got {value!r})")
    return check


def text() -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise ConfigTypeError(f"{name} must be a string (got {_show(value)})")
    return check


def sequence(length: int | tuple[int, int], item: Check, optional: bool = False,
             what: str = "values") -> Check:
    """A tuple/list/array/tensor of ``length`` entries (or a (min, max) range), each
    passing ``item``."""
    low, high = (length, length) if isinstance(length, int) else length

    def check(name: str, value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise ConfigTypeError(f"{name} must be {_count_text(low, high)} {what} "
                                  f"(got {_show(value)})")
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            raise ConfigTypeError(f"{name} must be {_count_text(low, high)} {what} "
                                  f"(got one number)")
        if not low <= len(value) <= high:
            raise InputError(f"{name} must be {_count_text(low, high)} {what} "
                             f"(got {len(value)})")
        for index, entry in enumerate(value):
            item(f"{name}[{index}]", entry)
    return check


def _count_text(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low} to {high}"


def record(kind: type) -> Check:
    """A nested configuration record of type ``kind`` (checked field by field)."""

    def check(name: str, value: Any) -> None:
        check_record(value, kind, name)
    return check


def check_record(value: Any, kind: type, name: str) -> None:
    """Check every declared field of the dataclass ``value`` (of type ``kind``)."""
    if not isinstance(value, kind):
        raise ConfigTypeError(f"{name or 'config'} must be a {kind.__name__} "
                              f"(got {_show(value)})")
    fields = _FIELDS[kind]
    for item in dataclasses.fields(kind):
        where = f"{name}.{item.name}" if name else item.name
        fields[item.name](where, getattr(value, item.name))


def check_config(config: Any) -> None:
    """Check a SimulationConfig (see the module docstring).

    Raises:
        ConfigTypeError: a value of the wrong type (a TypeError).
        InputError: a value out of range or of the wrong length (a ValueError).
    """
    from .config import SimulationConfig

    check_record(config, SimulationConfig, "")


def check_run_options(dtype: Any = torch.float64, engine: Any = "auto",
                      evaluations_per_chunk: Any = None, device: Any = "cpu") -> None:
    """Check the run arguments of ``simulate`` (dtype, engine, evaluations per chunk,
    device)."""
    _check_device(device)
    if not isinstance(dtype, torch.dtype):
        hint = f"; pass torch.{dtype}" if dtype in ("float32", "float64") else ""
        raise ConfigTypeError(f"dtype must be torch.float32 or torch.float64 "
                              f"(got {_show(dtype)}{hint})")
    if dtype not in DTYPES:
        raise InputError(f"dtype must be torch.float32 or torch.float64 (got {dtype})")
    choice(ENGINES)("engine", engine)
    count(1, optional=True)("evaluations_per_chunk", evaluations_per_chunk)


def _check_device(device: Any) -> None:
    """None, "auto", a torch.device or a name torch.device takes ("cpu", "cuda:1")."""
    if device is None or isinstance(device, torch.device) or device == "auto":
        return
    if not isinstance(device, str):
        raise ConfigTypeError(f"device must be 'cpu', 'cuda', 'auto' or a torch.device "
                              f"(got {_show(device)})")
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"device must be 'cpu', 'cuda', 'auto' or a torch.device "
                         f"(got {device!r})") from None


def _field_table() -> dict[type, dict[str, Check]]:
    """Field -> check of every configuration record (built on first use)."""
    from . import config as c
    from .validation_fields import field_checks

    return field_checks(c)


class _LazyFields(dict):
    def __missing__(self, kind: type) -> dict[str, Check]:
        self.update(_field_table())
        return dict.__getitem__(self, kind)


_FIELDS: dict[type, dict[str, Check]] = _LazyFields()
