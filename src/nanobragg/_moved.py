"""Old module names kept importable for one release, each with a DeprecationWarning.

The package was arranged into layers (``render``, ``native``, ``products``, ``refine``);
code that imports a documented module by its old name keeps working, and is told the new one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module name -> new module name (documented names only; the aliases go in 0.3)
MOVED = {
    "nanobragg.simulator": "nanobragg.render.simulate",
    "nanobragg.multipanel": "nanobragg.render.panels",
    "nanobragg.budget": "nanobragg.render.limits",
    "nanobragg.kernel": "nanobragg.render.kernel",
    "nanobragg.module": "nanobragg.refine.module",
    "nanobragg.losses": "nanobragg.refine.losses",
    "nanobragg.refinement": "nanobragg.refine.fit",
    "nanobragg.plots": "nanobragg.refine.plots",
    "nanobragg.noise": "nanobragg.products.noise",
    "nanobragg.reports": "nanobragg.products.reports",
    "nanobragg.experiments": "nanobragg.products.experiments",
    "nanobragg.conventions": "nanobragg.models.conventions",
    "nanobragg.tables": "nanobragg.io.structure_factors",
}


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the module under its new name (the same module object)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):
        warnings.warn(f"{spec.name} is now {self.new}; the old name will be removed",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:
        """Nothing to run: the new module is already loaded."""


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED`, and nothing else."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
