"""Rules that keep diagonal matrices out of dense products (Jacobians and Hessians by vmap).

Owns `DIAGONAL_RULES` (appended to the algebraic rules by rules.py) and
`diagonal_vector(node)`. `gc.jacobian`/`gc.hessian` push an identity basis
through a backward pass, so their graphs hold n x n diagonal matrices built
as `identity * v` (or `multiply_no_nan(identity, v)`); a product by one of
them, `diag(v) @ B`, is an n x n x n BLAS call doing the work of an n x n
scaling. The rules rewrite it into that scaling:

    diag(v) @ B  ->  v[:, None] * B        B @ diag(v)  ->  B * v
    transpose(diag(v))  ->  diag(v)        diag(v) * w  ->  diag(v * w)  (once, not per scaling)

A node is diagonal when it is a square constant whose off-diagonal elements
are all zero, `diagonal_matrix(v)` (where(i == j, v, 0): the basis of
Jacobians above n = 100, and what a rescaled diagonal becomes there instead of
an n x n identity constant), `diag_embed(v)` (gc.diag of a vector), or a
product of a diagonal node with a scalar or a vector (`multiply_no_nan(D, w)`:
D's zeros stay zero by definition; a plain `D * w` or `multiply_no_nan(w, D)`
only when w is known finite, since 0 * inf is NaN), a negation or an `astype` of one. The product rules treat
the off-diagonal zeros as structural, like a sparse matrix: an inf or NaN in
B no longer spreads to every row through `0 * inf` (the Jacobian JAX or a
per-row loop of scalings would give is the result). Imports: ir, ops, layer
L0 and simplify.rules' `known_finite`.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..ir import OPS, Node, apply
from ..ops import constant
from ..ops.matrix import diagonal_matrix
from ..rewrite import Match, Rule, Var, op, rule, uniform_value

_a, _b = Var("a"), Var("b")
_axes = Var("axes")
_transpose = op("transpose")
_constant_diagonals: weakref.WeakKeyDictionary[Node, bool] = weakref.WeakKeyDictionary()
_SCALING = ("multiply", "multiply_no_nan")
# Elements above which a rescaled diagonal is `diag_embed(v)`, not `identity * v` (the
# simplifier's default fold_limit: a smaller identity is a constant anyway).
EMBED_ABOVE = 10_000


def _square(node: Node) -> int | None:
    if node.ndim != 2 or not isinstance(node.shape[0], int) or node.shape[0] != node.shape[1]:
        return None
    return node.shape[0]


def _constant_is_diagonal(node: Node) -> bool:
    if node not in _constant_diagonals:
        assert node.value is not None
        off = node.value.copy()
        np.fill_diagonal(off, 0)
        _constant_diagonals[node] = not np.any(off)
    return _constant_diagonals[node]


def _index_values(node: Node) -> np.ndarray | None:
    """The values of a constant, or of an expand_dims/reshape of one (fold may have run)."""
    if node.value is None and node.op.name in ("expand_dims", "reshape"):
        node = node.inputs[0]
    return node.value if node.value is not None and not node.inputs else None


def _index_mask(node: Node, size: int) -> bool:
    """Whether node is `i == j` over a column and a row of arange(size) (diagonal_matrix's)."""
    if node.op.name != "equal" or {i.shape for i in node.inputs} != {(size, 1), (1, size)}:
        return False
    expected = np.arange(size)
    for side in node.inputs:
        values = _index_values(side)
        if values is None or not np.array_equal(values.reshape(-1), expected):
            return False
    return True


def _known_finite(node: Node) -> bool:
    from .rules import known_finite  # rules.py imports this module for its rule list

    return known_finite(node)


def _as_vector(w: Node, size: int) -> Node | None:
    """w (a scalar, (n,), (1, n), (n, 1) or (1, 1)) as the factor of each diagonal element."""
    if w.ndim == 0 or w.shape == (size,):
        return w
    if w.ndim == 2 and w.shape in ((1, size), (size, 1), (1, 1)):
        return apply(OPS["reshape"], w, shape=(size,) if w.shape != (1, 1) else ())
    return None


def diagonal_vector(node: Node, depth: int = 8) -> Node | None:
    """v with node == diag(v) by construction (off-diagonal zeros structural), else None.

    v is a vector, or a scalar when every diagonal element is the same constant."""
    size = _square(node)
    if size is None or depth == 0:
        return None
    if node.value is not None and not node.inputs:
        if not _constant_is_diagonal(node):
            return None
        return _constant_vector(np.diagonal(node.value), node)
    name = node.op.name
    if name == "where" and _index_mask(node.inputs[0], size) and uniform_value(node.inputs[2]) == 0:
        v = node.inputs[1]  # diagonal_matrix(v, size): where(i == j, v, 0)
        return v if v.ndim == 0 or v.shape == (size,) else None
    if name == "diag_embed":  # jacrev/jacfwd's identity basis at n > 100 (autodiff.py)
        v = node.inputs[0]
        if node.attr["offset"] != 0 or v.shape != (size,):
            return None
        return v if v.value is None or v.inputs else _constant_vector(v.value, node)
    if name in ("negative", "astype"):
        inner = diagonal_vector(node.inputs[0], depth - 1)
        return None if inner is None else apply(node.op, inner, **node.attr)
    if name not in _SCALING:
        return None
    first, second = node.inputs
    orders = [(first, second)] if name == "multiply_no_nan" else [(first, second), (second, first)]
    for matrix, factor in orders:
        inner = diagonal_vector(matrix, depth - 1)
        if inner is None:
            continue
        structural = name == "multiply_no_nan" and matrix is first
        if not structural and not _known_finite(factor):
            continue
        scale = _as_vector(factor, size)
        if scale is not None:
            return apply(OPS["multiply"], inner, scale)
    if name == "multiply_no_nan" and _known_finite(first):
        inner = diagonal_vector(second, depth - 1)
        scale = _as_vector(first, size)
        if inner is not None and scale is not None:
            return apply(OPS["multiply"], scale, inner)
    return None


def _constant_vector(values: np.ndarray, node: Node) -> Node:
    """The diagonal `values` of `node` as a constant: a scalar when all are equal (identity * c)."""
    if values.size and np.all(values == values[0]):
        return constant(values[:1].reshape(()).copy(), dtype=node.dtype)
    return constant(values.copy(), dtype=node.dtype)


def _uniform_one(v: Node) -> bool:
    return v.value is not None and bool(np.all(v.value == 1))


def diagonal_times(m: Match) -> Node | None:
    """diag(v) @ B = v[:, None] * B (B a vector: v * B); the identity's product is B."""
    v = diagonal_vector(m.a)
    if v is None or m.b.ndim == 0:
        return None
    if _uniform_one(v):
        return m.b  # type: ignore[no-any-return]
    column = v if m.b.ndim == 1 or v.ndim == 0 else apply(OPS["expand_dims"], v, axis=(1,))
    return apply(OPS["multiply"], column, m.b)


def times_diagonal(m: Match) -> Node | None:
    """B @ diag(v) = B * v (v scales B's columns)."""
    v = diagonal_vector(m.b)
    if v is None or m.a.ndim == 0:
        return None
    if _uniform_one(v):
        return m.a  # type: ignore[no-any-return]
    return apply(OPS["multiply"], m.a, v)


def transposed_diagonal(m: Match) -> Node | None:
    """A diagonal matrix is its own transpose."""
    if m.node.ndim != 2 or diagonal_vector(m.a) is None:
        return None
    return m.a  # type: ignore[no-any-return]


def rescaled_diagonal(m: Match) -> Node | None:
    """A diagonal scaled twice (or more) is the identity scaled once by the product of the
    factors: n multiplies instead of n x n per scaling."""
    node = m.node
    if not any(i.inputs and _square(i) is not None and diagonal_vector(i) is not None
               for i in node.inputs):
        return None  # scales a constant diagonal once: already as short as it gets
    v, size = diagonal_vector(node), _square(node)
    if v is None or size is None:
        return None
    if size * size > EMBED_ABOVE:  # no n x n constant to copy, hash, pickle and read
        return diagonal_matrix(v, size)
    identity = constant(np.eye(size, dtype=node.dtype), dtype=node.dtype)
    return apply(OPS["multiply_no_nan"], identity, v)


DIAGONAL_RULES: list[Rule] = [
    rule(_a @ _b, diagonal_times, "diagonal_matmul"),                # diag(v) @ B = v[:, None] * B
    rule(_a @ _b, times_diagonal, "matmul_diagonal"),                # B @ diag(v) = B * v
    rule(_transpose(_a, axes=_axes), transposed_diagonal, "transpose_diagonal"),  # diag(v).T
    rule(_a * _b, rescaled_diagonal, "rescaled_diagonal"),           # diag(v) * w = diag(v * w)
    rule(op("multiply_no_nan")(_a, _b), rescaled_diagonal, "rescaled_diagonal"),
]

__all__ = ["DIAGONAL_RULES", "diagonal_vector"]
