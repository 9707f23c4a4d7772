"""Number formatting of the C program's trace output (``printf("%.15g")``)."""

from __future__ import annotations

from collections.abc import Iterable


def g15(value) -> str:
    """One number as C ``%.15g`` (``-0`` stays ``-0``; ``nan``/``inf`` as C prints them)."""
    return format(float(value), ".15g")


def g15s(values: Iterable) -> str:
    """Numbers as ``%.15g``, separated by single spaces."""
    return " ".join(g15(v) for v in values)


def matrix3(rows) -> str:
    """A 3x3 matrix as the instrumented C prints it: ``[a b c; d e f; g h i]``."""
    return "[" + "; ".join(g15s(row) for row in rows) + "]"


def matmul3(a, b) -> list[list[float]]:
    """Product of two 3x3 row lists, summed from 0 in index order as the C trace does.

    Only used to print a matrix the C instrumentation prints; no simulation uses it.
    """
    out = []
    for i in range(3):
        row = []
        for j in range(3):
            total = 0.0
            for k in range(3):
                total += a[i][k] * b[k][j]
            row.append(total)
        out.append(row)
    return out
