"""Imports point one way: the layers of issue 11, checked on the source with `ast` (nothing is imported).

    core < models, store < runtime < ingest, tools < agent < ui < patfig

A module may import its own package and any lower layer, with these exceptions: siblings of one layer do
not import each other (models ↔ store, ingest ↔ tools); ui talks to agent, tools, runtime, ingest and
core, never to store or models directly; prompts is a leaf (it imports no project package) that tools
and every layer from agent up may use; patfig, the composition root, may import anything. Every import
counts: at the top of a module, inside a function, and under ``if TYPE_CHECKING:``. tests/ and bench/
are exempt.

Also checked: no circle among the imports that run when a module is imported (top-level ones), none even
when the imports made for type checking alone are counted, and no
function-local import of a project module unless it defers a heavy dependency (torch, gradio, ...) that
the importing module does not load anyway.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = tuple(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])

LAYER = {"core": 0, "models": 1, "store": 1, "runtime": 2, "ingest": 3, "tools": 3, "agent": 4, "ui": 5,
         "patfig": 6}
LEAVES = {"prompts": ("tools", "agent", "ui", "patfig")}  # leaf package → the packages that may use it
FORBIDDEN = {("ui", "store"): "ui never talks to store directly: go through tools, agent or runtime",
             ("ui", "models"): "ui never talks to models directly: go through tools, agent or runtime"}
ANYTHING = {"patfig"}  # the composition root

# Third-party packages worth importing inside a function (prefixes of the top-level name: "langchain"
# covers langchain_core and langchain_ollama, "torch" covers torchvision).
HEAVY = ("torch", "easyocr", "open_clip", "sentence_transformers", "sklearn", "gradio", "langchain", "rapidocr",
         "mcp", "ray")


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it is and when it runs."""

    src: str  # importing module, "ui.app"
    dst: str  # imported module: a project module "store.index", or a third-party top-level name "numpy"
    path: str  # repository-relative file
    line: int
    where: str  # "top" (runs on import), "function" (inside a def), "type" (under `if TYPE_CHECKING:`)

    @property
    def project(self) -> bool:
        return self.dst.split(".")[0] in PACKAGES

    def at(self) -> str:
        return f"{self.path}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the project packages: dotted name → file."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _resolve(name: str) -> str:
    """The longest prefix of a dotted name that is a project module; third-party names: their top level."""
    if name.split(".")[0] not in PACKAGES:
        return name.split(".")[0]
    parts = name.split(".")
    while len(parts) > 1 and ".".join(parts) not in modules():
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path) -> None:
        self.module, self.rel = module, str(path.relative_to(REPO))
        self.package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        self.context: list[str] = []
        self.found: list[Import] = []

    def _where(self) -> str:
        return "function" if "function" in self.context else "type" if "type" in self.context else "top"

    def _add(self, name: str, line: int) -> None:
        self.found.append(Import(self.module, _resolve(name), self.rel, line, self._where()))

    def _inside(self, kind: str, nodes: list[ast.AST]) -> None:
        self.context.append(kind)
        for n in nodes:
            self.visit(n)
        self.context.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for n in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if n is not None:
                self.visit(n)
        self._inside("function", node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._inside("type", node.body)
            self._inside("top", node.orelse)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:  # relative: from . import x, from ..core import y
            anchor = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            full = f"{base}.{alias.name}" if base else alias.name
            self._add(full if full in modules() else base, node.lineno)


@cache
def imports() -> tuple[Import, ...]:
    """Every import statement of every project module."""
    out: list[Import] = []
    for name, path in modules().items():
        c = _Collector(name, path)
        c.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        out.extend(c.found)
    return tuple(dict.fromkeys(out))  # `from m import a, b` is one import of m


def why_not(src: str, dst: str) -> str | None:
    """Why package `src` may not import package `dst`, or None if it may."""
    if src == dst or src in ANYTHING:
        return None
    if src in LEAVES:
        return f"{src} is a leaf: it imports no project package"
    if dst in LEAVES:
        users = LEAVES[dst]
        return None if src in users else f"only {', '.join(users)} may use {dst}"
    if (src, dst) in FORBIDDEN:
        return FORBIDDEN[src, dst]
    if LAYER[dst] == LAYER[src]:
        return f"{src} and {dst} are siblings of one layer and must not import each other"
    if LAYER[dst] > LAYER[src]:
        return f"{src} is a lower layer than {dst} and must not import it"
    return None


def layer_violations() -> list[str]:
    out = []
    for imp in imports():
        if not imp.project:
            continue
        reason = why_not(imp.src.split(".")[0], imp.dst.split(".")[0])
        if reason:
            out.append(f"{imp.at()}: {imp.src} imports {imp.dst} ({imp.where}): {reason}")
    return out


def import_graph(*, types: bool = False) -> dict[str, set[str]]:
    """Module → the project modules it imports when it is imported (top-level imports only); with `types`,
    also those it imports for type checking alone (under ``if TYPE_CHECKING:``)."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    kinds = ("top", "type") if types else ("top",)
    for imp in imports():
        if imp.project and imp.where in kinds and imp.dst != imp.src:
            graph[imp.src].add(imp.dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest circle through the first module of each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return [_shortest_circle(graph, g) for g in sorted(groups, key=min)]


def _shortest_circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    came: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v] & group):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [*reversed(path), start]
            if w not in came:
                came[w] = v
                queue.append(w)
    raise AssertionError(f"no circle through {start} in {sorted(group)}")


@cache
def _top_imports() -> dict[str, list[Import]]:
    tops: dict[str, list[Import]] = {}
    for imp in imports():
        if imp.where == "top":
            tops.setdefault(imp.src, []).append(imp)
    return tops


@cache
def third_party_on_import(module: str) -> frozenset[str]:
    """The third-party top-level packages loaded when `module` is imported (through its top-level imports)."""
    seen: set[str] = set()
    todo = [module]
    out: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for imp in _top_imports().get(m, []):
            if imp.project:
                todo.append(imp.dst)
            else:
                out.add(imp.dst)
    return frozenset(out)


def heavy(names: frozenset[str]) -> set[str]:
    return {n for n in names if n.startswith(HEAVY)}


def unjustified_local_imports() -> list[str]:
    """Function-local imports of project modules that defer no heavy dependency the importer lacks."""
    out = []
    for imp in imports():
        if imp.where != "function" or not imp.project:
            continue
        deferred = heavy(third_party_on_import(imp.dst)) - heavy(third_party_on_import(imp.src))
        if not deferred:
            out.append(f"{imp.at()}: {imp.src} imports {imp.dst} inside a function; import it at the top")
    return out


# ---------------------------------------------------------------- the checker itself


def test_every_project_package_has_a_layer():
    assert set(PACKAGES) == set(LAYER) | set(LEAVES), "pyproject's packages and the layer table disagree"
    assert {"core.errors", "store.index", "patfig.wiring", "tests.fakes"} & set(modules()) == {
        "core.errors", "store.index", "patfig.wiring"}


def test_the_rules_on_examples():
    assert why_not("ui", "agent") is None and why_not("agent", "prompts") is None
    assert why_not("tools", "prompts") is None
    assert why_not("patfig", "store") is None and why_not("ingest", "runtime") is None
    assert "lower layer" in why_not("core", "models") and "lower layer" in why_not("tools", "agent")
    assert "siblings" in why_not("ingest", "tools") and "siblings" in why_not("store", "models")
    assert "never talks to store" in why_not("ui", "store") and "never talks to models" in why_not("ui", "models")
    assert "only tools" in why_not("runtime", "prompts") and "leaf" in why_not("prompts", "core")


def test_collector_sees_every_kind_of_import(tmp_path):
    src = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\nimport numpy\n"
           "from store.index import FigureStore\nfrom tools import search\n"
           "if TYPE_CHECKING:\n    from agent.session import Session\nelse:\n    import core.errors\n"
           "def f():\n    import torch\n    from ui.cli import build_app\n"
           "class C:\n    async def g(self):\n        from . import fusion\n")
    c = _Collector("tools.x", REPO / "tools" / "x.py")
    c.visit(ast.parse(src))
    assert [(i.dst, i.line, i.where) for i in c.found] == [
        ("__future__", 1, "top"), ("typing", 2, "top"), ("numpy", 3, "top"), ("store.index", 4, "top"),
        ("tools.search", 5, "top"), ("agent.session", 7, "type"), ("core.errors", 9, "top"),
        ("torch", 11, "function"), ("ui.cli", 12, "function"), ("tools.fusion", 15, "function")]


def test_cycles_are_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------- the project


def test_imports_point_down_the_layers():
    found = layer_violations()
    assert not found, f"{len(found)} import(s) against the layers:\n" + "\n".join(found)


def test_no_import_circles():
    found = cycles(import_graph())
    assert not found, "import circles (top-level imports):\n" + "\n".join(" → ".join(c) for c in found)


def test_no_circles_through_type_only_imports():
    """A module that needs another's types only for its annotations still depends on it: two modules that
    import each other that way (as tools.explain and tools.explain_words once did) share types that belong in
    a third module both import."""
    found = cycles(import_graph(types=True))
    assert not found, "import circles counting TYPE_CHECKING imports:\n" + "\n".join(" → ".join(c) for c in found)


def test_function_local_imports_only_defer_heavy_dependencies():
    found = unjustified_local_imports()
    assert not found, f"{len(found)} function-local import(s) of project modules:\n" + "\n".join(found)
