"""Number parsing with the semantics of the C library (strtod, atof, scanf).

The reference program reads its text inputs with ``fscanf``/``atof``; these helpers
reproduce how much of the text each of those calls consumes, so that malformed input
is handled the same way (e.g. a comment line ends an ``fscanf`` loop).
"""

from __future__ import annotations

import math
import re

# C isspace() in the "C" locale.
C_WHITESPACE = " \t\n\v\f\r"

_HEX = r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
_INFNAN = r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)"
_DEC = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_FLOAT_RE = re.compile(f"(?:{_HEX})|(?:{_INFNAN})|(?:{_DEC})")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def _to_float(token: str) -> float:
    """Convert a token matched by ``_FLOAT_RE`` to a Python float."""
    body = token.lstrip("+-")
    sign = -1.0 if token.startswith("-") else 1.0
    if body[:2] in ("0x", "0X"):
        mantissa = body if "p" in body.lower() else body + "p0"
        return sign * float.fromhex(mantissa)
    if body[:1] in "nN":
        return math.nan
    return float(token)  # handles "inf"/"infinity" and decimal (overflow -> inf like strtod)


def skip_space(text: str, pos: int) -> int:
    """Return the index of the first non-whitespace character at or after ``pos``."""
    n = len(text)
    while pos < n and text[pos] in C_WHITESPACE:
        pos += 1
    return pos


def strtod_prefix(text: str, pos: int = 0) -> tuple[float, int] | None:
    """Parse the longest number prefix like C ``strtod``.

    Args:
        text: Text to parse.
        pos: Index to start at; leading whitespace is skipped.

    Returns:
        ``(value, end)`` with ``end`` the index after the number, or None if no number.
    """
    start = skip_space(text, pos)
    match = _FLOAT_RE.match(text, start)
    if match is None:
        return None
    return _to_float(match.group()), match.end()


def atof(text: str) -> float:
    """C ``atof``: value of the leading number of ``text`` (after whitespace), 0.0 if none."""
    parsed = strtod_prefix(text)
    return 0.0 if parsed is None else parsed[0]


def scan_float(text: str, pos: int) -> tuple[float, int] | None:
    """One ``fscanf("%lg")`` conversion starting at ``pos`` (glibc behaviour).

    Unlike ``strtod``, glibc's scanf also consumes a dangling exponent marker (``"4e"``
    and ``"4e+"`` read as 4 with the ``e``/``e+`` consumed) and fails on ``"0x"``
    without hex digits.

    Returns:
        ``(value, end)`` or None on a matching failure or end of input.
    """
    parsed = strtod_prefix(text, pos)
    if parsed is None:
        return None
    value, end = parsed
    token = text[skip_space(text, pos) : end].lstrip("+-")
    following = text[end : end + 1]
    if token[:2] in ("0x", "0X"):
        marker = "pP"
    elif token[:1].isdigit() or token[:1] == ".":
        marker = "eE"
        if token == "0" and following in ("x", "X"):
            return None
    else:
        return value, end  # inf / nan
    if following and following in marker and not any(c in token for c in marker):
        end += 1
        if text[end : end + 1] in ("+", "-"):
            end += 1
    return value, end


def scan_int(text: str, pos: int) -> tuple[int, int] | None:
    """One ``fscanf("%d")`` conversion starting at ``pos``.

    Returns:
        ``(value, end)`` or None on a matching failure or end of input.
    """
    match = _INT_RE.match(text, skip_space(text, pos))
    if match is None:
        return None
    return int(match.group()), match.end()


def line_number(text: str, pos: int) -> int:
    """1-based line number of the first non-blank character at or after index ``pos``."""
    return text.count("\n", 0, skip_space(text, pos)) + 1
