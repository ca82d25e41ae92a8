"""No import circle among the repository's own modules.

Imports are read with `ast` (nothing is executed): module-level imports and imports inside
functions both count as edges; imports under `if TYPE_CHECKING:` do not, since they never run.
Every circle is reported with its path, one shortest circle through each module caught in one.
"""

from __future__ import annotations

import ast
from collections import deque
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "telnyx_oauth": ROOT / "core" / "src" / "telnyx_oauth",
    "prefect_telnyx_oauth": ROOT / "prefect_telnyx_oauth",
    "airflow_provider_telnyx_oauth": ROOT / "airflow-provider" / "airflow_provider_telnyx_oauth",
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = [name, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    out: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else base for t in targets]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _shortest_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: dict[frozenset[tuple[str, str]], list[str]] = {}
    for node in sorted(graph):
        cycle = _shortest_cycle(graph, node)
        if cycle:
            cycles.setdefault(frozenset(pairwise(cycle)), cycle)
    return list(cycles.values())


def test_the_graph_sees_the_three_packages() -> None:
    graph = _graph()
    assert {"telnyx_oauth.token_cache", "prefect_telnyx_oauth.credentials"} <= graph.keys()
    assert "telnyx_oauth.errors" in graph["telnyx_oauth.token_cache"]


def test_a_circle_is_found_and_reported_with_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_circle_among_our_modules() -> None:
    cycles = find_cycles(_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)
