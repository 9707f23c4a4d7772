"""miniCBF images with a Pilatus-style header and byte-offset compressed int32 pixels.

Written by hand (no dependency). The header carries what DIALS's and XDS's Pilatus
readers take from a miniCBF: pixel size, sensor, exposure, wavelength, detector
distance, direct-beam position (fast, slow pixels), start angle and increment. Those
readers assume an untilted detector facing the beam; a rotated detector is only
described fully by the NeXus output.

The header convention follows the image size: ``PILATUS_1.2`` (and "PILATUS" on the
``# Detector`` line) only for the array sizes of real Pilatus detectors, whose module
gaps DIALS's Pilatus format masks (it rejects other sizes); any other size is written
as ``GENERIC_MINI``, the convention DIALS's generic miniCBF format reads for simulated
detectors of any size.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os

import numpy as np

from ._atomic import atomic_write
from .product import ImageProduct

_BINARY_START = b"\x0c\x1a\x04\xd5"
_PADDING = 4095
#: Pilatus module (fast, slow) pixels, the gaps between modules, and modules across.
_PILATUS_MODULE, _PILATUS_GAP, _PILATUS_ACROSS = (487, 195), (7, 17), (1, 3, 5)


def is_pilatus_size(fast: int, slow: int) -> bool:
    """True for the array size of a real Pilatus (m modules across, n down, with gaps)."""
    widths = {m * _PILATUS_MODULE[0] + (m - 1) * _PILATUS_GAP[0] for m in _PILATUS_ACROSS}
    rows, rest = divmod(slow + _PILATUS_GAP[1], _PILATUS_MODULE[1] + _PILATUS_GAP[1])
    return fast in widths and rows >= 1 and rest == 0


def byte_offset_compress(pixels: np.ndarray) -> bytes:
    """CBF byte-offset compression of int32 values in row-major order.

    Each value is stored as its difference from the previous one (the first from 0): one
    signed byte if it fits in -127..127, else the byte 0x80 and a little-endian int16
    if it fits in -32767..32767, else 0x80, 0x8000 and a little-endian int32.

    Args:
        pixels: integer array (any shape), values within int32.

    Returns:
        The compressed bytes.
    """
    values = np.asarray(pixels, dtype=np.int64).reshape(-1)
    delta = np.diff(values, prepend=0)
    small = np.abs(delta) < 128
    medium = ~small & (np.abs(delta) < 32768)
    large = ~small & ~medium
    sizes = np.where(small, 1, np.where(medium, 3, 7))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    out[starts[small]] = delta[small].astype(np.int8).view(np.uint8)
    for where, width in ((medium, 2), (large, 4)):
        at = starts[where]
        out[at] = 0x80
        if width == 4:
            out[at + 1], out[at + 2] = 0x00, 0x80
            at = at + 2
        raw = delta[where].astype(f"<i{width}").view(np.uint8).reshape(-1, width)
        for byte in range(width):
            out[at + 1 + byte] = raw[:, byte]
    return out.tobytes()


def cbf_header_lines(product: ImageProduct, frame: int = 0) -> list[str]:
    """The Pilatus ``# Key value`` header lines of one frame (SI units, like a Pilatus)."""
    g = product.geometry
    panel = g.panels[0]
    start = math.degrees(g.phi_values[frame])
    model = "PILATUS (nanoBragg simulation)" if is_pilatus_size(*panel.size) else (
        "nanoBragg simulation")
    return [
        f"# Detector: {model}, S/N 000",
        f"# {product.start_time.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}",
        f"# Pixel_size {panel.pixel_size[0]:.6e} m x {panel.pixel_size[1]:.6e} m",
        f"# Silicon sensor, thickness {g.sensor_thickness:.6f} m",
        f"# Exposure_time {g.exposure:.7f} s",
        f"# Exposure_period {g.exposure:.7f} s",
        f"# Count_cutoff {g.saturation:d} counts",
        f"# Wavelength {g.wavelength * 1e10:.6f} A",
        f"# Detector_distance {g.distance:.8f} m",
        f"# Beam_xy ({g.beam_center[0]:.4f}, {g.beam_center[1]:.4f}) pixels",
        f"# Flux {g.total_flux:.6e}",
        f"# Start_angle {start:.6f} deg.",
        f"# Angle_increment {math.degrees(g.phi_increment):.6f} deg.",
        f"# Phi {start:.6f} deg.",
        "# Oscillation_axis PHI",
        "# N_oscillations 1",
    ]


def format_cbf(product: ImageProduct, frame: int = 0) -> bytes:
    """A complete miniCBF file (header, MIME section, compressed data) for one frame."""
    counts = np.ascontiguousarray(product.counts[frame], dtype=np.int32)
    slow, fast = counts.shape
    convention = "PILATUS_1.2" if is_pilatus_size(fast, slow) else "GENERIC_MINI"
    binary = byte_offset_compress(counts)
    md5 = base64.b64encode(hashlib.md5(binary).digest()).decode("ascii")
    text = "\r\n".join([
        "###CBF: VERSION 1.5, nanobragg miniCBF writer", "",
        "data_nanobragg", "",
        f'_array_data.header_convention "{convention}"',
        "_array_data.header_contents", ";", *cbf_header_lines(product, frame), ";", "",
        "_array_data.data", ";",
        "--CIF-BINARY-FORMAT-SECTION--",
        "Content-Type: application/octet-stream;",
        '     conversions="x-CBF_BYTE_OFFSET"',
        "Content-Transfer-Encoding: BINARY",
        f"X-Binary-Size: {len(binary)}",
        "X-Binary-ID: 1",
        'X-Binary-Element-Type: "signed 32-bit integer"',
        "X-Binary-Element-Byte-Order: LITTLE_ENDIAN",
        f"Content-MD5: {md5}",
        f"X-Binary-Number-of-Elements: {counts.size}",
        f"X-Binary-Size-Fastest-Dimension: {fast}",
        f"X-Binary-Size-Second-Dimension: {slow}",
        f"X-Binary-Size-Padding: {_PADDING}", "", ""])
    tail = b"\x00" * _PADDING + b"\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n\r\n"
    return text.encode("ascii") + _BINARY_START + binary + tail


def write_cbf(path: str | os.PathLike[str], product: ImageProduct) -> None:
    """Write the first (usually the only) frame as a miniCBF file, atomically.

    Raises:
        InputError: If the file cannot be written.
    """
    atomic_write(path, [format_cbf(product)], "CBF file")
