"""Kernel mode: identical fused groups are one shared kernel, reused within and across graphs.

A graph with at least KERNEL_MODE_GROUPS loop nests is generated as shared
kernels (codegen/outline.py) called from a plain Python function. References:
the MLP's loss and gradients by hand in NumPy (independent of graphc), and the
NumPy backend. The BLAS thread policy (backend/blas_threads.py) is checked by
reading each BLAS's thread count (threadpoolctl.threadpool_info) from inside a call.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import threadpoolctl

import graphc as gc
from graphc.backend import blas_threads
from graphc.backend.codegen import KERNEL_MODE_GROUPS
from graphc.lowering import View


def mlp(depth: int, width: int, dtype: str = "float64") -> tuple[list[Any], list[Any]]:
    x, y = gc.input("x", ("n", width), dtype=dtype), gc.input("y", ("n", width), dtype=dtype)
    Ws = [gc.input(f"W{i}", (width, width), dtype=dtype) for i in range(depth)]
    bs = [gc.input(f"b{i}", (width,), dtype=dtype) for i in range(depth)]
    h = x
    for W, b in zip(Ws, bs):
        h = gc.tanh(h @ W + b)
    loss = gc.mean((h - y) ** 2)
    return [x, y, *Ws, *bs], [loss, *gc.grad(loss, Ws + bs)]


def values(depth: int, width: int, batch: int, dtype: str = "float64") -> list[np.ndarray]:
    rng = np.random.default_rng(depth + width)
    arrays = [rng.standard_normal((batch, width)), rng.standard_normal((batch, width))]
    arrays += [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(depth)]
    arrays += [rng.standard_normal(width) * 0.1 for _ in range(depth)]
    return [a.astype(dtype) for a in arrays]


def by_hand(arrays: list[np.ndarray], depth: int) -> list[np.ndarray]:
    x, y, Ws, bs = arrays[0], arrays[1], arrays[2:2 + depth], arrays[2 + depth:]
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(np.tanh(hs[-1] @ W + b))
    dh = 2 * (hs[-1] - y) / hs[-1].size
    dWs, dbs = [], []
    for i in reversed(range(depth)):
        dz = dh * (1 - hs[i + 1] ** 2)
        dWs.insert(0, hs[i].T @ dz)
        dbs.insert(0, dz.sum(axis=0))
        dh = dz @ Ws[i].T
    return [np.mean((hs[-1] - y) ** 2), *dWs, *dbs]


def test_layers_share_kernels_and_agree_with_numpy() -> None:
    inputs, outputs = mlp(6, 5)
    f = gc.compile(inputs, outputs)
    assert f.stats["groups"] >= KERNEL_MODE_GROUPS and f.stats["kernels"] > 0
    # every hidden layer's forward group is one kernel: far fewer kernels than groups
    assert f.stats["kernels"] < f.stats["groups"] // 2
    graph_part = f.source.split("# ---- graph")[1]
    assert graph_part.count("def ") == 1 and "for i0" not in graph_part  # a sequence of calls
    arrays = values(6, 5, batch=7)
    for got, want in zip(f(*arrays), by_hand(arrays, 6)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_another_depth_and_width_compile_no_new_kernel() -> None:
    first = gc.compile(*mlp(7, 6))
    again = gc.compile(*mlp(9, 11))  # new graph: other depth, other width, same kernels
    assert again.stats["kernels"] == first.stats["kernels"] and again.stats["kernels_new"] == 0
    arrays = values(9, 11, batch=3)
    for got, want in zip(again(*arrays), by_hand(arrays, 9)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_float32_scalars_keep_their_dtype_between_kernels() -> None:
    inputs, outputs = mlp(6, 4, dtype="float32")
    f = gc.compile(inputs, outputs)
    assert f.stats["kernels"] > 0
    arrays = values(6, 4, batch=5, dtype="float32")
    got = f(*arrays)
    want = gc.compile(inputs, outputs, backend="numpy")(*arrays)
    assert all(np.asarray(g).dtype == np.float32 for g in got)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


# not diagonal: the simplifier turns a product with np.eye into no product at all
MIXING = np.eye(3) + 0.25


def test_a_users_name_that_looks_like_a_size_is_not_taken_for_one() -> None:
    x = gc.input("size_3", ("n", 3))
    h = x
    for _ in range(KERNEL_MODE_GROUPS + 1):
        h = gc.sin(h @ MIXING + 1.0)
    f = gc.compile([x], [gc.sum(h)])
    assert f.stats["kernels"] > 0
    value = np.linspace(-1, 1, 6).reshape(2, 3)
    want = value
    for _ in range(KERNEL_MODE_GROUPS + 1):
        want = np.sin(want @ MIXING + 1.0)
    np.testing.assert_allclose(f(value), want.sum(), rtol=1e-13)


def blas_threads_now() -> list[int]:
    """Each loaded BLAS's thread count, read by threadpoolctl (independent of one_thread)."""
    return [entry["num_threads"] for entry in threadpoolctl.threadpool_info() if entry["user_api"] == "blas"]


def test_the_blas_limiter_is_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails if one_thread is a no-op: threadpoolctl missing, no BLAS found, or nothing set."""
    import scipy.linalg  # noqa: F401 - Numba's np.dot calls SciPy's BLAS: it must be limited too

    assert blas_threads._controller().lib_controllers, "threadpoolctl found no BLAS to limit"
    seen: list[list[int]] = []
    before = blas_threads_now()
    assert len(before) >= 2, before  # NumPy's and SciPy's
    monkeypatch.setattr(blas_threads, "busy", lambda: True)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # a count one_thread must change
        blas_threads.one_thread(lambda: seen.append(blas_threads_now()))()
        assert blas_threads_now() == [2] * len(before)  # restored after the call
    assert seen == [[1] * len(before)]
    assert blas_threads_now() == before
    monkeypatch.setattr(blas_threads, "busy", lambda: False)
    blas_threads.one_thread(lambda: seen.append(blas_threads_now()))()
    assert seen[-1] == before  # a core to spare: BLAS keeps its threads


def test_overlapping_calls_from_threads_leave_blas_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call that set the limit may end first or last; no limit is left behind either way."""
    monkeypatch.setattr(blas_threads, "busy", lambda: True)
    original = blas_threads_now()
    set_blas_threads(2)  # a count one_thread must change, set from a thread that then ends:
    try:  # threadpoolctl lets only one live thread at a time set OpenBLAS's process-wide pool
        before = blas_threads_now()
        for first_ends_first in (True, False):
            seen = run_overlapping_calls(first_ends_first)
            assert seen == {"first": [1] * len(before), "second": [1] * len(before)}
            assert blas_threads_now() == before, first_ends_first
            assert blas_threads._HELD == [None]
    finally:
        set_blas_threads(max(original))


def set_blas_threads(count: int) -> None:
    setter = threading.Thread(target=lambda: threadpoolctl.threadpool_limits(limits=count, user_api="blas"))
    setter.start()
    setter.join(10)


def run_overlapping_calls(first_ends_first: bool) -> dict[str, list[int]]:
    """Two limited calls in two threads, the second starting while the first runs."""
    started, release_first, release_second = (threading.Event() for _ in range(3))
    seen: dict[str, list[int]] = {}

    def body(name: str, release: threading.Event) -> None:
        seen[name] = blas_threads_now()
        started.set()
        assert release.wait(10)

    first = threading.Thread(target=blas_threads.one_thread(body), args=("first", release_first))
    first.start()
    assert started.wait(10)
    started.clear()
    second = threading.Thread(target=blas_threads.one_thread(body), args=("second", release_second))
    second.start()
    assert started.wait(10)
    for release in [release_first, release_second] if first_ends_first else [release_second, release_first]:
        release.set()
    first.join(10)
    second.join(10)
    return seen


def test_which_graphs_get_one_blas_thread() -> None:
    a, b = gc.input("a", ("batch", 64)), gc.input("b", (64, 200))
    assert blas_threads.wants_one_thread([a @ b])  # 256 * 64 * 200 estimated
    big = gc.input("big", (784, 4096))
    assert blas_threads.wants_one_thread([gc.input("c", ("batch", 784)) @ big])
    tiny = gc.input("tiny", (32, 10)) @ gc.input("w", (10,))  # OpenBLAS never threads it
    assert not blas_threads.wants_one_thread([tiny])
    assert not blas_threads.wants_one_thread([gc.sin(a)])  # no product at all


@pytest.mark.parametrize("width, threaded", [(128, True), (16, False)])
def test_products_inside_loop_bodies_count_as_unrolled_ones(width: int, threaded: bool) -> None:
    """A scan whose step multiplies 32 x width @ width x 4*width (128: the LSTM's 2 M multiply-adds,
    which OpenBLAS threads; 16: 32 K, which it does not) gets the decision of the same steps
    unrolled, with its gradient (the reverse loop's body) and nested in another scan too; the
    graph's lowering and the NumPy backend's runner follow it."""
    from graphc.backend import scan_codegen  # noqa: F401 - registers the loops' emitter
    from graphc.backend.lower import lower
    from graphc.ir import toposort

    W, V = gc.input("W", (width, 4 * width)), gc.input("V", (4 * width, width))
    h0, xs = gc.input("h0", (32, width)), gc.input("xs", (3, 32, width))

    def step(h: Any, x: Any) -> Any:
        h = gc.tanh(gc.tanh(h @ W) @ V + x)
        return h, gc.sum(h)

    last, ys = gc.scan(step, h0, xs)
    loss = gc.sum(last) + gc.sum(ys)
    h = h0
    for t in range(3):
        h, _ = step(h, xs[t])
    assert blas_threads.wants_one_thread(toposort([h])) is threaded  # the reference: unrolled
    assert blas_threads.wants_one_thread(toposort([last, ys])) is threaded
    assert blas_threads.wants_one_thread(toposort([loss, *gc.grad(loss, [W, V])])) is threaded
    outer, _ = gc.scan(lambda c, x: (gc.scan(step, c, xs)[0] + x, None), h0, xs)
    assert blas_threads.wants_one_thread(toposort([outer])) is threaded
    assert lower([h0, xs, W, V], [loss]).one_thread is threaded
    runner = gc.compile([h0, xs, W, V], [loss], backend="numpy").runner
    assert hasattr(runner, "__wrapped__") is threaded  # blas_threads.one_thread's wrapper


def test_the_line_scanner_reads_generated_code_as_ast_does() -> None:
    from graphc.backend import policy
    from graphc.backend.codegen import Generator, generate
    from graphc.backend.codegen.parts import _names, _names_ast

    x = gc.input("x", ("n",))
    chain = x
    for _ in range(60):  # large: the block interpreter's groups too
        chain = gc.tanh(gc.sin(chain) * 0.9 + x)
    graphs = [mlp(3, 4), ([x], [gc.sum(chain), gc.grad(gc.sum(chain), x)])]
    for inputs, outputs in graphs:
        plan = policy.schedule_for(inputs, outputs)
        assert generate(plan, kernels=True).source  # kernel mode generates
        generator = Generator(plan, [None] * len(outputs), "graph")
        generator.bind_input_sizes()
        for unit in plan.units:
            generator.writer.lines = []
            if unit in policy.choose(plan):
                generator.emit_interpreted(unit, policy.choose(plan)[unit])
            elif hasattr(unit, "members"):
                generator.emit_group(unit)
            elif isinstance(unit.op.lowering, View):
                generator.emit_view_copy(unit)
            else:
                generator.emit_kernel(unit)
            lines = generator.writer.lines
            assert _names(lines) == _names_ast(lines), "\n".join(lines)


def test_the_numpy_backend_limits_blas_threads_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """backend="numpy" calls NumPy's BLAS: on a busy machine a graph with a threaded product
    runs at one BLAS thread (read from inside the call, in the matmul op's NumPy impl)."""
    a, b = gc.input("a", ("batch", 64)), gc.input("b", (64, 200))
    product = a @ b
    f = gc.compile([a, b], gc.sum(gc.tanh(product)), backend="numpy")
    seen: list[list[int]] = []
    real_matmul = product.op.impl

    def watched(*arguments: Any, **options: Any) -> Any:
        seen.append(blas_threads_now())
        return real_matmul(*arguments, **options)

    object.__setattr__(product.op, "impl", watched)
    try:
        x, w = np.ones((256, 64)), np.ones((64, 200)) / 64
        with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
            monkeypatch.setattr(blas_threads, "busy", lambda: True)
            assert np.isclose(f(x, w), np.tanh(1.0) * 256 * 200)
            busy_counts, seen[:] = list(seen), []
            monkeypatch.setattr(blas_threads, "busy", lambda: False)
            f(x, w)
    finally:
        object.__setattr__(product.op, "impl", real_matmul)
    assert busy_counts and all(count == 1 for counts in busy_counts for count in counts)
    assert seen and all(count == 2 for counts in seen for count in counts)
