"""Losses of a rendered image against a measured one (photon counts), with a pixel mask."""

from __future__ import annotations

import math

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
    counted = n > 0
    # n log(mu / n) only where n > 0: a pixel with no count and no prediction adds 0 and
    # a zero gradient (xlogy's gradient there is 0 / 0)
    ratio = torch.where(counted, mu, 1.0) / torch.where(counted, n, 1.0)
    return (mu - n - torch.where(counted, n * torch.log(ratio), 0.0)).sum()


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


#: Most photon counts summed per pixel; wider pixels use the Laplace approximation.
MAX_TERMS = 257
#: Half-width of the summed window, in widths of the summand around its peak.
_WINDOW_WIDTHS = 8.0
_PIXELS_PER_BLOCK = 1 << 14
_NEWTON_STEPS = 30


def poisson_gaussian_nll(predicted: torch.Tensor, measured, readout, gain=1.0, adc=0.0,
                         mask=None) -> torch.Tensor:
    """Negative log-likelihood of detector values with Poisson photons and read-out noise.

    A pixel reads ``y = gain * n + adc + e`` (ADU) with ``n ~ Poisson(mu)`` photons and
    ``e ~ Normal(0, readout^2)``, so its density is ``p(y) = sum_n Poisson(n; mu)
    Normal(y; gain n + adc, readout^2)``. The summand is log-concave in ``n``; the sum is
    taken in log space over the counts within 8 of its widths of its peak (the terms left
    out are below exp(-32) of the largest), which is exact for low counts, for high counts,
    for pixels far from their prediction and for the comb of separate peaks a read-out
    noise below the gain gives. Where that window would hold more than ``MAX_TERMS``
    counts (both the read-out noise and the count above about 16 photons) the sum is
    replaced by its Laplace approximation at the peak (relative error of the density
    about 1/(12 n)).

    Args:
        predicted: expected photons per pixel ``mu`` (>= 0), shape (slow, fast).
        measured: detector values ``y`` (ADU), same shape.
        readout: read-out noise (ADU rms, > 0), a scalar or per pixel.
        gain: ADU per photon (> 0), a scalar or per pixel.
        adc: offset (ADU), a scalar or per pixel.
        mask: nonzero for pixels to use (None: all).

    Returns:
        ``-sum log p(y)`` over the kept pixels (the densities' constants included), a
        scalar tensor, differentiable in ``predicted``, ``readout``, ``gain`` and ``adc``.
    """
    mu, y = _selected(predicted, measured, mask)
    sigma, g, offset = (_per_pixel(v, predicted, mask) for v in (readout, gain, adc))
    if bool((sigma.detach() <= 0).any()) or bool((g.detach() <= 0).any()):
        raise ValueError("readout noise and gain must be > 0")
    total = mu.new_zeros(())
    for start in range(0, mu.numel(), _PIXELS_PER_BLOCK):
        part = slice(start, start + _PIXELS_PER_BLOCK)
        total = total + _block_nll(mu[part], y[part], sigma[part], g[part], offset[part])
    return total


def _per_pixel(value, predicted: torch.Tensor, mask) -> torch.Tensor:
    """A scalar or per-pixel parameter as one value per kept pixel (flattened)."""
    value = torch.as_tensor(value, dtype=predicted.dtype, device=predicted.device)
    full = value.expand(predicted.shape)
    if mask is None:
        return full.reshape(-1)
    return full[torch.as_tensor(mask, device=predicted.device) != 0]


def _log_summand(n, mu, y, sigma, gain, adc) -> torch.Tensor:
    """log Poisson(n; mu) + log Normal(y; gain n + adc, sigma^2) at counts ``n``.

    ``mu`` = 0 is taken as the dtype's smallest normal number inside the logarithm, so the
    gradient stays finite (it then lacks the log's part, which no count can show).
    """
    residual = (y - gain * n - adc) / sigma
    return (torch.xlogy(n, _floored(mu)) - mu - torch.lgamma(n + 1)
            - 0.5 * residual * residual - torch.log(sigma) - 0.5 * math.log(2 * math.pi))


def _floored(mu: torch.Tensor) -> torch.Tensor:
    """``mu`` with 0 raised to the dtype's smallest normal number (for its logarithm)."""
    return torch.clamp(mu, min=torch.finfo(mu.dtype).tiny)


def _slope(n, mu, y, sigma, gain, adc) -> torch.Tensor:
    """d/dn of :func:`_log_summand`: ``log mu - digamma(n + 1) + gain (y - gain n - adc) /
    sigma^2``, falling monotonically in ``n``."""
    return torch.log(_floored(mu)) - torch.digamma(n + 1) + gain * (y - gain * n - adc) / (
        sigma * sigma)


def _peak(mu, y, sigma, gain, adc) -> tuple[torch.Tensor, torch.Tensor]:
    """The summand's peak ``n*`` (>= 0, continuous) and its width there (in counts).

    Newton steps on the derivative ``log mu - digamma(n + 1) + gain (y - gain n - adc) /
    sigma^2``, which falls monotonically; started from the precision-weighted mean of
    the Poisson's and the Gaussian's centres. No gradient flows through the peak.
    """
    with torch.no_grad():
        spread = (sigma / gain) ** 2
        centre = (y - adc) / gain
        n = torch.clamp((mu * centre + spread * mu) / (mu + spread), min=0.0)
        n = torch.where(mu > 0, n, torch.zeros_like(n))
        precision = gain * gain / (sigma * sigma)
        for _ in range(_NEWTON_STEPS):
            curvature = torch.polygamma(1, n + 1) + precision
            n = torch.clamp(n + _slope(n, mu, y, sigma, gain, adc) / curvature, min=0.0)
        width = 1.0 / torch.sqrt(torch.polygamma(1, n + 1) + precision)
        return n, width


def _block_nll(mu, y, sigma, gain, adc) -> torch.Tensor:
    """Summed -log p(y) of a block of pixels (1-D tensors)."""
    peak, width = _peak(mu, y, sigma, gain, adc)
    half = torch.ceil(_WINDOW_WIDTHS * width) + 1.0
    summed = 2 * half + 1 <= MAX_TERMS
    total = mu.new_zeros(())
    if bool(summed.any()):
        pick = (t[summed] for t in (mu, y, sigma, gain, adc))
        total = total + _window_nll(*pick, peak[summed], int(half[summed].max()))
    if bool((~summed).any()):
        pick = (t[~summed] for t in (mu, y, sigma, gain, adc))
        total = total + _laplace_nll(*pick, peak[~summed])
    return total


def _window_nll(mu, y, sigma, gain, adc, peak, half: int) -> torch.Tensor:
    """-log of the sum over the 2 half + 1 counts around the peak (none below 0)."""
    first = torch.clamp(torch.round(peak) - half, min=0.0)
    n = first[:, None] + torch.arange(2 * half + 1, dtype=mu.dtype, device=mu.device)
    terms = _log_summand(n, *(t[:, None] for t in (mu, y, sigma, gain, adc)))
    return -torch.logsumexp(terms, dim=1).sum()


def _laplace_nll(mu, y, sigma, gain, adc, peak) -> torch.Tensor:
    """-log of the Laplace approximation of the sum: the summand at its peak times
    sqrt(2 pi) times its width there.

    One Newton step from the (detached) peak carries the peak's dependence on the
    arguments into the gradient (its value moves by rounding only).
    """
    precision = gain * gain / (sigma * sigma)
    slope = _slope(peak, mu, y, sigma, gain, adc)
    peak = peak + slope / (torch.polygamma(1, peak + 1) + precision).detach()
    curvature = torch.polygamma(1, peak + 1) + precision
    at_peak = _log_summand(peak, mu, y, sigma, gain, adc)
    return -(at_peak + 0.5 * math.log(2 * math.pi) - 0.5 * torch.log(curvature)).sum()
