"""The diagonal rules (graphc/simplify/diagonal.py): each fires where it should, removes the dense
product, and gives NumPy's values; where a factor might be inf/NaN the dense product stays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import OPS, apply, toposort
from graphc.ops.matrix import diagonal_matrix
from graphc.simplify import PassRecord

N = 6
rng = np.random.default_rng(14)
x = gc.input("x", (N,))
v = gc.input("v", (N,))
B = gc.input("B", (N, 4))
C = gc.input("C", (3, N))
S = gc.input("S", (2, N, 4))
VALUES = {"x": rng.standard_normal(N), "v": rng.standard_normal(N), "B": rng.standard_normal((N, 4)),
          "C": rng.standard_normal((3, N)), "S": rng.standard_normal((2, N, 4))}
EYE = gc.constant(np.eye(N))


def no_nan(a: gc.Tensor, b: gc.Tensor) -> gc.Tensor:
    return apply(OPS["multiply_no_nan"], a, b)


def simplified(out: gc.Tensor) -> tuple[gc.Tensor, dict[str, int], int]:
    """The simplified node, how often each rule fired, and how many matmul nodes are left."""
    trace: list[PassRecord] = []
    result = gc.simplify(out, trace=trace)
    fired: dict[str, int] = {}
    for record in trace:
        for name, count in record.rewrites.items():
            fired[name] = fired.get(name, 0) + count
    matmuls = sum(1 for node in toposort([result]) if node.op.name == "matmul")
    return result, fired, matmuls


def values_of(out: gc.Tensor, values: dict[str, np.ndarray]) -> np.ndarray:
    leaves = [n for n in toposort([out]) if n.op.name == "input"]
    return evaluate([out], {leaf: values[leaf.name] for leaf in leaves})[0]


CASES = {  # name: (graph, NumPy, rule expected)
    "diag @ B": (lambda: no_nan(EYE, v) @ B, lambda d: np.diag(d["v"]) @ d["B"], "diagonal_matmul"),
    "C @ diag": (lambda: C @ no_nan(EYE, v), lambda d: d["C"] @ np.diag(d["v"]), "matmul_diagonal"),
    "diag @ vector": (lambda: no_nan(EYE, v) @ x, lambda d: d["v"] * d["x"], "diagonal_matmul"),
    "diag @ stack": (lambda: no_nan(EYE, v) @ S, lambda d: np.diag(d["v"]) @ d["S"], "diagonal_matmul"),
    "scaled twice @ B": (lambda: no_nan(no_nan(EYE * 3.0, v), gc.exp(x)) @ B,
                         lambda d: np.diag(3 * d["v"] * np.exp(d["x"])) @ d["B"], "diagonal_matmul"),
    "negated, constant scale": (lambda: (-(EYE * 2.0)) @ B, lambda d: -2 * d["B"], "diagonal_matmul"),
    "identity @ B": (lambda: EYE @ B, lambda d: d["B"], "diagonal_matmul"),
    "constant diagonal @ B": (lambda: gc.constant(np.diag(np.arange(1.0, N + 1))) @ B,
                              lambda d: np.arange(1.0, N + 1)[:, None] * d["B"], "diagonal_matmul"),
    "transpose of diag": (lambda: gc.transpose(no_nan(EYE, v)) + 1.0,
                          lambda d: np.diag(d["v"]).T + 1, "transpose_diagonal"),
    "rescaled": (lambda: no_nan(no_nan(EYE, v), x) + 1.0,
                 lambda d: np.diag(d["v"] * d["x"]) + 1, "rescaled_diagonal"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_fires_removes_the_dense_product_and_matches_numpy(name: str) -> None:
    build, reference, expected_rule = CASES[name]
    out = build()
    before = sum(1 for node in toposort([out]) if node.op.name == "matmul")
    result, fired, matmuls = simplified(out)
    assert fired.get(expected_rule, 0) >= 1, fired
    assert matmuls < before or before == 0
    np.testing.assert_allclose(values_of(result, VALUES), reference(VALUES), rtol=1e-12, atol=1e-12)


def test_rescaled_diagonal_scales_n_not_n_squared() -> None:
    """Two scalings of a diagonal: one n x n multiply left, the other on the vectors."""
    out = no_nan(no_nan(EYE, v), x)
    result, fired, _ = simplified(out)
    square_products = [n for n in toposort([result]) if n.op.name in ("multiply", "multiply_no_nan")
                       and n.shape == (N, N)]
    assert fired["rescaled_diagonal"] == 1 and len(square_products) == 1


def test_a_dense_constant_is_not_a_diagonal() -> None:
    almost = np.eye(N)
    almost[0, 1] = 1e-300
    out = gc.constant(almost) @ B
    result, fired, matmuls = simplified(out)
    assert matmuls == 1 and "diagonal_matmul" not in fired
    np.testing.assert_allclose(values_of(result, VALUES), almost @ VALUES["B"])


def test_a_factor_that_may_be_inf_keeps_the_dense_product() -> None:
    """identity * w with w an input: the off-diagonal 0 * inf would be NaN, so no rewrite."""
    out = (EYE * v) @ B
    result, fired, matmuls = simplified(out)
    assert matmuls == 1 and "diagonal_matmul" not in fired
    values = dict(VALUES, v=np.array([np.inf] + [1.0] * (N - 1)))
    with np.errstate(invalid="ignore"):
        expected = (np.eye(N) * values["v"]) @ values["B"]
    np.testing.assert_array_equal(np.isnan(values_of(result, values)), np.isnan(expected))


def test_known_finite_factor_counts_as_diagonal() -> None:
    """identity * w with w an integer input (finite by its dtype): a diagonal."""
    counts = gc.input("k", (N,), dtype="int64")
    out = (EYE * counts) @ B
    result, fired, matmuls = simplified(out)
    assert fired.get("diagonal_matmul") == 1 and matmuls == 0
    k = np.arange(N) - 2
    np.testing.assert_allclose(values_of(result, dict(VALUES, k=k)), np.diag(k) @ VALUES["B"])


@pytest.mark.parametrize("size", [10, 200])
def test_jacobian_has_no_dense_product_and_matches_the_formula(size: int) -> None:
    """The benchmark's Jacobian: x @ A is the only product left (no n^3 diag(v) @ A.T)."""
    point, A = gc.input("p", (size,)), gc.input("A", (size, size))
    jac = gc.jacobian(gc.log1p((point @ A) ** 2) + point ** 3, point)
    result, fired, matmuls = simplified(jac)
    assert fired.get("diagonal_matmul", 0) >= 1 and matmuls == 1
    local = np.random.default_rng(size)
    p, a = local.standard_normal(size), local.standard_normal((size, size)) / np.sqrt(size)
    z = p @ a
    expected = (2 * z / (1 + z ** 2))[:, None] * a.T + np.diag(3 * p ** 2)
    np.testing.assert_allclose(values_of(result, {"p": p, "A": a}), expected, rtol=1e-12, atol=1e-12)


def test_jacfwd_identity_product_is_gone() -> None:
    A = gc.input("A", (N, 2 * N))
    result, fired, matmuls = simplified(gc.jacfwd(gc.tanh(x @ A), x))
    assert matmuls == 1 and fired.get("diagonal_matmul", 0) >= 1
    a = rng.standard_normal((N, 2 * N))
    expected = ((1 - np.tanh(VALUES["x"] @ a) ** 2)[:, None] * a.T)
    np.testing.assert_allclose(values_of(result, {"x": VALUES["x"], "A": a}), expected, rtol=1e-12)


# ------------------------------- identity basis as where(i == j, 1, 0) (n > 100)

BIG = 120  # BIG * BIG > EMBED_ABOVE: the identity basis stays diagonal_matrix, never folded


def largest_constant(outputs: list[gc.Tensor]) -> int:
    return max((node.value.size for node in toposort(outputs) if node.value is not None
                and not node.inputs), default=0)


def issue_graphs(size: int) -> tuple[gc.Tensor, gc.Tensor, gc.Tensor, gc.Tensor]:
    point, A = gc.input("p", (size,)), gc.input("A", (size, size))
    inner = gc.log1p((point @ A) ** 2)
    jac = gc.jacobian(inner + point ** 3, point)
    hess = gc.hessian(gc.sum(inner) + gc.sum(point ** 3), point)
    return point, A, jac, hess


def test_large_jacobians_hold_no_square_constant_and_match_the_formulas() -> None:
    """An n x n identity constant cost a copy, hashes and pickles of 8 MB at n = 1000:
    neither the graph as built nor the simplified one holds a constant bigger than n."""
    point, A, jac, hess = issue_graphs(BIG)
    assert largest_constant([jac, hess]) <= BIG
    simple = gc.simplify([jac, hess])
    assert largest_constant(simple) <= BIG
    assert sum(node.op.name == "matmul" for node in toposort(simple)) == 2  # x @ A, the Hessian's
    local = np.random.default_rng(BIG)
    p, a = local.standard_normal(BIG), local.standard_normal((BIG, BIG)) / np.sqrt(BIG)
    z = p @ a
    got = evaluate(simple, {point: p, A: a})
    np.testing.assert_allclose(got[0], (2 * z / (1 + z ** 2))[:, None] * a.T + np.diag(3 * p ** 2),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], (a * ((2 - 2 * z ** 2) / (1 + z ** 2) ** 2)) @ a.T
                               + np.diag(6 * p), rtol=1e-11, atol=1e-12)


def test_basis_gives_the_values_of_the_identity_constant(monkeypatch: Any) -> None:
    """The same Jacobian and Hessian, bit for bit, as with the identity constant it replaced."""
    from graphc import autodiff

    point, A, jac, hess = issue_graphs(BIG)

    def constant_basis(like: gc.Tensor, what: str) -> gc.Tensor:
        size = int(np.prod(like.shape))
        return gc.constant(np.eye(size, dtype=like.dtype).reshape((size,) + like.shape))

    monkeypatch.setattr(autodiff, "_identity_basis", constant_basis)
    _, _, old_jac, old_hess = issue_graphs(BIG)
    local = np.random.default_rng(3)
    values = {"p": local.standard_normal(BIG), "A": local.standard_normal((BIG, BIG))}
    for new, old in ((jac, old_jac), (hess, old_hess)):
        assert largest_constant([old]) == BIG * BIG  # the reference really is the old basis
        got = gc.compile([point, A], new, backend="numpy")(values["p"], values["A"])
        inputs = [n for n in toposort([old]) if n.op.name == "input"]
        reference = gc.compile(sorted(inputs, key=lambda n: n.name != "p"), old,
                               backend="numpy")(values["p"], values["A"])
        np.testing.assert_array_equal(got, reference)


def embed(vector: gc.Tensor, size: int) -> gc.Tensor:
    return apply(OPS["diag_embed"], vector, offset=0, rows=size, columns=size)


def test_diag_embed_and_diagonal_matrix_are_diagonals_to_the_rules() -> None:
    """diag_embed(v) @ B and diagonal_matrix(v) @ B are the scaling v[:, None] * B; a diagonal
    scaled twice is diagonal_matrix (no n x n identity constant) above EMBED_ABOVE elements."""
    big_v, big_w = gc.input("bv", (BIG,)), gc.input("bw", (BIG,))
    big_B = gc.input("bB", (BIG, 3))
    local = np.random.default_rng(5)
    values = {"bv": local.standard_normal(BIG), "bw": local.standard_normal(BIG),
              "bB": local.standard_normal((BIG, 3))}
    for diagonal in (embed(big_v, BIG), diagonal_matrix(big_v, BIG)):
        result, fired, matmuls = simplified(diagonal @ big_B)
        assert fired.get("diagonal_matmul") == 1 and matmuls == 0
        np.testing.assert_allclose(values_of(result, values), np.diag(values["bv"]) @ values["bB"],
                                   rtol=1e-13)
        result, fired, _ = simplified(no_nan(no_nan(diagonal, big_w), gc.exp(big_w)) + 1.0)
        assert fired.get("rescaled_diagonal", 0) >= 1 and largest_constant([result]) <= BIG
        square = [n.op.name for n in toposort([result]) if n.shape == (BIG, BIG)]
        assert square == ["equal", "where", "add"], square
        np.testing.assert_allclose(values_of(result, values),
                                   np.diag(values["bv"] * values["bw"] * np.exp(values["bw"])) + 1,
                                   rtol=1e-13)


def test_a_where_that_is_not_the_identity_mask_is_not_a_diagonal() -> None:
    """where(i == j + 1, v, 0) (a shifted arange) is no diagonal: the product stays."""
    big_v, big_B = gc.input("bv", (BIG,)), gc.input("bB", (BIG, 3))
    rows = gc.reshape(gc.constant(np.arange(BIG)), (BIG, 1))
    columns = gc.reshape(gc.constant(np.arange(BIG) + 1), (1, BIG))
    shifted = gc.where(gc.equal(rows, columns), big_v, 0.0)
    result, fired, matmuls = simplified(shifted @ big_B)
    assert matmuls == 1 and "diagonal_matmul" not in fired
    local = np.random.default_rng(6)
    v, b = local.standard_normal(BIG), local.standard_normal((BIG, 3))
    np.testing.assert_allclose(values_of(result, {"bv": v, "bB": b}),
                               np.diag(v[:-1], -1) @ b, rtol=1e-13, atol=1e-13)


def test_basis_scaled_by_inf_keeps_zeros_off_the_diagonal() -> None:
    """multiply_no_nan(basis, w) with an inf in w: 0 off the diagonal, as
    multiply_no_nan(identity, w) gave (the structural zeros of the basis)."""
    big_w = gc.input("bw", (BIG,))
    out = no_nan(diagonal_matrix(gc.constant(1.0), BIG), big_w) + 0.0
    w = np.ones(BIG)
    w[3] = np.inf
    result, _, _ = simplified(out)
    got = values_of(result, {"bw": w})
    with np.errstate(invalid="ignore"):
        expected = np.where(np.eye(BIG) == 0, 0.0, np.eye(BIG) * w)
    np.testing.assert_array_equal(got, expected)
