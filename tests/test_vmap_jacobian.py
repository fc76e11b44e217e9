"""gc.jacobian / jacrev / jacfwd / hessian, built as vmaps over an identity basis.

References: central differences of the function (or of its symbolic gradient,
for Hessians), and the construction these replace (one backward pass per
element of y, stacked; kept below as `per_row_jacobian`). The graph must not
grow with the size of x.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from autodiff_support import backend_fixture, numeric_jacobian, run  # noqa: F401 - `backend` fixture

import graphc as gc
from graphc import ir
from graphc.autodiff import backward
from graphc.interpret import evaluate


def per_row_jacobian(y: gc.Tensor, x: gc.Tensor) -> gc.Tensor:
    """The old construction: one VJP per element of y with a one-hot cotangent, stacked."""
    count = int(np.prod(y.shape, dtype=np.int64))
    rows = []
    for index in range(count):
        basis = np.zeros(count, dtype=y.dtype)
        basis[index] = 1
        rows.append(backward([y], [gc.constant(basis.reshape(y.shape))], [x])[0])
    return gc.reshape(gc.stack(rows), y.shape + x.shape)


Build = Callable[[gc.Tensor], gc.Tensor]
RNG = np.random.default_rng(2014)
A = RNG.standard_normal((4, 3))
W = RNG.standard_normal((4, 5))

# (name, x shape, function of x): smooth functions from the autodiff corpus and the issue.
CORPUS: list[tuple[str, tuple[int, ...], Build]] = [
    ("sigmoid(x**2)", (4,), lambda x: gc.sigmoid(x ** 2)),
    ("sin(exp(tanh(x)))", (3,), lambda x: gc.sin(gc.exp(gc.tanh(x)))),
    ("log1p((x@A)**2)", (4,), lambda x: gc.log1p((x @ A) ** 2)),
    ("softmax(x@W)", (4,), lambda x: gc.softmax(x @ W)),
    ("log_softmax of a matrix", (2, 3), lambda x: gc.log_softmax(x * 2, axis=0)),
    ("logsumexp rows", (3, 4), lambda x: gc.logsumexp(gc.tanh(x), axis=1)),
    ("rosenbrock terms", (5,), lambda x: 100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
    ("concatenate and sum", (3,), lambda x: gc.concatenate([x * x, gc.sum(gc.exp(x), keepdims=True)])),
    ("outer", (3,), lambda x: gc.outer(x, gc.sin(x))),
    ("mlp", (4,), lambda x: gc.tanh(gc.tanh(x @ W) @ W.T) * x),
    ("transpose and reshape", (2, 3), lambda x: gc.reshape(gc.transpose(x) ** 3, (6,))),
    ("mean and max", (3, 2), lambda x: gc.mean(x ** 2, axis=0) + gc.max(x * x, axis=0)),
    ("scalar", (3,), lambda x: gc.sum(gc.softplus(x) * x)),
]


def _point(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(sum(shape) + 7).uniform(-1, 1, shape)


@pytest.mark.parametrize("name, shape, build", CORPUS, ids=[c[0] for c in CORPUS])
@pytest.mark.parametrize("transform", ["jacobian", "jacrev", "jacfwd"])
def test_jacobians_match_differences_and_the_per_row_construction(
        name: str, shape: tuple[int, ...], build: Build, transform: str, backend: str) -> None:
    x = gc.input("x", shape)
    y = build(x)
    jac = getattr(gc, transform)(y, x)
    assert jac.shape == y.shape + x.shape and jac.dtype == y.dtype
    point = _point(shape)
    got, old = run([x], [jac, per_row_jacobian(y, x)], [point], backend)
    np.testing.assert_allclose(got, old, rtol=1e-12, atol=1e-13)
    expected = numeric_jacobian(lambda p: evaluate([y], {x: p})[0], point)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, shape, build", CORPUS, ids=[c[0] for c in CORPUS])
def test_hessian_matches_differences_of_the_gradient(name: str, shape: tuple[int, ...],
                                                     build: Build, backend: str) -> None:
    x = gc.input("x", shape)
    y = gc.sum(build(x))
    gradient = gc.grad(y, x)
    hessian = gc.hessian(y, x)
    assert hessian.shape == x.shape + x.shape
    point = _point(shape)
    got, old = run([x], [hessian, per_row_jacobian(gradient, x)], [point], backend)
    np.testing.assert_allclose(got, old, rtol=1e-11, atol=1e-12)
    expected = numeric_jacobian(lambda p: evaluate([gradient], {x: p})[0], point)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def issue_function(n: int) -> tuple[gc.Tensor, gc.Tensor, np.ndarray]:
    a = np.random.default_rng(n).standard_normal((n, n)) / np.sqrt(n)
    x = gc.input("x", (n,))
    return x, gc.sum(gc.log1p((x @ a) ** 2)) + gc.sum(x ** 3), a


def test_hessian_graph_does_not_grow_with_n() -> None:
    counts = {}
    for n in (10, 1000):
        x, f, _ = issue_function(n)
        counts[n] = len(ir.toposort([gc.hessian(f, x)]))
        counts[-n] = len(ir.toposort(gc.simplify([gc.hessian(f, x)])))
    assert counts[10] == counts[1000] and counts[10] < 80
    assert abs(counts[-10] - counts[-1000]) <= 5


def test_hessian_of_the_issue_function_matches_the_formula(backend: str) -> None:
    x, f, a = issue_function(60)
    point = np.random.default_rng(1).standard_normal(60)
    (got,) = run([x], [gc.hessian(f, x)], [point], backend)
    z = point @ a
    expected = a @ np.diag((2 - 2 * z ** 2) / (1 + z ** 2) ** 2) @ a.T + np.diag(6 * point)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_jacobian_chooses_forward_mode_for_tall_outputs() -> None:
    x = gc.input("x", (2,))
    tall = gc.outer(gc.exp(x), gc.constant(np.arange(1.0, 6.0)))  # 10 outputs, 2 inputs
    jac = gc.jacobian(tall, x)
    forward = gc.jacfwd(tall, x)
    assert len(ir.toposort([jac])) == len(ir.toposort([forward]))
    point = np.array([0.3, -0.2])
    expected = numeric_jacobian(lambda p: np.outer(np.exp(p), np.arange(1.0, 6.0)), point)
    np.testing.assert_allclose(evaluate([jac], {x: point})[0], expected, rtol=1e-7)


def test_symbolic_x_works_in_reverse_mode() -> None:
    x = gc.input("x", ("n",))
    jac = gc.jacrev(gc.stack([gc.sum(x ** 2), gc.sum(gc.sin(x))]), x)
    assert jac.shape[0] == 2
    point = np.array([0.1, 0.5, -1.0])
    got = gc.compile([x], jac, backend="numpy")(point)
    np.testing.assert_allclose(got, np.stack([2 * point, np.cos(point)]), rtol=1e-14)


def test_symbolic_y_and_static_x_use_forward_mode() -> None:
    x = gc.input("x", (2,))
    scale = gc.input("scale", ("m",))
    y = gc.outer(scale, gc.exp(x))  # shape (m, 2): only x has a static size
    jac = gc.jacobian(y, x)
    assert jac.shape[1:] == (2, 2)
    s_value, x_value = np.array([1.0, -2.0, 0.5]), np.array([0.1, 0.3])
    got = gc.compile([x, scale], jac, backend="numpy")(x_value, s_value)
    expected = s_value[:, None, None] * np.eye(2) * np.exp(x_value)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_errors_name_what_is_wrong() -> None:
    x = gc.input("x", ("n",))
    with pytest.raises(gc.ShapeError, match="jacfwd needs a statically sized tensor"):
        gc.jacfwd(gc.sin(x), x)
    with pytest.raises(gc.ShapeError, match="hessian needs a statically sized"):
        gc.hessian(gc.sum(x), x)
    k = gc.input("k", (3,), "int64")
    with pytest.raises(gc.GraphcError, match="cannot differentiate with respect to input 'k'"):
        gc.jacrev(k * 2, k)


def test_benchmark_script_checks_and_prints_its_table() -> None:
    """benchmarks/bench_jacobian.py with the NumPy-only tools (no compile): one checked row per task."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_jacobian.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--sizes", "10", "--tools", "graphc_numpy,numpy"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| workload | graphc numpy | hand NumPy |"
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| hessian n=10", "| jacobian n=10", "| per-example grads 256x100"]
    assert "WRONG" not in completed.stdout and "failed" not in completed.stdout
