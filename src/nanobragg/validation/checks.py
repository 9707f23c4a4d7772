"""Checks of single values: numbers with units and ranges, counts, flags, choices, text,
sequences and nested records; each ``check(name, value)`` raises naming the field."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import ConfigTypeError, InputError

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


def record(kind: type, table: dict) -> Check:
    """A nested configuration record of type ``kind`` (checked field by field)."""

    def check(name: str, value: Any) -> None:
        check_record(value, kind, name, table)
    return check


def check_record(value: Any, kind: type, name: str, table: dict) -> None:
    """Check every declared field of the dataclass ``value`` (of type ``kind``) by
    ``table`` (record type -> field -> check)."""
    if not isinstance(value, kind):
        raise ConfigTypeError(f"{name or 'config'} must be a {kind.__name__} "
                              f"(got {_show(value)})")
    fields = table[kind]
    for item in dataclasses.fields(kind):
        where = f"{name}.{item.name}" if name else item.name
        fields[item.name](where, getattr(value, item.name))
