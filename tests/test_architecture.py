"""The layout the README's architecture section describes, checked: the direction of imports, no
import cycle, no torch where there must be none, small functions and the modules allowed to be long.

Imports are read from the source (every ``import`` statement, at module level or inside a function:
a lazy import still couples two modules), not from a running interpreter, except for the torch
checks, which run a fresh interpreter and look at ``sys.modules``.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("packing", "dlbridge")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
LONG_MODULES = {
    # numba kernels: one shape's exact contact (Perram–Wertheim) with its derivatives each
    "packing/_ellipse.py", "packing/_ellipsoid.py",
    # numba kernels: FIRE, FIRE 2.0 and the pair table over every shape
    "packing/_engine.py",
}
TORCH_FREE = ("packing", "dlbridge", "dlbridge.compare", "dlbridge.nstar", "dlbridge.cli",
              "dlbridge.regimes", "dlbridge.regimes.summary", "dlbridge.regimes.plots")
"""Modules (and subpackages) that must never import torch."""
FORBIDDEN = {
    "packing": ("torch", "dlbridge"),
    "packing.analysis": ("torch", "dlbridge", "packing.system", "packing.contacts",
                         "packing.hessian", "packing._engine", "packing._pairs",
                         "packing.minimize", "packing.protocol"),
    "dlbridge.compare": ("torch", "dlbridge.nets", "dlbridge.workflow"),
    "dlbridge.nets": ("dlbridge.compare", "dlbridge.workflow", "dlbridge.regimes"),
    "dlbridge.regimes": ("torch", "dlbridge.nets", "dlbridge.workflow"),
    "dlbridge.nstar": ("torch", "dlbridge.nets", "dlbridge.compare", "dlbridge.workflow"),
}
"""Prefix of an importing module → prefixes it must not import."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names; relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (names that are modules of this repository)."""
    src = _sources()
    return {name: {m for m in _imports(name, path) if m in src and m != name}
            for name, path in src.items()}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_imports_go_one_way():
    src = _sources()
    bad = []
    for name, path in src.items():
        for importer, banned in FORBIDDEN.items():
            if not _within(name, importer):
                continue
            bad += [f"{name} imports {m}" for m in sorted(_imports(name, path))
                    if any(_within(m, b) for b in banned)]
    assert not bad, "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. import cycles."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the edges to and from package ``__init__`` modules (a subpackage
    importing its own front door is how Python loads it, not a coupling)."""
    packages = {_module_name(p) for p in ROOT.rglob("__init__.py")
                if p.parent.name in PACKAGES or p.parent.parent.name in PACKAGES}
    return {k: {m for m in v if m not in packages} for k, v in graph.items()
            if k not in packages}


def test_no_import_cycle():
    assert _cycles(_without_packages(_graph())) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules_do_not_load_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_compare_command_parser_does_not_load_torch():
    code = ("import sys; from dlbridge.cli import build_parser; "
            "build_parser(['compare', 'x.h5', '--out', 'o']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_front_doors_resolve_every_exported_name():
    import dlbridge
    import packing
    import packing.analysis

    for module in (dlbridge, packing, packing.analysis):
        missing = [n for n in module.__all__ if getattr(module, n, None) is None]
        assert not missing, (module.__name__, missing)


def _is_kernel(node: ast.FunctionDef) -> bool:
    return any("njit" in ast.unparse(d) or "jit(" in ast.unparse(d) for d in node.decorator_list)


def test_functions_are_short():
    long = []
    for name, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_kernel(node):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_only_the_listed_modules_are_long():
    long = {str(p.relative_to(ROOT)) for p in _sources().values()
            if len(p.read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES}
    assert long <= LONG_MODULES, sorted(long - LONG_MODULES)
