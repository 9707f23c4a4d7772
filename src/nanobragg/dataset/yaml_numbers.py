"""YAML with the numbers of YAML 1.2: ``1e29`` is a float.

PyYAML follows YAML 1.1, whose float pattern needs a dot and a signed exponent
(``1.0e+29``), so ``1e29`` or ``2E-3`` load as strings. Descriptions are written by
people (and by the README's examples) who mean numbers there.
"""

from __future__ import annotations

import re
from typing import Any

#: YAML 1.2 core-schema floats (and the 1.1 ones PyYAML already takes)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)

_LOADER = None


def _loader():
    """A SafeLoader subclass whose float resolver is the YAML 1.2 one (built once)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.yaml_implicit_resolvers = {
            key: [(tag, regexp) for tag, regexp in resolvers
                  if tag != "tag:yaml.org,2002:float"]
            for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
        Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT,
                                     list("-+0123456789."))
        _LOADER = Loader
    return _LOADER


def load(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 floats (integers stay integers)."""
    import yaml

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
