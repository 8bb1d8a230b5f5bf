"""The package's import graph: no cycles, and the rules layer imports nothing else of the provider."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_oneinbox

PACKAGE = Path(airflow_provider_oneinbox.__file__).parent
NAME = "airflow_provider_oneinbox"


def _module_name(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports, lazily or not."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(NAME):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in paths else str(node.module))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith(NAME))
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                raise AssertionError(f"{module} uses a relative import; the graph check reads absolute ones")
        graph[module] = {name for name in imported if name in paths and name != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = _import_graph()
    assert len(graph) > 50, "the graph should cover the whole package"
    assert _cycles(graph) == []


def test_the_rules_layer_imports_only_itself() -> None:
    graph = _import_graph()
    rules = {module for module in graph if module.startswith(f"{NAME}.rules")}
    assert f"{NAME}.rules.backoff" in rules
    for module in rules:
        outside = {
            target for target in graph[module] if target != NAME and not target.startswith(f"{NAME}.rules")
        }
        assert outside == set(), f"{module} imports {sorted(outside)}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
