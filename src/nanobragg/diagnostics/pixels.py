"""Run the simulation kernel on a few pixels and keep its intermediates.

The pixel trace and the JSON taps both read the kernel's own intermediates
(``render_pixels(..., want_taps=True)``): nothing here computes physics. Values are
copied to CPU float64 NumPy arrays for formatting; ``intensity`` keeps the working
dtype's exact values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..models.sampling import Sampling
from ..models.setup import with_lookup
from ..render.kernel import render_pixels
from ..render.simulate import Setup, rendered_mask


@dataclass(frozen=True)
class PixelTaps:
    """Kernel intermediates of a list of pixels.

    Attributes:
        pixels: (slow, fast) per traced pixel, length P.
        taps: kernel taps as float64 (bool for ``dmin_skipped``) arrays, first axis P.
            Shapes: ``position``/``diffracted`` (P, T, O, 3), ``omega``, ``airpath``,
            ``capture_fraction`` (P, T, O), ``scattering`` (P, T, O, S, 3) in 1/m,
            ``polar``, ``stol``, ``dmin_skipped`` (P, T, O, S), ``hkl``, ``hkl0``,
            ``F_latt_axes`` (P, T, O, S, F, M, 3), ``F_latt``, ``F_cell`` (P, T, O, S, F, M),
            ``I_before_scaling``, ``intensity`` (P,). ``dmin_skipped`` is all False when the
            kernel gives none (no resolution cut); ``F_latt_axes`` exists for the square
            shape only.
        intensity: photons per pixel in the working dtype, shape (P,).
    """

    pixels: tuple[tuple[int, int], ...]
    taps: dict[str, np.ndarray]
    intensity: torch.Tensor


def render_taps(setup: Setup, pixels, interpolation_stop: int | None = None) -> PixelTaps:
    """Run the kernel on the given pixels, one at a time, with all intermediates.

    Each pixel is rendered alone so that tricubic interpolation is in the state the full
    render had there: on up to the pixel where it left the grid (``interpolation_stop``,
    a flat index), off after it.

    Args:
        setup: the models from :func:`nanobragg.render.simulate.prepare`.
        pixels: (slow, fast) pairs.
        interpolation_stop: flat pixel index where the render switched interpolation off.

    Raises:
        InputError: a pixel outside the detector.
    """
    pixels = tuple((int(s), int(f)) for s, f in pixels)
    det = setup.detector
    for s, f in pixels:
        if not (0 <= s < det.spixels and 0 <= f < det.fpixels):
            raise InputError(f"traced pixel (slow={s}, fast={f}) is outside the "
                             f"{det.spixels}x{det.fpixels} detector")
    device = setup.device
    outs = []
    for s, f in pixels:
        models = setup
        if interpolation_stop is not None and s * det.fpixels + f > interpolation_stop:
            models = with_lookup(setup, "nearest")
        one = torch.tensor([s], dtype=torch.long, device=device)
        with torch.no_grad():
            outs.append(render_pixels(models, one, torch.tensor([f], device=device),
                                      want_taps=True))
    taps = {name: np.concatenate([_to_numpy(o.taps[name]) for o in outs])
            for name, value in outs[0].taps.items() if value is not None}
    if "dmin_skipped" not in taps:  # the kernel leaves it out when there is no cut
        taps["dmin_skipped"] = np.zeros(taps["stol"].shape, dtype=bool)
    intensity = torch.cat([o.intensity.detach() for o in outs])
    return PixelTaps(pixels, taps, intensity)


def _to_numpy(value: torch.Tensor) -> np.ndarray:
    value = value.detach().cpu()
    if value.dtype == torch.bool:
        return value.numpy()
    return value.to(torch.float64).numpy()


def rendered_flags(config, mask, pixels, device) -> list[bool]:
    """Whether the C visits each pixel (inside the ROI and not masked)."""
    keep = rendered_mask(config, mask, device)
    return [bool(keep[s, f]) for s, f in pixels]


def applied_factors(sampling: Sampling, taps: dict[str, np.ndarray], p: int) -> dict:
    """The C's ``omega_pixel``, ``polar`` and ``capture_fraction`` when the pixel ends.

    Without ``-oversample_*`` these are the cached values the kernel applies once per
    pixel (first sub-pixel; capture fraction of the last layer); with the flag, the value
    of the last evaluation (the C's variable after the loops).

    Args:
        sampling: the sampling model (the oversample flags).
        taps: arrays of :class:`PixelTaps`.
        p: index of the pixel in the taps.

    Returns:
        Dict of floats ``omega``, ``polar``, ``capture_fraction``.
    """
    omega, capture = taps["omega"][p], taps["capture_fraction"][p]
    polar = taps["polar"][p].reshape(-1)
    kept = ~taps["dmin_skipped"][p].reshape(-1)
    unset = 1.0 if sampling.nopolar else 0.0
    if sampling.oversample_polar:
        polar_value = polar[kept][-1] if kept.any() else unset
    elif sampling.nopolar:
        polar_value = 1.0
    else:
        polar_value = polar[kept][0] if kept.any() else 0.0
    return {
        "omega": float(omega[-1, -1] if sampling.oversample_omega else omega[0, 0]),
        "polar": float(polar_value),
        "capture_fraction": float(capture[-1, -1] if sampling.oversample_thick else capture[-1, 0]),
    }
