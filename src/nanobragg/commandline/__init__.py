"""The C program's command line as a library: flags -> :class:`SimulationConfig`.

``args`` reproduces how the C reads its arguments; ``to_config`` applies its fill-in and
precedence rules and reads the files the flags name. The ``nanoBragg`` program
(:mod:`nanobragg.cli`) and the diagnostics are built on these; neither is imported here.
"""

from __future__ import annotations

from pathlib import Path

from ..config import SimulationConfig


def from_command_line(argv: list[str], cwd: str | Path | None = None) -> SimulationConfig:
    """The simulation a nanoBragg command line asks for.

    Args:
        argv: C-style arguments without the program name, e.g.
            ``["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100"]``.
        cwd: folder that relative file names refer to (default: the current one).

    Returns:
        The validated configuration. The rest of the request (output files, ``-hkl``
        and mask, runtime options) is :func:`nanobragg.commandline.to_config.build_request`.

    Raises:
        InputError: bad options, unreadable files or values the simulation cannot use.
    """
    from .to_config import build_request

    return build_request(list(argv), None if cwd is None else Path(cwd)).config
