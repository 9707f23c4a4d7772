"""Optional packages (the ``[io]`` and ``[models]`` extras), imported only when needed."""

from __future__ import annotations

import importlib
from types import ModuleType

from nanobragg.errors import InputError

#: Python module -> pip extra that installs it.
EXTRA = {"h5py": "io", "hdf5plugin": "io", "fabio": "io", "PIL": "io", "gemmi": "models"}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a one-line InputError naming the extra to install.

    Args:
        module: importable name, e.g. ``"h5py"``.
        purpose: what needs it, e.g. ``"-nexusfile"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRA.get(module, "io")
        raise InputError(f"{purpose}: needs the Python package '{module}', which is not "
                         f"installed (pip install 'nanobragg[{extra}]')") from exc
