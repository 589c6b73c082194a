"""The import graph, read from the source with ``ast`` (nothing is imported): ``chain/`` never imports
the service, and no two rooms import each other, however indirectly.

A room is a top-level package (``chain``, ``wallet``…), a sub-package of ``procedures``
(``procedures.merchants``) or a module directly under ``procedures`` (``procedures.runtime``).
Every import counts — at module level, inside functions, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chain.toolchain import PROJECT_ROOT

#: Top-level packages of the project (tests aside).
PACKAGES = sorted(p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py") if p.parent.name != "tests")
#: The service and what is built on it: the chain side must import none of them.
ABOVE_THE_CHAIN = {"procedures", "wallet", "pos", "scripts"}
#: The programs residents and merchants run: clients of the service's API, never importing the service.
CLIENTS = {"wallet", "pos"}


@dataclass(frozen=True)
class Import:
    """One import statement: which module imports what, and where."""

    importer: str
    target: str
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (PROJECT_ROOT / package).rglob("*.py")}


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                yield Import(name, submodule if submodule in known else module, node.lineno)


def room(module: str) -> str:
    """The room a module belongs to (see the module docstring)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "procedures" and len(parts) > 1 else parts[0]


def _project_imports() -> list[Import]:
    known = _modules()
    return [i for name, path in known.items() for i in _imports(name, path, known)
            if i.target.split(".")[0] in PACKAGES and room(i.importer) != room(i.target)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one room (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_rooms_and_their_imports():
    assert {"chain.relayer", "procedures.wiring", "procedures.merchants.routes", "wallet.cli"} <= set(_modules())
    imports = _project_imports()
    rooms = {room(i.importer) for i in imports}
    assert {"procedures.transfers", "procedures.merchants", "procedures.wiring", "wallet"} <= rooms
    assert any(i.importer == "procedures.wiring" and room(i.target) == "procedures.merchants" for i in imports)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_chain_side_imports_nothing_of_the_service():
    upward = [f"{i.importer}:{i.line} imports {i.target}" for i in _project_imports()
              if room(i.importer) == "chain" and i.target.split(".")[0] in ABOVE_THE_CHAIN]
    assert not upward, "chain/ must not import the service:\n" + "\n".join(upward)


def test_the_clients_import_nothing_of_the_service():
    assert {"pos.cli", "wallet.cli"} <= set(_modules())
    server = [f"{i.importer}:{i.line} imports {i.target}" for i in _project_imports()
              if i.importer.split(".")[0] in CLIENTS and i.target.split(".")[0] in ("procedures", "scripts")]
    assert not server, "machi-wallet and machi-pos talk to the service over HTTP only:\n" + "\n".join(server)


def test_no_two_rooms_import_each_other():
    imports = _project_imports()
    edges: dict[str, set[str]] = {}
    for i in imports:
        edges.setdefault(room(i.importer), set()).add(room(i.target))
    report = []
    for cycle in _cycles(edges):
        members = set(cycle)
        report.append(" ↔ ".join(cycle))
        report += sorted({f"    {i.importer}:{i.line} imports {i.target}" for i in imports
                          if room(i.importer) in members and room(i.target) in members})
    assert not report, "import circles between rooms:\n" + "\n".join(report)
