"""Smaller command-line rules: -curved_det anywhere, -nexus_compression needs
-nexusfile."""

from __future__ import annotations

import pytest

from nanobragg.cli.main import run
from nanobragg.commandline.args import parse_argv

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "3", "-lambda", "1",
        "-distance", "100", "-detpixels", "8", "-default_F", "10", "-nonoise", "-nopgm"]


@pytest.mark.parametrize("argv", [["-curved_det"], ["-N", "3", "-curved_det"],
                                  ["-curved_det", "-N", "3"]])
def test_curved_det_takes_effect_anywhere(argv):
    state = parse_argv(argv)
    assert state.curved_det is True
    assert not any("-curved_det ignored" in note for note in state.notes)


@pytest.mark.parametrize("value", ["gzip", "bitshuffle", "none"])
def test_nexus_compression_without_nexusfile_is_an_error(value, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-nexus_compression", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nanoBragg: error: -nexus_compression: applies to -nexusfile; give "
                   "-nexusfile NAME"]
    assert list(tmp_path.iterdir()) == []


def test_close_distance_zero_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(BASE + ["-close_distance", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nanoBragg: error: -close_distance: must not be 0 (the detector plane "
                   "would pass through the sample)"]
    assert list(tmp_path.iterdir()) == []
