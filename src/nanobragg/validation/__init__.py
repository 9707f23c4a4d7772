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

from typing import Any

import torch

from ..errors import ConfigTypeError, InputError
from .checks import Check, _show, check_record, count

DTYPES = (torch.float32, torch.float64)

__all__ = ["DTYPES", "check_config", "check_run_options"]


def check_config(config: Any) -> None:
    """Check a SimulationConfig (see the module docstring).

    Raises:
        ConfigTypeError: a value of the wrong type (a TypeError).
        InputError: a value out of range or of the wrong length (a ValueError).
    """
    from ..config import SimulationConfig

    check_record(config, SimulationConfig, "", _fields())


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
    if not isinstance(engine, str):
        raise ConfigTypeError(f"engine must be a name (got {_show(engine)}); the names are "
                              f"in nanobragg.render.engines")
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


def _fields() -> dict[type, dict[str, Check]]:
    """Record type -> field -> check of every configuration record (built once)."""
    global _FIELDS
    if _FIELDS is None:
        from .. import config
        from .fields import field_checks

        _FIELDS = field_checks(config)
    return _FIELDS


_FIELDS: dict[type, dict[str, Check]] | None = None
