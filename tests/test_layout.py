"""The package's import graph, read from its source: no module imports
another that imports it back, directly or through others (an import inside
a function counts: it runs too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "exactcl"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (top level or in a function)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                    if node.level else []
                stem = ".".join(base + ([node.module] if node.module else [])) if node.level \
                    else (node.module or "")
                targets = [f"{stem}.{a.name}" for a in node.names] + [stem]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rpartition(".")[0]
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
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


def test_no_module_imports_in_a_circle():
    assert circles(import_graph()) == []


#: The architecture, lowest first: a module may import from its own rank or
#: below. ``exactcl`` is the public facade, ``exactcl.__main__`` the command.
RANKS = ("kernel", ("errors", "limits", "version"), "layers", "models", "engine",
         "certificates", "workflows", "interfaces", "torch", ("__main__",))

#: Imports that run from a lower rank back up: (module, imported) -> why.
#: At most two may exist, each with a comment at the import saying why.
UPWARD: dict[tuple[str, str], str] = {}


def rank(module: str) -> int:
    """The place of ``module`` in RANKS (the facade above everything)."""
    if module == "exactcl":
        return len(RANKS)
    part = module.split(".")[1]
    for k, entry in enumerate(RANKS):
        if part == entry or (isinstance(entry, tuple) and part in entry):
            return k
    raise AssertionError(f"{module} is in no rank of the architecture: add its folder to RANKS")


def test_every_module_has_a_rank_and_imports_only_its_rank_or_below():
    graph = import_graph()
    upward = sorted((m, t) for m in graph for t in graph[m] if rank(t) > rank(m))
    assert upward == sorted(UPWARD), upward
    assert len(UPWARD) <= 2


def test_the_rank_check_sees_an_upward_import():
    graph = {"exactcl.kernel.x": {"exactcl.engine.growth"}, "exactcl.engine.growth": set()}
    assert [(m, t) for m in graph for t in graph[m] if rank(t) > rank(m)] == [
        ("exactcl.kernel.x", "exactcl.engine.growth")]


def test_the_package_has_no_loose_modules_beyond_the_base():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "errors.py", "limits.py", "version.py"]


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_graph_reads_imports_inside_functions():
    graph = import_graph()
    # imported inside run_subset
    assert "exactcl.engine.subsets" in graph["exactcl.interfaces.subsetcli"]


def _third_party(path: Path) -> set[str]:
    """The top-level packages outside exactcl a module imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"exactcl"}


def test_the_kernel_imports_nothing_of_exactcl_outside_it_nor_sympy_networkx_torch():
    graph = import_graph()
    kernel = sorted(m for m in graph if m.startswith("exactcl.kernel"))
    assert "exactcl.kernel.verifier" in kernel and "exactcl.kernel.certformat" in kernel
    for module in kernel:
        outside = sorted(t for t in graph[module] if not t.startswith("exactcl.kernel"))
        assert outside == [], (module, outside)
        path = _modules()[module]
        assert not _third_party(path) & {"sympy", "networkx", "torch"}, module
