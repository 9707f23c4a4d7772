"""Refine cell, misset, distance and beam centre against a simulated image with Poisson noise.

A target image is rendered from known ("true") values and Poisson noise is added; the
fit starts from values perturbed by 0.5 % (cell lengths), 0.3 degrees (misset), 1 mm
(distance) and 1 pixel (beam centre) and minimises the Poisson deviance with L-BFGS. The
same fit started from the true values shows the noise limit: how far the best fit to
noisy data lies from the truth. Run::

    python examples/refine.py --out refine_out            # 64x64, with noise
    python examples/refine.py --no-noise --size 64        # recovers to 1e-4 relative
    python examples/refine.py --detector                  # through a PSF, gain and read-out noise

With ``--detector`` the target is a detector frame in ADU (a Gaussian PSF, gain, read-out
noise and offset on top of the Poisson counts) and the fit refines the gain and the PSF
width too (started 20 % and 25 % off), scoring with the Poisson-Gaussian likelihood.

It prints the loss and values per iteration and writes ``images.png`` (target, fit,
residual) and ``convergence.png`` into ``--out`` (needs matplotlib: ``pip install
nanobragg[plot]``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.physics.detector_response import DetectorResponse, apply_psf
from nanobragg.refine.detected import DetectedModel
from nanobragg.refine.fit import fit
from nanobragg.refine.module import DiffractionModel
from nanobragg.refine.plots import convergence, fit_images
from nanobragg.render.simulate import simulate

DEG = math.pi / 180
REFINED = ["crystal.cell_lengths", "crystal.misset", "detector.distance",
           "detector.beam_center"]
#: Perturbation of the start, in refinement units (A, deg, mm, pixels).
PIXEL = 0.5e-3
#: The detector of ``--detector``: ADU per photon, offset (ADU), read-out rms (ADU), PSF.
GAIN, ADC, READOUT, PSF = 2.5, 40.0, 4.0, ("gauss", 1.2, 4)


def true_config(size: int) -> SimulationConfig:
    """The experiment that makes the target: 1 A beam, 100 mm, 0.5 mm pixels."""
    centre = size * PIXEL / 2 + 0.3 * PIXEL
    return SimulationConfig(
        detector=DetectorConfig(fpixels=size, spixels=size, pixel_size=PIXEL, distance=0.1,
                                beam_center=(centre, centre), oversample=2),
        crystal=CrystalConfig(cell=(40e-10, 45e-10, 50e-10, 90 * DEG, 90 * DEG, 90 * DEG),
                              N=(5, 5, 5), default_F=100.0,
                              misset=(10 * DEG, 20 * DEG, 30 * DEG)),
        beam=BeamConfig(wavelength=1e-10),
    )


def perturb(model: DiffractionModel) -> None:
    """Move the start away from the truth: cell 0.5 %, misset 0.3 deg, 1 mm, 1 pixel."""
    steps = {"crystal.cell_lengths": lambda v: v * torch.tensor([1.005, 0.995, 1.005],
                                                                 dtype=v.dtype),
             "crystal.misset": lambda v: v + torch.tensor([0.3, -0.3, 0.3], dtype=v.dtype),
             "detector.distance": lambda v: v + 1.0,
             "detector.beam_center": lambda v: v + torch.tensor([1.0, -1.0], dtype=v.dtype)}
    with torch.no_grad():
        for name, value in zip(model.names, model.values):
            value.copy_(steps[name](value))


def errors(values: dict, truth: dict) -> dict:
    """Largest |fitted - true| per parameter, in refinement units."""
    return {name: max(abs(a - b) for a, b in zip(values[name], truth[name])) for name in truth}


def relative_errors(values: dict, truth: dict) -> dict:
    """Largest |fitted - true| / |true| per parameter."""
    return {name: max(abs(a - b) / abs(b) for a, b in zip(values[name], truth[name]))
            for name in truth}


def detector_frame(clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """gain * Poisson(PSF(clean)) + Normal(0, readout) + adc: a frame in ADU."""
    counts = torch.poisson(apply_psf(clean, PSF[0], PSF[1], PSF[2]).clamp_min(0),
                           generator=generator)
    noise = torch.randn(counts.shape, generator=generator, dtype=counts.dtype) * READOUT
    return counts * GAIN + noise + ADC


def build_model(config, detector: bool, start_perturbed: bool):
    """The model to fit: the render, or the render seen through the detector."""
    model = DiffractionModel(config, refine=REFINED)
    if start_perturbed:
        perturb(model)
    if not detector:
        return model
    scale = (0.8, 0.75) if start_perturbed else (1.0, 1.0)
    response = DetectorResponse(gain=GAIN * scale[0], adc=ADC,
                                psf=(PSF[0], PSF[1] * scale[1], PSF[2]), fit=("gain", "fwhm"))
    return DetectedModel(model, response, readout=READOUT)


def run_fit(config, target, iterations: int, start_perturbed: bool, verbose: bool,
            detector: bool = False):
    """Fit a model started at the truth (optionally perturbed) to the target."""
    model = build_model(config, detector, start_perturbed)

    def show(step, loss, model):
        if verbose:
            values = "  ".join(f"{n.split('.')[-1]}=" + ",".join(f"{v:.5f}" for v in vals)
                               for n, vals in model.natural_values().items())
            print(f"  iter {step:3d}  loss {loss:.6e}  {values}", flush=True)

    loss = model.loss if detector else "poisson"
    return model, fit(model, target, iterations=iterations, loss=loss, callback=show)


def main(argv: list[str] | None = None) -> dict:
    """Run the example; returns a summary (errors per parameter, loss histories)."""
    args = _parser().parse_args(argv)
    config = true_config(args.size)
    with torch.no_grad():
        clean = simulate(config).image
    generator = torch.Generator().manual_seed(args.seed)
    if args.detector:
        target = detector_frame(clean, generator)
        kind = "PSF, gain and read-out noise"
    else:
        target = clean if args.no_noise else torch.poisson(clean, generator=generator)
        kind = "no noise" if args.no_noise else "Poisson noise"
    truth = build_model(config, args.detector, False).natural_values()
    print(f"target: {args.size}x{args.size} pixels, max {float(target.max()):.0f} "
          f"{'ADU' if args.detector else 'photons'}, {kind}")
    summary = {"truth": truth}
    if args.detector or not args.no_noise:
        print("fit started from the true values (noise limit):")
        _, limit = run_fit(config, target, args.iterations, False, args.verbose, args.detector)
        summary["noise_limit"] = errors(limit.values, truth)
    print("fit started from the perturbed values:")
    model, result = run_fit(config, target, args.iterations, True, True, args.detector)
    summary.update(errors=errors(result.values, truth), losses=result.losses,
                   relative=relative_errors(result.values, truth), values=result.values)
    _print_summary(summary)
    if args.out is not None:
        with torch.no_grad():
            fitted = model.expected_frame() if args.detector else model()
        _write_pictures(Path(args.out), target, fitted, result.losses, kind)
    return summary


def _print_summary(summary: dict) -> None:
    print(f"{'parameter':24s} {'error':>12s} {'noise limit':>12s} {'relative':>10s}")
    for name, err in summary["errors"].items():
        limit = summary.get("noise_limit", {}).get(name, float("nan"))
        print(f"{name:24s} {err:12.3e} {limit:12.3e} {summary['relative'][name]:10.2e}")


def _write_pictures(folder: Path, target, fitted, losses, kind: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fit_images(folder / "images.png", target, fitted, title="cell, misset, distance and "
               f"beam centre refined against an image with {kind}")
    convergence(folder / "convergence.png", losses)
    print(f"wrote {folder / 'images.png'} and {folder / 'convergence.png'}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="pixels per detector edge")
    parser.add_argument("--iterations", type=int, default=30, help="outer L-BFGS steps")
    parser.add_argument("--no-noise", action="store_true", help="fit the noiseless image")
    parser.add_argument("--detector", action="store_true",
                        help="fit a detector frame (PSF, gain, read-out noise) in ADU")
    parser.add_argument("--seed", type=int, default=1, help="seed of the Poisson noise")
    parser.add_argument("--out", default=None, help="folder for the PNG pictures")
    parser.add_argument("--verbose", action="store_true", help="also print the noise-limit fit")
    return parser


if __name__ == "__main__":
    main(sys.argv[1:])
