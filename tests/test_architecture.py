"""The package's layers: imports point down (function-local imports included), no circle, no file too long.

docs/architecture.md draws the same picture; a change that breaks it fails here, naming the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "napari_superres"
MAX_LINES = 500

# layer of each module (by its dotted name under napari_superres, a package standing for its modules)
LAYERS = {
    0: ["errors", "device", "normalize", "degradation", "metrics", "events", "_version"],
    1: ["models", "io"],
    2: ["engine", "realdata"],
    3: ["writer", "training", "labelled"],
    4: ["adapt", "api"],
    5: ["isotropic", "bench", "perf", "bioimageio"],
    6: ["cli", "cli_args", "__main__", "layers", "_widgets", "_reader", "_writer", "_sample_data", ""],
}
SIBLINGS_APART = {("models", "io"), ("io", "models")}  # same layer, and neither imports the other
NOBODY_IMPORTS = {"_widgets", "_reader", "_writer", ""}  # the napari / Qt files and the package facade


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _top(name: str) -> str:
    return name.split(".")[0]


def _layer(name: str) -> int:
    for rank, tops in LAYERS.items():
        if _top(name) in tops:
            return rank
    raise AssertionError(
        f"module napari_superres.{name} is in no layer; add it to LAYERS and docs/architecture.md"
    )


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Our modules that ``name`` imports, anywhere in the file, with the line."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if name else []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "napari_superres" or alias.name.startswith("napari_superres."):
                    found.append((alias.name.removeprefix("napari_superres").lstrip("."), node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = here if is_pkg else here[:-1]
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:  # "from . import isotropic" imports a module, not the package
                sub = f"{target}.{alias.name}" if target else alias.name
                found.append((sub if sub in MODULES else target, node.lineno))
    return found


EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_module_is_in_a_layer():
    for name in MODULES:
        _layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    bad = []
    for target, line in EDGES[name]:
        if _top(target) == _top(name):
            continue  # within one package or module (its own circles are checked below)
        if target in NOBODY_IMPORTS or _top(target) in NOBODY_IMPORTS - {""}:
            bad.append(f"line {line}: imports {target or 'the package facade'}, which nothing may import")
        elif _layer(target) > _layer(name):
            bad.append(f"line {line}: imports {target} (layer {_layer(target)}) from layer {_layer(name)}")
        elif (_top(name), _top(target)) in SIBLINGS_APART:
            bad.append(f"line {line}: imports {target}; models and io stay apart")
    assert not bad, f"napari_superres.{name}: " + "; ".join(bad)


def test_no_import_circle():
    graph = {n: {t for t, _ in EDGES[n] if t in MODULES and t != n} for n in MODULES}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])


def test_no_source_file_is_too_long():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these (over {MAX_LINES} lines): {long}"
