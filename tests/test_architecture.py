"""The import graph keeps the layout of docs/architecture.md honest.

* A private module (``prioq.pkg._mod``) or private name (``from prioq.pkg import _x``)
  is imported only from inside its own package; other packages use the public names.
* The packages (``prioq.resources``, ``prioq.queue``, ...) and top-level modules
  import each other without cycles, lazy imports included.
* No module is over ~800 lines, and every module declares ``__all__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 820


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "prioq").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = modules()


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports(name: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(module imported, names imported from it, under TYPE_CHECKING) for one module."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if is_package(name) else name.rpartition(".")[0]
    found: list[tuple[str, tuple[str, ...], bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            test = ast.unparse(child.test) if isinstance(child, ast.If) else ""
            guarded = typing_only or test in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            if isinstance(child, ast.Import):
                found.extend((a.name, (), typing_only) for a in child.names if a.name.startswith("prioq"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base])
                if base.startswith("prioq"):
                    names = tuple(a.name for a in child.names)
                    # ``from prioq.pkg import mod`` imports a module, not a name
                    for n in names:
                        if f"{base}.{n}" in MODULES:
                            found.append((f"{base}.{n}", (), typing_only))
                    found.append((base, tuple(n for n in names if f"{base}.{n}" not in MODULES), typing_only))
            visit(child, guarded)

    visit(tree, False)
    return found


def owner(module: str) -> str:
    """The package whose private parts ``module`` may use: its own package."""
    return module if is_package(module) else module.rpartition(".")[0]


def unit(module: str) -> str:
    """The top-level unit a module belongs to: ``prioq.resources``, ``prioq.model``..."""
    return ".".join(module.split(".")[:2])


def test_private_modules_and_names_stay_inside_their_package() -> None:
    offences = []
    for name in MODULES:
        for target, names, _ in imports(name):
            parts = target.split(".")
            for i, part in enumerate(parts[1:], start=1):
                if part.startswith("_") and not part.startswith("__"):
                    allowed = ".".join(parts[:i])
                    if not (name == allowed or name.startswith(allowed + ".")):
                        offences.append(f"{name} imports private module {target}")
                    break
            for n in names:
                if n.startswith("_") and not owner(name).startswith(owner(target)):
                    offences.append(f"{name} imports private name {target}.{n}")
    assert offences == []


def test_packages_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        if name in ("prioq", "prioq.__main__"):
            continue  # the public facade and the entry point import everything
        for target, _, typing_only in imports(name):
            if not typing_only and unit(target) != unit(name) and target != "prioq":
                graph.setdefault(unit(name), set()).add(unit(target))
    # depth-first search for a back edge
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path.append(u)
        for w in sorted(graph.get(u, ())):
            if state.get(w) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(w):], w]))
            if w not in state:
                visit(w)
        path.pop()
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u)
    assert "prioq.scheduler" not in graph.get("prioq.storage", set())


def test_no_module_is_over_800_lines_and_each_declares_all() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}
    missing = [n for n, p in MODULES.items() if "__all__" not in p.read_text() and n != "prioq.__main__"]
    assert missing == []


def test_the_graph_reader_sees_the_real_imports() -> None:
    """The graph reader is not vacuous: it finds the imports this very layout relies on."""
    found = {target for target, _, _ in imports("prioq.scheduler._facade")}
    assert {"prioq._validate", "prioq.scheduler._state", "prioq.policy"} <= found
    assert unit("prioq.resources._spec") == "prioq.resources"
