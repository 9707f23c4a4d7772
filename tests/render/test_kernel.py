"""The vectorised kernel against a plain-loop reference in the C's loop order, chunking,
and float32 against float64."""

from __future__ import annotations

import math

import pytest
import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.models.setup import background, scale
from nanobragg.render.simulate import prepare, simulate

F64 = torch.float64


def _config(**detector) -> SimulationConfig:
    det = {"fpixels": 5, "spixels": 4, "pixel_size": 1e-3, "distance": 0.05, "oversample": 2,
           "thickness": 300e-6, "thicksteps": 2, **detector}
    return SimulationConfig(
        detector=DetectorConfig(**det),
        crystal=CrystalConfig(cell=(40e-10, 50e-10, 60e-10, 1.5, 1.6, 1.7), N=(3, 4, 5),
                              default_F=10.0, misset=(0.2, 0.4, 0.6), phi0=0.1, osc=0.2,
                              phisteps=2, mosaic_spread=0.02, mosaic_domains=2),
        beam=BeamConfig(wavelength=1.3e-10, hdivrange=2e-3, hdivsteps=2, dispersion=0.02,
                        dispsteps=2, polarization=0.6, water_size=5e-6),
        dmin=2.0e-10,
    )


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _polar(inc, diff, axis, kahn):
    cos2t = _dot(inc, diff)
    b_in = _unit(_cross(axis, inc))
    e_in = _unit(_cross(inc, b_in))
    psi = -math.atan2(_dot(diff, b_in), _dot(diff, e_in))
    return 0.5 * (1 + cos2t**2 - kahn * math.cos(2 * psi) * (1 - cos2t**2))


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _unit(v):
    n = math.sqrt(_dot(v, v))
    return [x / n for x in v]


def _sincg(x, n):
    return n if x == 0 else math.sin(n * x) / math.sin(x)


def _reference_pixel(setup, cfg, s, f):
    """One pixel with the C's loops, written plainly (square crystal, default_F only)."""
    det, beam, cry = setup.detector, setup.beam, setup.crystal
    os_, sub = setup.oversample, float(det.pixel_size) / setup.oversample
    fdet, sdet, odet, pix0 = (t.tolist() for t in (det.fdet, det.sdet, det.odet, det.pix0))
    flags = cfg.detector
    total = float(background(setup))
    polar = omega = 0.0
    capture = 1.0
    for t in range(det.layer_offsets.shape[0]):
        capture = 0.0
        for ss in range(os_):
            for ff in range(os_):
                fd, sd = sub * (f * os_ + ff) + sub / 2, sub * (s * os_ + ss) + sub / 2
                od = t * float(det.thickstep)
                pos = [fd * fdet[i] + sd * sdet[i] + od * odet[i] + pix0[i] for i in range(3)]
                air = math.sqrt(_dot(pos, pos))
                diff = [x / air for x in pos]
                if omega == 0.0 or flags.oversample_omega:
                    omega = float(det.pixel_size) ** 2 / air**2 * float(det.close_distance) / air
                if capture == 0.0 or flags.oversample_thick:
                    par = _dot(diff, odet)
                    depth = float(det.thickstep) * float(det.mu)
                    capture = (math.exp(-t * depth / par) - math.exp(-(t + 1) * depth / par))
                for src in range(beam.sources):
                    inc = beam.incident[src].tolist()
                    lam = float(beam.wavelength[src])
                    scat = [(diff[i] - inc[i]) / lam for i in range(3)]
                    stol = 0.5 * math.sqrt(_dot(scat, scat))
                    if float(cfg.dmin) > 0 and stol > 0 and float(cfg.dmin) > 0.5 / stol:
                        continue
                    if polar == 0.0 or flags.oversample_polar:
                        polar = _polar(inc, diff, beam.polar_vector.tolist(), float(beam.kahn))
                    for p in range(cry.phisteps):
                        for m in range(cry.domains):
                            rows = cry.real_rows[p, m].tolist()
                            hkl = [_dot(r, scat) for r in rows]
                            latt = 1.0
                            for h, n in zip(hkl, cry.N.tolist()):
                                latt *= _sincg(math.pi * h, n) if n > 1 else 1.0
                            total += cfg.crystal.default_F ** 2 * latt**2
                            total *= capture if flags.oversample_thick else 1.0
                            total *= polar if flags.oversample_polar else 1.0
                            total *= omega if flags.oversample_omega else 1.0
    value = float(scale(setup)) * total
    value *= 1.0 if flags.oversample_thick else capture
    value *= 1.0 if flags.oversample_polar else polar
    value *= 1.0 if flags.oversample_omega else omega
    return value


@pytest.mark.parametrize("flags", [{}, {"oversample_omega": True},
                                   {"oversample_polar": True, "oversample_thick": True}])
def test_kernel_matches_the_plain_loop_reference(flags):
    cfg = _config(**flags)
    setup = prepare(cfg, dtype=F64)
    image = simulate(cfg, dtype=F64).image
    for s in range(cfg.detector.spixels):
        for f in range(cfg.detector.fpixels):
            expected = _reference_pixel(setup, cfg, s, f)
            assert float(image[s, f]) == pytest.approx(expected, rel=1e-11, abs=1e-300)


def test_chunking_does_not_change_the_image():
    cfg = _config()
    whole = simulate(cfg, dtype=F64).image
    pieces = simulate(cfg, dtype=F64, evaluations_per_chunk=1).image
    assert torch.equal(whole, pieces)


def test_float32_agrees_with_float64():
    cfg = _config(fpixels=24, spixels=20)
    double = simulate(cfg, dtype=F64).image
    single = simulate(cfg, dtype=torch.float32).image
    assert single.dtype == torch.float32
    assert float((single.double() - double).abs().max()) <= 1e-4 * float(double.max())


def test_overflowing_running_product_gives_inf_like_the_c_not_nan():
    # -point_pixel makes omega = 1/R^2 ~ 100 per step; with -oversample_omega the C
    # multiplies the running sum by it 3888 times and reaches inf (never 0 * inf)
    cfg = SimulationConfig(
        detector=DetectorConfig(fpixels=3, spixels=2, pixel_size=5e-4, distance=0.1,
                                oversample=9, point_pixel=True, oversample_omega=True,
                                thickness=486e-6, mu=1 / 258e-6, thicksteps=4),
        crystal=CrystalConfig(cell=(53e-10, 50e-10, 63e-10, 1.5708, 1.5708, 1.5708),
                              N=(8, 3, 8), default_F=0.0, phi0=0.1, osc=0.02, phisteps=3),
        beam=BeamConfig(wavelength=0.945e-10, dispersion=0.01, dispsteps=4, nopolar=True,
                        water_size=28e-6),
    )
    image = simulate(cfg, dtype=F64).image
    assert torch.isinf(image).all()
