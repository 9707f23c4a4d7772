"""Time the seeded Poisson noise image (``-noisefile``) per mean brightness.

For each mean, a (size, size) float32 image of exponential random means (numpy seed 0;
``--flat``: every pixel the mean itself) is turned into a noise image with
``poisson_noise_image(image, seed)``; the median, minimum and maximum wall time of
``--repeat`` runs are printed, after one untimed run that builds the compiled library
if needed.

    python benchmarks/noise_bench.py [--size 4096] [--means 0.01 1 5 50 500 5000 1e5 5e6]
        [--repeat 5] [--seed -12345] [--flat]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from nanobragg.products.noise import poisson_noise_image


def time_mean(mean: float, size: int, repeat: int, seed: int, flat: bool) -> list[float]:
    """Wall seconds of ``repeat`` noise images of one mean."""
    if flat:
        image = np.full((size, size), mean, dtype=np.float32)
    else:
        image = np.random.default_rng(0).exponential(mean, (size, size)).astype(np.float32)
    poisson_noise_image(image[:64, :64], seed)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        poisson_noise_image(image, seed)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--means", type=float, nargs="+",
                        default=[0.01, 1, 5, 50, 500, 5000, 1e5, 5e6])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=-12345)
    parser.add_argument("--flat", action="store_true", help="constant images, not exponential")
    args = parser.parse_args(argv)
    kind = "flat" if args.flat else "exponential"
    print(f"{args.size}^2 {kind} noise image, median of {args.repeat} runs, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'mean':>10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for mean in args.means:
        times = time_mean(mean, args.size, args.repeat, args.seed, args.flat)
        print(f"{mean:>10g} {statistics.median(times):>9.3f} {min(times):>7.3f} "
              f"{max(times):>7.3f}")


if __name__ == "__main__":
    main()
