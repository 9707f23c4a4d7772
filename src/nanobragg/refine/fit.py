"""Fitting a :class:`~nanobragg.refine.module.DiffractionModel` to a measured image by L-BFGS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .losses import least_squares, poisson_nll

#: Loss functions by name: ``f(predicted, measured, mask) -> scalar``.
LOSSES = {"poisson": poisson_nll, "least_squares": least_squares}


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
        values: refined values in refinement units (Angstrom, degrees, mm, pixels), by name.
        losses: loss after each outer iteration (the first entry is the start).
        iterations: outer iterations run.
        converged: the relative change of the loss fell below the tolerance.
    """

    values: dict[str, list[float]]
    losses: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False


def fit(model, measured, mask=None, loss: str | Callable = "poisson", iterations: int = 30,
        rtol: float = 1e-12, inner_steps: int = 20,
        callback: Callable[[int, float, object], None] | None = None) -> FitResult:
    """Minimise a loss of ``model()`` against ``measured`` with L-BFGS (strong Wolfe).

    The model's parameters are in natural units, so the optimiser's default step works
    for every kind of parameter without tuning.

    Args:
        model: a DiffractionModel (any module whose ``forward()`` renders the image).
        measured: counts per pixel, shape (slow, fast).
        mask: nonzero for pixels to use (None: all).
        loss: ``"poisson"`` (deviance), ``"least_squares"``, or a function
            ``loss(predicted, measured, mask) -> scalar`` (e.g. a
            :class:`~nanobragg.refine.detected.DetectedModel`'s ``loss``).
        iterations: at most this many outer L-BFGS steps.
        rtol: stop when an outer step changes the loss by less than this fraction.
        inner_steps: function evaluations inside one outer step.
        callback: called as ``callback(iteration, loss, model)`` after every outer step.

    Returns:
        The refined values and the loss history.
    """
    if callable(loss):
        loss_fn = loss
    elif loss in LOSSES:
        loss_fn = LOSSES[loss]
    else:
        raise ValueError(f"loss: '{loss}' is not one of {', '.join(LOSSES)} or a function")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.LBFGS(trainable, lr=1.0, max_iter=inner_steps,
                                  history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=0.0, tolerance_change=0.0)

    def closure():
        optimiser.zero_grad()
        value = loss_fn(model(), measured, mask)
        value.backward()
        return value

    with torch.no_grad():
        result = FitResult(values={}, losses=[float(loss_fn(model(), measured, mask))])
    for step in range(1, iterations + 1):
        optimiser.step(closure)
        with torch.no_grad():
            result.losses.append(float(loss_fn(model(), measured, mask)))
        result.iterations = step
        if callback is not None:
            callback(step, result.losses[-1], model)
        before, after = result.losses[-2], result.losses[-1]
        if abs(before - after) <= rtol * max(abs(before), 1e-300):
            result.converged = True
            break
    result.values = model.natural_values()
    return result
