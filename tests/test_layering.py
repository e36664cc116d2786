"""The layering rule and import hygiene, read from the source (every import, lazy ones too).

corpus <- index <- search <- front ends (the CLI in `search.cli`, and `tui`). A module never
imports from a layer above its own; front ends use what the `search` package exports (and its
two terminal-presentation modules), never `index` or `corpus` directly; no import cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import search

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("corpus", "index", "search", "tui")
FRONT_ENDS = ("search.cli", "tui", "search.server")
# What front ends may import from the lower layers: the public package, and the modules that
# draw hits and posts in a terminal (shared by the CLI and the TUI).
FRONT_END_API = ("search", "search.display", "search.render")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every run-time import of `module`."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, [], child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append((base, [a.name for a in child.names], child.lineno))
            visit(child)

    visit(ast.parse(path.read_text("utf-8")))
    return [(m, names, line) for m, names, line in found if m.split(".")[0] in PACKAGES]


def _layer(module: str) -> int:
    if any(module == f or module.startswith(f + ".") for f in FRONT_ENDS):
        return 3
    return PACKAGES.index(module.split(".")[0])


def _targets(imported: str, names: list[str]) -> list[str]:
    """The modules an import statement loads: `from pkg import sub` names a submodule."""
    subs = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in MODULES]
    return subs or [imported]


def test_every_package_is_seen():
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert "search.cli" in MODULES and "tui.app" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_imports(module):
    for imported, names, line in _imports(module):
        for target in _targets(imported, names):
            assert _layer(target) <= _layer(module), (
                f"{MODULES[module]}:{line}: {module} (layer {_layer(module)}) imports "
                f"{target} (layer {_layer(target)})"
            )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == 3))
def test_front_ends_use_only_the_public_api(module):
    own = next(f for f in FRONT_ENDS if module == f or module.startswith(f + "."))
    for imported, names, line in _imports(module):
        if imported == own or imported.startswith(own + "."):
            continue
        if module.startswith("search.cli") and _layer(imported) == 3:
            continue  # the CLI starts the TUI and the servers: front ends all
        where = f"{MODULES[module]}:{line}"
        assert imported in FRONT_END_API, f"{where}: front end {module} imports {imported}"
        if imported == "search":
            missing = [n for n in names if n not in search.__all__]
            assert not missing, f"{where}: {missing} are not exported by search.__all__"


def test_the_public_api_exports_what_it_lists():
    for name in search.__all__:
        assert getattr(search, name) is not None, name


def test_no_import_cycles():
    graph = {m: set() for m in MODULES}
    for module in MODULES:
        for imported, names, _ in _imports(module):
            graph[module].update(t for t in _targets(imported, names) if t in MODULES)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def _every_import(module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import of `module`, TYPE_CHECKING ones included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((t, node.lineno) for t in _targets(base, [a.name for a in node.names]))
    return found


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith(("tui.screens", "tui.widgets")))
)
def test_tui_screens_and_widgets_never_import_the_app(module):
    # They post messages to the app (tui/messages.py) instead: no app <-> screens circle, not
    # even for type checking.
    for imported, line in _every_import(module):
        assert imported != "tui.app", f"{MODULES[module]}:{line}: {module} imports tui.app"
