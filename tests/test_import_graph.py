"""No import cycles between the modules of `durable_local`.

The graph is built from the source (AST), not by importing, so a cycle hidden behind a function-level
import still counts: it is the same coupling, only deferred to run time. Imports under
`if TYPE_CHECKING:` are left out because they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "durable_local"
ROOT = Path(__file__).resolve().parent.parent


def _module_files(root: Path, package: str) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> list[str]:
    """The modules the import statements in `tree` name, TYPE_CHECKING blocks excluded."""
    found: list[str] = []
    base = module.split(".") if is_package else module.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            # `from pkg import name` names the submodule pkg.name when there is one, else pkg itself
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append(submodule if submodule in modules else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports (directly, at any level of the file)."""
    files = _module_files(root, package)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = _imported_names(tree, module, path.name == "__init__.py", set(files))
        graph[module] = {name for name in names if name in files and name != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def _cycle_path(graph: dict[str, set[str]], component: list[str]) -> str:
    """One concrete loop inside a component, e.g. `a -> b -> a`, so the failure says where to cut."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        nexts = sorted(graph[node] & members)
        back = start if start in nexts else None
        if back:
            return " -> ".join([*path, back])
        unvisited = [n for n in nexts if n not in seen]
        if not unvisited:  # a dead end inside the component: report the members instead
            return ", ".join(component)
        node = unvisited[0]
        path.append(node)
        seen.add(node)


def test_durable_local_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "durable_local.engine.episode" in graph  # the walk found the package
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in durable_local:\n" + "\n".join(_cycle_path(graph, c) for c in cycles)


def test_the_checker_sees_function_level_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n    return b\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == set()
    assert find_cycles(graph) == [["pkg.a", "pkg.b"]]
    assert _cycle_path(graph, ["pkg.a", "pkg.b"]) == "pkg.a -> pkg.b -> pkg.a"
