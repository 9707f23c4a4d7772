"""A data-set description: the fixed experiment, the per-shot variation and a master seed.

A description is a YAML or JSON mapping::

    seed: 2026                 # master seed: shot i is determined by (description, seed, i)
    shots: 1000
    shots_per_file: 50         # one HDF5 file (and one distributed task) per this many shots
    batch: 8                   # shots per kernel call
    dtype: float32             # or float64
    device: cpu                # or cuda, auto
    experiment:
      flags: -cell 79 79 38 90 90 90 -N 10 -default_F 100 -lambda 1 -distance 100 -detpixels 256
      # or  config: {detector: {...}, crystal: {...}, beam: {...}}  (SI units)  and  hkl: FILE
      # (hkl: an h k l F text file, an MTZ file or an atomic model, PDB or mmCIF; the
      # model's or MTZ's cell stands in when the config has none)
    variation: {orientation: random, ...}   # see nanobragg.dataset.variation
    background: {stol: water.stol, thickness_mm: ...}   # see nanobragg.dataset.sections
    detector: {gain: 1.5, readout: 3, psf: {...}, ...}  # see nanobragg.dataset.sections

Command-line flags need a parser (``flags_parser``), which the ``nanobragg-dataset``
command supplies; library callers give a :class:`SimulationConfig` (``config`` mapping or
:func:`make_description`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import (
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    SimulationConfig,
    StructureFactorFile,
)
from ..errors import InputError
from ..io.hkl import read_hkl
from ..physics.structure_factors import FTable
from ..validation import check_config
from .sections import Background, DetectorSection, parse_background, parse_detector
from .variation import DescriptionError, Variation, choice, integer, parse_variation

#: ``flags -> (config, hkl file or None)``; relative names refer to the given folder.
FlagsParser = Callable[[list[str], Path], tuple[SimulationConfig, "Path | None"]]

TOP_KEYS = ("seed", "shots", "shots_per_file", "batch", "dtype", "device", "experiment",
            "variation", "background", "detector")
DTYPES = ("float32", "float64")
_SECTIONS = {"detector": DetectorConfig, "crystal": CrystalConfig, "beam": BeamConfig}


@dataclass(frozen=True, eq=False)
class DatasetDescription:
    """Everything that determines the shots of a data set.

    Attributes:
        config: the fixed experiment (validated).
        variation: what changes per shot.
        seed: master seed.
        shots: number of shots.
        shots_per_file: shots per output file (and per distributed task).
        batch: shots per kernel call (does not change any value).
        dtype: ``"float32"`` or ``"float64"``.
        device: where to render (does not enter the fingerprint).
        table: structure factors (float64, CPU) or None for ``default_F`` everywhere.
        document: the description as read, for the manifest.
        background: amorphous material added to every shot, or None.
        detector: the detector response that makes ``counts`` frames in ADU, or None.
    """

    config: SimulationConfig
    variation: Variation
    seed: int
    shots: int
    shots_per_file: int = 64
    batch: int = 8
    dtype: str = "float32"
    device: str = "cpu"
    table: FTable | None = None
    document: dict | None = None
    background: Background | None = None
    detector: DetectorSection | None = None

    @property
    def torch_dtype(self) -> torch.dtype:
        """The working precision as a torch dtype."""
        return torch.float32 if self.dtype == "float32" else torch.float64

    def fingerprint(self) -> str:
        """SHA-256 of everything that changes pixel values or file contents.

        The shot count, batch size and device are left out: a data set can be extended
        or finished with another batch size on the same kind of device.
        """
        content = {
            "config": self.config.to_dict(), "variation": _variation_doc(self.variation),
            "seed": self.seed, "shots_per_file": self.shots_per_file, "dtype": self.dtype,
            "table": _table_digest(self.table),
        }
        for name in ("background", "detector"):
            section = getattr(self, name)
            if section is not None:
                content[name] = section.to_doc()
        text = json.dumps(content, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def with_shots(self, shots: int) -> DatasetDescription:
        """The same description with another shot count."""
        return dataclasses.replace(self, shots=integer(shots, "--shots", 1))


def load_description(path: str | Path, flags_parser: FlagsParser | None = None
                     ) -> DatasetDescription:
    """Read a YAML (``.yaml``, ``.yml``) or JSON description file.

    Raises:
        InputError: unreadable file, or a bad description (the message names the key).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"description '{path}': cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"description '{path}': not a text file (byte {exc.start} is not "
                         f"UTF-8)") from exc
    doc = _parse_text(text, path)
    return parse_description(doc, path.parent, flags_parser)


def _parse_text(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"description '{path}': not valid JSON: {exc}") from exc
    try:
        import yaml
    except ImportError as exc:
        raise InputError("YAML descriptions need PyYAML: pip install nanobragg[dataset] "
                         "(or write the description as .json)") from exc
    from .yaml_numbers import load

    try:
        return load(text)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"description '{path}': not valid YAML: {reason}") from exc


def parse_description(doc: Any, base: Path = Path("."),
                      flags_parser: FlagsParser | None = None) -> DatasetDescription:
    """Build a description from its mapping; file names are relative to ``base``."""
    if not isinstance(doc, dict):
        raise DescriptionError(f"description: expected a mapping, got {type(doc).__name__}")
    for key in doc:
        if key not in TOP_KEYS:
            raise DescriptionError(f"{key}: unknown key (known: {', '.join(TOP_KEYS)})")
    for key in ("seed", "experiment"):
        if key not in doc:
            raise DescriptionError(f"{key}: missing")
    config, table = _experiment(doc["experiment"], Path(base), flags_parser)
    return make_description(
        config, parse_variation(doc.get("variation")), seed=doc["seed"],
        shots=doc.get("shots", 1), shots_per_file=doc.get("shots_per_file", 64),
        batch=doc.get("batch", 8), dtype=doc.get("dtype", "float32"),
        device=doc.get("device", "cpu"), table=table, document=doc,
        background=parse_background(doc.get("background"), Path(base)),
        detector=parse_detector(doc.get("detector")),
    )


def make_description(config: SimulationConfig, variation: Variation | None = None, *,
                     seed: int, shots: int = 1, shots_per_file: int = 64, batch: int = 8,
                     dtype: str = "float32", device: str = "cpu",
                     table: FTable | None = None, document: dict | None = None,
                     background: Background | None = None,
                     detector: DetectorSection | None = None) -> DatasetDescription:
    """A checked description from a configuration (the library entry point)."""
    integer(seed, "seed", 0)
    try:
        check_config(config)
        config.validate()
    except (TypeError, ValueError) as err:
        raise DescriptionError(f"experiment: {err}") from err
    _check_sections(config, background, detector)
    return DatasetDescription(
        config=config, variation=variation or Variation(), seed=seed,
        shots=integer(shots, "shots", 1), shots_per_file=integer(shots_per_file,
                                                                 "shots_per_file", 1),
        batch=integer(batch, "batch", 1), dtype=choice(dtype, "dtype", DTYPES),
        device=choice(device, "device", ("cpu", "cuda", "auto")), table=table,
        document=document, background=background, detector=detector,
    )


def _check_sections(config: SimulationConfig, background: Background | None,
                    detector: DetectorSection | None) -> None:
    """The experiment must be able to take the ``background`` and ``detector`` sections."""
    if background is not None and config.amorphous is not None:
        raise DescriptionError("background: the experiment has amorphous material already "
                               "(-stol); give it in one place")
    for name, section in (("background", background), ("detector", detector)):
        if section is not None and config.detector.panels is not None:
            raise DescriptionError(f"{name}: needs a single-panel detector (the experiment "
                                   f"has {len(config.detector.panels)} panels)")


def _experiment(doc: Any, base: Path, flags_parser: FlagsParser | None):
    """The fixed experiment: ``flags`` (list or string) or ``config`` (+ ``hkl``)."""
    if not isinstance(doc, dict) or len(set(doc) & {"flags", "config"}) != 1:
        raise DescriptionError("experiment: expected a mapping with either 'flags' or 'config'")
    unknown = set(doc) - {"flags", "config", "hkl"}
    if unknown:
        raise DescriptionError(f"experiment.{sorted(unknown)[0]}: unknown key "
                               f"(known: flags, config, hkl)")
    hkl = doc.get("hkl")
    if "flags" in doc:
        if hkl is not None:
            raise DescriptionError("experiment.hkl: give -hkl inside the flags")
        config, hkl_path = _from_flags(doc["flags"], base, flags_parser)
    else:
        config = config_from_doc(doc["config"], "experiment.config")
        hkl_path = None if hkl is None else base / str(hkl)
        if hkl_path is not None:
            config = with_structure_factor_file(config, hkl_path)
    table = None
    if config.structure_factors is not None:
        table = file_table(config)
    elif hkl_path is not None:
        table = load_table(hkl_path, config.crystal.default_F)
    return config, table


def with_structure_factor_file(config: SimulationConfig, path: Path) -> SimulationConfig:
    """``config`` with ``hkl:`` as its MTZ or model file (and that file's unit cell when
    the configuration has none); unchanged for an ``h k l F`` text file."""
    from ..io.sf_files import file_cell, file_kind

    kind = file_kind(path)
    if kind == "hkl":
        return config
    source = StructureFactorFile(str(path), kind)
    config = dataclasses.replace(config, structure_factors=source)
    crystal = config.crystal
    if crystal.cell is None and crystal.reciprocal_matrix is None:
        a, b, c, *angles = file_cell(source)
        cell = (a * 1e-10, b * 1e-10, c * 1e-10, *(math.radians(v) for v in angles))
        config = dataclasses.replace(config, crystal=dataclasses.replace(crystal, cell=cell))
    return config


def file_table(config: SimulationConfig) -> FTable:
    """The table of ``config.structure_factors`` (float64, CPU)."""
    from ..io.structure_factors import source_table

    return source_table(config, float(config.crystal.default_F))[0]


def _from_flags(flags: Any, base: Path, flags_parser: FlagsParser | None):
    if isinstance(flags, str):
        flags = flags.split()
    if not isinstance(flags, list) or not all(isinstance(f, (str, int, float)) for f in flags):
        raise DescriptionError("experiment.flags: expected a string or a list of flags")
    if flags_parser is None:
        raise DescriptionError("experiment.flags: command-line flags need the "
                               "nanobragg-dataset command; give experiment.config instead")
    try:
        return flags_parser([str(f) for f in flags], base)
    except InputError as err:
        raise DescriptionError(f"experiment.flags: {err}") from err


def config_from_doc(doc: Any, key: str) -> SimulationConfig:
    """A :class:`SimulationConfig` from nested mappings of its fields (SI units)."""
    if not isinstance(doc, dict):
        raise DescriptionError(f"{key}: expected a mapping of detector, crystal, beam, dmin")
    parts: dict[str, Any] = {}
    for name, value in doc.items():
        if name == "dmin":
            parts[name] = value
        elif name in _SECTIONS:
            parts[name] = _section(_SECTIONS[name], value, f"{key}.{name}")
        else:
            raise DescriptionError(f"{key}.{name}: unknown key (known: detector, crystal, "
                                   f"beam, dmin)")
    try:
        return SimulationConfig(**parts)
    except TypeError as err:
        raise DescriptionError(f"{key}: {err}") from err


def _section(cls: type, doc: Any, key: str) -> Any:
    if not isinstance(doc, dict):
        raise DescriptionError(f"{key}: expected a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    for name in doc:
        if name not in names:
            raise DescriptionError(f"{key}.{name}: unknown key")
    return cls(**{name: _tuples(value) for name, value in doc.items()})


def _tuples(value: Any) -> Any:
    """Lists become tuples (the configuration's sequences are tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def load_table(path: Path, default_F: float) -> FTable:
    """Structure factors from an HKL file, float64 on the CPU."""
    grid = read_hkl(path, default_F)
    return FTable(torch.from_numpy(np.ascontiguousarray(grid.F)),
                  (grid.h_min, grid.k_min, grid.l_min), default_F, loaded=grid.count > 0)


def _table_digest(table: FTable | None) -> str | None:
    if table is None:
        return None
    data = table.F.detach().cpu().to(torch.float64).numpy().tobytes()
    meta = repr((table.mins, table.default_F, table.loaded)).encode()
    return hashlib.sha256(data + meta).hexdigest()


def _variation_doc(variation: Variation) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(variation):
        value = getattr(variation, f.name)
        out[f.name] = value.to_doc() if hasattr(value, "to_doc") else value
    return out


__all__ = ["DatasetDescription", "DescriptionError", "FlagsParser", "config_from_doc",
           "load_description", "make_description", "parse_description"]
