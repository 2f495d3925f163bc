"""The package's import graph: no circle, and every import points down the layers.

Imports inside functions count too: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "practical3"
# Lower layers never import higher ones; the folders are the layers, and the entry points at
# the top of the package are layered one by one. A module's layer is that of its longest prefix.
LAYERS = {
    "practical3.base": 0,
    "practical3.data": 1,
    "practical3.models": 2, "practical3.scoring": 2,
    "practical3.training": 3,
    "practical3.evaluation": 4,
    "practical3.plots": 5, "practical3.report": 5,
    "practical3.platforms": 6, "practical3.session": 6, "practical3.predict": 6,
    "practical3.course": 6,
    "practical3.pipeline": 7, "practical3.compare": 7, "practical3.reproduce": 7,
    "practical3.spread": 7, "practical3.grading": 7,
    "practical3.cli": 8,
    "practical3.__main__": 9, "practical3": 0,
}
SUBPACKAGES = ("base", "data", "models", "scoring", "training", "evaluation", "plots", "report",
               "course", "grading")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every practical3 module that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "practical3"}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def layer(module: str) -> int:
    """The layer of ``module``'s longest prefix in LAYERS (the bare package is only itself)."""
    prefixes = [p for p in LAYERS
                if module == p or (p != "practical3" and module.startswith(p + "."))]
    return LAYERS[max(prefixes, key=len)]


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if m != "practical3" and not any(
        m == p or m.startswith(p + ".") for p in LAYERS if p != "practical3")]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    upward = sorted(m for m in GRAPH[module]
                    if layer(m) > layer(module) and not module.startswith(m + "."))
    assert not upward, f"{module} (layer {layer(module)}) imports higher layers: {upward}"


def test_the_import_graph_has_no_circle():
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError(" -> ".join((*path[path.index(module):], module)))
        if module in done:
            return
        for imported in GRAPH[module]:
            if not module.startswith(imported + "."):  # a package's own __init__ is no circle
                visit(imported, (*path, module))
        done.add(module)

    for module in GRAPH:
        visit(module, ())


def test_the_module_table_lists_every_module_once():
    table = (PACKAGE.parent / "docs" / "modules.md").read_text()  # generated: .ci/docs.py
    listed = [line.split("`")[1] for line in table.splitlines() if "| `practical3/" in line]
    files = sorted(str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py"))
    assert sorted(listed) == files


def test_the_folders_are_the_layers():
    """Every subpackage is one layer, and only the entry points stand beside them."""
    folders = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert folders == sorted(SUBPACKAGES)
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert top == sorted(m.rsplit(".", 1)[1] for m in LAYERS
                         if m.count(".") == 1 and m.split(".")[1] not in SUBPACKAGES
                         and m != "practical3.__main__")
