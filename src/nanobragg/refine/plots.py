"""Figures of a fit, drawn with matplotlib (optional: ``pip install nanobragg[plot]``).

Every figure has a title, labelled axes and, for images, a colour bar in photons, so a
picture read on its own says what it shows.
"""

from __future__ import annotations

import os

import numpy as np
import torch


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as err:
        raise ImportError("figures need matplotlib: pip install nanobragg[plot]") from err
    return pyplot


def _array(image) -> np.ndarray:
    return np.asarray(torch.as_tensor(image).detach().cpu(), dtype=np.float64)


def fit_images(path: str | os.PathLike[str], target, fitted, title: str = "fit") -> None:
    """Save target, fit and residual (target - fit) side by side, each with a colour bar.

    Args:
        path: PNG (or any matplotlib format, by the suffix) to write.
        target, fitted: images, shape (slow, fast), photons per pixel.
        title: the figure's title.
    """
    pyplot = _pyplot()
    target, fitted = _array(target), _array(fitted)
    residual = target - fitted
    top = float(np.percentile(target, 99.5)) or 1.0
    bound = float(np.percentile(np.abs(residual), 99.5)) or 1.0
    figure, axes = pyplot.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    panels = [(target, "target (measured)", "viridis", 0.0, top),
              (fitted, "model", "viridis", 0.0, top),
              (residual, "residual: target - model", "RdBu_r", -bound, bound)]
    for ax, (image, name, cmap, low, high) in zip(axes, panels):
        shown = ax.imshow(image, cmap=cmap, vmin=low, vmax=high, origin="upper",
                          interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("fast pixel")
        ax.set_ylabel("slow pixel")
        figure.colorbar(shown, ax=ax, label="photons per pixel", shrink=0.85)
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def convergence(path: str | os.PathLike[str], losses: list[float],
                title: str = "L-BFGS convergence") -> None:
    """Save the loss above its final value against the outer iteration (log scale).

    Args:
        path: file to write.
        losses: loss per outer iteration (the first is the start).
        title: the figure's title.
    """
    pyplot = _pyplot()
    values = np.asarray(losses, dtype=np.float64)
    excess = values - values.min()
    floor = max(float(np.abs(values).max()) * 1e-16, 1e-300)
    figure, ax = pyplot.subplots(figsize=(6, 4), constrained_layout=True)
    ax.semilogy(np.arange(values.size), np.maximum(excess, floor), marker="o")
    ax.set_title(title)
    ax.set_xlabel("outer L-BFGS iteration")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("loss - final loss")
    ax.grid(True, which="both", alpha=0.3)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
