"""Data-set throughput: a many-shot 256x256 float32 data set rendered locally, and the
speed-up of batched rendering (several shots per kernel call) over one shot at a time.

    python benchmarks/dataset_bench.py [--shots 1000] [--pixels 256] [--batch 8]

Prints shots per second of the whole local run (rendering, Poisson noise, compressed
HDF5 files and manifest) and, for a sample of shots, the render time per shot with
``batch=1`` and with ``--batch``, alternated over ``--repeats`` rounds (medians), for
three amounts of per-shot variation (the less varies, the more a batch shares). The
load average is printed before and after: on a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from nanobragg.dataset.description import parse_description
from nanobragg.dataset.render import render_shots
from nanobragg.dataset.runner import run_local

RIGHT = math.pi / 2


#: Variation of the speed-up scenarios, from most to least shared between shots.
SCENARIOS = {
    "orientation only": "orientation",
    "+ cell, mosaic, wavelength, fluence": "full",
    "+ distance and beam-centre jitter": "jitter",
}


def description(pixels: int, shots: int, batch: int, scenario: str = "full",
                device: str = "cpu"):
    """A serial-crystallography-like set: random orientations and, unless ``scenario`` is
    ``"orientation"``, cell, mosaic, wavelength and fluence per shot and Poisson noise;
    ``"jitter"`` adds distance and beam-centre jitter; rendered on ``device``."""
    variation = {"orientation": "random", "mosaic_spread_deg": 0.05, "mosaic_domains": 2}
    if scenario != "orientation":
        variation.update({
            "cell_length_sigma": 0.003, "mosaic_spread_deg": {"uniform": [0.02, 0.1]},
            "wavelength_A": {"normal": [1.0, 0.002]},
            "fluence": {"log_uniform": [1e29, 1e30]}, "noise": "poisson"})
    if scenario == "jitter":
        variation.update(beam_center_sigma_mm=0.05, distance_sigma_mm=0.5)
    return parse_description({
        "seed": 1, "shots": shots, "shots_per_file": 50, "batch": batch, "dtype": "float32",
        "device": device,
        "experiment": {"config": {
            "detector": {"fpixels": pixels, "spixels": pixels, "pixel_size": 1.72e-4 * 256
                         / pixels, "distance": 0.1, "oversample": 1},
            "crystal": {"cell": [79e-10, 79e-10, 38e-10, RIGHT, RIGHT, RIGHT],
                        "N": [10, 10, 10], "default_F": 100},
            "beam": {"wavelength": 1e-10},
        }},
        "variation": variation,
    })


def batch_speedup(desc, sample: int, batch: int, repeats: int) -> dict[str, float]:
    """Median wall and CPU (process) seconds per shot with batch=1 and with ``batch``,
    alternated; CPU time is the steadier figure on a shared machine."""
    indices = list(range(sample))
    render_shots(desc, indices[:batch], batch)  # warm-up
    times: dict[str, list[float]] = {"wall 1": [], "cpu 1": [], "wall n": [], "cpu n": []}
    for _ in range(repeats):
        for size, tag in ((1, "1"), (batch, "n")):
            wall, cpu = time.perf_counter(), time.process_time()
            render_shots(dataclasses.replace(desc, batch=size), indices)
            times[f"wall {tag}"].append((time.perf_counter() - wall) / sample)
            times[f"cpu {tag}"].append((time.process_time() - cpu) / sample)
    return {key: statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1000, help="0: only the speed-up")
    parser.add_argument("--pixels", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sample", type=int, default=32, help="shots per speed-up round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--no-speedup", action="store_true", help="only the throughput")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    for label, scenario in ({} if args.no_speedup else SCENARIOS).items():
        desc = description(args.pixels, args.sample, args.batch, scenario, args.device)
        t = batch_speedup(desc, args.sample, args.batch, args.repeats)
        print(f"batch speed-up ({label}), ms/shot one at a time -> in batches of "
              f"{args.batch}: wall {t['wall 1'] * 1e3:.0f} -> {t['wall n'] * 1e3:.0f} "
              f"(x{t['wall 1'] / t['wall n']:.2f}), cpu {t['cpu 1'] * 1e3:.0f} -> "
              f"{t['cpu n'] * 1e3:.0f} (x{t['cpu 1'] / t['cpu n']:.2f})")
    if args.shots > 0:
        throughput(description(args.pixels, args.shots, args.batch, device=args.device),
                   args.out, args.pixels)


def throughput(desc, out: Path | None, pixels: int) -> None:
    """Render the whole data set locally and print shots per second."""
    with tempfile.TemporaryDirectory() as scratch:
        out = out or Path(scratch) / "set"
        start, cpu = time.perf_counter(), time.process_time()
        manifest = run_local(desc, out)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        size = sum(p.stat().st_size for p in Path(out).glob("*.h5"))
    done = manifest["done"]
    print(f"{done} shots {pixels}x{pixels} float32 in {elapsed:.1f} s: {done / elapsed:.2f} "
          f"shots/s ({cpu:.0f} CPU s, {size / 2**20:.0f} MiB of HDF5), "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
