"""Temporaries reused across calls (graphc/backend/workspace.py): the kernel-mode graph function
takes its temporaries from a per-thread workspace and allocates only its outputs.

References: the loss and gradients of a tanh MLP by hand in NumPy (independent of
graphc); tracemalloc for what a call allocates (NumPy reports its arrays' memory to it).
Checked: outputs never alias the workspace (a later call leaves earlier outputs
unchanged), two threads calling one function at once, a named size that changes
between calls, the plan's own rules on a schedule (results and what they view are
never planned), the numbering of the statements, and GRAPHC_WORKSPACE=0.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import workspace
from graphc.ir import apply
from graphc.lowering import Kernel
from graphc.ops.linalg import MATMUL

DEPTH, WIDTH = 6, 5


def mlp(product: Callable[[Any, Any], Any] = lambda a, b: a @ b) -> tuple[list[Any], list[Any]]:
    x = gc.input("x", ("batch", WIDTH))
    targets = gc.input("targets", ("batch", WIDTH))
    Ws = [gc.input(f"W{i}", (WIDTH, WIDTH)) for i in range(DEPTH)]
    bs = [gc.input(f"b{i}", (WIDTH,)) for i in range(DEPTH)]
    h = x
    for W, b in zip(Ws, bs):
        h = gc.tanh(product(h, W) + b)
    log_probs = h - gc.logsumexp(h, axis=1, keepdims=True)
    loss = gc.sum(log_probs * targets)
    return [x, targets, *Ws, *bs], [loss, *gc.grad(loss, Ws + bs)]


def values(batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((batch, WIDTH)), rng.random((batch, WIDTH))]
    arrays += [rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(DEPTH)]
    return arrays + [rng.standard_normal(WIDTH) * 0.1 for _ in range(DEPTH)]


def by_hand(arrays: list[np.ndarray]) -> list[Any]:
    x, targets, Ws, bs = arrays[0], arrays[1], arrays[2:2 + DEPTH], arrays[2 + DEPTH:]
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(np.tanh(hs[-1] @ W + b))
    h = hs[-1]
    top = h.max(axis=1, keepdims=True)
    total = np.exp(h - top).sum(axis=1, keepdims=True)
    loss = np.sum((h - top - np.log(total)) * targets)
    dh = targets - np.exp(h - top) / total * targets.sum(axis=1, keepdims=True)
    dWs, dbs = [], []
    for i in reversed(range(DEPTH)):
        dz = dh * (1 - hs[i + 1] ** 2)
        dWs.insert(0, hs[i].T @ dz)
        dbs.insert(0, dz.sum(axis=0))
        dh = dz @ Ws[i].T
    return [loss, *dWs, *dbs]


def agree(got: list[Any], want: list[Any]) -> None:
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def function() -> Any:
    inputs, outputs = mlp()
    f = gc.compile(inputs, outputs)
    assert "_workspace.empty(" in f.source and "_workspace.dot(" in f.source, \
        "the graph should be in kernel mode with temporaries from the workspace"
    return f


@pytest.mark.parametrize("declared", [True, False])
def test_a_product_form_is_what_the_record_declares(declared: bool) -> None:
    """Kernel mode writes a product by `Workspace.dot` where its record declares its `into`
    statement a product (`Kernel.into_product`), whatever that statement's text: a copy of
    matmul whose `into` is `np.dot(a, b, out)` and declared gets the one-line form; one
    whose `into` is matmul's own `gemm_into(a, b, out)` but not declared gets an
    `empty` slot and that statement. Both agree with NumPy by hand."""
    record = MATMUL.lowering
    assert isinstance(record, Kernel)
    lowering = (dataclasses.replace(record, into=lambda n: "np.dot({0}, {1}, {out})")
                if declared else dataclasses.replace(record, into_product=False))
    op = dataclasses.replace(MATMUL, name=f"matmul_declared_{declared}", lowering=lowering)
    f = gc.compile(*mlp(lambda a, b: apply(op, a, b)))
    forward = [line for line in f.source.splitlines() if f"= {op.name} " in line or "matmul x W0" in line]
    assert forward, f.source
    if declared:
        assert "_workspace.dot(" in forward[0] and "np.dot(x, W0" not in f.source
    else:
        assert "_workspace.empty(" in forward[0] and "gemm_into(x, W0, " in f.source
    agree(f(*values(7, 3)), by_hand(values(7, 3)))


def test_matmul_declares_its_blas_products() -> None:
    """matmul's record: float matrices of one dtype above the small size are BLAS products
    (into_product); small, integer, mixed-dtype and batched ones are not."""
    record = MATMUL.lowering
    assert isinstance(record, Kernel)

    def declared(a: tuple[int, ...], b: tuple[int, ...], dtype: str = "float64",
                 other: str = "float64") -> bool:
        return record.into_product_for(gc.input("a", a, dtype=dtype) @ gc.input("b", b, dtype=other))

    assert declared((32, 128), (128, 512)) and declared(("n", 5), (5, 5), "float32", "float32")
    assert not declared((2, 3), (3, 2))  # small: matmul_small_into's loops
    assert not declared((32, 128), (128, 512), "int64", "int64")
    assert not declared((32, 128), (128, 512), "float32", "float64")
    assert not declared((4, 32, 128), (128, 512))


def test_outputs_are_fresh_and_survive_later_calls(function: Any) -> None:
    first_inputs = values(7, 1)
    first = function(*first_inputs)
    kept = [np.array(o, copy=True) for o in first]
    second = function(*values(7, 2))
    third = function(*values(7, 3))
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)  # not overwritten by later calls
    for outputs in (second, third):
        for a, b in zip(first, outputs):
            assert not np.shares_memory(a, b)
    agree(first, by_hand(first_inputs))


def test_named_size_changes_between_calls(function: Any) -> None:
    for batch in (7, 3, 11, 7, 1):
        arrays = values(batch, batch)
        agree(function(*arrays), by_hand(arrays))


def test_two_threads_at_once(function: Any) -> None:
    problems: list[str] = []
    start = threading.Barrier(2)

    def work(seed: int) -> None:
        start.wait()
        for step in range(60):
            arrays = values(5 + seed + step % 3, 100 * seed + step)
            try:
                agree(function(*arrays), by_hand(arrays))
            except AssertionError as error:
                problems.append(f"thread {seed} step {step}: {error}")
                return

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not problems, problems[0]


def _allocated_per_call(f: Any, arrays: list[np.ndarray]) -> int:
    """The least peak of three steady calls, less their outputs: tracemalloc also counts what
    another thread of the process allocates meanwhile (a test's leftover worker watcher, under
    load), which one call's peak can catch and three in a row do not."""
    for _ in range(3):
        f(*arrays)
    peaks = []
    tracemalloc.start()
    try:
        for _ in range(3):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            outputs = f(*arrays)
            peaks.append(tracemalloc.get_traced_memory()[1] - base - sum(np.asarray(o).nbytes for o in outputs))
            del outputs
    finally:
        tracemalloc.stop()
    return min(peaks)


def test_a_steady_call_allocates_little_more_than_its_outputs(
        function: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = values(400, 5)  # temporaries of 400 x 5 doubles: 16 KB each
    monkeypatch.setenv("GRAPHC_WORKSPACE", "0")
    inputs, outputs = mlp()
    plain = gc.compile(inputs, outputs)
    assert "_workspace.empty(" not in plain.source
    agree(plain(*arrays), function(*arrays))
    with_workspace, without = _allocated_per_call(function, arrays), _allocated_per_call(plain, arrays)
    one_temporary = 400 * WIDTH * 8
    assert without > 8 * one_temporary  # the test measures what it means to
    assert with_workspace < without / 4


def test_nested_and_other_thread_acquire_their_own() -> None:
    pool = workspace.Pool(2)
    outer = pool.acquire()
    inner = pool.acquire()  # a nested call of the same function while outer is in progress
    assert inner is not outer
    assert inner.empty(0, (3,), np.float64) is not outer.empty(0, (3,), np.float64)
    pool.release(inner)
    pool.release(outer)
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(pool.acquire()))
    thread.start()
    thread.join()
    assert seen[0] is not inner and seen[0] is not outer
    assert pool.acquire() in (inner, outer)


def test_slot_keeps_its_array_until_the_form_changes() -> None:
    space = workspace.Workspace(1)
    a = space.empty(0, (4, 2), np.float64)
    assert space.empty(0, (4, 2), np.float64) is a
    assert space.empty(0, (5, 2), np.float64).shape == (5, 2)
    assert space.empty(0, (5, 2), np.float32).dtype == np.float32
    assert np.all(space.full(0, (2,), 3.0, np.float64) == 3.0)
    m, n = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(space.dot(0, m, n), m @ n)
    np.testing.assert_array_equal(space.dot(0, m.T, m), m.T @ m)  # a transposed operand
    np.testing.assert_array_equal(space.dot(0, m, np.arange(3)), m @ np.arange(3))  # int: fresh


def test_plan_leaves_results_and_what_they_view_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend.policy import schedule_for

    x, W = gc.input("x", ("n", 3)), gc.input("W", (3, 3))
    product = x @ W
    h = gc.tanh(product)
    viewed = gc.transpose(h)  # a result that is a view of h: h must be fresh every call
    scaled = h * 2.0
    total = gc.sum(gc.concatenate([scaled, h], axis=1), axis=0)  # a copy: scaled may be reused
    schedule = schedule_for([x, W], [viewed, total])
    planned = workspace.plan(schedule, schedule.outputs)
    assert product in planned and scaled in planned
    assert not {h, viewed, total} & planned and not {x, W} & planned
    assert workspace.plan(schedule, schedule.outputs, {"x", "_workspace"}) == frozenset()
    monkeypatch.setenv("GRAPHC_WORKSPACE", "0")
    assert workspace.plan(schedule, schedule.outputs) == frozenset()


def test_place_numbers_the_statements_still_in_python() -> None:
    kept = workspace.Reusable("    t1 = empty((n, size_3), np.float64)", "t1", "empty",
                              "(n, size_3), np.float64")
    kept = kept.retext(lambda text: text.replace("size_3", "3"))  # outlining's static sizes
    assert isinstance(kept, workspace.Reusable) and kept == "    t1 = empty((n, 3), np.float64)"
    product = workspace.Reusable("    t0 = blas_dot(x, W)  # t0 = matmul x W", "t0", "empty",
                                 "(n, 3), np.float64", then="np.dot(x, W, t0)")
    blas = workspace.Reusable("    t2 = blas_dot(t1, W)", "t2", "dot", "t1, W")
    lines = [product, kept, "    fused_1(n, 3, t0, t1)", blas, "    out = full((3,), 0, np.float64)"]
    placed, slots = workspace.place(lines)
    assert slots == 3 and placed[0].startswith("    _workspace = _pool.acquire()")
    assert placed[1:4] == ["    t0 = _workspace.empty(0, (n, 3), np.float64)  # t0 = matmul x W",
                           "    np.dot(x, W, t0)", "    t1 = _workspace.empty(1, (n, 3), np.float64)"]
    assert placed[5] == "    t2 = _workspace.dot(2, t1, W)"
    assert placed[-2:] == ["    out = full((3,), 0, np.float64)", "    _pool.release(_workspace)"]
    assert workspace.header(slots)[1].startswith("_pool = Pool(3)")
    plain = [str(line) for line in lines]  # a statement re-rolling moved into a loop: plain text
    assert workspace.place(plain) == (plain, 0) and workspace.header(0) == []


def test_what_a_numpy_sum_of_two_temporaries_reads_comes_from_the_workspace() -> None:
    """An output computed in Python as `np.add(a, b)` (codegen/pyunits.py) is a new array, so
    the plan leaves a and b to the workspace (the classifier's L2 prior: the text rewrite this
    replaced kept them fresh); earlier outputs stay intact and every call agrees with NumPy by
    hand (benchmarks/workloads/classifier.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from workloads import classifier

    inputs, loss = classifier.graphc_graph()
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs[2:])])
    sums = [line for line in f.source.splitlines() if " = np.add(" in line]
    assert sums, "the prior's gradient sums should be NumPy calls in the graph function"
    for line in sums:
        operands = [name.strip() for name in line.split("np.add(")[1].split(",")[:2]]
        assert all(f"    {name} = _workspace." in f.source for name in operands), line
    calls = []
    for seed in (1, 2):
        values = classifier.make_inputs(True)
        rng = np.random.default_rng(seed)
        calls.append([values[n.name] + 0.01 * rng.standard_normal(values[n.name].shape)
                      for n in inputs])
    results = [f(*arrays) for arrays in calls]
    kept = [np.array(r, copy=True) for r in results[0]]
    for arrays, got in zip(calls, results):
        for g, w in zip(got, classifier.hand_numpy(*arrays), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)
    for a, b in zip(results[0], kept):
        np.testing.assert_array_equal(a, b)
