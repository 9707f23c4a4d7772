"""Small scenes for gradient checks: a generic point, exactly on a Bragg peak, 1e-6 pixel
from it, and at the direct beam, for every differentiable entry of the parameter table.

Values are in natural units (mm, Angstrom, degrees, ...) and converted inside
:func:`render`, so gradcheck's finite-difference step (1e-6) is a small, sensible change.
A 3x3 detector with 1/1024 m pixels (exact in binary) keeps each check fast. A sampling
axis (sensor layers, sources from dispersion or divergence, phi steps, mosaic domains,
water) is switched on only for the entries that need it, with an odd count or a first
step on the nominal value, so one sub-step of the centre pixel is exactly where the
scene puts it.
"""

from __future__ import annotations

import itertools
import math

import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.parameters import BY_NAME, PARAMETERS
from nanobragg.render.simulate import prepare, simulate

PIXEL = 2.0 ** -10  # m
CENTRE = 1.5 * PIXEL  # centre of pixel (1, 1) along fast and slow
POINTS = ("generic", "peak", "near", "beam")

#: Starting values in natural units (the table's); vectors as lists.
BASE = {
    "detector.pixel_size": PIXEL * 1e3, "detector.distance": 80.0,
    "detector.beam_center": [1.2, 1.7], "detector.rotx": 0.0, "detector.roty": 0.0,
    "detector.rotz": 0.0, "detector.twotheta": 0.0, "crystal.cell_lengths": [52.0, 57.0, 47.0],
    "crystal.cell_angles": [90.0, 95.0, 90.0], "crystal.misset": [17.0, 11.0, 23.0],
    "crystal.N": [4.0, 5.0, 3.0], "crystal.fudge": 1.0, "crystal.phi0": 3.0,
    "beam.wavelength": 1.2, "beam.fluence": 2e4, "beam.polarization": 0.6,
}
#: Sampling axes, switched on for the entries that need them.
FEATURES = {
    "sensor": {"detector.thickness": 300.0, "detector.mu": 2.0},
    "mosaic": {"crystal.mosaic_spread": 0.3},
    "phi": {"crystal.osc": 0.6},
    "phistep": {"crystal.phistep": 0.3},
    "dispersion": {"beam.dispersion": 0.002},
    "dispstep": {"beam.dispersion": 0.002, "beam.dispstep": 0.001},
    "divergence": {"beam.hdivrange": 1.0, "beam.vdivrange": 0.8},
    "divstep": {"beam.hdivrange": 1.0, "beam.vdivrange": 0.8, "beam.hdivstep": 0.5,
                "beam.vdivstep": 0.4},
    "water": {"beam.water_size": 0.1},
}
NEEDS = {"detector.thickness": "sensor", "detector.mu": "sensor",
         "crystal.mosaic_spread": "mosaic", "crystal.osc": "phi", "crystal.phistep": "phistep",
         "beam.dispersion": "dispersion", "beam.dispstep": "dispstep",
         "beam.hdivrange": "divergence", "beam.vdivrange": "divergence",
         "beam.hdivstep": "divstep", "beam.vdivstep": "divstep", "beam.water_size": "water"}
#: Generic point: detector turned, beam centre and wavelength away from any peak.
GENERIC = {"detector.rotx": 3.0, "detector.roty": -2.0, "detector.rotz": 1.5,
           "detector.twotheta": 4.0, "detector.beam_center": [1.23, 1.71],
           "beam.wavelength": 1.137}
#: Entries that need another variant of the scene, and the fields that variant sets.
VARIANTS = {
    "detector.detsize_f": "detsize", "detector.detsize_s": "detsize",
    "detector.close_distance": "close", "detector.org": "xds",
    "detector.close_center": "custom", "crystal.fudge": "gauss",
}
#: Panel fields belong to multi-panel scenes; tests/render/test_panels.py gradchecks them.
DIFFERENTIABLE = [p.name for p in PARAMETERS
                  if p.differentiable and not p.field.startswith("detector.panels.")]


def scene(name: str, point: str) -> dict:
    """Natural-unit values of the scene for checking ``name`` at ``point``."""
    values = dict(BASE, **FEATURES.get(NEEDS.get(name), {}))
    if point == "generic":
        values.update(GENERIC)
    variant = VARIANTS.get(name)
    if variant == "detsize":
        values.pop("detector.beam_center")
        values.update({"detector.detsize_f": 2.4, "detector.detsize_s": 3.3})
    elif variant == "close":
        values["detector.close_distance"] = values.pop("detector.distance")
    elif variant == "xds":
        values.pop("detector.beam_center")
        values.update({"convention": "XDS", "detector.org": [1.3, 2.2]})
    elif variant == "gauss":
        values["shape"] = "gauss"
    elif variant == "custom":
        values.pop("detector.beam_center")
        values.update({"convention": "CUSTOM", "detector.close_center": [1.3, 1.6]})
    if point != "generic":
        values = place(values, point)
    return values


def config_of(values: dict, dtype=torch.float64) -> SimulationConfig:
    """The configuration of natural-unit values (tensors allowed)."""
    def si(name):
        entry = BY_NAME[name]
        scale = entry.scale if entry.scale is not None else PIXEL
        value = values[name]
        if isinstance(value, (list, tuple)):
            return tuple(v * scale for v in value)
        return value * scale

    def get(name, default=None):
        return si(name) if name in values else default

    cell = get("crystal.cell_lengths") + get("crystal.cell_angles")
    return SimulationConfig(
        detector=DetectorConfig(
            convention=values.get("convention", "MOSFLM"), fpixels=3, spixels=3,
            pixel_size=si("detector.pixel_size"), distance=get("detector.distance"),
            close_distance=get("detector.close_distance"),
            beam_center=get("detector.beam_center", (None, None)),
            close_center=get("detector.close_center", (None, None)),
            org=get("detector.org", (None, None)), detsize_f=get("detector.detsize_f"),
            detsize_s=get("detector.detsize_s"), rotx=si("detector.rotx"),
            roty=si("detector.roty"), rotz=si("detector.rotz"),
            twotheta=si("detector.twotheta"), thickness=get("detector.thickness", 0.0),
            mu=get("detector.mu"), thicksteps=3, oversample=1),
        crystal=CrystalConfig(
            cell=cell, N=si("crystal.N"), default_F=100.0, shape=values.get("shape", "square"),
            misset=si("crystal.misset"),
            fudge=si("crystal.fudge"), mosaic_spread=get("crystal.mosaic_spread"),
            mosaic_domains=2, phi0=si("crystal.phi0"), osc=get("crystal.osc"),
            phistep=get("crystal.phistep"), phisteps=3 if "crystal.osc" in values else None,
            c_rounding=values.get("c_rounding", False)),
        beam=BeamConfig(
            wavelength=si("beam.wavelength"), dispersion=get("beam.dispersion"),
            dispsteps=3 if "beam.dispersion" in values else None,
            dispstep=get("beam.dispstep"),
            hdivrange=get("beam.hdivrange"), vdivrange=get("beam.vdivrange"),
            hdivsteps=3 if "beam.hdivrange" in values else None,
            vdivsteps=3 if "beam.vdivrange" in values else None, hdivstep=get("beam.hdivstep"),
            vdivstep=get("beam.vdivstep"), round_div=False,
            fluence=1e24 * values["beam.fluence"], polarization=si("beam.polarization"),
            water_size=get("beam.water_size", 0.0)),
    )


def render(values: dict, dtype=torch.float64) -> torch.Tensor:
    """The (3, 3) image of a scene."""
    return simulate(config_of(values), dtype=dtype).image


def with_input(values: dict, name: str, tensor: torch.Tensor) -> dict:
    """The scene with one entry replaced by a tensor (a vector entry by its elements)."""
    out = dict(values)
    out[name] = list(tensor.unbind()) if tensor.dim() else tensor
    return out


def start_tensor(values: dict, name: str, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values[name], dtype=dtype, requires_grad=True)


def place(values: dict, point: str) -> dict:
    """Move the detector so the centre of pixel (1, 1) is on a peak, near it or on the beam.

    On a peak, the wavelength is also chosen so that a reflection with all indices
    non-zero lies on the Ewald sphere of the central source, phi0 and domain 0.
    """
    values = dict(values)
    setup = prepare(config_of(values))
    incident = setup.detector.beam  # the central source's direction
    if point == "beam":
        direction = incident
    else:
        wavelength, direction = _reflection(setup.crystal.real_rows[0, 0], incident)
        values["beam.wavelength"] = wavelength * 1e10
        setup = prepare(config_of(values))
    shift = 1e-6 * PIXEL if point == "near" else 0.0
    for _ in range(3):
        det = setup.detector
        t = torch.dot(det.pix0, det.odet) / torch.dot(direction, det.odet)
        hit = t * direction - det.pix0
        df = CENTRE + shift - float(torch.dot(hit, det.fdet))
        ds = CENTRE + shift - float(torch.dot(hit, det.sdet))
        values = _move_centre(values, df, ds)
        setup = prepare(config_of(values))
    if point == "beam":  # snap to binary fractions, so the pixel is exactly on the beam
        values = {k: [round(x * 2**20) / 2**20 for x in v] if k in _CENTRES else v
                  for k, v in values.items()}
    return values


_CENTRES = ("detector.beam_center", "detector.org", "detector.close_center")


def _reflection(rows: torch.Tensor, incident: torch.Tensor):
    """Wavelength (m) and unit diffracted direction putting a reflection on the sphere.

    Picks, among indices of magnitude 3, 5 or 7 (odd, not powers of two, so that
    ``pi*h`` rounds: the C's formula then loses all digits there), the one whose
    wavelength is closest to 1.2 A with a scattering angle below 30 degrees.
    """
    recip = torch.linalg.inv(rows)  # columns a*, b*, c* (1/m)
    best = None
    for hkl in itertools.product([-7, -5, -3, 3, 5, 7], repeat=3):
        g = recip @ torch.tensor(hkl, dtype=rows.dtype)
        wavelength = float(-2.0 * torch.dot(incident, g) / torch.dot(g, g))
        if wavelength <= 0:
            continue
        direction = incident + wavelength * g
        if float(torch.dot(direction, incident)) < math.cos(math.radians(30)):
            continue
        score = abs(wavelength - 1.2e-10)
        if best is None or score < best[0]:
            best = (score, wavelength, direction / torch.linalg.norm(direction))
    return best[1], best[2]


def _move_centre(values: dict, df: float, ds: float) -> dict:
    """Shift whichever input sets the beam centre so the hit point moves by (df, ds) m."""
    values = dict(values)
    if "detector.beam_center" in values:  # MOSFLM: Xbeam along slow, Ybeam along fast
        x, y = values["detector.beam_center"]
        values["detector.beam_center"] = [x + ds / PIXEL, y + df / PIXEL]
    elif "detector.detsize_f" in values:  # default centre = (detsize + pixel) / 2
        values["detector.detsize_f"] += 2e3 * df
        values["detector.detsize_s"] += 2e3 * ds
    elif "detector.org" in values:
        x, y = values["detector.org"]
        values["detector.org"] = [x + df / PIXEL, y + ds / PIXEL]
    else:
        x, y = values["detector.close_center"]
        values["detector.close_center"] = [x + df / PIXEL, y + ds / PIXEL]
    return values


def offset_from_peak(values: dict) -> float:
    """Largest |h - round(h)| of the centre pixel's on-peak sub-step (diagnostic)."""
    from nanobragg.render.kernel import render_pixels

    setup = prepare(config_of(values))
    out = render_pixels(setup, torch.tensor([1]), torch.tensor([1]), want_taps=True)
    hkl = out.taps["hkl"][0]
    return float((hkl - torch.round(hkl)).abs().amax(dim=-1).min())
