"""Pictures of a fit, drawn with Pillow (optional: ``pip install nanobragg[plot]``)."""

from __future__ import annotations

import math

import numpy as np
import torch


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError as err:
        raise ImportError("plots need Pillow: pip install nanobragg[plot]") from err
    return Image, ImageDraw


def _grey(image: np.ndarray, signed: bool) -> np.ndarray:
    """8-bit picture of an image: linear in |value| up to the 99.5th percentile."""
    scale = float(np.percentile(np.abs(image), 99.5)) or 1.0
    if signed:
        return np.clip(127.5 + 127.5 * image / scale, 0, 255).astype(np.uint8)
    return np.clip(255.0 * image / scale, 0, 255).astype(np.uint8)


def side_by_side(images: list, zoom: int = 4, gap: int = 4):
    """Pillow picture of images side by side (the last one signed, e.g. a residual).

    Args:
        images: tensors or arrays of one shape (slow, fast).
        zoom: pixels per image pixel.
        gap: white columns between images.

    Returns:
        A ``PIL.Image`` (grey, 8 bit).
    """
    Image, _ = _pillow()
    arrays = [np.asarray(torch.as_tensor(i).detach().cpu(), dtype=np.float64) for i in images]
    tiles = [_grey(a, signed=k == len(arrays) - 1) for k, a in enumerate(arrays)]
    height, width = tiles[0].shape
    canvas = np.full((height, len(tiles) * (width + gap) - gap), 255, np.uint8)
    for k, tile in enumerate(tiles):
        canvas[:, k * (width + gap):k * (width + gap) + width] = tile
    picture = Image.fromarray(canvas)
    return picture.resize((picture.width * zoom, picture.height * zoom), Image.NEAREST)


def convergence_plot(losses: list[float], size: tuple[int, int] = (480, 320)):
    """Pillow line plot of log10(loss - min + tiny) against the iteration.

    Args:
        losses: loss per iteration (first = start).
        size: picture size in pixels.

    Returns:
        A ``PIL.Image`` (RGB).
    """
    Image, ImageDraw = _pillow()
    width, height = size
    margin = 40
    picture = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(picture)
    floor = min(losses)
    spread = max(losses) - floor
    tiny = spread * 1e-12 if spread > 0 else 1.0
    logs = [math.log10(v - floor + tiny) for v in losses]
    low, high = min(logs), max(logs)
    span = (high - low) or 1.0
    steps = max(len(logs) - 1, 1)
    points = [(margin + (width - 2 * margin) * i / steps,
               height - margin - (height - 2 * margin) * (v - low) / span)
              for i, v in enumerate(logs)]
    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    if len(points) > 1:
        draw.line(points, fill="blue", width=2)
    draw.text((margin, 8), "log10(loss - final loss) per iteration", fill="black")
    draw.text((margin, height - margin + 6), f"0 .. {steps}", fill="black")
    draw.text((4, margin), f"{high:.1f}", fill="black")
    draw.text((4, height - margin - 10), f"{low:.1f}", fill="black")
    return picture
