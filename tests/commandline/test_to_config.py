"""Tests of nanobragg.commandline.to_config: command line -> SimulationConfig and options."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from nanobragg.commandline.args import from_deg
from nanobragg.commandline.to_config import build_request
from nanobragg.errors import InputError

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
GOLDEN_CASES = sorted(p.parent.name for p in GOLDEN.glob("*/args.txt")) if GOLDEN.is_dir() else []

BASIC = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "1"]

#: Pivot the C forces after parsing (the configuration keeps the parsed one).
FORCED_PIVOT = {"MOSFLM": "BEAM", "DENZO": "BEAM", "ADXV": "BEAM", "XDS": "SAMPLE",
                "DIALS": "SAMPLE"}


def request(*argv: str, cwd: Path | None = None):
    return build_request(BASIC + list(argv), cwd=cwd)


def write_smv(path: Path, fields: dict[str, object], data: np.ndarray) -> None:
    """A minimal SMV file: 512-byte header then little-endian uint16 pixels."""
    lines = ["{", "HEADER_BYTES=512;", "DIM=2;", "BYTE_ORDER=little_endian;",
             "TYPE=unsigned_short;", f"SIZE1={data.shape[1]};", f"SIZE2={data.shape[0]};"]
    lines += [f"{key}={value};" for key, value in fields.items()]
    header = ("\n".join(lines) + "\n}\f").encode("ascii").ljust(512, b" ")
    path.write_bytes(header + data.astype("<u2").tobytes())


# ---------------------------------------------------------------- golden cases


@pytest.mark.skipif(not GOLDEN_CASES, reason="golden data not available")
@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_case_arguments(case):
    folder = GOLDEN / case
    argv = (folder / "args.txt").read_text().split()
    meta = json.loads((folder / "case.json").read_text())
    derived = meta["derived_from_stdout"]
    req = build_request(argv, cwd=folder)
    det, crystal = req.config.detector, req.config.crystal

    assert (det.fpixels, det.spixels) == (meta["detector"]["fast_pixels"],
                                          meta["detector"]["slow_pixels"])
    assert (det.fpixels, det.spixels) == (derived["fpixels"], derived["spixels"])
    assert det.pixel_size == pytest.approx(derived["pixel_m"])
    assert det.detsize_f == pytest.approx(derived["detsize_f_m"])
    assert det.detsize_s == pytest.approx(derived["detsize_s_m"])
    assert det.convention == derived["convention"].upper()
    assert FORCED_PIVOT.get(det.convention, det.pivot) == derived["pivot"]
    if det.oversample is not None:
        assert det.oversample == derived["oversample"]
    if det.beam_center != (None, None):
        assert det.beam_center == pytest.approx(derived["Xbeam_Ybeam_m"], rel=1e-5)
    if det.org != (None, None):
        close = [(org - 0.5) * det.pixel_size for org in det.org]
        assert close == pytest.approx(derived["Xclose_Yclose_m"], rel=1e-5)
    untilted = (det.rotx, det.roty, det.rotz, det.twotheta) == (0.0, 0.0, 0.0, 0.0)
    if det.distance is not None and untilted:
        assert det.distance == pytest.approx(derived["distance_m"], rel=1e-6)
    if crystal.mosaic_domains is not None:
        assert crystal.mosaic_domains == derived["mosaic_domains"]
    if crystal.phisteps is not None:
        assert crystal.phisteps == derived["phisteps"]
    assert req.outputs.floatfile.name == "float.bin"
    assert req.hkl_path == (folder / "P1.hkl" if "-hkl" in argv else None)
    assert (req.mask is not None) == ("-mask" in argv)
    assert (req.outputs.noisefile is not None) == ("-noisefile" in argv)
    assert (req.outputs.pgmfile is not None) == ("-pgmfile" in argv)
    assert req.notes == ()


@pytest.mark.skipif("sourcefile_three" not in GOLDEN_CASES, reason="golden data not available")
def test_golden_sourcefile_rows():
    folder = GOLDEN / "sourcefile_three"
    req = build_request((folder / "args.txt").read_text().split(), cwd=folder)
    assert len(req.config.beam.sources) == 3
    assert req.config.beam.sources[1] == pytest.approx((-10, 0.05, 0, 0.5, 1.05e-10))


# ---------------------------------------------------------------- detector size


def test_detector_size_is_not_snapped_to_whole_pixels():
    det = request("-detsize_f", "20.07", "-pixel", "0.1").config.detector
    assert det.fpixels == 201
    assert det.detsize_f == pytest.approx(0.02007)
    assert det.spixels == 1024 and det.detsize_s == pytest.approx(0.1024)


def test_detpixels_overrides_detsize():
    det = request("-detpixels", "100", "-detsize", "50").config.detector
    assert (det.fpixels, det.spixels) == (100, 100)
    assert det.detsize_f == pytest.approx(0.01)


def test_detpixels_zero_is_an_error():
    # the C treats 0 as "not given" and renders the default 1024x1024 detector
    with pytest.raises(InputError, match="-detpixels: .* at least one pixel"):
        request("-detpixels", "0")


def test_bad_detector_sizes_are_rejected():
    with pytest.raises(InputError, match="-pixel"):
        request("-pixel", "0")
    with pytest.raises(InputError, match="-detpixels"):
        request("-detpixels", "-5")


def test_roi_negative_bounds_take_the_c_defaults():
    det = request("-detpixels", "64", "-roi", "-1", "10", "5", "-1").config.detector
    assert det.roi == (0, 10, 5, 64)
    assert request().config.detector.roi is None


# ---------------------------------------------------------------- detector geometry


def test_custom_vectors_are_complete_in_custom_convention():
    req = request("-fdet_vector", "0", "1", "0")
    det, beam = req.config.detector, req.config.beam
    assert det.convention == "CUSTOM"
    assert det.fdet_vector == (0.0, 1.0, 0.0)
    assert det.sdet_vector == (0.0, -1.0, 0.0)
    assert det.odet_vector == (1.0, 0.0, 0.0)
    assert det.twotheta_axis == (0.0, 1.0, 0.0)
    assert beam.beam_vector == (1.0, 0.0, 0.0) and beam.polar_vector == (0.0, 0.0, 1.0)
    assert req.config.crystal.spindle_axis == (0.0, 0.0, 1.0)


def test_custom_vectors_are_dropped_by_a_later_convention():
    det = request("-fdet_vector", "0", "1", "0", "-xds").config.detector
    assert det.convention == "XDS" and det.fdet_vector is None


def test_twotheta_axis_quirk_reaches_the_config():
    det = request("-twotheta_axis", "1", "0", "0").config.detector
    assert det.twotheta == from_deg(1.0)
    assert det.pivot == "SAMPLE"
    assert det.twotheta_axis == (1.0, 0.0, 0.0)


def test_geometry_values():
    det = request("-xds", "-ORGX", "10.5", "-ORGY", "20", "-distance", "120",
                  "-detector_rotx", "2", "-twotheta", "8").config.detector
    assert det.org == (10.5, 20.0)
    assert det.distance == 0.12
    assert det.rotx == from_deg(2.0) and det.twotheta == from_deg(8.0)
    assert det.pivot == "SAMPLE"


def test_sensor_and_sampling_values():
    det = request("-detector_thick", "500", "-detector_abs", "320", "-thicksteps", "5",
                  "-oversample", "0", "-oversample_thick").config.detector
    assert det.thickness == pytest.approx(500e-6)
    assert det.mu == pytest.approx(1 / 320e-6)
    assert det.thicksteps == 5
    assert det.oversample is None and det.oversample_thick
    assert request("-detector_abs", "-5").config.detector.mu is None


# ---------------------------------------------------------------- crystal


def test_cell_defaults():
    argv = ["-cell", "50", "0", "0", "0", "0", "0", "-default_F", "1"]
    crystal = build_request(argv).config.crystal
    assert crystal.cell == pytest.approx((50e-10, 50e-10, 50e-10) + (math.pi / 2,) * 3)


def test_short_cell_is_an_error():
    # the C silently keeps its defaults for the missing numbers
    with pytest.raises(InputError, match="-cell: needs 6 numbers .* got 2"):
        build_request(["-cell", "50", "60", "-default_F", "1"])


def test_no_cell_is_an_error():
    with pytest.raises(InputError, match="no unit cell"):
        build_request(["-default_F", "1"])


def test_misset_random_seed():
    assert request("-misset", "random", "-misset_seed", "7").config.crystal.misset_random_seed == 7
    seeded = request("-misset", "random").config.crystal
    assert seeded.misset is None
    assert abs(seeded.misset_random_seed - time.time()) < 100
    assert request("-misset", "1", "2", "3").config.crystal.misset_random_seed is None


def test_mosaic_seed_is_the_value_given():
    assert request().config.crystal.mosaic_seed == 12345678
    assert request("-mosaic_seed", "42").config.crystal.mosaic_seed == 42


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-phisteps", "0"], "phisteps", 1),
        (["-phisteps", "-1"], "phisteps", None),
        (["-osc", "-1"], "osc", None),
        (["-phistep", "0"], "phistep", 0.0),
        (["-mosaic_domains", "-1"], "mosaic_domains", None),
        (["-mosaic", "-1"], "mosaic_spread", None),
        (["-mosaic", "0"], "mosaic_spread", 0.0),
        (["-N", "7"], "N", (7.0, 7.0, 7.0)),
        (["-interpolate"], "interpolate", True),
        (["-tophat_spots", "-fudge", "2"], "fudge", 2.0),
        (["-gauss_xtal"], "shape", "gauss"),
    ],
)
def test_crystal_normalisation(argv, field, value):
    assert getattr(request(*argv).config.crystal, field) == value


def test_sample_is_clipped_by_the_beam():
    req = request("-sample_size", "1")
    assert req.config.crystal.sample_size == pytest.approx((1e-3, 1e-4, 1e-4))
    assert req.notes == ("WARNING: clipping sample (0.001 m high) with beam (0.0001 m)",
                         "WARNING: clipping sample (0.001 m wide) with beam (0.0001 m)")


def test_mat_is_divided_by_the_wavelength(tmp_path):
    (tmp_path / "A.mat").write_text("0.01 0.02 0.03\n0.04 0.05 0.06\n0.07 0.08 0.10\n0 0 0\n")
    req = build_request(["-mat", "A.mat", "-lambda", "2", "-default_F", "1"], cwd=tmp_path)
    matrix = np.array(req.config.crystal.reciprocal_matrix)
    assert matrix == pytest.approx(np.array([1, 2, 3, 4, 5, 6, 7, 8, 10.0]).reshape(3, 3)
                                   * 0.01 / 2)
    assert req.config.crystal.cell is None


# ---------------------------------------------------------------- beam


def test_fluence_from_flux():
    beam = request("-flux", "1e12", "-exposure", "2", "-beamsize", "0.1").config.beam
    assert beam.fluence == pytest.approx(1e12 * 2 / 1e-4 / 1e-4)
    assert request("-fluence", "1e20").config.beam.fluence == 1e20


def test_beam_defaults_follow_the_c():
    beam = request().config.beam
    assert beam.dispersion == 0.0  # the C default is 0, not the "unset" -1
    assert beam.hdivrange is None and beam.hdivsteps is None
    assert beam.round_div and beam.beam_vector is None


def test_sourcefile_keeps_missing_columns_as_nan(tmp_path):
    (tmp_path / "src.txt").write_text("-10 0 0\n")
    source = request("-sourcefile", "src.txt", cwd=tmp_path).config.beam.sources[0]
    assert source[:3] == (-10.0, 0.0, 0.0) and all(map(math.isnan, source[3:]))


# ---------------------------------------------------------------- SMV headers


def test_mask_and_img_headers(tmp_path):
    data = np.ones((20, 30), dtype=np.uint16)
    data[2, 3] = 0
    write_smv(tmp_path / "mask.img", {"PIXEL_SIZE": 0.2, "BEAM_CENTER_X": 1.5,
                                      "BEAM_CENTER_Y": 1.0, "PHI": 10, "TWOTHETA": 30,
                                      "DISTANCE": 80, "CLOSE_DISTANCE": 70}, data)
    req = request("-mask", "mask.img", cwd=tmp_path)
    det = req.config.detector
    assert (det.fpixels, det.spixels, det.pixel_size) == (30, 20, 2e-4)
    assert det.beam_center == pytest.approx((1.5e-3, 20 * 2e-4 - 1e-3))  # Y flipped
    assert det.distance == pytest.approx(0.07)  # DISTANCE matches CLOSE_DISTANCE last
    assert det.close_distance == pytest.approx(0.07)
    assert det.twotheta == 0.0  # the C never applies the header TWOTHETA
    assert req.config.crystal.phi0 == from_deg(10.0)
    assert req.mask.shape == (20, 30) and req.mask[2, 3] == 0 and req.mask.sum() == 599

    write_smv(tmp_path / "head.img", {"BEAM_CENTER_Y": 1.0, "WAVELENGTH": 2,
                                      "OSC_RANGE": 1}, np.zeros((20, 30), np.uint16))
    req = request("-img", "head.img", "-mask", "mask.img", "-Xbeam", "3", cwd=tmp_path)
    det = req.config.detector
    assert det.beam_center == pytest.approx((3e-3, 1e-3))  # img wins; argv wins over both
    assert req.config.beam.wavelength == pytest.approx(2e-10)
    assert req.config.crystal.osc == from_deg(1.0)
    assert det.pixel_size == 2e-4  # no PIXEL_SIZE in the img header: the mask's stays


def test_detpixels_after_mask_reshapes_the_mask(tmp_path):
    data = np.arange(100, dtype=np.uint16).reshape(10, 10)
    write_smv(tmp_path / "m.img", {}, data)
    req = request("-mask", "m.img", "-detpixels", "5", cwd=tmp_path)
    assert req.mask.shape == (5, 5) and req.mask[1, 0] == 5
    with pytest.raises(InputError, match="-mask"):
        request("-mask", "m.img", "-detpixels", "20", cwd=tmp_path)


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("flag", ["-hkl", "-mat", "-mask", "-img", "-sourcefile", "-stol"])
def test_missing_input_files_name_the_flag(tmp_path, flag):
    with pytest.raises(InputError, match=f"^{flag}: .*missing.x"):
        request(flag, "missing.x", cwd=tmp_path)


def test_structure_factors_needed(tmp_path):
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-nonoise"]
    with pytest.raises(InputError, match="no structure factors"):
        build_request(argv, cwd=tmp_path)
    (tmp_path / "Fdump.bin").write_bytes(b"")
    req = build_request(argv, cwd=tmp_path)
    assert req.hkl_path is None and req.dump_path == tmp_path / "Fdump.bin"


def test_hkl_file(tmp_path):
    (tmp_path / "P1.hkl").write_text("0 0 0 1\n")
    req = build_request(["-cell", "100", "100", "100", "90", "90", "90", "-hkl", "P1.hkl",
                         "-dump", "D.bin"], cwd=tmp_path)
    assert req.hkl_path == tmp_path / "P1.hkl"
    assert req.dump_path == tmp_path / "D.bin"


def test_stol_file_adds_amorphous_material(tmp_path):
    (tmp_path / "water.stol").write_text("0 2.57\n")
    req = request("-stol", "water.stol", "-amorphous_thick", "0.2", "-density", "0.9",
                  cwd=tmp_path)
    assert any("never uses it" in note for note in req.notes)
    amorphous = req.config.amorphous
    assert (amorphous.stol_unit, amorphous.thickness, amorphous.density) == (
        "-stol", 0.2e-3, 0.9e6)


# ---------------------------------------------------------------- outputs and runtime


def test_output_defaults():
    out = request().outputs
    assert (out.floatfile, out.intfile) == (Path("floatimage.bin"), Path("intimage.img"))
    assert (out.pgmfile, out.noisefile) == (Path("image.pgm"), Path("noiseimage.img"))
    assert out.intfile_scale is None and out.pgm_scale is None and out.adc == 40.0
    assert abs(out.seed + time.time()) < 100


def test_output_options(tmp_path):
    out = request("-nopgm", "-noisefile", "n.img", "-seed", "12345", "-scale", "2",
                  "-pgmscale", "0", "-adc", "0", cwd=tmp_path).outputs
    assert out.noisefile == tmp_path / "n.img"
    assert out.pgmfile == tmp_path / "image.pgm"  # -pgmscale after -nopgm turns it back on
    assert (out.seed, out.intfile_scale, out.pgm_scale, out.adc) == (-12345, 2.0, None, 0.0)
    assert request("-nonoise", "-nopgm").outputs.noisefile is None


def test_runtime_and_trace_options():
    req = request("-dtype", "float32", "-device", "cpu", "-chunk", "100",
                  "-trace_pixel", "5", "6")
    assert (req.runtime.dtype, req.runtime.device, req.runtime.chunk_evaluations) == (
        "float32", "cpu", 100)
    assert req.trace_pixels == ((5, 6),)


def test_help_needs_nothing_else():
    req = build_request(["-h", "-hkl", "missing.hkl"])
    assert req.show_help and req.hkl_path is None


def test_pix0_vector_note():
    req = request("-pix0_vector", "1", "2", "3")
    assert req.config.detector.convention == "CUSTOM"
    assert any("-pix0_vector" in note for note in req.notes)


def test_invalid_config_values_are_reported():
    with pytest.raises(InputError, match="-distance"):
        request("-distance", "0")
    with pytest.raises(InputError, match="-lambda"):
        request("-lambda", "0", "-mat", "whatever.mat")
