"""SMV (ADSC) images: a ``KEY=value;`` ASCII header followed by uint16 pixels."""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from nanobragg.errors import InputError
from nanobragg.io._atomic import atomic_write, read_bytes
from nanobragg.io._cnum import atof
from nanobragg.io.streaming import array_chunks

HEADER_SIZE = 512

log = logging.getLogger(__name__)
_MAGIC = b"{\nHEADER_BYT"  # the C program compares only the first 12 characters
_MAX_HEADER_BYTES = 1 << 24


@dataclass(frozen=True, eq=False)
class SMVImage:
    """An SMV image as read from disk.

    Attributes:
        header: Header text (up to its first NUL character), latin-1 decoded.
        data: uint16 pixels, shape (height, width) = (slow, fast), native byte order.
    """

    header: str
    data: np.ndarray

    @property
    def width(self) -> int:
        """Number of fast-axis pixels (SIZE1)."""
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        """Number of slow-axis pixels (SIZE2)."""
        return int(self.data.shape[0])


def header_value(header: str, key: str) -> float | None:
    """Numeric value of ``key`` in an SMV header, exactly like the C ``ValueOf``.

    The LAST occurrence of ``key`` as a substring anywhere in the header is used (so
    ``DISTANCE`` also matches inside ``CLOSE_DISTANCE`` and ``ORGX`` inside ``XDS_ORGX``);
    the value is read with C ``atof`` semantics after the next ``=``.

    Args:
        header: Header text.
        key: Keyword to look up (non-empty).

    Returns:
        The value (0.0 if nothing numeric follows, or if no ``=`` follows the key),
        or None if the key does not occur.
    """
    if not key:
        raise ValueError("header_value: empty key")
    header = header.split("\0", 1)[0]
    found = -1
    pos = header.find(key)
    while pos >= 0:
        found = pos + len(key)
        pos = header.find(key, found)
    if found < 0:
        return None
    equals = header.find("=", found)
    if equals < 0:
        return 0.0
    return atof(header[equals + 1 :])


def header_text(header: str, key: str) -> str | None:
    """The text after the ``=`` of the key :func:`header_value` reads, up to its ``;``
    (None if the key does not occur or no ``=`` follows it)."""
    header = header.split("\0", 1)[0]
    found = header.rfind(key)
    if not key or found < 0:
        return None
    equals = header.find("=", found + len(key))
    if equals < 0:
        return None
    return header[equals + 1 :].split(";", 1)[0].split("\n", 1)[0].strip()


def _read_header(raw: bytes, path: object) -> tuple[str, int]:
    """Validate the SMV header of file contents ``raw``; return (text, header size)."""
    if len(raw) < HEADER_SIZE:
        raise InputError(f"SMV file '{path}': file too short for a {HEADER_SIZE}-byte header")
    if raw[: len(_MAGIC)] != _MAGIC:
        raise InputError(f"SMV file '{path}': does not look like an SMV (ADSC) image")
    size = header_value(raw[:HEADER_SIZE].decode("latin-1"), "HEADER_BYTES")
    if size is None or not math.isfinite(size) or not 0 < int(size) <= _MAX_HEADER_BYTES:
        raise InputError(f"SMV file '{path}': invalid HEADER_BYTES value")
    size = int(size)
    if len(raw) < size:
        raise InputError(f"SMV file '{path}': file too short for HEADER_BYTES={size}")
    return raw[:size].decode("latin-1").split("\0", 1)[0], size


def _check_type(header: str, path: object) -> None:
    """The C reads every image as 16-bit unsigned pixels: refuse any other ``TYPE``."""
    pos = header.rfind("TYPE=")
    if pos < 0:
        return
    value = header[pos + len("TYPE="):].split(";", 1)[0].strip()
    if value != "unsigned_short":
        raise InputError(f"SMV file '{path}': TYPE={value} is not supported "
                         f"(only unsigned_short pixels)")


def _is_big_endian(header: str) -> bool:
    """True if the value after the last ``BYTE_ORDER=`` starts with ``big_endian``."""
    pos = header.rfind("BYTE_ORDER=")
    return pos >= 0 and header.startswith("big_endian", pos + len("BYTE_ORDER="))


def _image_size(header: str, path: object) -> tuple[int, int]:
    """(width, height) from SIZE1/SIZE2, else DETECTOR_DIMENSIONS (square)."""
    width, height = header_value(header, "SIZE1"), header_value(header, "SIZE2")
    if not width:
        width = height = header_value(header, "DETECTOR_DIMENSIONS")
    sizes = []
    for value in (width, height):
        if value is None or not math.isfinite(value) or int(value) <= 0:
            raise InputError(f"SMV file '{path}': missing or invalid SIZE1/SIZE2 in header")
        sizes.append(int(value))
    return sizes[0], sizes[1]


def read_smv(path: str | os.PathLike[str]) -> SMVImage:
    """Read an SMV (ADSC) image like the C ``GetFrame``.

    Args:
        path: Image file.

    Returns:
        SMVImage with data of shape (SIZE2, SIZE1) = (slow, fast), uint16 (native order;
        big-endian files are byte-swapped).

    Raises:
        InputError: Unreadable file, not an SMV image, a TYPE other than unsigned_short,
            bad sizes or too few pixels (bytes after the pixels are ignored with a
            warning, as the C ignores them).
    """
    raw = read_bytes(path, "SMV file")
    header, offset = _read_header(raw, path)
    _check_type(header, path)
    width, height = _image_size(header, path)
    nbytes = 2 * width * height
    if len(raw) < offset + nbytes:
        raise InputError(f"SMV file '{path}': file too short for {width}x{height} pixels "
                         f"({len(raw) - offset} of {nbytes} data bytes)")
    if len(raw) > offset + nbytes:
        log.warning("SMV file '%s': ignoring %d bytes after the %dx%d pixels of its header",
                    path, len(raw) - offset - nbytes, width, height)
    dtype = ">u2" if _is_big_endian(header) else "<u2"
    pixels = np.frombuffer(raw, dtype=dtype, count=width * height, offset=offset)
    data = pixels.astype(np.uint16).reshape(height, width)
    return SMVImage(header=header, data=data)


def _format_value(value: object) -> str:
    """Format one header value like the C ``fprintf`` (%g floats, %d ints)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, np.integer)):
        return f"{int(value):d}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    raise TypeError(f"unsupported SMV header value {value!r}")


def format_smv_header(fields: Mapping[str, object]) -> bytes:
    """Build an SMV header exactly as the C program writes it.

    ``"{\\n"``, one ``KEY=value;\\n`` line per item in order (floats ``%g``, ints ``%d``,
    strings as-is; a tuple is written comma-separated with ``%g`` and no ``;``, like
    ``DIALS_ORIGIN``), ``"}\\f"``, then spaces up to 512 bytes. Like the C, a header whose
    values need more than 512 bytes is written whole, without padding (the pixels then
    start after it even though HEADER_BYTES says 512).

    Args:
        fields: Ordered header items.

    Returns:
        ASCII bytes, 512 of them unless the text is longer.

    Raises:
        ValueError: If a key is malformed.
    """
    lines = ["{\n"]
    for key, value in fields.items():
        if not key or any(c in key for c in "=;\n{}"):
            raise ValueError(f"invalid SMV header key {key!r}")
        if isinstance(value, tuple):
            lines.append(f"{key}={','.join(f'{float(v):g}' for v in value)}\n")
        else:
            lines.append(f"{key}={_format_value(value)};\n")
    lines.append("}\f")
    text = "".join(lines).encode("ascii")
    if len(text) > HEADER_SIZE:
        log.warning("SMV header needs %d bytes, more than %d; written whole as the C does",
                    len(text), HEADER_SIZE)
    return text.ljust(HEADER_SIZE, b" ")


def write_smv(path: str | os.PathLike[str], data: np.ndarray,
              fields: Mapping[str, object]) -> None:
    """Write an SMV image atomically: 512-byte header then little-endian uint16 pixels.

    Args:
        path: Destination file.
        data: uint16 pixels, shape (slow, fast).
        fields: Header items, normally starting with HEADER_BYTES=512, DIM=2,
            BYTE_ORDER="little_endian", TYPE="unsigned_short", SIZE1, SIZE2, ...

    Raises:
        ValueError: Wrong data dtype/shape, or SIZE1/SIZE2 disagreeing with the data.
        InputError: If the file cannot be written.
    """
    if data.ndim != 2 or data.dtype != np.uint16:
        raise ValueError(f"write_smv needs a 2-D uint16 array, got {data.dtype} {data.shape}")
    for key, size in (("SIZE1", data.shape[1]), ("SIZE2", data.shape[0])):
        if key in fields and fields[key] != size:
            raise ValueError(f"write_smv: {key}={fields[key]} but the data have {size}")
    chunks = itertools.chain([format_smv_header(fields)], array_chunks(data, "<u2"))
    atomic_write(path, chunks, "SMV file")
