"""The import graph of `harness`: the CLI layer on top, one door each for litellm and DuckDB, no import loops."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "harness"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (a lazy import is still a dependency)."""
    found: set[str] = set()
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


MODULES = {_module(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _importers(prefix: str) -> set[str]:
    return {
        name for name, path in MODULES.items() if any(m == prefix or m.startswith(prefix + ".") for m in _imports(path))
    }


def test_nothing_below_the_cli_layer_imports_it():
    upward = {name for name in _importers("harness.cli") if not name.startswith("harness.cli")}
    assert upward <= {"harness.__main__"}, upward


def test_litellm_enters_only_through_llm_and_duckdb_only_through_store():
    assert _importers("litellm") == {"harness.llm"}
    assert _importers("duckdb") == {"harness.store"}


def test_the_runtime_does_not_depend_on_the_test_server():
    # serve-model shares the HTTP side (harness/local/openai_http.py), not the scripted responder
    assert {n for n in _importers("harness.testing") if not n.startswith("harness.testing")} == set()


def test_argparse_and_exit_codes_live_in_the_cli_layer():
    outside = {n for n in _importers("argparse") if not n.startswith("harness.cli")}
    assert outside <= {"harness.testing.openai_server"}, outside  # the test server's own `python -m` entry point


def import_cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles():
    # a package's __init__ importing its own submodules is not a loop
    graph = {a: {b for b in deps if not b.startswith(a + ".")} for a, deps in GRAPH.items()}
    assert import_cycles(graph) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_it_owns(name):
    assert ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))), f"{name} has no docstring"
