"""Losses of a rendered image against a measured one (photon counts), with a pixel mask."""

from __future__ import annotations

import torch


def _selected(predicted: torch.Tensor, measured, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened predicted and measured values of the pixels the mask keeps."""
    measured = torch.as_tensor(measured, dtype=predicted.dtype, device=predicted.device)
    if measured.shape != predicted.shape:
        raise ValueError(f"measured image has shape {tuple(measured.shape)}, "
                         f"the model renders {tuple(predicted.shape)}")
    if mask is None:
        return predicted.reshape(-1), measured.reshape(-1)
    keep = torch.as_tensor(mask, device=predicted.device) != 0
    if keep.shape != predicted.shape:
        raise ValueError(f"mask has shape {tuple(keep.shape)}, the image {tuple(predicted.shape)}")
    return predicted[keep], measured[keep]


def poisson_nll(predicted: torch.Tensor, measured, mask=None, background: float = 0.0
                ) -> torch.Tensor:
    """Poisson deviance ``sum(mu - n - n*log(mu/n))`` over the kept pixels (0 at a perfect fit).

    It is the negative log-likelihood of counts ``n`` given expected counts ``mu`` up to a
    constant that does not depend on the model, so its minimum is the maximum-likelihood
    fit; twice it is asymptotically chi-square distributed.

    Args:
        predicted: expected photons per pixel, shape (slow, fast); must be > 0 where a
            measured count is > 0 (add ``background`` if the model can render 0).
        measured: counts, same shape (tensor or array).
        mask: nonzero for pixels to use (None: all).
        background: constant expected photons added to every prediction.

    Returns:
        The deviance, a scalar tensor.
    """
    mu, n = _selected(predicted, measured, mask)
    mu = mu + background
    return (mu - n - torch.xlogy(n, mu) + torch.xlogy(n, n)).sum()


def least_squares(predicted: torch.Tensor, measured, mask=None, weights=None) -> torch.Tensor:
    """``sum(w * (predicted - measured)^2)`` over the kept pixels.

    Args:
        predicted: photons per pixel, shape (slow, fast).
        measured: same shape.
        mask: nonzero for pixels to use (None: all).
        weights: per-pixel weights (e.g. 1/variance), same shape; None: 1.

    Returns:
        The weighted sum of squares, a scalar tensor.
    """
    mu, n = _selected(predicted, measured, mask)
    residual = mu - n
    if weights is None:
        return (residual * residual).sum()
    w, _ = _selected(torch.as_tensor(weights, dtype=predicted.dtype), measured, mask)
    return (w * residual * residual).sum()
