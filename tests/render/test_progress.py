"""Progress bar: on a terminal after the delay, never on a pipe or with -noprogress."""

from __future__ import annotations

import io

import pytest

from nanobragg.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from nanobragg.render import progress as progress_mod
from nanobragg.render.simulate import simulate


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _config() -> SimulationConfig:
    return SimulationConfig(
        detector=DetectorConfig(fpixels=32, spixels=32, distance=0.1),
        crystal=CrystalConfig(cell=(100e-10,) * 3 + (1.5707963267948966,) * 3, N=(5, 5, 5),
                              default_F=100),
        beam=BeamConfig(wavelength=1e-10))


@pytest.mark.parametrize("engine", ["eager", "fast"])
def test_bar_counts_every_pixel_on_a_terminal(engine, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    stream = _Terminal()
    seen = []
    with progress_mod.RenderProgress(True, stream) as bar:
        def record(pixels, total):
            seen.append((pixels, total))
            bar(pixels, total)
        simulate(_config(), engine=engine, evaluations_per_chunk=100, progress=record)
    assert sum(n for n, _ in seen) == 32 * 32
    assert {total for _, total in seen} == {32 * 32}
    assert "rendering" in stream.getvalue()


@pytest.mark.parametrize("enabled,stream", [(False, _Terminal()), (True, io.StringIO())])
def test_no_bar_when_disabled_or_not_a_terminal(enabled, stream, monkeypatch):
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    with progress_mod.RenderProgress(enabled, stream) as bar:
        simulate(_config(), evaluations_per_chunk=100, progress=bar)
    assert stream.getvalue() == ""


def test_no_bar_before_the_delay(monkeypatch):
    # A delay far beyond the render time: the outcome must not depend on machine load.
    monkeypatch.setattr(progress_mod, "DELAY_S", 3600.0)
    stream = _Terminal()
    with progress_mod.RenderProgress(True, stream) as bar:
        simulate(_config(), evaluations_per_chunk=100, progress=bar)
    assert stream.getvalue() == ""
