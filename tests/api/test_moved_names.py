"""Old module names of the documented API still import, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

from nanobragg._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_name_is_the_new_module_and_warns(old, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=MOVED[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_an_alias_keeps_the_public_names():
    assert importlib.import_module("nanobragg.render.simulate").simulate is \
        importlib.import_module("nanobragg").simulate


def test_names_that_never_existed_still_fail():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("nanobragg.no_such_module")
