"""The package's layers: every import (also one inside a function) points down or sideways.

The order is the data flow: the pure tensor physics (which imports nothing of the
package), what every layer shares (configuration, parameters, errors, units), models,
the compiled libraries and their threads, file formats, rendering, products, refinement,
the C command line, and the tools and programs on top. A module may import its own
layer and the layers below it; modules of one package import each other without a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "nanobragg"

#: top-level module or subpackage -> layer (lower layers never import higher ones)
LAYERS = {
    "physics": 0,
    "__init__": 1, "__main__": 10, "_moved": 1, "config": 1, "errors": 1, "units": 1,
    "parameters": 1,
    "models": 2,
    "native": 3,
    "io": 4,
    "render": 5,
    "products": 6,
    "refine": 7,
    "commandline": 8,
    "dataset": 9, "diagnostics": 9,
    "cli": 10,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the nanobragg modules ``path`` imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nanobragg")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("nanobragg"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names
                          if (PACKAGE.parent / Path(*f"{target}.{a.name}".split("."))).exists()
                          or (PACKAGE.parent / Path(*f"{target}.{a.name}".split("."))
                              ).with_suffix(".py").exists()}
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__" if len(parts) == 1 else parts[1]]


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_top_level_name_has_a_layer():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert tops <= set(LAYERS), sorted(tops - set(LAYERS))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = sorted(t for t in _imports(MODULES[module])
                    if t != "nanobragg" and _layer(t) > _layer(module))
    assert not upward, f"{module} (layer {_layer(module)}) imports {upward}"


def test_no_circles_among_modules():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m and t != "nanobragg"}
             for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _from_modules(path: Path) -> set[str]:
    """The modules named after ``from`` (or ``import``) in ``path``: each must exist."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nanobragg"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nanobragg")}
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_name_modules_that_exist(module):
    missing = sorted(t for t in _from_modules(MODULES[module]) if not _exists(t))
    assert not missing, f"{module} imports {missing}"
