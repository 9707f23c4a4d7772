"""Time ``noisify -psf fiber -psf_fwhm 60`` (automatic radius) on a 1024^2 frame.

The input is the float image of the golden case ``noisify_psf_fiber`` (simple_cubic's
1024^2 photons-per-pixel image), read from ``../shared/golden-toolkit`` and copied to a
temporary folder; the command line is that case's with ``-psf_fwhm 60`` and no
``-psf_radius``, so every pixel gets its own radius (up to the 1024-pixel cap):

    -floatfile in_floatimage.bin -detpixels 1024 -pixel 0.1 -distance 100 -lambda 6.2
    -scale 3000 -psf fiber -psf_fwhm 60 -seed 14 -intimage int.img -noiseimage noise.img
    -nopgm

Printed: the median wall time of the whole command (a fresh Python process, torch
import included) over ``--repeat`` runs, the bare ``import torch`` time of the same
machine, the PSF stage alone (in-process), and the speed-up against the C program's
time, either measured (``--c-bin PATH`` runs a reference noisify binary you built
yourself, once; it takes minutes) or the 402 s the C takes on the project's reference
machine. ``--check N`` also compares the banded PSF (the default, merged radii) with
the exact one (one band per distinct radius) on the central N^2 crop: the fraction of
noise-image pixels that differ.

    python benchmarks/noisify_bench.py [--repeat 3] [--c-bin /tmp/noisify] [--check 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT.parent / "shared" / "golden-toolkit" / "noisify_psf_fiber"
ARGS = ("-floatfile in_floatimage.bin -detpixels 1024 -pixel 0.1 -distance 100 -lambda 6.2 "
        "-scale 3000 -psf fiber -psf_fwhm 60 -seed 14 -intimage int.img "
        "-noiseimage noise.img -nopgm").split()
C_REFERENCE_S = 402.0


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _timed(command: list[str], folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, env=_env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _ours(folder: Path) -> list[str]:
    code = "import sys; from nanobragg.cli.noisify import run; sys.exit(run())"
    return [sys.executable, "-c", code, *ARGS]


def _psf_stage() -> float:
    """Seconds of the PSF stage alone on the Poisson counts of the benchmark frame."""
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np

    from nanobragg.models.rng import f32
    from nanobragg.physics.psf_radii import reference_psf
    from nanobragg.products.detector_noise import DetectorNoiseState, photon_counts
    image = np.fromfile(CASE / "in_floatimage.bin", "<f4").reshape(1024, 1024)
    photons = (3000.0 * image.astype(np.float64)).astype(np.float32)
    counts, _ = photon_counts(photons, 0.0, 0.03, DetectorNoiseState(-14))
    start = time.perf_counter()
    reference_psf(counts, "fiber", f32(60e-6) / 1e-4, 0)
    return time.perf_counter() - start


def _check(size: int) -> None:
    """Banded against exact PSF on a central crop: noise-image pixels that differ."""
    import numpy as np

    from nanobragg.models.rng import f32
    from nanobragg.physics.psf_radii import reference_psf
    from nanobragg.products.detector_noise import DetectorNoiseState, photon_counts, readout
    image = np.fromfile(CASE / "in_floatimage.bin", "<f4").reshape(1024, 1024)
    lo = (1024 - size) // 2
    crop = image[lo:lo + size, lo:lo + size]
    photons = (3000.0 * crop.astype(np.float64)).astype(np.float32)
    counts, _ = photon_counts(photons, 0.0, 0.03, DetectorNoiseState(-14))
    results = []
    for bands in (None, 10**9):
        blurred = reference_psf(counts, "fiber", f32(60e-6) / 1e-4, 0,
                                **({} if bands is None else {"max_bands": bands}))
        results.append(readout(blurred.image, 1.0, 40.0, 0.0, 16, DetectorNoiseState(-14))[0])
    differ = float((results[0] != results[1]).mean())
    worst = int(np.abs(results[0].astype(np.int64) - results[1]).max())
    print(f"banded vs exact PSF on the central {size}^2 crop: {100 * differ:.3f}% of "
          f"noise pixels differ, by at most {worst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--c-bin", default=os.environ.get("NB_NOISIFY_BIN"))
    parser.add_argument("--check", type=int, default=0, metavar="N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(CASE / "in_floatimage.bin", folder / "in_floatimage.bin")
        _timed(_ours(folder), folder)  # builds the compiled library once if needed
        ours = [_timed(_ours(folder), folder) for _ in range(args.repeat)]
        bare = [_timed([sys.executable, "-c", "import torch"], folder)
                for _ in range(args.repeat)]
        c_time, c_label = C_REFERENCE_S, "the issue's reference figure"
        if args.c_bin:
            c_time = _timed([args.c_bin, *ARGS], folder)
            c_label = f"measured here ({args.c_bin})"
    whole = statistics.median(ours)
    print("noisify -psf fiber -psf_fwhm 60, automatic radius, 1024x1024")
    print(f"  ours, whole command (median of {args.repeat}): {whole:.2f} s "
          f"(bare 'import torch': {statistics.median(bare):.2f} s)")
    print(f"  ours, PSF stage alone: {_psf_stage():.2f} s")
    print(f"  C: {c_time:.1f} s, {c_label}")
    print(f"  speed-up (C / ours whole command): {c_time / whole:.0f}x")
    if args.check:
        _check(args.check)


if __name__ == "__main__":
    main()
