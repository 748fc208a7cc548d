"""No import cycles between mcutrain's modules, counting the imports inside functions too.

A cycle hidden in a function-level import (the CLI importing the job and the job importing the CLI back)
works until someone moves an import to the top of a file; so the check is static: every `import` and
`from ... import` statement of every module of the installed package (mcutrain and mcutrain.host),
wherever it sits, is an edge of a graph that must have no cycle. A test on a planted cycle shows that
the check finds one; a fresh interpreter imports the modules that used to form cycles, each first.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mcutrain.host
import pytest

import mcutrain


def package_modules(packages: dict[str, Path]) -> dict[str, Path]:
    """{dotted module name: source file} of every module under the given packages' folders."""
    out: dict[str, Path] = {}
    for name, root in packages.items():
        for f in sorted(root.rglob("*.py")):
            rel = f.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(not p.isidentifier() for p in parts):
                continue  # a folder of data, not a subpackage
            out[".".join([name, *parts])] = f
    return out


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports anywhere in its source (function bodies too)."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        # the deepest known module of a dotted name ("a.b.c" where c is a function of module a.b -> a.b)
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    tree = ast.parse(path.read_text(), str(path))
    # `if TYPE_CHECKING:` blocks are for the type checker only: they never run, so they are not edges
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                 for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                add(f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    mods = package_modules(packages)
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def installed_packages() -> dict[str, Path]:
    return {"mcutrain": Path(mcutrain.__file__).parent, "mcutrain.host": Path(mcutrain.host.__file__).parent}


def test_no_import_cycles() -> None:
    graph = import_graph(installed_packages())
    assert "mcutrain.job" in graph and "mcutrain.host.session" in graph  # the walk found the modules
    assert "mcutrain.job" in graph["mcutrain.bench.session"]  # and their function-level imports
    assert cycles(graph) == []


def test_the_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    """A package whose `a` imports `b` inside a function and `b` imports `a` at the top: one cycle."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub.b import g\n    return g\n")
    (pkg / "sub" / "b.py").write_text("from .. import a\n\ndef g():\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph({"pkg": pkg})
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


@pytest.mark.parametrize("first", ["mcutrain.cli.link", "mcutrain.bench.session", "mcutrain.job",
                                   "mcutrain.bench.run", "mcutrain.cli"])
def test_each_module_imports_first_in_a_fresh_interpreter(first: str) -> None:
    """The modules of the two former cycles (cli <-> cli_link, now cli.link, cli -> bench.run -> bench.session -> cli),
    each imported first, then the command line: a cycle at import time would fail here."""
    code = f"import {first}; import mcutrain.cli; mcutrain.cli.main.name"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
