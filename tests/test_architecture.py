"""The layout the code promises (ARCHITECTURE.md): one-way stages, no import cycles, small modules.

Stages, earliest first: declarations (tiers, rules, config, errors) -> layers -> partition -> coverage
-> scenarios -> maps -> commands and the command line. A module may import its own stage or an earlier
one, never a later one; no healthreach import sits inside a function (a cycle hidden from the reader).
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "healthreach"
STAGES: tuple[tuple[str, ...], ...] = (
    ("healthreach._errors", "healthreach.tiers", "healthreach.rules", "healthreach.config", "healthreach.data"),
    ("healthreach.layers",),
    ("healthreach.partition",),
    ("healthreach.coverage",),
    ("healthreach.scenarios",),
    ("healthreach.maps",),
    ("healthreach.commands", "healthreach.cli", "healthreach.__main__"),
)
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> int:
    """Stage of a module; the package itself (its lazy public facade) comes after every stage."""
    if module == "healthreach":
        return len(STAGES)
    for number, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return number
    raise AssertionError(f"{module} belongs to no stage of ARCHITECTURE.md")


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported healthreach module, line, inside a function) for every import in `module`."""
    return imports_in(MODULES[module].read_text(encoding="utf-8"))


def imports_in(source: str) -> list[tuple[str, int, bool]]:
    """(imported healthreach module, line, inside a function) for every import in `source`."""
    tree = ast.parse(source)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside |= {id(sub) for sub in ast.walk(node) if sub is not node}
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from healthreach.coverage import service_areas` imports the submodule.
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        for target in targets:
            if target.split(".")[0] == "healthreach":
                while target not in MODULES:
                    target = target.rsplit(".", 1)[0]
                found.append((target, node.lineno, id(node) in inside))
    return found


def test_every_module_has_a_stage():
    assert len(MODULES) > 40
    for module in MODULES:
        stage(module)


def test_no_import_from_a_later_stage():
    late = [f"{module} (stage {stage(module)}) imports {target} (stage {stage(target)}) at line {line}"
            for module in MODULES for target, line, _ in _imports(module) if stage(target) > stage(module)]
    assert not late, "\n".join(late)


def test_no_import_cycles():
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module in MODULES:
        graph.add_edges_from((module, target) for target, _, _ in _imports(module) if target != module)
    # A package's __init__ is imported on the way to each of its submodules; only real module edges count.
    graph.remove_edges_from([(a, b) for a, b in list(graph.edges) if b == "healthreach"])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles[:5]


def test_no_package_import_hidden_inside_a_function():
    hidden = [f"{module}:{line} imports {target}" for module in MODULES
              for target, line, inside in _imports(module) if inside]
    assert not hidden, "\n".join(hidden)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines (a module this long holds two topics)"


def test_the_checks_see_what_they_look_for():
    # A module written for the test: a later-stage import at the top, and one hidden in a function.
    source = ("import numpy\nfrom healthreach.maps import style\n\n"
              "def f():\n    import healthreach.commands.setup as s\n    from healthreach.tiers import TIERS\n")
    assert imports_in(source) == [("healthreach.maps.style", 2, False), ("healthreach.commands.setup", 5, True),
                                  ("healthreach.tiers", 6, True)]
    assert stage("healthreach.maps.style") > stage("healthreach.coverage.measure")
    assert stage("healthreach.tiers") == 0 and stage("healthreach") == len(STAGES)


def test_no_absolute_machine_paths():
    """CI clones the checkout elsewhere with shared/ beside it: code and tests reach shared data as
    <checkout>/../shared, never by this machine's absolute path."""
    root = PACKAGE.parent
    files = [p for folder in ("healthreach", "tests", "benchmarks") for p in (root / folder).rglob("*.py")]
    files += [root / "Makefile", *sorted((root / ".ci").glob("*"))]
    found = [f"{p.relative_to(root)}:{n}" for p in files for n, line in
             enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if any(f"{q}{top}/" in line for q in "\"'" for top in ("/work", "/home", "/root"))]
    assert not found, found
