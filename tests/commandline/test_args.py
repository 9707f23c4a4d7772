"""Tests of the C-faithful argument tokenizer (nanobragg.commandline.args)."""

from __future__ import annotations

import math

import pytest

from nanobragg.commandline.args import (
    RULES,
    c_atoi,
    from_deg,
    input_images,
    is_number,
    parse_argv,
)
from nanobragg.errors import InputError

#: Every option of the C argument loop, with a valid set of values.
C_OPTIONS = [
    ("-Na", "3"), ("-Nb", "3"), ("-Nc", "3"), ("-N", "3"),
    ("-cell", "70 80 90 75 85 95"), ("-misset", "10 20 30"), ("-misset", "random"),
    ("-samplesize", "0.01"), ("-sample_size", "0.01"), ("-sample_thick", "0.01"),
    ("-sample_x", "0.01"), ("-sample_width", "0.01"), ("-sample_y", "0.01"),
    ("-width", "0.01"), ("-sample_height", "0.01"), ("-sample_z", "0.01"),
    ("-height", "0.01"), ("-xtalsize", "0.01"), ("-xtal_size", "0.01"),
    ("-xtal_thick", "0.01"), ("-xtal_x", "0.01"), ("-xtal_width", "0.01"),
    ("-xtal_y", "0.01"), ("-xtal_height", "0.01"), ("-xtal_z", "0.01"),
    ("-density", "1.2"), ("-sample_density", "1.2"), ("-MW", "18"), ("-molecules", "18"),
    ("-Xbeam", "51"), ("-Ybeam", "51"), ("-Xclose", "51"), ("-Yclose", "51"),
    ("-ORGX", "512"), ("-ORGY", "512"), ("-pivot", "sample"),
    ("-mosflm", ""), ("-xds", ""), ("-adxv", ""), ("-denzo", ""), ("-dials", ""),
    ("-fdet_vector", "0 0 1"), ("-sdet_vector", "0 -1 0"), ("-odet_vector", "1 0 0"),
    ("-beam_vector", "1 0 0"), ("-polar_vector", "0 0 1"), ("-spindle_axis", "0 0 1"),
    ("-twotheta_axis", "0 1 0"), ("-pix0_vector", "0 0 0"),
    ("-distance", "100"), ("-close_distance", "100"), ("-detector_abs", "320"),
    ("-detector_absorb", "inf"), ("-detector_thick", "500"),
    ("-detector_thicksteps", "5"), ("-thicksteps", "5"), ("-twotheta", "10"),
    ("-detector_rotx", "1"), ("-detector_roty", "1"), ("-detector_rotz", "1"),
    ("-detsize", "100"), ("-detsize_f", "100"), ("-detsize_s", "100"),
    ("-detpixels", "100"), ("-detpixels_f", "100"), ("-detpixels_x", "100"),
    ("-detpixels_s", "100"), ("-detpixels_y", "100"), ("-curved_det", "-nonoise"),
    ("-pixel", "0.1"), ("-point_pixel", ""), ("-polar", "0.9"), ("-nopolar", ""),
    ("-oversample_thick", ""), ("-oversample_polar", ""), ("-oversample_omega", ""),
    ("-oversample", "2"), ("-roi", "0 10 0 10"), ("-lambda", "1"), ("-wave", "1"),
    ("-wavelength", "1"), ("-energy", "12398.42"), ("-fluence", "1e24"),
    ("-flux", "1e12"), ("-exposure", "1"), ("-beamsize", "0.1"), ("-mosaic", "1"),
    ("-mosaicity", "1"), ("-mosaic_spread", "1"), ("-mosaic_domains", "10"),
    ("-mosaic_dom", "10"), ("-dispersion", "5"), ("-dispsteps", "3"),
    ("-divergence", "1"), ("-hdivrange", "1"), ("-vdivrange", "1"), ("-hdivstep", "0.5"),
    ("-hdivsteps", "3"), ("-vdivstep", "0.5"), ("-vdivsteps", "3"), ("-divsteps", "3"),
    ("-round_div", ""), ("-square_div", ""), ("-adc", "10"), ("-phi", "1"),
    ("-osc", "1"), ("-phistep", "0.1"), ("-phisteps", "10"), ("-dmin", "2"),
    ("-mat", "A.mat"), ("-hkl", "P1.hkl"), ("-default_F", "100"), ("-dump", "F.bin"),
    ("-img", "a.img"), ("-mask", "m.img"), ("-stolout", "o.stol"), ("-stol", "s.stol"),
    ("-4stol", "s.stol"), ("-Q", "s.stol"), ("-sourcefile", "s.txt"),
    ("-floatfile", "f.bin"), ("-floatimage", "f.bin"), ("-intfile", "i.img"),
    ("-intimage", "i.img"), ("-pgmfile", "p.pgm"), ("-pgmimage", "p.pgm"),
    ("-noisefile", "n.img"), ("-noiseimage", "n.img"), ("-nonoise", ""), ("-nopgm", ""),
    ("-scale", "2"), ("-pgmscale", "2"), ("-coherent", ""), ("-printout", ""),
    ("-noprogress", ""), ("-progress", ""), ("-interpolate", ""), ("-nointerpolate", ""),
    ("-round_xtal", ""), ("-square_xtal", ""), ("-gauss_xtal", ""),
    ("-binary_spots", ""), ("-tophat_spots", ""), ("-fudge", "1"),
    ("-printout_pixel", "1 2"), ("-seed", "5"), ("-mosaic_seed", "5"),
    ("-misset_seed", "5"), ("-water", "0.1"),
]


@pytest.mark.parametrize(("flag", "values"), C_OPTIONS)
def test_every_c_option_is_accepted(flag, values):
    parsed = parse_argv([flag, *values.split()])
    assert not [note for note in parsed.notes if "ignor" in note]


def test_rule_table_covers_the_c_loop():
    assert len(RULES) >= 120
    assert all(rule.patterns for rule in RULES)


# ---------------------------------------------------------------- substring quirks


def test_misset_seed_also_sets_explicit_misset_angles():
    parsed = parse_argv(["-misset_seed", "5", "1", "2"])
    assert parsed.misset == (from_deg(5.0), from_deg(1.0), from_deg(2.0))
    assert parsed.misset_seed == 5
    assert parsed.seed is None


def test_misset_seed_overrides_random_when_three_arguments_follow():
    parsed = parse_argv(["-misset", "random", "-misset_seed", "7", "-floatfile", "x.bin"])
    assert parsed.misset == (from_deg(7.0), 0.0, 0.0)  # atof("-floatfile") = 0
    assert parsed.floatfile == "x.bin"  # a value starting with '-' is an option too


def test_misset_seed_last_keeps_random_misset():
    parsed = parse_argv(["-misset", "random", "-misset_seed", "7"])
    assert parsed.misset == "random"
    assert parsed.misset_seed == 7


def test_mosaic_seed_does_not_set_the_noise_seed():
    # strstr("-mosaic_seed", "-seed") fails: the hyphen is not in front of "seed"
    parsed = parse_argv(["-mosaic_seed", "42"])
    assert parsed.mosaic_seed == 42
    assert parsed.seed is None


def test_twotheta_axis_also_sets_twotheta_and_sample_pivot():
    parsed = parse_argv(["-twotheta_axis", "7", "0", "1"])
    assert parsed.twotheta_axis == (7.0, 0.0, 1.0)
    assert parsed.twotheta == from_deg(7.0)
    assert parsed.pivot == "SAMPLE"
    assert parsed.convention == "CUSTOM"


def test_printout_pixel_also_turns_on_printout():
    parsed = parse_argv(["-printout_pixel", "3", "4"])
    assert parsed.printout
    assert parsed.printout_pixel == (3, 4)


def test_width_sets_the_sample_height_axis():
    parsed = parse_argv(["-width", "0.5", "-height", "0.25"])
    assert parsed.sample_size == [0.0, 0.0005, 0.00025]


def test_detector_absorb_matches_detector_abs():
    assert parse_argv(["-detector_absorb", "320"]).detector_mu == 1.0 / (320 * 1e-6)


def test_oversample_flags_stop_before_the_oversample_rule():
    parsed = parse_argv(["-oversample_omega", "-oversample", "3"])
    assert parsed.oversample_omega
    assert parsed.oversample == 3


# ---------------------------------------------------------------- exact-length rules


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-phi", "2"], "phi0", from_deg(2.0)),
        (["-phistep", "2"], "phistep", from_deg(2.0)),
        (["-phisteps", "2"], "phisteps", 2),
        (["-hdivstep", "2"], "hdivstep", 0.002),
        (["-hdivsteps", "2"], "hdivsteps", 2),
        (["-polar", "0.5"], "polarization", 0.5),
        (["-mosaic", "2"], "mosaic_spread", from_deg(2.0)),
        (["-mosaicity", "2"], "mosaic_spread", from_deg(2.0)),
        (["-mosaic_domains", "2"], "mosaic_domains", 2),
        (["-detsize", "20"], "detsize_s", 0.02),
        (["-detsize_f", "20"], "detsize_f", 0.02),
        (["-detpixels", "20"], "spixels", 20),
        (["-detpixels_x", "20"], "fpixels", 20),
        (["-detector_thick", "500"], "detector_thick", 500e-6),
        (["-detector_thicksteps", "4"], "detector_thicksteps", 4),
        (["-stol", "f.stol"], "stolfile", "f.stol"),
        (["-Q", "f.stol"], "stolfile", "f.stol"),
    ],
)
def test_exact_length_rules(argv, field, value):
    assert getattr(parse_argv(argv), field) == value


def test_phisteps_does_not_fire_phistep_or_phi():
    parsed = parse_argv(["-phisteps", "4"])
    assert parsed.phistep is None and parsed.phi0 == 0.0


def test_polarization_is_not_a_c_option():
    with pytest.raises(InputError, match="unknown option '-polarization'"):
        parse_argv(["-polarization", "0.9"])


def test_N_sets_all_axes_and_Na_one():
    parsed = parse_argv(["-N", "4", "-Nb", "2"])
    assert parsed.N == [4.0, 2.0, 4.0]


def test_integer_options_need_whole_numbers():
    # the C's atoi would read 5.7 as 5 and 1e3 as 1
    for argv in (["-N", "5.7"], ["-detpixels", "1e3"], ["-N", "inf"]):
        with pytest.raises(InputError, match=f"{argv[0]}: '{argv[1]}' is not a whole number"):
            parse_argv(argv)
    assert parse_argv(["-N", "+5"]).N == [5.0, 5.0, 5.0]
    assert c_atoi("-12abc") == -12 and c_atoi("x") == 0


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_float_options_need_finite_numbers(value):
    with pytest.raises(InputError, match=f"-distance: '{value}' is not a finite number"):
        parse_argv(["-distance", value])


def test_cell_reads_up_to_six_values_and_stops_at_an_option():
    parsed = parse_argv(["-cell", "100", "90", "-default_F", "1"])
    assert parsed.user_cell
    assert parsed.cell[:2] == [100 * 1e-10, 90 * 1e-10]
    assert parsed.cell[2:] == [0.0, 0.0, 0.0, 0.0]
    assert parsed.default_F == 1.0


# ---------------------------------------------------------------- order-dependent state


@pytest.mark.parametrize(
    ("argv", "noise"),
    [
        (["-nonoise", "-noisefile", "n.img"], True),
        (["-noisefile", "n.img", "-nonoise"], False),
        (["-noiseimage", "n.img"], True),
        ([], True),
    ],
)
def test_noise_last_option_wins(argv, noise):
    assert parse_argv(argv).calculate_noise is noise


@pytest.mark.parametrize(
    ("argv", "pgm"),
    [
        (["-nopgm", "-pgmfile", "p.pgm"], True),
        (["-pgmfile", "p.pgm", "-nopgm"], False),
        (["-nopgm", "-pgmscale", "2"], True),
        (["-pgmscale", "2", "-nopgm"], False),
    ],
)
def test_pgm_last_option_wins(argv, pgm):
    assert parse_argv(argv).write_pgm is pgm


@pytest.mark.parametrize(
    ("argv", "pivot"),
    [
        ([], "BEAM"),
        (["-Xclose", "10", "-Xbeam", "10"], "BEAM"),
        (["-Xbeam", "10", "-ORGX", "5"], "SAMPLE"),
        (["-pivot", "sample", "-distance", "100"], "BEAM"),
        (["-distance", "100", "-pivot", "sample"], "SAMPLE"),
        (["-close_distance", "100"], "SAMPLE"),
        (["-twotheta", "10", "-mosflm"], "BEAM"),
        (["-xds"], "SAMPLE"),
        (["-dials"], "BEAM"),  # the C forces SAMPLE for DIALS only after the loop
    ],
)
def test_pivot_follows_argv_order(argv, pivot):
    assert parse_argv(argv).pivot == pivot


@pytest.mark.parametrize(
    ("argv", "convention"),
    [
        (["-fdet_vector", "0", "0", "1", "-mosflm"], "MOSFLM"),
        (["-xds", "-beam_vector", "0", "0", "1"], "CUSTOM"),
        (["-adxv", "-denzo"], "DENZO"),
        (["-pix0_vector", "0", "0", "0"], "CUSTOM"),
    ],
)
def test_convention_is_the_last_one_given(argv, convention):
    assert parse_argv(argv).convention == convention


@pytest.mark.parametrize(
    ("argv", "thick", "mu"),
    [
        (["-detector_abs", "inf"], 0.0, 0.0),
        (["-detector_abs", "0"], 0.0, 0.0),
        (["-detector_thick", "500", "-detector_abs", "inf"], 0.0, 0.0),
        (["-detector_abs", "inf", "-detector_thick", "500"], 500e-6, 0.0),
        (["-detector_thick", "500"], 500e-6, None),
    ],
)
def test_detector_absorption(argv, thick, mu):
    parsed = parse_argv(argv)
    assert (parsed.detector_thick, parsed.detector_mu) == (thick, mu)


def test_curved_det_needs_a_following_argument_like_the_c():
    assert parse_argv(["-curved_det", "-nonoise"]).curved_det
    parsed = parse_argv(["-nonoise", "-curved_det"])
    assert not parsed.curved_det
    assert any("-curved_det ignored" in note for note in parsed.notes)


# ---------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-lambda", "1"], "wavelength", 1e-10),
        (["-energy", "12398.42"], "wavelength", 1e-10),
        (["-distance", "100"], "distance", 0.1),
        (["-Xbeam", "61.2"], "Xbeam", 61.2 / 1000.0),
        (["-dispersion", "5"], "dispersion", 0.05),
        (["-divergence", "2"], "vdivrange", 0.002),
        (["-water", "0.1"], "water_size", 0.1e-6),
        (["-beamsize", "0.1"], "beamsize", 1e-4),
        (["-dmin", "2"], "dmin", 2e-10),
        (["-twotheta", "90"], "twotheta", math.pi / 2),
        (["-sample_size", "0.01"], "sample_size", [1e-5, 1e-5, 1e-5]),
        (["-seed", "12345"], "seed", 12345),
    ],
)
def test_values_are_converted_to_si(argv, field, value):
    assert getattr(parse_argv(argv), field) == pytest.approx(value, rel=1e-15)


def test_energy_zero_gives_infinite_wavelength_like_c():
    assert math.isinf(parse_argv(["-energy", "0"]).wavelength)
    assert parse_argv(["-energy", "0", "-lambda", "1"]).wavelength == 1e-10


# ---------------------------------------------------------------- errors


def test_unknown_option():
    with pytest.raises(InputError, match="^unknown option '-foo'$"):
        parse_argv(["-nonoise", "-foo"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-distance"], "-distance: needs 1 value after it"),
        (["-roi", "1", "2"], "-roi: needs 4 values after it"),
        (["-misset", "1", "2"], "-misset: needs 3 values after it"),
        (["-cell"], "-cell: needs 1 to 6 numbers after it"),
        (["-cell", "-default_F", "1"], "-cell: needs 1 to 6 numbers"),
        (["-distance", "abc"], "-distance: 'abc' is not a finite number"),
        (["-distance", "-nonoise"], "-distance: '-nonoise' is not a finite number"),
        (["-detpixels", "many"], "-detpixels: 'many' is not a whole number"),
        (["-cell", "100", "x"], "-cell: 'x' is not a finite number"),
        (["-pivot", "middle"], "-pivot: 'middle' is not 'beam' or 'sample'"),
        (["-detector_abs", "lots"], "-detector_abs: 'lots' is not a number or 'inf'"),
        (["-dtype", "float16"], "-dtype: 'float16' is not one of float32, float64"),
        (["-device", "tpu"], "-device: 'tpu' is not one of cpu, cuda, auto"),
        (["-chunk", "0"], "-chunk: must be a positive number of evaluations"),
        (["-trace_pixel", "1"], "-trace_pixel: needs 2 values after it"),
    ],
)
def test_errors_are_one_line_and_name_the_option(argv, message):
    with pytest.raises(InputError) as info:
        parse_argv(argv)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_quirk_rules_read_values_leniently():
    # -misset fires through "-misset_seed" with "-nonoise" "-nopgm" as angles (atof = 0)
    parsed = parse_argv(["-misset_seed", "4", "-nonoise", "-nopgm"])
    assert parsed.misset == (from_deg(4.0), 0.0, 0.0)
    assert not parsed.calculate_noise and not parsed.write_pgm


def test_negative_numbers_are_values_not_options():
    assert parse_argv(["-Xbeam", "-5"]).Xbeam == -0.005


def test_stray_arguments_are_noted():
    parsed = parse_argv(["-nonoise", "5", "-3"])
    assert len(parsed.notes) == 2
    assert all("ignoring argument" in note for note in parsed.notes)


def test_is_number():
    assert all(map(is_number, ["1", "-1.5e3", ".5", "inf", "0x10"]))
    assert not any(map(is_number, ["", "abc", "5mm", "-foo", "1e"]))


# ---------------------------------------------------------------- our own options


def test_options_of_this_implementation():
    parsed = parse_argv(["-dtype", "float32", "-device", "cpu", "-chunk", "4096",
                         "-trace_pixel", "10", "20", "-trace_pixel", "3", "4"])
    assert (parsed.dtype, parsed.device, parsed.chunk_evaluations) == ("float32", "cpu", 4096)
    assert parsed.trace_pixels == [(10, 20), (3, 4)]


def test_defaults_of_this_implementation():
    parsed = parse_argv([])
    assert (parsed.dtype, parsed.device, parsed.chunk_evaluations) == ("float64", "auto", None)
    assert not parsed.show_help


@pytest.mark.parametrize("flag", ["-h", "-help", "--help"])
def test_help(flag):
    assert parse_argv([flag]).show_help


def test_start_state_is_not_modified():
    start = parse_argv(["-distance", "50"])
    parsed = parse_argv(["-distance", "70", "-nonoise"], start=start)
    assert start.distance == 0.05 and start.calculate_noise
    assert parsed.distance == 0.07 and not parsed.calculate_noise
    parse_argv(["-Na", "3", "-cell", "50", "-trace_pixel", "1", "2"], start=start)
    assert start.N == [1.0, 1.0, 1.0] and start.cell[0] == 0.0 and start.trace_pixels == []


# ---------------------------------------------------------------- -mask / -img scan


def test_input_images_scan_like_the_c_prescan():
    argv = ["-img", "a.img", "-cell", "1", "-mask", "m.img", "-img", "b.img"]
    assert input_images(argv) == ("m.img", "b.img")
    assert input_images(["-nonoise", "-mask"]) == (None, None)
