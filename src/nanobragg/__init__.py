"""nanobragg: a vectorised, differentiable PyTorch port of the nanoBragg simulator.

The public API (everything in ``__all__``) is imported on first use, so that
``import nanobragg`` stays cheap::

    import nanobragg as nb

    cfg = nb.from_command_line(["-cell", "100", "100", "100", "90", "90", "90",
                                "-default_F", "100", "-N", "5", "-detpixels", "256"])
    image = nb.simulate(cfg).image                      # (slow, fast) photons per pixel
    cfg = nb.from_expt("refined.expt", base=cfg)        # DIALS geometry, our crystal size
    images = nb.simulate_panels(cfg).image              # (panels, slow, fast)

Configurations round-trip through ``to_dict`` / ``SimulationConfig.from_dict``.
"""

from __future__ import annotations

import importlib

from . import _moved

__version__ = "0.1.0"

#: public name -> (module, attribute)
_PUBLIC = {
    # configuration (SI units, frozen dataclasses)
    "SimulationConfig": ("nanobragg.config", "SimulationConfig"),
    "DetectorConfig": ("nanobragg.config", "DetectorConfig"),
    "CrystalConfig": ("nanobragg.config", "CrystalConfig"),
    "BeamConfig": ("nanobragg.config", "BeamConfig"),
    "PanelConfig": ("nanobragg.config", "PanelConfig"),
    "StructureFactorFile": ("nanobragg.config", "StructureFactorFile"),
    "InputError": ("nanobragg.errors", "InputError"),
    # building configurations
    "from_command_line": ("nanobragg.commandline", "from_command_line"),
    "from_expt": ("nanobragg.io.expt", "from_expt"),
    "detector_from_dxtbx": ("nanobragg.io.expt", "detector_from_dxtbx"),
    "lab_to_dxtbx": ("nanobragg.models.conventions", "lab_to_dxtbx"),
    "dxtbx_to_lab": ("nanobragg.models.conventions", "dxtbx_to_lab"),
    # simulation
    "simulate": ("nanobragg.render.simulate", "simulate"),
    "prepare": ("nanobragg.render.simulate", "prepare"),
    "SimulationResult": ("nanobragg.render.simulate", "SimulationResult"),
    "simulate_panels": ("nanobragg.render.panels", "simulate_panels"),
    "PanelImages": ("nanobragg.render.panels", "PanelImages"),
    "DiffractionModel": ("nanobragg.refine.module", "DiffractionModel"),
    # the kernel's inputs and the kernel
    "Setup": ("nanobragg.models.setup", "Setup"),
    "Sampling": ("nanobragg.models.sampling", "Sampling"),
    "render_pixels": ("nanobragg.render.kernel", "render_pixels"),
    "detector_report": ("nanobragg.products.reports", "detector_report"),
    # structure factors
    "FTable": ("nanobragg.physics.structure_factors", "FTable"),
    "HKLGrid": ("nanobragg.io.hkl", "HKLGrid"),
    "read_hkl": ("nanobragg.io.hkl", "read_hkl"),
    "read_fdump": ("nanobragg.io.hkl", "read_fdump"),
    "write_fdump": ("nanobragg.io.hkl", "write_fdump"),
    "table_from_grid": ("nanobragg.io.structure_factors", "table_from_grid"),
    "read_structure_factors": ("nanobragg.io.structure_factors", "read_structure_factors"),
    # writers (and the matching readers)
    "write_float_image": ("nanobragg.io.rawfloat", "write_float_image"),
    "read_float_image": ("nanobragg.io.rawfloat", "read_float_image"),
    "write_smv": ("nanobragg.io.smv", "write_smv"),
    "read_smv": ("nanobragg.io.smv", "read_smv"),
    "write_pgm": ("nanobragg.io.pgm", "write_pgm"),
    "write_experiment_list": ("nanobragg.products.experiments", "write_experiment_list"),
    "experiment_list": ("nanobragg.products.experiments", "experiment_list"),
}

__all__ = sorted(_PUBLIC) + ["__version__"]

_moved.install()


def __getattr__(name: str):
    """Import a public name on first use (PEP 562)."""
    try:
        module, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'nanobragg' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
