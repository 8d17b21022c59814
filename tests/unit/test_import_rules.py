"""Import rules, read from the source with ``ast`` (no database, nothing imported):

1. the runtime (``include/crmwh``, ``dags/``) never imports the devkit (``crmwh_devkit``),
   not even inside a function;
2. no import cycles among the modules of ``crmwh`` and ``crmwh_devkit``;
3. layers only import downwards (:data:`LAYERS`).

Imports inside functions count like module-level ones. ``from pkg import name`` is an
import of ``pkg.name`` when that is a module, else of ``pkg`` itself; a package's
``__init__`` is not counted as imported by importing one of its submodules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "include"
RUNTIME, DEVKIT = "crmwh", "crmwh_devkit"

# Lowest first: a module may import modules of its own layer and of the layers below.
# An entry names a module or a package (then every module in it); the longest entry
# that names a module decides its layer. Every module must have a layer.
LAYERS: list[tuple[str, ...]] = [
    # settings, their secrets and the error type
    ("crmwh.errors", "crmwh.settings", "crmwh.credentials"),
    # infrastructure: the server, COPY, the source contracts, the Airflow environment and
    # the run's as-of date
    ("crmwh.database", "crmwh.pgcopy", "crmwh.source_entities", "crmwh.airflow_env",
     "crmwh.dbt_runner", "crmwh.as_of", "crmwh.mapping"),
    # Airflow's real scheduler: its metadata database, its processes, a run triggered in it
    ("crmwh.airflow_metadata", "crmwh.scheduler", "crmwh.triggered_run"),
    # warehouse objects created outside dbt
    ("crmwh.warehouse",),
    # the steps of the nightly
    ("crmwh.extract", "crmwh.load", "crmwh.imports", "crmwh.quality", "crmwh.modelling",
     "crmwh.clv", "crmwh.churn", "crmwh.publish"),
    # orchestration and what is served from the warehouse
    ("crmwh.pipeline", "crmwh.report", "crmwh.dbt_docs", "crmwh.contract_page",
     "crmwh.retention"),
    # the command line
    ("crmwh.cli",),
    # the devkit sits on top of the runtime
    ("crmwh_devkit",),
]

# Known cycles (each a set of modules importing one another). Emptied by fixing them;
# an entry that no longer is a cycle fails the test too, so the list cannot go stale.
KNOWN_CYCLES: list[frozenset[str]] = []

# Known imports against the layers: (importer, imported). Same rule as KNOWN_CYCLES.
KNOWN_UPWARD_IMPORTS: set[tuple[str, str]] = set()


# --- reading the source ---------------------------------------------------------------

def modules_under(folder: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a folder under ``folder``) by dotted name."""
    found = {}
    for path in sorted((folder / package).rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in ``source``, function-level ones included.
    ``from a import b`` yields ``a.b``; relative imports are resolved against ``module``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (isinstance(node, ast.Call) and _called(node) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value  # importlib.import_module("a.b")


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def resolve(name: str, known: Iterable[str]) -> str | None:
    """The longest known module that ``name`` starts with (``a.b.C`` -> ``a.b``)."""
    known = set(known)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules among ``modules`` it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = {resolve(name, modules)
                   for _, name in imported_names(path.read_text(), module, is_package)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


# --- the rules --------------------------------------------------------------------------

def devkit_imports(paths: Iterable[Path]) -> list[str]:
    """``file:line imports name`` for every import of the devkit in ``paths``."""
    found = []
    for path in paths:
        for line, name in imported_names(path.read_text(), path.stem, False):
            if name == DEVKIT or name.startswith(f"{DEVKIT}."):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{shown}:{line} imports {name}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str, layers: list[tuple[str, ...]]) -> int | None:
    best: tuple[int, int] | None = None  # (entry length, layer)
    for level, entries in enumerate(layers):
        for entry in entries:
            if module == entry or module.startswith(f"{entry}."):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), level)
    return None if best is None else best[1]


def upward_imports(graph: dict[str, set[str]],
                   layers: list[tuple[str, ...]]) -> tuple[list[str], set[tuple[str, str]]]:
    """Modules without a layer, and every (importer, imported) pair going up a layer.
    The root packages hold no code and are left out."""
    unplaced, upward = [], set()
    for module in sorted(graph):
        if module in (RUNTIME, DEVKIT):
            continue
        level = layer_of(module, layers)
        if level is None:
            unplaced.append(module)
            continue
        for target in graph[module]:
            other = layer_of(target, layers)
            if other is not None and other > level:
                upward.add((module, target))
    return unplaced, upward


def _describe_upward(pairs: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"  {a} (layer {layer_of(a, LAYERS)}) imports {b} "
                     f"(layer {layer_of(b, LAYERS)})" for a, b in sorted(pairs))


# --- the tests --------------------------------------------------------------------------

def _all_modules() -> dict[str, Path]:
    return {**modules_under(INCLUDE, RUNTIME), **modules_under(INCLUDE, DEVKIT)}


def test_the_runtime_never_imports_the_devkit():
    runtime = [*modules_under(INCLUDE, RUNTIME).values(), *sorted((ROOT / "dags").rglob("*.py"))]
    assert runtime
    found = devkit_imports(runtime)
    assert not found, "the runtime must not import the devkit:\n  " + "\n  ".join(found)


def test_no_import_cycles():
    found = set(cycles(import_graph(_all_modules())))
    new = [sorted(c) for c in found - set(KNOWN_CYCLES)]
    gone = [sorted(c) for c in set(KNOWN_CYCLES) - found]
    assert not new, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in new)
    assert not gone, f"no longer cycles, remove them from KNOWN_CYCLES: {gone}"


def test_layers_import_only_downwards():
    unplaced, upward = upward_imports(import_graph(_all_modules()), LAYERS)
    assert not unplaced, f"modules without a layer (add them to LAYERS): {unplaced}"
    new, gone = upward - KNOWN_UPWARD_IMPORTS, KNOWN_UPWARD_IMPORTS - upward
    assert not new, "imports going up a layer:\n" + _describe_upward(new)
    assert not gone, f"fixed, remove them from KNOWN_UPWARD_IMPORTS: {sorted(gone)}"


def test_the_root_packages_import_nothing():
    for package in (RUNTIME, DEVKIT):
        init = INCLUDE / package / "__init__.py"
        assert not list(imported_names(init.read_text(), package, True)), init


# --- the checker catches what it must -----------------------------------------------

def test_checker_reports_a_runtime_module_importing_the_devkit(tmp_path):
    package = tmp_path / "include" / RUNTIME
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "clean.py").write_text("import json\nfrom crmwh import errors\n")
    (package / "top.py").write_text("import crmwh_devkit\n")
    (package / "hidden.py").write_text(
        "def run():\n    from crmwh_devkit.simulators import fill\n    return fill\n")
    (package / "dynamic.py").write_text(
        "import importlib\nmod = importlib.import_module('crmwh_devkit.cli')\n")
    found = devkit_imports(modules_under(tmp_path / "include", RUNTIME).values())
    assert len(found) == 3, found
    assert any("top.py:1 imports crmwh_devkit" in f for f in found)
    assert any("hidden.py:2 imports crmwh_devkit.simulators.fill" in f for f in found)
    assert any("dynamic.py:2 imports crmwh_devkit.cli" in f for f in found)


def test_checker_finds_cycles_through_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg.a import something\n")
    graph = import_graph(modules_under(tmp_path, "pkg"))
    assert graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]


def test_checker_reports_upward_imports_and_unplaced_modules():
    layers = [("crmwh.errors",), ("crmwh.database",), ("crmwh.cli",)]
    graph = {"crmwh.errors": set(), "crmwh.database": {"crmwh.errors", "crmwh.cli.run"},
             "crmwh.cli.run": {"crmwh.database"}, "crmwh.stray": set()}
    unplaced, upward = upward_imports(graph, layers)
    assert unplaced == ["crmwh.stray"]
    assert upward == {("crmwh.database", "crmwh.cli.run")}
