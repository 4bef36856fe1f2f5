"""The house's plan, held against the code: no module imports itself back through others, and no
room imports a room above it (each room's __init__.py says what it may import).

Read from the source, function-level imports included: a cycle hidden in a function still makes
two modules impossible to understand (or move) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it

# room -> the rooms it may import (besides itself). Lower rooms first.
ALLOWED: dict[str, set[str]] = {
    "blu": set(),
    "conclusions": set(),
    "security": set(),
    "models": {"blu", "conclusions", "security"},
    "audit": {"models", "security"},
    "promises": {"conclusions", "models", "security"},
    "contact": {"conclusions", "models", "security", "audit", "limits"},
    "limits": {"conclusions", "models"},
    "review": {"conclusions", "models", "security", "audit"},
    "health": {"blu", "models", "security", "audit"},
    "ingest": {
        "blu",
        "conclusions",
        "models",
        "security",
        "health",
        "promises",
        "contact",
        "limits",
    },
    "dashboard": {
        "blu",
        "conclusions",
        "models",
        "security",
        "audit",
        "health",
        "ingest",
        "promises",
        "contact",
        "limits",
        "review",
    },
    "exports": {"conclusions", "models", "security", "audit", "dashboard"},
    "tasks": {
        "blu",
        "models",
        "security",
        "health",
        "ingest",
        "exports",
        "promises",
        "contact",
        "limits",
        "review",
    },
    "endpoints": {
        "blu",
        "models",
        "security",
        "audit",
        "health",
        "ingest",
        "tasks",
        "promises",
        "contact",
    },
}
ROOMS = set(ALLOWED)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules = {}
    for package in ("calls", "bludash"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports anywhere in its source (a name imported from a package
    that is itself a module counts as that module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def graph() -> dict[str, set[str]]:
    modules = our_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


TOP = "the top floor"  # calls.admin, urls, seed, apps, templatetags, management, and bludash


def room_of(module: str) -> str | None:
    """The room a module is in; TOP for ours outside every room, which no room may import;
    None for the bare calls package."""
    parts = module.split(".")
    if module == "calls":
        return None
    if parts[0] == "calls" and parts[1] in ROOMS:
        return parts[1]
    return TOP


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_itself_back_through_others():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    # The check above is only worth something if it can fail.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_room_imports_a_room_above_it():
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if (room := room_of(module)) not in (None, TOP)
        for target in sorted(targets)
        if (other := room_of(target)) not in (None, room) and other not in allowed(module, room)
    ]
    assert wrong == []


def allowed(module: str, room: str) -> set[str]:
    # A page view is no plain function: one that starts work (a manager registering tasks, an
    # export built in the background) queues it through calls.tasks, as the callback endpoint
    # does, and the export pages show what calls.exports built.
    if module.startswith("calls.dashboard.views."):
        return ALLOWED[room] | {"tasks", "exports"}
    return ALLOWED[room]


def test_a_room_importing_the_top_floor_is_caught():
    assert room_of("calls.admin") == room_of("bludash.settings") == TOP
    assert TOP not in allowed("calls.health.alerts", "health")


def test_every_room_says_what_it_holds_and_may_import():
    for room in ROOMS - {"models", "tasks"}:
        init = ROOT / "calls" / room / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in docstring.lower(), (
            f"calls/{room}/__init__.py says nothing of its imports"
        )
