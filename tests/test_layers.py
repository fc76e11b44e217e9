"""DESIGN.md's import layers, enforced by parsing every module in graphc/.

    L5  __init__, api, cli                  user verbs, wiring, command line
    L4  backend/ | viz                      code generation and compilation | pictures
    L3  autodiff | simplify/ | interpret | printing | calling | stabilize | ...
    L2  ops/                                one declaration per op
    L1  ir                                  Node, Op, apply, toposort
    L0  dtypes, shapes, errors              numpy only

A module imports only from lower layers. Allowed exceptions: modules of the
same package (ops/, simplify/, backend/) import each other; L0 modules import
errors; L3 modules import each other, except that autodiff never reaches
simplify (the caller decides whether to simplify); L5 modules import each
other (they are the wiring).
Every import counts, including those inside functions (lazy imports).

Third-party rules: numba and llvmlite are imported only in graphc/backend/jit.py,
runtime.py, numba_hooks/ and interpreter/link.py (numba_hooks/ alone touches
Numba internals); networkx only in graphc/viz.py, dask and distributed only in
graphc/dask.py, and there only inside functions, so `import graphc` stays fast and
works without them; pydot nowhere (graphc.dotfile writes DOT itself, so a plain
install can draw; the tests parse it with pydot).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "graphc"

# Every module's layer. A new module must be added here (that is the point:
# placing it is a design decision, see DESIGN.md "Layers"). Entries for modules
# that do not exist (yet, or any more) are harmless.
LAYERS: dict[str, int] = {
    "graphc.errors": 0, "graphc.dtypes": 0, "graphc.shapes": 0, "graphc.scope": 0, "graphc.notices": 0,
    "graphc.collector": 0,
    "graphc.ir": 1, "graphc.oprecord": 0, "graphc.lowering": 0, "graphc.memory": 0,
    "graphc.ops": 2, "graphc.ops.base": 2, "graphc.ops.elementwise": 2, "graphc.ops.linalg": 2,
    "graphc.ops.other": 2, "graphc.ops.reduce": 2, "graphc.ops.shape": 2, "graphc.ops.batching": 2,
    "graphc.ops.matrix": 2, "graphc.ops.decompositions": 2, "graphc.ops.einsum": 2,
    "graphc.linalg": 5,
    "graphc.backend.library_linalg": 4,
    **{f"graphc.ops.{m}": 2 for m in ("special_ops", "statistics", "sorting", "rounding", "construct")},
    "graphc.ops.random_ops": 2, "graphc.ops.custom_ops": 2, "graphc.threefry": 0,
    "graphc.autodiff": 3, "graphc.interpret": 3, "graphc.printing": 3, "graphc.serialize": 3,
    "graphc.calling": 3, "graphc.accumulate": 3,
    "graphc.stabilize": 3, "graphc.numpy_dispatch": 3, "graphc.dotfile": 3, "graphc.rewrite": 3,
    "graphc.vmap": 3, "graphc.custom": 3, "graphc.gradcheck": 3, "graphc.optim": 3,
    "graphc.simplify": 3, "graphc.simplify.passes": 3, "graphc.simplify.pipeline": 3,
    "graphc.simplify.rules": 3, "graphc.simplify.diagonal": 3,
    "graphc.backend": 4, "graphc.backend.policy": 4, "graphc.backend.cache": 4,
    "graphc.backend.cachesize": 4,
    "graphc.backend.codegen": 4, "graphc.backend.interpreter": 4,
    **{f"graphc.backend.interpreter.{m}": 4 for m in ("opcodes", "program", "source", "run", "link")},
    "graphc.backend.jit": 4, "graphc.backend.runtime": 4, "graphc.backend.reroll_guard": 4,
    "graphc.backend.workspace": 4, "graphc.backend.lowered_cache": 4,
    **{f"graphc.backend.codegen.{m}": 4 for m in ("text", "emitter", "loops", "interpreted", "outline",
                                                   "statements", "parts", "pyunits", "reroll",
                                                   "reroll_module", "reroll_runs",
                                                   "reroll_lines", "steps", "forms")},
    **{f"graphc.backend.transcendental{m}": 4
       for m in ("", ".precision", ".exp_log", ".activation", ".trig", ".generate")},
    "graphc.backend.library_special": 4, "graphc.backend.library_sorting": 4,
    "graphc.backend.kernels": 4, "graphc.backend.library": 4, "graphc.backend.library_random": 4,
    "graphc.backend.library_views": 4, "graphc.backend.library_blas": 4, "graphc.backend.blas_entry": 4,
    "graphc.backend.numba_hooks.blas": 4,
    "graphc.backend.schedule": 4, "graphc.backend.tiered": 4, "graphc.viz": 4,
    "graphc.backend.tiered_process": 4, "graphc.backend.compile_worker": 5,
    "graphc.backend.compile_workers": 4, "graphc.backend.compile_locks": 4,
    "graphc.backend.job_folders": 4,
    "graphc.backend.numba_hooks": 4, "graphc.backend.numba_hooks.caching": 4,
    "graphc.backend.numba_hooks.state": 4, "graphc.backend.lower": 4,
    "graphc.backend.numba_hooks.lean": 4, "graphc.backend.numba_hooks.deferred": 4,
    "graphc.backend.numba_hooks.forking": 4, "graphc.backend.fork_compile": 4,
    "graphc.backend.numba_hooks.runtime_cache": 4,
    "graphc.backend.numba_preload": 4,
    "graphc": 5, "graphc.special": 5, "graphc.random": 5, "graphc.api": 5, "graphc.cli": 5,
    "graphc.warmup": 5,
    "graphc.portable": 5, "graphc.dask": 5, "graphc.runscript": 5, "graphc.cachecommand": 5,
    "graphc.backend.trust": 4, "graphc.backend.signed": 4, "graphc.backend.recovery": 4,
    "graphc.ops.indexing": 2, "graphc.ops.checks": 2, "graphc.ops.indexing_plan": 2,
    "graphc.backend.library_indexing": 4,
    "graphc.subgraph": 2, "graphc.backend.scan_loops": 4, "graphc.backend.scan_codegen": 4,
    "graphc.backend.scan_buffers": 4,
    **{f"graphc.control{m}": 3 for m in ("", ".pytree", ".trace", ".scan", ".run", ".scan_vjp", ".optimize",
                                         ".scan_batch", ".while_loop", ".scan_hoist",
                                         ".scan_reuse")},
    "graphc.ops.conv": 2, "graphc.ops.pool": 2, "graphc.ops.nn": 2, "graphc.nn": 5,
    "graphc.backend.library_conv": 4,
    "graphc.backend.concurrency": 4, "graphc.backend.blas_threads": 4,
    **{f"graphc.backend.direct{m}": 4 for m in ("", ".signature", ".scalars", ".translate", ".calls",
                                                ".expressions", ".entry", ".engine", ".compile",
                                                ".kernel", ".objects")},
    # split from shapes, rewrite, ops.shape
    "graphc.dims": 0, "graphc.rebuilding": 3, "graphc.ops.basic_indexing": 2,
}
PEERS_ALLOWED = {0, 3, 5}  # layers whose modules may import each other (L0: errors)
NUMBA_HOMES = {"graphc.backend.jit", "graphc.backend.runtime", "graphc.backend.numba_hooks",
               "graphc.backend.numba_hooks.caching", "graphc.backend.numba_hooks.lean",
               "graphc.backend.numba_hooks.blas", "graphc.backend.numba_hooks.deferred",
               "graphc.backend.numba_hooks.forking", "graphc.backend.numba_hooks.runtime_cache",
               "graphc.backend.interpreter.link", "graphc.backend.scan_loops"}
# the direct path (backend/direct/) generates LLVM IR itself: llvmlite, never numba
LLVM_HOMES = {f"graphc.backend.direct.{m}" for m in ("scalars", "translate", "calls", "expressions",
                                                     "entry", "engine", "compile")}
THIRD_PARTY_HOMES = {"numba": NUMBA_HOMES, "llvmlite": NUMBA_HOMES | LLVM_HOMES,
                     "networkx": {"graphc.viz"}, "pydot": set(),
                     "dask": {"graphc.dask"}, "distributed": {"graphc.dask"}}
MUST_BE_LAZY = {"networkx", "pydot", "dask", "distributed"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_modules(root: Path = PACKAGE) -> dict[str, str]:
    """Module name -> source, for every .py file under graphc/."""
    return {module_name(p, root): p.read_text() for p in sorted(root.rglob("*.py"))}


def imports_of(name: str, source: str, modules: Mapping[str, str]) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level?) for every import statement in `source`."""
    is_package = name == "graphc" or any(m.startswith(name + ".") for m in modules)
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found = submodule if submodule in modules else target
                yield found, node.lineno, id(node) in top_level


def same_package(a: str, b: str) -> bool:
    """Both in (or one is) the same subpackage of graphc, e.g. graphc.ops and graphc.ops.base."""
    def package_of(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2]) if len(parts) >= 2 else m
    return package_of(a) == package_of(b) and a != "graphc" and b != "graphc"


def violations(modules: Mapping[str, str]) -> list[str]:
    """Every breach of the layer rules, as readable sentences."""
    problems: list[str] = []
    unknown = sorted(set(modules) - set(LAYERS))
    for name in unknown:
        problems.append(f"{name} is not in the layer map: add it to LAYERS in tests/test_layers.py "
                        "with its DESIGN.md layer (L0-L5)")
    graph: dict[str, set[str]] = {}
    for name, source in modules.items():
        graph[name] = set()
        for target, line, at_top in imports_of(name, source, modules):
            root = target.split(".")[0]
            if root in THIRD_PARTY_HOMES and name not in THIRD_PARTY_HOMES[root]:
                problems.append(f"{name}:{line} imports {root}, allowed only in "
                                f"{', '.join(sorted(THIRD_PARTY_HOMES[root]))}")
            if root in MUST_BE_LAZY and at_top:
                problems.append(f"{name}:{line} imports {root} at module level; import it inside "
                                "the function that needs it")
            if root != "graphc" or name in unknown or target not in LAYERS:
                continue
            graph[name].add(target)
            mine, theirs = LAYERS[name], LAYERS[target]
            if theirs < mine or same_package(name, target) or (mine == theirs and mine in PEERS_ALLOWED):
                continue
            problems.append(f"{name} (L{mine}) imports {target} (L{theirs}) at line {line}: "
                            "a module may import only from lower layers")
    reached, stack = set(), ["graphc.autodiff"] if "graphc.autodiff" in graph else []
    while stack:
        for target in graph.get(stack.pop(), ()):
            if target not in reached:
                reached.add(target)
                stack.append(target)
    problems += [f"graphc.autodiff reaches {m}: autodiff must never import simplify"
                 for m in sorted(reached) if m == "graphc.simplify" or m.startswith("graphc.simplify.")]
    return problems


# ------------------------------------------------------------------ tests

def test_graphc_respects_the_layers() -> None:
    problems = violations(read_modules())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module, source, complaint", [
    ("graphc.ir", "from .ops import add", "graphc.ir (L1) imports graphc.ops (L2)"),
    ("graphc.ops.base", "def f():\n    from ..api import compile", "graphc.ops.base (L2) imports graphc.api"),
    ("graphc.autodiff", "from .simplify import simplify", "autodiff must never import simplify"),
    ("graphc.autodiff", "from . import printing", None),
    ("graphc.printing", "from .autodiff import grad", None),
    ("graphc.viz", "from .backend import jit", "graphc.viz (L4) imports graphc.backend.jit"),
    ("graphc.backend.codegen", "from .schedule import Group", None),
    ("graphc.interpret", "import numba", "imports numba, allowed only in graphc.backend.interpreter.link"),
    ("graphc.backend.jit", "def f():\n    import numba", None),
    ("graphc.backend.codegen", "def f():\n    import numba", "imports numba"),
    ("graphc.viz", "import networkx as nx", "at module level"),
    ("graphc.viz", "def f():\n    import pydot", "imports pydot, allowed only in "),
    ("graphc.brand_new", "", "graphc.brand_new is not in the layer map"),
])
def test_the_checker_catches_breaches(module: str, source: str, complaint: str | None) -> None:
    modules = {name: "" for name in LAYERS}
    modules[module] = source
    problems = violations(modules)
    if complaint is None:
        assert problems == []
    else:
        assert any(complaint in p for p in problems), problems


def test_import_graphc_loads_neither_numba_nor_networkx() -> None:
    code = ("import sys, graphc; "
            "print(sorted(m for m in ('numba', 'networkx', 'pydot', 'dask', 'distributed') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert result.stdout.strip() == "[]"


# ------------------------------------------------ the back end's layout (docs/architecture.md)

BACKEND = PACKAGE / "backend"
GENERATED = {BACKEND / "interpreter" / "run.py",  # written by interpreter/source.py
             BACKEND / "kernels.py"}  # written by transcendental/generate.py
MODULE_LINES = 400
FUNCTION_LINES = 60  # "about 60"
# Known exceptions, each with its size today: they may shrink, never grow.
LONG_MODULES: dict[str, int] = {}
LONG_FUNCTIONS: dict[str, int] = {}


CONTROL = PACKAGE / "control"  # the loop machinery (scan, while_loop, their passes): the same rule


@pytest.mark.parametrize("root", [BACKEND, CONTROL], ids=lambda p: p.name)
def test_backend_and_control_modules_and_functions_are_short(root: Path) -> None:
    problems = []
    for path in sorted(root.rglob("*.py")):
        if path in GENERATED:
            continue
        text = path.read_text()
        relative = str(path.relative_to(PACKAGE))
        lines = len(text.splitlines())
        if lines > LONG_MODULES.get(relative, MODULE_LINES):
            problems.append(f"{relative} has {lines} lines (at most {MODULE_LINES}): split it")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{relative}:{node.name}"
                if length > LONG_FUNCTIONS.get(key, FUNCTION_LINES):
                    problems.append(f"{key} has {length} lines (at most {FUNCTION_LINES})")
    assert not problems, "\n".join(problems)


def import_cycles(modules: Mapping[str, str]) -> list[list[str]]:
    """Cycles among graphc's modules, counting every import (lazy ones too)."""
    graph = {name: {t for t, _, _ in imports_of(name, source, modules) if t in modules and t != name}
             for name, source in modules.items()}
    cycles, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state[target] == 1:
                cycles.append(path[path.index(target):] + [target])
            elif state[target] == 0:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if state[name] == 0:
            visit(name, [name])
    return cycles


def test_the_backend_has_no_import_cycle() -> None:
    modules = read_modules()
    backend = {name: source for name, source in modules.items()
               if name.startswith("graphc.backend")}
    cycles = import_cycles(backend)
    assert not cycles, cycles


def test_the_cycle_checker_finds_a_cycle() -> None:
    modules = {"graphc.backend.runtime": "from .interpreter import link",
               "graphc.backend.interpreter": "", "graphc.backend.interpreter.link": "from .. import runtime"}
    assert import_cycles(modules)


def test_generated_code_imports_only_runtime_and_the_interpreters_link() -> None:
    """runtime.py is what generated modules import; it must not import what imports it."""
    modules = read_modules()
    runtime = {t for t, _, _ in imports_of("graphc.backend.runtime", modules["graphc.backend.runtime"],
                                         modules) if t.startswith("graphc")}
    assert runtime <= {"graphc.backend.kernels", "graphc.backend.library", "graphc.backend.numba_hooks",
                       "graphc.backend.numba_hooks.blas", "graphc.backend.numba_hooks.deferred"}
    kernels = {t for t, _, _ in imports_of("graphc.backend.kernels", modules["graphc.backend.kernels"],
                                           modules) if t.startswith("graphc")}
    assert kernels <= {f"graphc.backend.transcendental{m}" for m in ("", ".precision", ".exp_log",
                                                                     ".activation", ".trig")}
    generator = {t for t, _, _ in imports_of("graphc.backend.transcendental.generate",
                                             modules["graphc.backend.transcendental.generate"], modules)}
    assert not any(t.startswith(("numba", "graphc.backend.kernels")) for t in generator)
    run = {t for t, _, _ in imports_of("graphc.backend.interpreter.run",
                                      modules["graphc.backend.interpreter.run"], modules)
           if t.startswith("graphc")}
    assert run == {"graphc.backend.runtime"}


def test_every_builder_is_listed_once_in_ops_public() -> None:
    """One public-name list: graphc re-exports ops.PUBLIC, every builder is in it or internal."""
    import graphc as gc
    from graphc import ops
    from graphc.ir import FUNCTIONS

    missing = sorted(set(FUNCTIONS) - set(ops.PUBLIC) - set(ops.INTERNAL))
    assert not missing, f"builders in neither ops.PUBLIC nor ops.INTERNAL: {missing}"
    assert len(set(ops.PUBLIC)) == len(ops.PUBLIC)
    assert all(getattr(gc, name) is getattr(ops, name) for name in ops.PUBLIC)
    assert set(ops.PUBLIC) <= set(gc.__all__)
    assert not any(hasattr(gc, name) for name in ops.INTERNAL if name not in ops.PUBLIC)
