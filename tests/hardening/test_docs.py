"""Documentation that must run: the README's data-set example, the tools' help, and the
README's notes on the test suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_yaml() -> str:
    text = README.read_text()
    section = text[text.index("## Many-shot data sets"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def test_readme_dataset_example_loads(tmp_path):
    pytest.importorskip("yaml")
    from nanobragg.cli.dataset import flags_to_config
    from nanobragg.dataset.description import load_description

    spec = tmp_path / "spec.yaml"
    spec.write_text(_readme_yaml())
    (tmp_path / "water.stol").write_text("0 2.6\n0.5 1.2\n1.0 0.4\n")  # the example's table
    desc = load_description(spec, flags_to_config)
    assert desc.shots == 1000
    assert desc.document["variation"]["fluence"] == {"log_uniform": [1e29, 1e30]}
    assert desc.background.stol == str(tmp_path.resolve() / "water.stol")
    assert desc.detector.psf_kind == "gauss"


def test_yaml_numbers_follow_yaml_1_2():
    pytest.importorskip("yaml")
    from nanobragg.dataset.yaml_numbers import load

    assert load("a: 1e29\nb: -2E-3\nc: 12\nd: abc\ne: 1.0e+5") == {
        "a": 1e29, "b": -2e-3, "c": 12, "d": "abc", "e": 1e5}
    assert isinstance(load("c: 12")["c"], int)


@pytest.mark.parametrize("module, flag", [("taps", "-h"), ("taps", "--help"),
                                          ("compare", "--help"), ("compare", "-h")])
def test_tool_help_is_shown(module, flag, capsys):
    import importlib

    main = importlib.import_module(f"nanobragg.diagnostics.{module}").main
    assert main([flag]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: ") and "--" in captured.out
    assert captured.err == ""


def test_readme_names_nb_c_bin_for_the_c_parity_tests():
    text = README.read_text()
    intro = " ".join(text[:text.index("## The command")].split())
    assert "set `NB_C_BIN`" in intro and "test_c_parity.py" in intro


@pytest.mark.slow  # collects the whole suite (about 9 s)
def test_readme_gives_the_count_of_slow_tests():
    import subprocess
    import sys

    text = README.read_text()
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m",
                             "slow", str(README.parent / "tests")], capture_output=True,
                            text=True, cwd=README.parent, timeout=300)
    count = int(re.search(r"(\d+)/\d+ tests collected", listed.stdout).group(1))
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
             9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
    assert f"skips the {words.get(count, count)} slow tests" in " ".join(text.split()), count
