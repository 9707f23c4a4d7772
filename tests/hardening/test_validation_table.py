"""Every field of every configuration record has a declared check."""

from __future__ import annotations

import dataclasses

from nanobragg import config
from nanobragg.validation import _fields


def test_each_record_field_is_checked():
    table = _fields()
    for kind, checks in table.items():
        declared = {f.name for f in dataclasses.fields(kind)}
        assert declared == set(checks), (kind.__name__, declared ^ set(checks))
    records = {getattr(config, name) for name in dir(config)
               if dataclasses.is_dataclass(getattr(config, name))
               and name.endswith(("Config", "File"))}
    assert records <= set(table), sorted(r.__name__ for r in records - set(table))
