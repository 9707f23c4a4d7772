"""Shared helpers of the companion-program tests: golden cases and SMV comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden-toolkit"
OUTPUT_NAMES = {"int.img", "noise.img", "float.bin", "image.pgm", "stdout.txt", "stderr.txt",
                "case.json", "args.txt"}


def case_dir(name: str) -> Path:
    case = GOLDEN / name
    if not case.is_dir():
        pytest.skip(f"golden case {case} not found")
    return case


def stage_inputs(name: str, workdir: Path) -> list[str]:
    """Link the case's inputs into ``workdir``; return its argument list."""
    case = case_dir(name)
    for item in case.iterdir():
        if item.name not in OUTPUT_NAMES:
            os.symlink(item, workdir / item.name)
    return (case / "args.txt").read_text().split()


def case_meta(name: str) -> dict:
    return json.loads((case_dir(name) / "case.json").read_text())


def smv_pixels(path: Path, dtype: str = "<u2") -> tuple[bytes, np.ndarray]:
    """Header bytes (512) and pixels of an SMV file written by the companion programs."""
    raw = path.read_bytes()
    return raw[:512], np.frombuffer(raw[512:], dtype=dtype)
