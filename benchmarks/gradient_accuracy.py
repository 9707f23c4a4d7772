"""Accuracy of the image's gradients for every differentiable entry of the parameter table.

For each entry and each point of tests/gradients/gradient_scenes.py (generic, exactly on
a Bragg peak, 1e-6 pixel from it, at the direct beam) it prints the largest absolute and
relative difference between the analytic Jacobian (autograd, float64) and central finite
differences (step 1e-6 in natural units, float64), and the largest relative difference of
the float32 Jacobian from the float64 one 1e-6 pixel from the peak (relative to the
largest float64 entry), once per engine: the eager reference and the fused kernel with
its compiled adjoint. Run: ``python benchmarks/gradient_accuracy.py [--markdown]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "gradients"))

from gradient_scenes import (  # noqa: E402
    DIFFERENTIABLE,
    POINTS,
    render,
    scene,
    start_tensor,
    with_input,
)


def jacobians(name: str, point: str, dtype=torch.float64, eps: float = 1e-6,
              engine: str = "eager"):
    """Analytic and numerical Jacobians of the image, each (pixels, inputs)."""
    values = scene(name, point)
    x = start_tensor(values, name)

    def image_of(v):
        return render(with_input(values, name, v), dtype=dtype,
                      engine=engine).reshape(-1).double()

    analytic = torch.autograd.functional.jacobian(image_of, x).reshape(9, -1)
    if dtype != torch.float64:
        return analytic, None
    columns = []
    with torch.no_grad():
        flat = x.detach().reshape(-1)
        for i in range(flat.numel()):
            step = torch.zeros_like(flat)
            step[i] = eps
            up = image_of((flat + step).reshape(x.shape))
            down = image_of((flat - step).reshape(x.shape))
            columns.append((up - down) / (2 * eps))
    return analytic, torch.stack(columns, -1)


def errors(analytic: torch.Tensor, numerical: torch.Tensor) -> tuple[float, float]:
    """Largest |a - n| and largest |a - n| / max(|n|) per input column."""
    diff = (analytic - numerical).abs()
    scale = numerical.abs().amax(0).clamp_min(1e-30)
    return float(diff.max()), float((diff.amax(0) / scale).max())


def float32_error(name: str, engine: str) -> float:
    """Largest |J32 - J64| / max |J64| per input, 1e-6 pixel from the peak."""
    j64, _ = jacobians(name, "near", engine=engine)
    j32, _ = jacobians(name, "near", torch.float32, engine=engine)
    scale = j64.abs().amax(0).clamp_min(1e-30)
    return float(((j32 - j64).abs().amax(0) / scale).max())


def main(markdown: bool) -> None:
    header = ["engine", "parameter"] + [f"{p} abs / rel" for p in POINTS] + ["float32 rel"]
    print(("| " + " | ".join(header) + " |") if markdown else "  ".join(header))
    if markdown:
        print("|" + "---|" * len(header))
    for engine in ("eager", "fast"):
        for name in DIFFERENTIABLE:
            cells = []
            for point in POINTS:
                a, r = errors(*jacobians(name, point, engine=engine))
                cells.append(f"{a:.1e} / {r:.1e}")
            cells.append(f"{float32_error(name, engine):.1e}")
            row = [engine, name] + cells
            print(("| " + " | ".join(row) + " |") if markdown else "  ".join(row),
                  flush=True)


if __name__ == "__main__":
    main("--markdown" in sys.argv)
