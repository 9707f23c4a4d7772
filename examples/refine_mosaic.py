"""Refine a mosaic crystal at refinement size: cell, misset, distance, beam centre, mosaic
spread, crystal size and the amplitudes of the strongest reflections, against a noisy image.

The experiment is a 79 x 79 x 38 A cell with 10 mosaic domains, 3 x 3 divergence sources
and 2 x 2 sub-pixels on a 256 x 256 detector of 0.172 mm pixels at 100 mm (the engine
issue's refinement case), with structure factors from a random P1 table (acentric Wilson
amplitudes, equal Friedel mates). A target is rendered from the true values with Poisson
noise. The fit starts from perturbed values and minimises the Poisson deviance with
L-BFGS; the same fit started at the truth shows the noise limit. Run::

    python examples/refine_mosaic.py --out mosaic_out              # 256 x 256
    python examples/refine_mosaic.py --size 64 --iterations 10     # a quicker look

It prints the loss, the wall time of each outer L-BFGS iteration, the errors against the
truth beside the noise limit, and writes ``images.png`` (target, fit, residual with
colour bars) and ``convergence.png`` into ``--out`` (needs ``pip install nanobragg[plot]``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import time
from pathlib import Path

import torch

import nanobragg as nb
from nanobragg.physics.structure_factors import FTable
from nanobragg.refine.fit import fit
from nanobragg.refine.module import DiffractionModel
from nanobragg.refine.reflections import strongest_reflections

REFINED = ["crystal.cell_lengths", "crystal.misset", "detector.distance",
           "detector.beam_center", "crystal.mosaic_spread", "crystal.N"]
#: Refined in the second macro-cycle only (with the amplitudes).
SHAPE = ("crystal.mosaic_spread", "crystal.N")
#: Start = truth + these steps (refinement units: A, deg, mm, pixels, deg, cells).
STEPS = {"crystal.cell_lengths": [0.2, -0.2, 0.1], "crystal.misset": [0.1, -0.1, 0.1],
         "detector.distance": [0.5], "detector.beam_center": [0.5, -0.5],
         "crystal.mosaic_spread": [0.02], "crystal.N": [-0.5, 0.5, -0.5]}


def experiment(size: int) -> nb.SimulationConfig:
    """The refinement-sized case (beam centre scaled with the detector size), with the
    smooth rounding a refinement needs (the command's C roundings make the image a
    staircase in the mosaic spread)."""
    centre = f"{22 * size / 256:g}"
    config = nb.from_command_line([
        "-cell", "79", "79", "38", "90", "90", "90", "-default_F", "100", "-N", "10",
        "-lambda", "1.0", "-distance", "100", "-detpixels", str(size), "-pixel", "0.172",
        "-oversample", "2", "-mosaic", "0.1", "-mosaic_domains", "10",
        "-misset", "10", "20", "30", "-Xbeam", centre, "-Ybeam", centre,
        "-divergence", "0.1", "-divsteps", "3"])
    return dataclasses.replace(config, crystal=dataclasses.replace(config.crystal,
                                                                   c_rounding=False))


def random_table(seed: int, extent: tuple[int, int, int] = (26, 26, 13)) -> FTable:
    """P1 amplitudes |F| of acentric Wilson statistics (mean F near 100), mates equal.

    F000 is 0: the direct beam, behind a beam stop on a real detector, would hold most of
    the image's photons and no information on the crystal.
    """
    generator = torch.Generator().manual_seed(seed)
    shape = tuple(2 * n + 1 for n in extent)
    parts = torch.randn((2,) + shape, generator=generator, dtype=torch.float64)
    F = 100.0 / math.sqrt(math.pi / 4) / math.sqrt(2) * torch.hypot(parts[0], parts[1])
    F = (F + F.flip(0, 1, 2)) / 2
    F[extent] = 0.0
    return FTable(F, tuple(-n for n in extent), 0.0, True)


def beam_stop(config: nb.SimulationConfig) -> torch.Tensor:
    """Pixels the fit uses: all but a disc around the direct beam (uint8, slow x fast).

    The disc covers, with a 10 % margin, the pixels whose nearest reflection is 000
    (|h|, |k|, |l| < 1/2), where F000 = 0 makes the image exactly 0: a moved beam centre
    would otherwise put counts where the model predicts none.
    """
    det, cell = config.detector, config.crystal.cell
    corner = 0.5 * math.sqrt(sum(1.0 / length**2 for length in cell[:3]))
    radius = 1.1 * det.distance * config.beam.wavelength * corner
    pixel = det.pixel_size
    slow = (torch.arange(det.spixels, dtype=torch.float64) + 0.5) * pixel - det.beam_center[1]
    fast = (torch.arange(det.fpixels, dtype=torch.float64) + 0.5) * pixel - det.beam_center[0]
    return (torch.hypot(slow[:, None], fast[None, :]) > radius).to(torch.uint8)


def model_for(config, table, reflections, engine: str = "auto") -> DiffractionModel:
    return DiffractionModel(config, refine=REFINED, table=table, refine_F=reflections,
                            engine=engine)


def perturb(model: DiffractionModel) -> None:
    """Move the start: the STEPS, and every refined amplitude by +-8 %."""
    with torch.no_grad():
        for name, value in zip(model.names, model.values):
            value.add_(torch.tensor(STEPS[name], dtype=value.dtype).reshape(value.shape))
        signs = torch.tensor([(-1.0) ** i for i in range(model.F_values.numel())],
                             dtype=model.F_values.dtype)
        model.F_values.mul_(1 + 0.08 * signs)


@contextlib.contextmanager
def frozen(model: DiffractionModel, names: tuple[str, ...]):
    """Hold the named parameters (and the amplitudes) fixed inside the block.

    A first macro-cycle on the geometry alone keeps the line search of a far start from
    stepping the mosaic spread or N out of their domain (> 0).
    """
    held = [v for n, v in zip(model.names, model.values) if n in names] + [model.F_values]
    for value in held:
        value.requires_grad_(False)
    try:
        yield
    finally:
        for value in held:
            value.requires_grad_(True)


def run_fit(model, target, mask, iterations: int, label: str, inner: int = 20):
    """Fit and print the loss and the seconds of each outer iteration."""
    clock = [time.perf_counter()]
    seconds = []

    def show(step, loss, _model):
        now = time.perf_counter()
        seconds.append(now - clock[0])
        clock[0] = now
        print(f"  {label} iter {step:3d}  loss {loss:.8e}  {seconds[-1]:7.2f} s", flush=True)

    result = fit(model, target, mask, iterations=iterations, inner_steps=inner,
                 callback=show)
    return result, seconds


def errors(values: dict, truth: dict) -> dict:
    """Largest |fitted - true| per parameter, in refinement units."""
    return {name: max(abs(a - b) for a, b in zip(values[name], truth[name])) for name in truth}


def main(argv: list[str] | None = None) -> dict:
    """Run the example; returns the errors, the noise limit and the iteration times."""
    args = _parser().parse_args(argv)
    config, table = experiment(args.size), random_table(args.seed)
    reflections = strongest_reflections(config, table, args.reflections)
    truth_model = model_for(config, table, reflections, args.engine)
    truth = truth_model.natural_values()
    with torch.no_grad():
        clean = truth_model()
    target = torch.poisson(clean, generator=torch.Generator().manual_seed(args.seed))
    mask = beam_stop(config)
    print(f"target: {args.size}x{args.size} pixels, max {float(target.max()):.0f} photons, "
          f"{len(reflections)} amplitudes refined: {reflections}")
    print("fit started from the true values (noise limit):")
    limit, _ = run_fit(truth_model, target, mask, args.iterations, "limit", args.inner)
    print("fit started from the perturbed values: the geometry first, then everything")
    model = model_for(config, table, reflections, args.engine)
    perturb(model)
    first = max(1, args.iterations // 3)
    with frozen(model, SHAPE):
        start, seconds = run_fit(model, target, mask, first, "geometry", args.inner)
    result, more = run_fit(model, target, mask, args.iterations - first, "all",
                           args.inner)
    summary = {"truth": truth, "errors": errors(result.values, truth),
               "noise_limit": errors(limit.values, truth),
               "losses": start.losses + result.losses[1:],
               "seconds_per_iteration": seconds + more}
    _print_summary(summary)
    if args.out is not None:
        _figures(Path(args.out), target, model, result.losses)
    return summary


def _print_summary(summary: dict) -> None:
    print(f"{'parameter':24s} {'error':>12s} {'noise limit':>12s}")
    for name, err in summary["errors"].items():
        print(f"{name:24s} {err:12.3e} {summary['noise_limit'][name]:12.3e}")
    times = sorted(summary["seconds_per_iteration"])
    if times:
        print(f"median time per outer L-BFGS iteration: {times[len(times) // 2]:.2f} s "
              f"({len(times)} iterations)")


def _figures(folder: Path, target, model, losses) -> None:
    from nanobragg.refine.plots import convergence, fit_images

    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        fitted = model()
    fit_images(folder / "images.png", target, fitted, title="mosaic crystal: geometry, "
               f"mosaic spread, N and {len(model.reflections)} amplitudes refined")
    convergence(folder / "convergence.png", losses, title="Poisson deviance, L-BFGS")
    print(f"wrote {folder / 'images.png'} and {folder / 'convergence.png'}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="pixels per detector edge")
    parser.add_argument("--iterations", type=int, default=40, help="outer L-BFGS steps")
    parser.add_argument("--inner", type=int, default=20,
                        help="function evaluations per outer L-BFGS step")
    parser.add_argument("--reflections", type=int, default=10,
                        help="amplitudes of this many strongest reflections are refined")
    parser.add_argument("--seed", type=int, default=1, help="seed of the table and noise")
    parser.add_argument("--out", default=None, help="folder for the figures")
    parser.add_argument("--engine", default="auto", choices=("auto", "fast", "eager"),
                        help="render engine (auto: the fused kernel and its adjoint)")
    return parser


if __name__ == "__main__":
    main()
