"""The simulated geometry as a DIALS experiment list (dxtbx JSON), the image's ground truth.

The detector, beam and crystal are taken from the models, so what is written is the
geometry that was rendered (after the convention's rules, pivots and rotations): one
panel per detector panel (the convention's rectangle for a C detector), the central
beam direction and wavelength, the crystal's real-space vectors at spindle angle 0 (after
misset, without mosaic), the spindle as the goniometer axis and one scan image covering
``phi0`` to ``phi0 + osc``. Vectors go to the dxtbx frame by
:func:`nanobragg.models.conventions.lab_to_dxtbx`; lengths to mm, wavelengths to Angstrom.
"""

from __future__ import annotations

import math
import os

import torch

from ..config import SimulationConfig
from ..io.expt import write_expt
from ..models.conventions import lab_to_dxtbx
from ..models.crystal import build_crystal, phi_sampling
from ..models.detector import frame_vectors, sensor_layers
from ..models.panels import build_detector, panel_frame
from ..physics.vectors import unit, value_of

_GEOMETRY = torch.float64


def experiment_list(config: SimulationConfig, images: list[str] | None = None) -> dict:
    """The experiment list of one simulated image.

    Args:
        config: the simulation.
        images: image file names for the imageset (None: no imageset).

    Returns:
        A JSON-safe dict in the dxtbx experiment-list schema.
    """
    cpu = torch.device("cpu")
    frame = frame_vectors(config.detector, config.beam, _GEOMETRY, cpu,
                          config.crystal.spindle_axis)
    experiment = {"__id__": "Experiment", "identifier": "", "beam": 0, "detector": 0,
                  "goniometer": 0, "scan": 0, "crystal": 0}
    out = {"__id__": "ExperimentList", "experiment": [experiment]}
    if images:
        experiment["imageset"] = 0
        out["imageset"] = [{"__id__": "ImageSet", "images": list(images), "mask": "",
                            "gain": "", "pedestal": "", "dx": "", "dy": "", "params": {}}]
    _, _, osc = phi_sampling(config.crystal)
    out |= {
        "beam": [_beam_dict(config, frame)],
        "detector": [_detector_dict(config)],
        "goniometer": [{"rotation_axis": _dx(frame["spindle"]), "fixed_rotation": _eye(),
                        "setting_rotation": _eye()}],
        "scan": [_scan_dict(math.degrees(value_of(config.crystal.phi0)), math.degrees(osc))],
        "crystal": [_crystal_dict(config, frame["spindle"])],
        "profile": [], "scaling_model": [],
    }
    return out


def write_experiment_list(path: str | os.PathLike[str], config: SimulationConfig,
                          images: list[str] | None = None) -> None:
    """Write :func:`experiment_list` as an ``.expt`` file (atomically)."""
    write_expt(path, experiment_list(config, images))


def _beam_dict(config: SimulationConfig, frame: dict) -> dict:
    """dxtbx beam: towards-source direction, Kahn factor back to a polarization fraction."""
    beam = frame["beam"]
    e_vector = unit(frame["polar"] - (frame["polar"] @ beam) * beam)
    normal = unit(torch.linalg.cross(lab_to_dxtbx(e_vector), lab_to_dxtbx(beam)))
    return {
        "__id__": "MonochromaticBeam", "direction": _dx(-beam),
        "wavelength": value_of(config.beam.wavelength) * 1e10,
        "divergence": 0.0, "sigma_divergence": 0.0,
        "polarization_normal": _floats(normal),
        "polarization_fraction": (value_of(config.beam.polarization) + 1.0) / 2.0,
        "flux": 0.0, "transmission": 1.0,
    }


def _detector_dict(config: SimulationConfig) -> dict:
    """dxtbx detector: one panel per panel (lab frames) under an identity root group."""
    det = config.detector
    if det.panels is None:
        model = build_detector(det, config.beam, _GEOMETRY, torch.device("cpu"))
        frames = [(model.fdet, model.sdet, model.pix0, value_of(model.pixel_size),
                   model.fpixels, model.spixels, "")]
    else:
        frames = []
        for p in det.panels:
            fdet, sdet, _, pix0 = panel_frame(p, _GEOMETRY, torch.device("cpu"))
            frames.append((fdet, sdet, pix0, value_of(p.pixel_size), p.fpixels, p.spixels,
                           p.name))
    _, _, mu, thickness = sensor_layers(det)
    panels = [_panel_dict(*f, thickness=thickness, mu=mu) for f in frames]
    root = _panel_dict(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]),
                       torch.zeros(3), 0.0, 0, 0, "", thickness=0.0, mu=0.0, lab=False)
    root["children"] = [{"panel": i} for i in range(len(panels))]
    return {"panels": panels, "hierarchy": root}


def _panel_dict(fdet, sdet, pix0, pixel: float, fpixels: int, spixels: int, name: str,
                thickness: float, mu: float, lab: bool = True) -> dict:
    """One dxtbx panel (or group) dict; ``lab``: vectors are in nanobragg's lab frame."""
    def vec(v, scale=1.0):
        return _floats((lab_to_dxtbx(v) if lab else v) * scale)

    return {
        "name": name, "type": "SENSOR_PAD" if lab else "",
        "fast_axis": vec(fdet), "slow_axis": vec(sdet), "origin": vec(pix0, 1000.0),
        "raw_image_offset": [0, 0], "image_size": [int(fpixels), int(spixels)],
        "pixel_size": [pixel * 1000.0, pixel * 1000.0], "trusted_range": [-1.0, 1.0e6],
        "thickness": thickness * 1000.0, "material": "", "mu": mu / 1000.0,
        "identifier": "", "mask": [], "gain": 1.0, "pedestal": 0.0,
        "px_mm_strategy": {"type": "SimplePxMmStrategy"},
    }


def _crystal_dict(config: SimulationConfig, spindle: torch.Tensor) -> dict:
    """Real-space vectors (Angstrom) at spindle angle 0, after misset, without mosaic."""
    crystal = build_crystal(config.crystal, spindle, _GEOMETRY, torch.device("cpu"))
    recip = crystal.recip_rows.detach()
    real = torch.linalg.inv(recip).T  # rows a, b, c
    return {"__id__": "crystal", "real_space_a": _dx(real[0]), "real_space_b": _dx(real[1]),
            "real_space_c": _dx(real[2]), "space_group_hall_symbol": " P 1"}


def _scan_dict(start_deg: float, width_deg: float) -> dict:
    return {"image_range": [1, 1], "batch_offset": 0,
            "properties": {"oscillation": [start_deg], "oscillation_width": [width_deg],
                           "exposure_time": [0.0], "epochs": [0.0]},
            "valid_image_ranges": {}}


def _dx(v: torch.Tensor) -> list[float]:
    return _floats(lab_to_dxtbx(v.detach().to(_GEOMETRY)))


def _floats(v: torch.Tensor) -> list[float]:
    return [float(x) for x in v.detach().reshape(-1).tolist()]


def _eye() -> list[float]:
    return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
