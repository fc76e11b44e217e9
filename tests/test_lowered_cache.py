"""A graph lowered before takes its generated code from the cache (graphc/backend/lowered_cache.py).

The reference for a hit is `lower` itself: the code a hit returns must be the
code lowering the same graph gives now, and anything that changes that code
(a constant, a shape, a dtype, a named size, output names, parallel, kernel
mode, a policy threshold or function patched at run time, GRAPHC_WORKSPACE)
must be another key, never a stale hit. These checks run without Numba
(jit.prepare(load=False)); one graph is compiled and checked against the NumPy
backend, and a fresh process must find what another process kept.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cache_support
import numpy as np
import pytest
from test_backend_kernel_mode import mlp

import graphc as gc
from graphc.backend import codegen, lowered_cache, policy, signed
from graphc.backend.jit import prepare
from graphc.backend.lower import lower

own_cache = cache_support.own_cache
ROOT = Path(__file__).resolve().parents[1]


def small(constant: float = 2.0, width: int = 4, dtype: str = "float64",
          size: str = "n") -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    x, b = gc.input("x", (size, width), dtype=dtype), gc.input("b", (width,), dtype=dtype)
    loss = gc.sum(gc.tanh(x * constant + b) ** 2)
    f = gc.compile([x, b], [loss, *gc.grad(loss, [x, b])], backend="numpy")
    return f.inputs, f.outputs


def deep() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    f = gc.compile(*mlp(8, 3), backend="numpy")
    return f.inputs, f.outputs


def _twice(graph: Callable[[], tuple[tuple[Any, ...], tuple[Any, ...]]],
           **options: Any) -> tuple[Any, Any]:
    """prepare() of the graph built twice: (first, second)."""
    first = prepare(*graph(), load=False, **options)
    second = prepare(*graph(), load=False, **options)
    return first, second


def test_a_hit_is_the_code_lowering_gives(own_cache: Path) -> None:
    first, second = _twice(small)
    assert first.lowered.plan is not None and second.lowered.plan is None  # miss, then hit
    inputs, outputs = small()
    now = lower(inputs, outputs)
    for got in (first, second):
        assert got.generated.source == now.generated.source
        assert got.path == first.path and got.lowered.nodes == now.nodes
        assert got.lowered.groups == now.groups and got.lowered.may_alias == now.may_alias
        for mine, theirs in zip(got.generated.constants, now.generated.constants):
            np.testing.assert_array_equal(mine, theirs)
    assert second.seconds["schedule"] == second.seconds["codegen"] == 0.0
    kernel_first, kernel_second = _twice(deep)
    assert kernel_second.lowered.plan is None and kernel_second.kernels
    assert [(k.name, k.source, k.inline) for k, _, _ in kernel_second.kernels] == \
        [(k.name, k.source, k.inline) for k, _, _ in kernel_first.kernels]


VARIANTS: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "another constant": (lambda: small(constant=3.0), {}),
    "another width": (lambda: small(width=5), {}),
    "float32": (lambda: small(dtype="float32"), {}),
    "another named size": (lambda: small(size="m"), {}),
    "output names": (small, {"output_names": ["loss", "dx", "db"]}),
    "parallel": (deep, {"parallel": True}),
    "kernels off": (deep, {"kernels": False}),
}


def test_what_changes_the_code_changes_the_key(own_cache: Path) -> None:
    base, _ = _twice(small)
    deep_base, _ = _twice(deep)
    seen = {base.generated.source, deep_base.generated.source}
    for name, (graph, options) in VARIANTS.items():
        first, second = _twice(graph, **options)
        assert first.lowered.plan is not None, f"{name}: a stale hit"
        assert second.lowered.plan is None, f"{name}: not kept"
        assert second.generated.source == first.generated.source
        assert first.generated.source not in seen, name  # the variant really changes the code
        seen.add(first.generated.source)


def test_settings_changed_at_run_time_are_other_keys(own_cache: Path) -> None:
    _twice(small)
    _twice(deep)

    def thresholds(patch: pytest.MonkeyPatch) -> None:
        for name, value in (("LARGE_POINTWISE", -1), ("LARGE_KERNEL_CALLS", -1), ("MIN_MEMBERS", 1)):
            patch.setattr(policy, name, value)

    changes: list[tuple[str, Callable[[pytest.MonkeyPatch], None], Callable[[], Any]]] = [
        ("policy thresholds", thresholds, small),
        ("kernel mode threshold", lambda patch: patch.setattr(codegen, "KERNEL_MODE_GROUPS", 10_000),
         deep),
        ("GRAPHC_WORKSPACE", lambda patch: patch.setenv("GRAPHC_WORKSPACE", "0"), deep),
    ]
    for name, change, graph in changes:
        before = prepare(*graph(), load=False)
        assert before.lowered.plan is None  # kept by the setup above
        with pytest.MonkeyPatch.context() as patch:
            change(patch)
            after = prepare(*graph(), load=False)
            assert after.lowered.plan is not None, f"{name}: a stale hit"
            assert after.generated.source == lower(*graph()).generated.source
        assert after.generated.source != before.generated.source, f"{name} changed nothing"
        assert prepare(*graph(), load=False).lowered.plan is None  # the old entry again
    with pytest.MonkeyPatch.context() as patch:  # a function replaced: interpret nothing
        thresholds(patch)
        interpreted, _ = _twice(small)
        assert interpreted.generated.interpreted == 1
        patch.setattr(policy, "interpretable", lambda group: None)
        looped = prepare(*small(), load=False)
        assert looped.lowered.plan is not None and looped.generated.interpreted == 0


def test_an_op_modules_setting_changed_at_run_time_is_another_key(own_cache: Path) -> None:
    """matmul's SMALL_MATMUL (products up to it are loops, larger ones BLAS) changed at run
    time: the same graph misses and gets the code lowering gives with the new value, and the
    old value finds its entry again. It is read by matmul's record, not by a lowering module:
    graphc.ops.linalg declares it in LOWERING_SETTINGS."""
    from graphc.ops import linalg

    def deep() -> tuple[tuple[Any, ...], tuple[Any, ...]]:  # static sizes: 4x3 @ 3x3 products
        x, W = gc.input("x", (4, 3)), gc.input("W", (3, 3))
        loss = gc.sum(gc.tanh(gc.tanh(x @ W) @ W) ** 2)
        f = gc.compile([x, W], [loss, gc.grad(loss, W)], backend="numpy")
        return f.inputs, f.outputs

    _twice(deep)
    before = prepare(*deep(), load=False)
    assert before.lowered.plan is None and "matmul_small(" in before.generated.source
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linalg, "SMALL_MATMUL", 0)
        after = prepare(*deep(), load=False)
        assert after.lowered.plan is not None, "a stale hit"
        assert after.generated.source == lower(*deep()).generated.source
        assert "matmul_small(" not in after.generated.source and "blas_dot(" in after.generated.source
        assert prepare(*deep(), load=False).lowered.plan is None  # kept under its own key
    assert prepare(*deep(), load=False).generated.source == before.generated.source


# Constants of op modules that functions read but no lowering does (why): not declared.
NOT_LOWERING = {
    ("graphc/ops/checks.py", "NEGATIVE_EXPONENT"): "an error message",
    ("graphc/ops/indexing.py", "WHERE_ADVICE"): "an error message",
    ("graphc/ops/reduce.py", "REDUCE_SAMPLES"): "the contract tests' samples",
    ("graphc/ops/batching.py", "FULL"): "vmap's rules build graphs (in the key as records)",
    ("graphc/ops/special_ops.py", "INV_SQRT_2PI"): "a derivative's graph (in the key as records)",
    ("graphc/ops/special_ops.py", "MILLS_SERIES"): "a derivative's graph (in the key as records)",
    ("graphc/ops/special_ops.py", "TWO_OVER_SQRT_PI"): "a derivative's graph (in the key as records)",
}


def _constants_functions_read(path: Path) -> set[str]:
    """The module's UPPERCASE constants of plain values (numbers, strings, tuples) that a
    function or lambda of the module reads."""
    tree = ast.parse(path.read_text())
    constants = {target.id for statement in tree.body if isinstance(statement, ast.Assign)
                 and isinstance(statement.value, (ast.Constant, ast.Tuple, ast.UnaryOp, ast.BinOp))
                 for target in statement.targets if isinstance(target, ast.Name) and target.id.isupper()}
    return {name.id for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.Lambda))
            for name in ast.walk(function) if isinstance(name, ast.Name) and name.id in constants
            and isinstance(name.ctx, ast.Load)} - {lowered_cache.SETTINGS, lowered_cache.SIMPLIFY_SETTINGS}


def test_op_modules_declare_the_constants_their_lowering_reads() -> None:
    """Every constant a function of an op or control module reads is a declared lowering
    or simplifier setting or named in NOT_LOWERING (so a new threshold like SMALL_MATMUL
    cannot be missed); every module that declares settings is imported by `import graphc`
    (the keys must not depend on what a process imported before)."""
    modules = sorted({*(ROOT / "graphc" / "ops").glob("*.py"), *(ROOT / "graphc" / "control").glob("*.py")})
    declared: dict[str, dict[str, tuple[str, ...]]] = {}
    for path in modules:
        relative = path.relative_to(ROOT).as_posix()
        name = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        module = importlib.import_module(name)
        settings = {kind: getattr(module, kind, ()) for kind in (lowered_cache.SETTINGS,
                                                                  lowered_cache.SIMPLIFY_SETTINGS)}
        for kind, names in settings.items():
            if names:
                declared.setdefault(kind, {})[name] = names
            assert all(hasattr(module, setting) for setting in names), relative
        for constant in _constants_functions_read(path):
            declared_here = any(constant in names for names in settings.values())
            assert declared_here or (relative, constant) in NOT_LOWERING, \
                f"{relative}: a function reads {constant}: declare it in LOWERING_SETTINGS, " \
                f"SIMPLIFY_SETTINGS or NOT_LOWERING"
    assert declared[lowered_cache.SETTINGS].get("graphc.ops.linalg") == ("SMALL_MATMUL",)
    assert declared[lowered_cache.SIMPLIFY_SETTINGS] == {"graphc.control.optimize": ("STACKED_LIMIT",),
                                                         "graphc.control.scan_hoist": ("STACK_LIMIT",)}
    child = "import json, sys, graphc; print(json.dumps([m for m in sys.modules if m.startswith('graphc.')]))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", child], check=True, capture_output=True,
                                       text=True, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout)
    for kind, modules_declaring in declared.items():
        assert set(modules_declaring) <= set(loaded), set(modules_declaring) - set(loaded)
        assert [name for name, _ in lowered_cache.declared_settings(kind)] == sorted(modules_declaring)


def test_a_simplifier_setting_changed_at_run_time_is_another_simplified_graph(
        own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simplified-graph cache (api._simplified) keys the constants the simplifier's passes
    declare: with STACKED_LIMIT changed, the graph is simplified again, not loaded."""
    from graphc.control import optimize

    x = gc.input("x", ("n", 3))
    loss = gc.sum(gc.sin(x * 3.0) ** 2)
    inputs, outputs = [x], [loss, *gc.grad(loss, [x])]
    assert not gc.compile(inputs, outputs, backend="numpy").stats["simplify"]["cached"]
    assert gc.compile(inputs, outputs, backend="numpy").stats["simplify"]["cached"]
    limit = optimize.STACKED_LIMIT
    monkeypatch.setattr(optimize, "STACKED_LIMIT", limit // 2)
    assert not gc.compile(inputs, outputs, backend="numpy").stats["simplify"]["cached"]
    monkeypatch.setattr(optimize, "STACKED_LIMIT", limit)
    assert gc.compile(inputs, outputs, backend="numpy").stats["simplify"]["cached"]


def test_a_forged_or_damaged_entry_is_lowered_again(own_cache: Path) -> None:
    first, _ = _twice(small)
    entries = list((own_cache / "graphs").glob(lowered_cache.PREFIX + "*.pickle"))
    assert len(entries) == 1
    for data in (b"junk", entries[0].read_bytes()[:-7], signed.MAGIC + b"\0" * 32 + b"x"):
        entries[0].write_bytes(data)
        again = prepare(*small(), load=False)
        assert again.lowered.plan is not None and again.generated.source == first.generated.source
    key = signed.user_key()
    assert key is not None  # an authentic entry of another layout: lowered again, kept anew
    name = entries[0].name.removesuffix(".pickle")
    entries[0].write_bytes(signed.seal(name, b"\x80\x05N.", key))  # pickle of None
    assert prepare(*small(), load=False).lowered.plan is not None
    assert prepare(*small(), load=False).lowered.plan is None


def test_a_compiled_hit_matches_numpy(own_cache: Path, rng: np.random.Generator) -> None:
    inputs, outputs = mlp(8, 3)
    values = [rng.standard_normal((5, 3)), rng.standard_normal((5, 3))]
    values += [rng.standard_normal((3, 3)) for _ in range(8)]
    values += [rng.standard_normal(3) for _ in range(8)]
    first = gc.compile(inputs, outputs, tiered=False, verbose=False)
    again = gc.compile(*mlp(8, 3), tiered=False, verbose=False)
    assert not first.stats["lowered_cached"] and again.stats["lowered_cached"]
    assert again.source == first.source and again.stats["kernels"] == first.stats["kernels"]
    want = gc.compile(inputs, outputs, backend="numpy")(*values)
    for got in (first(*values), again(*values)):
        for mine, theirs in zip(got, want):
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)


CHILD = """
import json, sys
import graphc as gc
from graphc.backend.jit import prepare
x, y = gc.input("x", ("n", 3)), gc.input("y", ("n", 3))
Ws = [gc.input(f"W{i}", (3, 3)) for i in range(8)]
h = x
for W in Ws:
    h = gc.tanh(h @ W)
loss = gc.mean((h - y) ** 2)
f = gc.compile([x, y, *Ws], [loss, *gc.grad(loss, Ws)], backend="numpy")
hits = [prepare(f.inputs, f.outputs, load=False).lowered.plan is None]
codegen = "graphc.backend.codegen" in sys.modules  # after the first look
hits.append(prepare(f.inputs, f.outputs, load=False).lowered.plan is None)
print(json.dumps({"hits": hits, "codegen": codegen}))
"""


def test_a_fresh_process_finds_what_another_kept(own_cache: Path) -> None:
    """The key is the same in every process (no object identities, no set orders) and
    before and after a process's first lowering, and a hit does not import the code generator."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="random")
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD], env=environment, check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(2)]
    assert runs == [{"hits": [False, True], "codegen": True}, {"hits": [True, True], "codegen": False}]
    # the first process's second look: the same key after its lowering imported the code generator


def _unused(names: tuple[str, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    x = gc.input("x", (3,))
    f = gc.compile([x, *(gc.input(n, (3,)) for n in names)], [gc.sin(x) * 2.0], backend="numpy")
    return f.inputs, f.outputs


def test_inputs_no_output_reaches_are_in_the_key(own_cache: Path) -> None:
    """An input no output reaches is not in the graph's records, but it is a parameter of
    the generated function: another count or name of them is another key."""
    seen = set()
    for names in (("u",), ("u", "v"), ("w",)):
        first, second = _twice(functools.partial(_unused, names))
        assert first.lowered.plan is not None, f"{names}: a stale hit"
        assert second.lowered.plan is None and second.generated.source == first.generated.source
        assert first.generated.source == lower(*_unused(names)).generated.source
        assert first.generated.source not in seen
        seen.add(first.generated.source)



ORDER = """
import json, sys
sys.path.insert(0, {tests!r})
from test_lowered_cache import small
from graphc import api
from graphc.backend import lowered_cache, runtime
from graphc.backend.jit import prepare
keys = []
def look():
    keys.append(lowered_cache.key(*small(), (), False, None))
def loops():
    api._loop_compiler()  # what compiling a graph with a loop imports
    runtime.jitted("gemm_into")  # a helper calling helpers (runtime.CALLED_BY_HELPERS)
steps = [look, loops] if sys.argv[1] == "graph-first" else [loops, look]
for step in steps:
    step()
prepare(*small(), load=False)
look()
print(json.dumps(keys))
"""


def test_a_loop_compiled_first_or_not_gives_one_key(own_cache: Path) -> None:
    """The key of a graph does not depend on whether the process compiled a loop before
    (scan_loops imports the code generator and registers the loop emitter, jitting gemm_into
    fills runtime.CALLED_BY_HELPERS): registries and graphc's own imports are not settings."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    child = ORDER.format(tests=str(ROOT / "tests"))
    runs = [json.loads(subprocess.run([sys.executable, "-c", child, order], env=environment,
                                      check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            for order in ("graph-first", "loops-first")]
    assert len({key for keys in runs for key in keys}) == 1, runs


def test_declared_settings_travel_to_another_process_by_value() -> None:
    """declared_values gives every declared setting (lowering's and the simplifier's) with
    its value; apply_values sets them in the compile worker before it lowers, only those a
    module declares (a job names no other attribute), each job all of them."""
    from graphc.control import optimize, scan_hoist
    from graphc.ops import linalg

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linalg, "SMALL_MATMUL", 7)
        patch.setattr(optimize, "STACKED_LIMIT", 11)
        patch.setattr(scan_hoist, "STACK_LIMIT", 13)
        values = lowered_cache.declared_values()
    assert ("graphc.ops.linalg", "SMALL_MATMUL", 7) in values
    assert ("graphc.control.optimize", "STACKED_LIMIT", 11) in values
    assert ("graphc.control.scan_hoist", "STACK_LIMIT", 13) in values
    defaults = lowered_cache.declared_values()
    assert ("graphc.ops.linalg", "SMALL_MATMUL", 7) not in defaults
    try:
        lowered_cache.apply_values(values + [("graphc.ops.linalg", "matmul", None),
                                             ("os", "sep", "!")])
        assert (linalg.SMALL_MATMUL, optimize.STACKED_LIMIT, scan_hoist.STACK_LIMIT) == (7, 11, 13)
        assert linalg.matmul is not None and os.sep != "!"  # not declared: left alone
    finally:
        lowered_cache.apply_values(defaults)
    assert lowered_cache.declared_values() == defaults


def test_settings_of_when_and_where_compiling_happens_are_not_in_the_key(monkeypatch) -> None:
    """GRAPHC_TIERED and GRAPHC_FORK_COMPILE change who compiles, never the code: one key."""
    inputs, outputs = small()
    keys = set()
    for tiered, fork in (("0", "0"), ("1", "1"), ("", "")):
        monkeypatch.setenv("GRAPHC_TIERED", tiered)
        monkeypatch.setenv("GRAPHC_FORK_COMPILE", fork)
        keys.add(lowered_cache.key(inputs, outputs, None, False, None))
    assert len(keys) == 1 and None not in keys


def test_a_worker_job_adopts_the_callers_lowering_for_its_first_graph_only(own_cache: Path) -> None:
    """compile_worker.run_job wraps one job in `adopting(the caller's name)`: the job's own graph
    (lowered first) takes the caller's code; a graph lowered after it in the same job gets its
    own lowering, never the adopted code of another graph with as many outputs."""
    caller = prepare(*small(), load=False)
    with lowered_cache.adopting(caller.name):
        first = prepare(*small(constant=5.0), load=False)  # as if the worker's key differed
        second = prepare(*small(constant=7.0), load=False)
    assert first.generated.source == caller.generated.source  # adopted
    inputs, outputs = small(constant=7.0)
    assert second.generated.source == lower(inputs, outputs).generated.source != caller.generated.source
