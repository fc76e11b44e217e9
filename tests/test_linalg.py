"""gc.linalg and the matrix-structure functions (tril, triu, diag, diagonal, trace, eye, einsum).

Values against NumPy/SciPy (stacks of matrices included), gradients against
central differences (first and second order, and forward mode), vmap against a
loop, errors at build and run time. The numba backend is checked against the
NumPy backend on one compiled function per fixture, so Numba compiles rarely.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.linalg

import graphc as gc

RNG = np.random.default_rng(42)


def spd(n: int, *batch: int) -> np.ndarray:
    x = RNG.normal(size=batch + (n, n))
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def run(inputs: list[gc.Tensor], outputs: Any, *values: np.ndarray, backend: str = "numpy") -> Any:
    return gc.compile(inputs, outputs, backend=backend)(*values)


# ------------------------------------------------------------------ values

A = spd(4)
B = RNG.normal(size=(4, 3))
V = RNG.normal(size=4)
STACK = spd(3, 2, 5)  # (2, 5, 3, 3)


def test_decompositions_match_numpy_and_scipy() -> None:
    a, b, v = gc.input("a", (4, 4)), gc.input("b", (4, 3)), gc.input("v", (4,))
    factor = gc.linalg.cholesky(a)
    w, vectors = gc.linalg.eigh(a)
    sign, logdet = gc.linalg.slogdet(a)
    outputs = [factor, gc.linalg.solve(a, b), gc.linalg.solve(a, v), gc.linalg.inv(a),
               gc.linalg.det(a), sign, logdet, w, vectors]
    got = run([a, b, v], outputs, A, B, V)
    w_ref, vectors_ref = np.linalg.eigh(A)
    expected = [np.linalg.cholesky(A), np.linalg.solve(A, B), np.linalg.solve(A, V),
                np.linalg.inv(A), np.linalg.det(A), *np.linalg.slogdet(A), w_ref, vectors_ref]
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1, "T"])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_matches_scipy(lower: bool, trans: Any, unit: bool) -> None:
    matrix = np.tril(A) if lower else np.triu(A)
    matrix = matrix + RNG.normal(size=(4, 4))  # the other triangle must not be read
    a, b, v = gc.input("a", (4, 4)), gc.input("b", (4, 3)), gc.input("v", (4,))
    options = {"trans": trans, "lower": lower, "unit_diagonal": unit}
    got = run([a, b, v], [gc.linalg.solve_triangular(a, b, **options),
                          gc.linalg.solve_triangular(a, v, **options)], matrix, B, V)
    for value, rhs in zip(got, (B, V)):
        reference = scipy.linalg.solve_triangular(matrix, rhs, **options)
        np.testing.assert_allclose(value, reference, rtol=1e-10, atol=1e-12)


def test_stacks_of_matrices_and_broadcast_right_sides() -> None:
    a = gc.input("a", (2, 5, 3, 3))
    b = gc.input("b", (5, 3, 2))
    rhs = RNG.normal(size=(5, 3, 2))
    outputs = [gc.linalg.cholesky(a), gc.linalg.solve(a, b), gc.linalg.inv(a), gc.linalg.det(a),
               gc.linalg.slogdet(a)[1], gc.linalg.eigh(a)[0],
               gc.linalg.solve_triangular(gc.linalg.cholesky(a), b, lower=True)]
    got = run([a, b], outputs, STACK, rhs)
    factor = np.linalg.cholesky(STACK)
    looped = np.stack([scipy.linalg.solve_triangular(factor[i, j], rhs[j], lower=True)
                       for i in range(2) for j in range(5)]).reshape(2, 5, 3, 2)
    expected = [factor, np.linalg.solve(STACK, rhs), np.linalg.inv(STACK), np.linalg.det(STACK),
                np.linalg.slogdet(STACK)[1], np.linalg.eigh(STACK)[0], looped]
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("ord_, axis, keepdims", [
    (None, None, False), (None, None, True), (2, None, False), (1, None, False), (np.inf, None, False),
    (-np.inf, None, False), (3, None, False), ("fro", None, False), (None, 1, False), (1, 0, True),
    (np.inf, (0, 1), False), (1, (1, 0), True), (-1, None, False)])
def test_norm_matches_numpy(ord_: Any, axis: Any, keepdims: bool) -> None:
    for value in (V, B):
        if value.ndim == 1 and (ord_ in ("fro", -1) or isinstance(axis, tuple)):
            continue
        if value.ndim == 1 and axis == 1:
            continue
        if value.ndim == 2 and axis is None and ord_ in (2, 3):
            continue  # the spectral norm needs an SVD: not supported
        x = gc.input("x", value.shape)
        got = run([x], gc.linalg.norm(x, ord_, axis, keepdims), value)
        np.testing.assert_allclose(got, np.linalg.norm(value, ord_, axis, keepdims), rtol=1e-12)


def test_structure_functions_match_numpy() -> None:
    x, v, cube = gc.input("x", (4, 3)), gc.input("v", (3,)), gc.input("c", (2, 3, 3))
    matrix, vector, stack = RNG.normal(size=(4, 3)), RNG.normal(size=3), RNG.normal(size=(2, 3, 3))
    cases = [
        (gc.tril(x), np.tril(matrix)), (gc.tril(x, -1), np.tril(matrix, -1)),
        (gc.triu(x, 1), np.triu(matrix, 1)), (gc.triu(cube), np.triu(stack)),
        (gc.diag(v), np.diag(vector)), (gc.diag(v, 1), np.diag(vector, 1)),
        (gc.diag(v, -2), np.diag(vector, -2)), (gc.diag(x), np.diag(matrix)),
        (gc.diag(x, -1), np.diag(matrix, -1)),
        (gc.diagonal(cube), np.diagonal(stack)), (gc.diagonal(cube, 1, 1, 2), np.diagonal(stack, 1, 1, 2)),
        (gc.diagonal(cube, 0, 2, 0), np.diagonal(stack, 0, 2, 0)),
        (gc.trace(x), np.trace(matrix)), (gc.trace(cube, 0, 1, 2), np.trace(stack, 0, 1, 2)),
        (gc.eye(3), np.eye(3)), (gc.eye(2, 4, 1, "float32"), np.eye(2, 4, 1, "float32")),
    ]
    got = run([x, v, cube], [node for node, _ in cases], matrix, vector, stack)
    for value, (_, reference) in zip(got, cases):
        assert value.dtype == reference.dtype
        np.testing.assert_allclose(value, reference, rtol=1e-14)


EINSUMS = [("ij,jk->ik", [(3, 4), (4, 2)]), ("ij,jk", [(3, 4), (4, 2)]),
           ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
           ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("i,i", [(4,), (4,)]), ("i,j->ij", [(3,), (2,)]),
           ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]), ("ijk,jl->lki", [(2, 3, 4), (3, 5)]),
           ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
           ("bi,bi->b", [(3, 4), (3, 4)]), ("ij,ij->ij", [(2, 3), (2, 3)]), ("iij->j", [(2, 2, 3)]),
           ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)])]


@pytest.mark.parametrize("subscripts, specs", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_matches_numpy_with_its_gradient(subscripts: str, specs: list[tuple[int, ...]]) -> None:
    arrays = [RNG.normal(size=s) for s in specs]
    inputs = [gc.input(f"x{i}", s) for i, s in enumerate(specs)]
    out = gc.einsum(subscripts, *inputs)
    expected = np.einsum(subscripts, *arrays)
    np.testing.assert_allclose(run(inputs, out, *arrays), expected, rtol=1e-12, atol=1e-12)
    weight = RNG.normal(size=np.shape(expected))
    gc.check_grad(gc.sum(out * weight), inputs, dict(zip(inputs, arrays)))


def test_einsum_of_matrices_is_a_matmul() -> None:
    a, b = gc.input("a", ("n", 4)), gc.input("b", (4, "m"))
    ops = {node["op"] for _, node in gc.to_networkx([gc.einsum("ij,jk->ik", a, b)]).nodes(data=True)}
    assert "matmul" in ops and "multiply" not in ops


# ------------------------------------------------------------------ gradients

def _gp_like_loss(a: gc.Tensor, y: gc.Tensor) -> gc.Tensor:
    factor = gc.linalg.cholesky(a)
    alpha = gc.linalg.solve_triangular(factor, y, lower=True)
    return 0.5 * gc.sum(alpha * alpha) + gc.sum(gc.log(gc.diagonal(factor)))


LOSSES = {
    "cholesky": lambda a, y: gc.sum(gc.linalg.cholesky(a) * y[:, None]),
    "gp": _gp_like_loss,
    "solve": lambda a, y: gc.sum(gc.linalg.solve(a, y) ** 2),
    "solve_matrix": lambda a, y: gc.sum(gc.sin(gc.linalg.solve(a, gc.outer(y, y) + a))),
    "triangular_lower": lambda a, y: gc.sum(gc.linalg.solve_triangular(a, y, lower=True) ** 2),
    "triangular_trans": lambda a, y: gc.sum(gc.linalg.solve_triangular(a, gc.outer(y, y), trans=1) ** 2),
    "triangular_unit": lambda a, y: gc.sum(
        gc.linalg.solve_triangular(a, y, lower=True, unit_diagonal=True) ** 2),
    "inv": lambda a, y: gc.sum(gc.linalg.inv(a) * gc.outer(y, y)),
    "det": lambda a, y: gc.linalg.det(a) * gc.sum(y),
    "slogdet": lambda a, y: gc.linalg.slogdet(a)[1] * gc.sum(y * y),
    "eigh_values": lambda a, y: gc.sum(gc.linalg.eigh(a)[0] * y),
    "eigh_vectors": lambda a, y: gc.sum(gc.linalg.eigh(a)[1] ** 2 * y),  # sign-invariant
    "norms": lambda a, y: gc.linalg.norm(a) + gc.linalg.norm(y, 1)
    + gc.linalg.norm(a, np.inf, keepdims=True)[0, 0],
    "structure": lambda a, y: gc.sum(gc.tril(a) * gc.triu(a, -1)) + gc.trace(a) * gc.sum(gc.diag(y) @ a),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(name: str) -> None:
    a, y = gc.input("a", (4, 4)), gc.input("y", (4,))
    matrix = A + np.diag([0.0, 1.0, 2.5, 4.0])  # distinct eigenvalues, well conditioned
    gc.check_grad(LOSSES[name](a, y), [a, y], {a: matrix, y: V}, rtol=1e-5)


@pytest.mark.parametrize("name", ["gp", "solve", "inv", "slogdet", "eigh_values", "triangular_trans"])
def test_second_order_matches_finite_differences(name: str) -> None:
    """grad of grad: the VJP rules are graph code, differentiable again."""
    a, y = gc.input("a", (4, 4)), gc.input("y", (4,))
    matrix = A + np.diag([0.0, 1.0, 2.5, 4.0])
    first = gc.grad(LOSSES[name](a, y), a)
    weight = gc.constant(RNG.normal(size=(4, 4)))
    gc.check_grad(gc.sum(first * weight), [a, y], {a: matrix, y: V}, rtol=1e-4)


def test_forward_mode_matches_finite_differences() -> None:
    a = gc.input("a", (3, 3))
    tangent = RNG.normal(size=(3, 3))
    tangent = tangent + tangent.T
    outputs = [gc.linalg.cholesky(a), gc.linalg.inv(a), gc.linalg.slogdet(a)[1]]
    jvps = [gc.jvp(out, a, gc.constant(tangent)) for out in outputs]
    matrix, eps = spd(3), 1e-6
    got = run([a], jvps, matrix)
    for value, out in zip(got, outputs):
        plus, minus = run([a], out, matrix + eps * tangent), run([a], out, matrix - eps * tangent)
        np.testing.assert_allclose(value, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ vmap

def test_vmap_of_linalg_ops_matches_a_loop() -> None:
    a, b = gc.input("a", (5, 3, 3)), gc.input("b", (3, 5))  # batch on axis 0 of a, axis 1 of b

    def per_example(m: gc.Tensor, v: gc.Tensor) -> tuple[gc.Tensor, ...]:
        factor = gc.linalg.cholesky(m)
        return (gc.linalg.solve_triangular(factor, v, lower=True), gc.linalg.solve(m, v),
                gc.linalg.slogdet(m)[1], gc.linalg.eigh(m)[0], gc.trace(gc.linalg.inv(m)))

    batched = gc.vmap(per_example, in_axes=(0, 1))(a, b)
    matrices, rhs = spd(3, 5), RNG.normal(size=(3, 5))
    got = run([a, b], list(batched), matrices, rhs)
    for k in range(5):
        m, v = matrices[k], rhs[:, k]
        factor = np.linalg.cholesky(m)
        expected = [scipy.linalg.solve_triangular(factor, v, lower=True), np.linalg.solve(m, v),
                    np.linalg.slogdet(m)[1], np.linalg.eigh(m)[0], np.trace(np.linalg.inv(m))]
        for value, reference in zip(got, expected):
            np.testing.assert_allclose(value[k], reference, rtol=1e-11)


def test_vmap_of_the_gradient_matches_a_loop() -> None:
    a, y = gc.input("a", (4, 4)), gc.input("y", (3, 4))
    per_example = gc.vmap(lambda row: gc.grad(_gp_like_loss(a, row), a))(y)
    rows = RNG.normal(size=(3, 4))
    got = run([a, y], per_example, A, rows)
    for k in range(3):
        looped = run([a, y], gc.grad(_gp_like_loss(a, y[k]), a), A, rows)
        np.testing.assert_allclose(got[k], looped, rtol=1e-10)


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("build, message", [
    (lambda: gc.linalg.cholesky(gc.input("a", (3, 4))), r"cholesky.*square.*3 x 4"),
    (lambda: gc.linalg.inv(gc.input("a", (3,))), r"inv.*matrix"),
    (lambda: gc.linalg.solve(gc.input("a", (3, 3)), gc.input("b", (4,))), r"solve.*3.*4"),
    (lambda: gc.linalg.solve_triangular(gc.input("a", (3, 3)), gc.input("b", (2, 2))),
     r"solve_triangular"),
    (lambda: gc.linalg.eigh(gc.input("a", (2, 3))), r"eigh.*square"),
    (lambda: gc.linalg.slogdet(gc.input("a", (2, 3))), r"slogdet.*square"),
    (lambda: gc.einsum("ij,jk", gc.input("a", (2, 3)), gc.input("b", (4, 2))), r"einsum.*'j'.*3.*4"),
    (lambda: gc.einsum("ijk", gc.input("a", (2, 3))), r"einsum.*rank 2"),
    (lambda: gc.tril(gc.input("a", (3,))), r"band.*rank 1"),
])
def test_bad_shapes_fail_when_built(build: Any, message: str) -> None:
    with pytest.raises(gc.ShapeError, match=message):
        build()


@pytest.fixture(scope="module")
def failing() -> dict[str, Any]:
    """One graph per failure, compiled for both backends (numba compiles it once)."""
    a, b = gc.input("a", ("n", "n")), gc.input("b", ("n",))
    outputs = {"cholesky": gc.linalg.cholesky(a), "solve": gc.linalg.solve(a, b), "inv": gc.linalg.inv(a),
               "solve_triangular": gc.linalg.solve_triangular(a, b)}
    return {backend: {name: gc.compile([a, b], out, backend=backend) for name, out in outputs.items()}
            for backend in ("numpy", "numba")}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name, matrix, message", [
    ("cholesky", -np.eye(3), "cholesky: matrix is not positive definite"),
    ("solve", np.ones((3, 3)) * 0.0, "solve: matrix is singular"),
    ("inv", np.zeros((3, 3)), "inv: matrix is singular"),
    ("solve_triangular", np.triu(np.ones((3, 3)), 1), "solve_triangular: matrix is singular"),
])
def test_failures_at_run_time_are_input_errors(failing: dict[str, Any], backend: str, name: str,
                                               matrix: np.ndarray, message: str) -> None:
    with pytest.raises(gc.InputError, match=message):
        failing[backend][name](matrix, np.ones(3))


# ------------------------------------------------------------------ numba backend

def test_numba_matches_numpy_on_values_and_gradients() -> None:
    """One compiled function: symbolic sizes, a stack of matrices, gradients of every op."""
    a, y, stack = gc.input("a", ("n", "n")), gc.input("y", ("n",)), gc.input("s", (2, 3, 3))
    loss = sum((LOSSES[name](a, y) for name in ("gp", "inv", "slogdet", "eigh_vectors", "triangular_trans",
                                                 "solve_matrix", "structure")), gc.constant(0.0))
    batched = gc.sum(gc.linalg.cholesky(stack)) + gc.sum(gc.linalg.slogdet(stack)[1]) \
        + gc.sum(gc.linalg.solve(stack, gc.linalg.eigh(stack)[1]))
    outputs = [loss, *gc.grad(loss, [a, y]), batched, gc.grad(batched, stack), gc.einsum("ij,jk->ik", a, a)]
    values = (A + np.diag([0.0, 1.0, 2.5, 4.0]), V, spd(3, 2))
    numba_values = run([a, y, stack], outputs, *values, backend="numba")
    numpy_values = run([a, y, stack], outputs, *values)
    for got, want in zip(numba_values, numpy_values):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
