"""The output table: every file a run writes is one row, written through the row's writer."""

from __future__ import annotations

import numpy as np

from nanobragg.cli.main import output_paths, run
from nanobragg.commandline.to_config import build_request
from nanobragg.products.formats import FORMATS

BASE = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "10", "-N", "2",
        "-lambda", "1", "-distance", "50", "-detpixels", "24"]


def test_the_c_outputs_and_the_experiment_list_are_rows():
    flags = {fmt.flag for fmt in FORMATS.values()}
    assert {"-floatfile", "-intfile", "-pgmfile", "-noisefile", "-exptout",
            "-nexusfile", "-cbffile", "-pngfile"} <= flags


def test_every_reserved_output_comes_from_the_table(tmp_path):
    request = build_request(BASE + ["-floatfile", str(tmp_path / "f.bin"),
                                    "-intfile", str(tmp_path / "i.img"),
                                    "-noisefile", str(tmp_path / "n.img"),
                                    "-exptout", str(tmp_path / "e.expt")])
    assert [flag for flag, _ in output_paths(request)] == [
        "-floatfile", "-intfile", "-pgmfile", "-noisefile", "-exptout"]


def test_a_row_writer_replaced_writes_that_output(tmp_path, monkeypatch, capsys):
    calls = []
    row = FORMATS["pgm"]

    def spy(path, product, **options):
        calls.append((product.pgm_scale, product.image.shape))
        row.write(path, product, **options)

    monkeypatch.setitem(FORMATS, "pgm", row.__class__(**{**row.__dict__, "write": spy}))
    assert run(BASE + ["-floatfile", str(tmp_path / "f.bin"), "-intfile",
                       str(tmp_path / "i.img"), "-pgmfile", str(tmp_path / "p.pgm"),
                       "-nonoise"]) == 0
    assert len(calls) == 1 and calls[0][1] == (24, 24)
    pgm = (tmp_path / "p.pgm").read_bytes()
    assert pgm.startswith(b"P5\n24 24\n") and len(pgm) > 24 * 24
    assert np.fromfile(tmp_path / "f.bin", "<f4").size == 24 * 24
    assert "pgm_scale =" in capsys.readouterr().out
