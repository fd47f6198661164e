"""Imports point one way: no cycles between the modules of the project's packages.

The graph is read from the source (``ast``), so an import inside a function counts as
much as one at the top of a file: a lazy import hides a cycle from Python, not from
this test. ``agents``, ``envs``, ``reward_transforms`` and ``mtrl.combine`` each count
as one node (a package imported as a whole), the other ``mtrl`` modules one node each,
so ``agents.sac → mtrl.grads → agents.networks`` is a cycle ``agents ↔ mtrl.grads``
(the library layer importing back a layer above it), as ``mtrl.trainer ↔
mtrl.stl_trainer`` is one between two modules.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mtrl", "agents", "envs", "reward_transforms")
NODES = ("agents", "envs", "reward_transforms", "mtrl.combine")
"""Packages that count as one node of the graph."""
LIBRARY = ("mtrl.combine", "mtrl.grads", "mtrl.profile")
"""The lowest layer (DESIGN.md): it imports nothing of the project above it."""
MIDDLE = ("agents", "envs", "reward_transforms")
"""The layer above it; every other ``mtrl`` module (orchestration) is above both."""


def project_modules(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of ``PACKAGES`` under ``root``."""
    out = {}
    for package in PACKAGES:
        folder = root / package
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (top level or not)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from package levels up
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from pkg import sub` imports the submodule pkg.sub; `from pkg import name`, pkg
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import mtrl.x.y`: its nearest module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def node_of(module: str) -> str:
    """The graph node a module belongs to (its package for ``NODES``)."""
    for node in NODES:
        if module == node or module.startswith(node + "."):
            return node
    return module


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{node: nodes it imports}`` over the project's modules under ``root``."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = {node_of(m): set() for m in modules}
    for name, path in modules.items():
        for target in imports_of(name, path, set(modules)):
            if node_of(target) != node_of(name):
                graph[node_of(name)].add(node_of(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_projects_modules_import_one_way():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def layer(node: str) -> int:
    """0 for the library, 1 for agents, envs and reward_transforms, 2 for orchestration."""
    return 0 if node in LIBRARY else 1 if node in MIDDLE else 2


def test_imports_point_down_the_layers():
    graph = import_graph()
    up = sorted(
        f"{a} → {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a)
    )
    assert not up, f"imports up the layers: {up}"


def test_nothing_imports_the_cli():
    graph = import_graph()
    assert not [node for node, targets in graph.items() if "mtrl.cli" in targets]


def test_the_checker_sees_a_cycle_closed_by_a_function_level_import(tmp_path):
    (tmp_path / "mtrl").mkdir()
    (tmp_path / "mtrl" / "__init__.py").write_text("")
    (tmp_path / "mtrl" / "a.py").write_text("from mtrl.b import g\n")
    (tmp_path / "mtrl" / "b.py").write_text(
        textwrap.dedent("""
            def g():
                from . import a  # lazy and relative: still an edge b → a
                return a
        """)
    )
    (tmp_path / "mtrl" / "c.py").write_text("import mtrl.a\n")
    assert cycles(import_graph(tmp_path)) == [["mtrl.a", "mtrl.b"]]
    (tmp_path / "mtrl" / "b.py").write_text("def g():\n    return 1\n")
    assert cycles(import_graph(tmp_path)) == []
