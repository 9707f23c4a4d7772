"""The noise stages: compiled and pure-Python twins draw the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from nanobragg.native import build
from nanobragg.products import detector_noise
from nanobragg.products.detector_noise import DetectorNoiseState, photon_counts, readout


def _stages(photons, seed, calib_seed):
    state = DetectorNoiseState(seed, calib_seed)
    counts, total = photon_counts(photons, 0.05, 0.03, state)
    pixels16, pixels32, signal, overloads = readout(counts, 1.5, -3.0, 2.0, 16, state)
    return counts, total, pixels16, pixels32, signal, overloads, state


@pytest.mark.parametrize("calib_seed", [123456789, -7])
def test_python_twin_matches_compiled(calib_seed, monkeypatch):
    if build.load() is None:
        pytest.skip("no C compiler")
    rng = np.random.default_rng(4)
    photons = np.concatenate([rng.uniform(0, 20, 300), rng.uniform(12, 5e4, 100),
                              [2e6, 3e6, -1.0, 0.0]]).astype(np.float32).reshape(-1, 4)
    compiled = _stages(photons, -12, calib_seed)
    monkeypatch.setattr(detector_noise.build, "load", lambda build=True: None)
    python = _stages(photons, -12, calib_seed)
    for a, b in zip(compiled[:6], python[:6]):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert compiled[6] == python[6]
