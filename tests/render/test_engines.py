"""The engine table: every Sampling field has a row, engine= is checked, the C interface
is declared and its struct size checked."""

from __future__ import annotations

import ctypes
import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from nanobragg.commandline.args import parse_argv
from nanobragg.commandline.to_config import build_request
from nanobragg.errors import InputError
from nanobragg.models.sampling import Sampling
from nanobragg.native import abi, build
from nanobragg.render import engines
from nanobragg.render.simulate import prepare, simulate

BASE = "-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 -pixel 0.4"


def _config(extra: str = "-detpixels 8"):
    return build_request(shlex.split(f"{BASE} {extra}")).config


def test_every_sampling_field_is_in_the_table_for_every_engine():
    fields = {f.name for f in dataclasses.fields(Sampling)}
    assert set(engines.SAMPLING_SUPPORT) == fields
    for name, checks in engines.SAMPLING_SUPPORT.items():
        assert set(checks) == set(engines.ENGINES), name
    for name, (_, checks) in engines.FEATURE_SUPPORT.items():
        assert set(checks) == set(engines.ENGINES), name


def test_the_eager_engine_renders_everything():
    setup = prepare(_config("-detpixels 8 -round_xtal -curved_det -N 1"))
    assert engines.supports("eager", setup)
    assert engines.choose(setup, "eager") == "eager"


def test_an_unknown_engine_is_a_value_error():
    with pytest.raises(ValueError, match="unknown engine 'quick'"):
        simulate(_config(), engine="quick")
    with pytest.raises(ValueError, match="known: eager, fast, triton, auto"):
        engines.check_name("Fast")


def test_fast_where_it_cannot_render_says_why():
    setup = prepare(_config())
    part = dataclasses.replace(setup, sampling=dataclasses.replace(setup.sampling,
                                                                   subpixels=(0, 1)))
    assert engines.reasons("fast", part) == [
        "subpixels=(0, 1): renders whole pixels (no sub-pixel ranges)"]


def test_fast_without_a_compiler_is_an_error(monkeypatch):
    monkeypatch.setattr(build, "compiler", lambda: None)
    with pytest.raises(InputError, match="could not be built"):
        engines.choose(prepare(_config()), "fast")
    assert engines.choose(prepare(_config())) == "eager"


def test_engine_flag_is_parsed_and_checked():
    assert parse_argv(shlex.split(f"{BASE} -engine fast")).engine == "fast"
    assert parse_argv(shlex.split(BASE)).engine == "auto"
    request = build_request(shlex.split(f"{BASE} -engine eager"))
    assert request.runtime.engine == "eager"
    with pytest.raises(InputError, match="-engine: 'gpu' is not one of eager, fast, triton, auto"):
        parse_argv(shlex.split(f"{BASE} -engine gpu"))


def test_cli_engine_fast_on_an_unsupported_render_exits_2(tmp_path, monkeypatch, capsys):
    from nanobragg.cli.main import run

    monkeypatch.chdir(tmp_path)
    # the fused kernel renders every shape; a table row that refuses one stands in for a
    # render it cannot do
    monkeypatch.setitem(engines.SAMPLING_SUPPORT["shape"], "fast",
                        engines.only(("square",), "square only here"))
    argv = shlex.split(f"{BASE} -detpixels 8 -device cpu -nopgm -nonoise -engine fast "
                       "-floatfile f.bin -intfile i.img -round_xtal")
    assert run(argv) == 2
    assert ("engine 'fast' cannot render this: shape='round': square only here"
            in capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


needs_library = pytest.mark.skipif(build.load() is None, reason="no C compiler")


def _exported_functions() -> set[str]:
    """Names of the non-static functions defined in the library's C sources."""
    here = Path(build.__file__).parent
    names = set()
    for source in build.SOURCES:
        text = (here / source).read_text()
        names |= set(re.findall(r"^(?!static)[a-z][\w \*]*?\b(nb_\w+)\(", text, re.M))
    return names


def test_every_exported_function_is_declared():
    exported = _exported_functions()
    assert {"nb_params_size", "nb_noise", "nb_int_image"} <= exported
    # the render's and the stop search's names are macros (NB_NAME, NB_STOP), defined
    # once per precision
    by_macro = {"nb_render_f32", "nb_render_f64", "nb_stop_f32", "nb_stop_f64"}
    assert exported | by_macro == set(abi.ENTRY_POINTS)


@needs_library
def test_loaded_library_has_declared_types_and_struct_size():
    lib = build.load()
    for name, (argtypes, restype) in abi.ENTRY_POINTS.items():
        fn = getattr(lib, name)
        assert tuple(fn.argtypes) == tuple(argtypes) and fn.restype == restype, name
    assert lib.nb_params_size() == ctypes.sizeof(abi.Params)


@needs_library
def test_a_struct_of_another_size_is_refused(monkeypatch):
    class Shorter(ctypes.Structure):
        _fields_ = abi.Params._fields_[:-1]

    monkeypatch.setattr(abi, "Params", Shorter)
    with pytest.raises(abi.InterfaceError, match="nb_params is"):
        abi.declare(ctypes.CDLL(str(build.library_path(build.compiler()))))
