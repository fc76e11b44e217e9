"""Matrix decompositions and solves: gc.linalg's cholesky, solve, solve_triangular, inv, slogdet, eigh.

Owns their declarations (NumPy/SciPy references that turn LAPACK failures into
InputError, VJPs by the standard matrix identities written as graphc ops so grad
of grad works, batching on leading axes) and the builders `det` and `norm`,
which are compositions. A node has one output, so `slogdet` packs (sign,
log|det|) on a last axis of 2 and `eigh` packs (w, v) as (..., 2, n, n) (row 0
of plane 0 holds w); the builders return the pieces. `cholesky` and `eigh` read
the symmetric part (a + a^T) / 2 of their input, as JAX does: equal to NumPy's
result for a symmetric matrix, and the gradient is symmetric. Forward mode
comes from transposing these VJPs (graphc/autodiff.py). Numba lowering: helpers
in graphc/backend/library_linalg.py. Imports: ir, layer L0, base, the shape,
elementwise, reduce, linalg and matrix families.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import DTypeError, GraphcError, InputError, ShapeError
from ..ir import Interval, Node, Op, Sample, apply
from ..lowering import Kernel
from .base import function, register
from .elementwise import abs, divide, equal, exp, power, sqrt, where
from .linalg import matmul
from .matrix import band, diag_embed, float_operand, square_matrix, swap_last, trailing
from .reduce import max, min, sum
from .shape import broadcast_to, expand_dims, squeeze


class Positive(Interval):
    """Inputs for the contract tests: well-conditioned symmetric positive definite matrices
    (shape (..., n, n)); x x^T + n I for a uniform x."""

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        x = rng.uniform(-1.0, 1.0, size=shape)
        return np.asarray(x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1]))


SPD = Positive()
SQUARE = (((3, 3),), ((2, 4, 4),))  # one matrix, a (2,) stack


def _samples(*shape_sets: tuple[tuple[int, ...], ...], **attrs: Any) -> tuple[Sample, ...]:
    """Contract-test calls in float64 and float32 (integers are cast by the builders)."""
    return tuple(Sample(shapes_, attrs, dtypes=(dtype,) * len(shapes_))
                 for shapes_ in shape_sets for dtype in ("float64", "float32"))


def _float_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    kinds = {i.dtype for i in inputs}
    if len(kinds) != 1 or inputs[0].dtype.kind != "f":
        found = ", ".join(str(i.dtype) for i in inputs)
        raise DTypeError(f"expects float operands of one dtype, got {found}")
    return inputs[0].dtype


def _symmetric(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + np.swapaxes(a, -1, -2))


# ------------------------------------------------------------------ cholesky

def _cholesky_impl(a: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(_symmetric(a)).astype(a.dtype)
    except np.linalg.LinAlgError:
        raise InputError("cholesky: matrix is not positive definite") from None


def _square_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    square_matrix(inputs[0])
    return inputs[0].shape


def _cholesky_vjp(g: Node, factor: Node, a: Node) -> tuple[Node]:
    """Murray (2016): S = L^-T Phi(L^T G) L^-1 with Phi the lower triangle, diagonal halved;
    the gradient with respect to the symmetric input is (S + S^T) / 2."""
    inner = matmul(swap_last(factor), g)
    phi = 0.5 * (band(inner, 0, True) + band(inner, -1, True))
    left = _triangular(swap_last(factor), phi, lower=False)  # L^-T Phi
    s = swap_last(_triangular(swap_last(factor), swap_last(left), lower=False))  # (L^-T left^T)^T
    return (0.5 * (s + swap_last(s)),)


CHOLESKY = register(Op(
    "cholesky", shape=_square_shape, dtype=_float_dtype, impl=_cholesky_impl, arity=1,
    label="cholesky", vjp=_cholesky_vjp, batch=trailing("cholesky", 2), domain=(SPD,),
    lowering=Kernel("cholesky_stack(to_stack({0})).reshape({out_shape})"), samples=_samples(*SQUARE),
))


@function
def cholesky(a: Any) -> Node:
    """The lower Cholesky factor L (a = L L^T) of each symmetric positive definite matrix (NumPy's)."""
    return apply(CHOLESKY, float_operand(a))


# ------------------------------------------------------------------ solves

def _solve_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    a, b = inputs
    n = square_matrix(a)
    if b.ndim != a.ndim:
        raise ShapeError(f"b must be (..., n, k) with a's leading axes, got rank {b.ndim} "
                         f"for a of rank {a.ndim}")
    shapes.require_equal(b.shape[-2], n)
    for left, right in zip(a.shape[:-2], b.shape[:-2]):
        shapes.require_equal(left, right)
    return b.shape


def _solve_impl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(a, b).astype(b.dtype)
    except np.linalg.LinAlgError:
        raise InputError("solve: matrix is singular") from None


def _solve_vjp(g: Node, x: Node, a: Node, b: Node) -> tuple[Node, Node]:
    gb = apply(SOLVE, swap_last(a), g)
    return -matmul(gb, swap_last(x)), gb


SOLVE = register(Op(
    "solve", shape=_solve_shape, dtype=_float_dtype, impl=_solve_impl, arity=2, label="solve",
    vjp=_solve_vjp, batch=trailing("solve", 2), domain=(SPD, Interval()),
    lowering=Kernel("solve_stack(to_stack({0}), to_stack({1})).reshape({out_shape})"),
    samples=_samples(((3, 3), (3, 2)), ((2, 4, 4), (2, 4, 1))),
))


def _triangular_impl(a: np.ndarray, b: np.ndarray, lower: bool, unit: bool) -> np.ndarray:
    import scipy.linalg  # here, not at import: `import graphc` stays fast

    if not unit and np.any(np.diagonal(a, 0, -2, -1) == 0):
        raise InputError("solve_triangular: matrix is singular (a zero on the diagonal)")
    matrices, sides = a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])
    out = np.empty(sides.shape, b.dtype)
    for item in range(len(sides)):
        out[item] = scipy.linalg.solve_triangular(matrices[item], sides[item], lower=lower,
                                                  unit_diagonal=unit)
    return out.reshape(b.shape)


def _triangular_vjp(g: Node, x: Node, a: Node, b: Node, lower: bool, unit: bool) -> tuple[Node, Node]:
    gb = _triangular(swap_last(a), g, lower=not lower, unit=unit)
    ga = band(-matmul(gb, swap_last(x)), (-1 if lower else 1) if unit else 0, lower)
    return ga, gb


SOLVE_TRIANGULAR = register(Op(
    "solve_triangular", shape=_solve_shape, dtype=_float_dtype, impl=_triangular_impl, arity=2,
    label="solve_triangular", vjp=_triangular_vjp, batch=trailing("solve_triangular", 2),
    domain=(SPD, Interval()),
    lowering=Kernel("solve_triangular_stack(to_stack({0}), to_stack({1}), {lower}, {unit})"
                    ".reshape({out_shape})"),
    samples=(_samples(((3, 3), (3, 2)), lower=True, unit=False)
             + _samples(((2, 4, 4), (2, 4, 1)), lower=False, unit=False)
             + _samples(((3, 3), (3, 3)), lower=False, unit=True)[:1]),
))


def _triangular(a: Node, b: Node, lower: bool, unit: bool = False) -> Node:
    return apply(SOLVE_TRIANGULAR, a, b, lower=lower, unit=unit)


def _matrix_right_side(a: Node, b: Node) -> tuple[Node, Node, bool]:
    """(a, b as (..., n, k) with a's leading axes, whether b was a vector) for the solves."""
    a, b = float_operand(a), float_operand(b)
    if a.dtype != b.dtype:
        wide = np.promote_types(a.dtype, b.dtype)
        a, b = a.astype(wide), b.astype(wide)
    square_matrix(a)
    vector = b.ndim == 1
    if vector:
        b = expand_dims(b, 1)
    if b.ndim < 2:
        raise ShapeError("b must be a vector or a matrix (or a stack of them), got a scalar")
    batch = shapes.broadcast(a.shape[:-2], b.shape[:-2])
    if a.shape[:-2] != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if b.shape[:-2] != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    return a, b, vector


@function
def solve(a: Any, b: Any) -> Node:
    """x with a @ x = b (numpy.linalg.solve): b a vector (n,) or matrices (..., n, k)."""
    a, b, vector = _matrix_right_side(a, b)
    x = apply(SOLVE, a, b)
    return squeeze(x, x.ndim - 1) if vector else x


@function
def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False,
                     unit_diagonal: bool = False) -> Node:
    """x with a @ x = b for a triangular a (scipy.linalg.solve_triangular; only the `lower`
    or upper triangle is read). trans 0/'N' solves a x = b, 1/'T'/2/'C' solves a^T x = b."""
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise GraphcError(f"solve_triangular's trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b, vector = _matrix_right_side(a, b)
    if trans not in (0, "N"):
        a, lower = swap_last(a), not lower
    x = _triangular(a, b, bool(lower), bool(unit_diagonal))
    return squeeze(x, x.ndim - 1) if vector else x


# ------------------------------------------------------------------ inverse and determinant

def _inv_impl(a: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(a).astype(a.dtype)
    except np.linalg.LinAlgError:
        raise InputError("inv: matrix is singular") from None


INV = register(Op(
    "inv", shape=_square_shape, dtype=_float_dtype, impl=_inv_impl, arity=1, label="inv",
    vjp=lambda g, out, a: (-matmul(swap_last(out), matmul(g, swap_last(out))),),
    batch=trailing("inv", 2), domain=(SPD,),
    lowering=Kernel("inv_stack(to_stack({0})).reshape({out_shape})"), samples=_samples(*SQUARE),
))


@function
def inv(a: Any) -> Node:
    """The inverse of each square matrix (numpy.linalg.inv); a singular one is an InputError."""
    return apply(INV, float_operand(a))


def _slogdet_impl(a: np.ndarray) -> np.ndarray:
    sign, logdet = np.linalg.slogdet(a)
    return np.stack([sign, logdet], axis=-1).astype(a.dtype)


def _slogdet_shape(inputs: Sequence[Node]) -> shapes.Shape:
    square_matrix(inputs[0])
    return inputs[0].shape[:-2] + (2,)


def _slogdet_vjp(g: Node, out: Node, a: Node) -> tuple[Node]:
    """d log|det a| = inv(a)^T; the sign has no derivative."""
    weight = expand_dims(g[..., 1], (g.ndim - 1, g.ndim))
    return (weight * swap_last(apply(INV, a)),)


SLOGDET = register(Op(
    "slogdet", shape=_slogdet_shape,
    dtype=_float_dtype, impl=_slogdet_impl, arity=1, label="slogdet", vjp=_slogdet_vjp,
    batch=trailing("slogdet", 2), domain=(SPD,),
    lowering=Kernel("slogdet_stack(to_stack({0})).reshape({out_shape})"), samples=_samples(*SQUARE),
))


@function
def slogdet(a: Any) -> tuple[Node, Node]:
    """(sign, log|det a|) of each square matrix (numpy.linalg.slogdet)."""
    packed = apply(SLOGDET, float_operand(a))
    return packed[..., 0], packed[..., 1]


@function
def det(a: Any) -> Node:
    """The determinant of each square matrix (numpy.linalg.det), as sign * exp(log|det|)."""
    sign, logdet = slogdet(a)
    return sign * exp(logdet)


# ------------------------------------------------------------------ symmetric eigenproblem

def _eigh_impl(a: np.ndarray) -> np.ndarray:
    try:
        w, v = np.linalg.eigh(_symmetric(a))
    except np.linalg.LinAlgError:
        raise InputError("eigh: the eigenvalue iteration did not converge") from None
    out = np.zeros(a.shape[:-2] + (2,) + a.shape[-2:], a.dtype)
    out[..., 0, 0, :] = w
    out[..., 1, :, :] = v
    return out


def _eigh_shape(inputs: Sequence[Node]) -> shapes.Shape:
    square_matrix(inputs[0])
    return inputs[0].shape[:-2] + (2,) + inputs[0].shape[-2:]


def _eigh_vjp(g: Node, out: Node, a: Node) -> tuple[Node]:
    """Giles (2008): V (diag(gw) + F * (V^T gV)) V^T with F_ij = 1 / (w_j - w_i), 0 where
    w_i = w_j (the diagonal; repeated eigenvalues have no derivative), then symmetrized."""
    w, v = out[..., 0, 0, :], out[..., 1, :, :]
    gw, gv = g[..., 0, 0, :], g[..., 1, :, :]
    gap = expand_dims(w, w.ndim - 1) - expand_dims(w, w.ndim)  # [i, j] = w_j - w_i
    zero = 0.0 * gap
    f = where(equal(gap, zero), zero, divide(1.0, where(equal(gap, zero), 1.0 + zero, gap)))
    n = a.shape[-1]
    inner = diag_embed(gw, 0, n, n) + f * matmul(swap_last(v), gv)
    full = matmul(v, matmul(inner, swap_last(v)))
    return (0.5 * (full + swap_last(full)),)


EIGH = register(Op(
    "eigh", shape=_eigh_shape, dtype=_float_dtype, impl=_eigh_impl, arity=1, label="eigh",
    vjp=_eigh_vjp, batch=trailing("eigh", 2), domain=(SPD,),
    lowering=Kernel("eigh_stack(to_stack({0})).reshape({out_shape})"), samples=_samples(*SQUARE),
))


@function
def eigh(a: Any) -> tuple[Node, Node]:
    """(w, v): ascending eigenvalues and eigenvectors (columns) of each symmetric matrix
    (numpy.linalg.eigh of the symmetric part). Gradients need distinct eigenvalues."""
    packed = apply(EIGH, float_operand(a))
    return packed[..., 0, 0, :], packed[..., 1, :, :]


# ------------------------------------------------------------------ norms

def _vector_norm(x: Node, ord: Any, axis: tuple[int, ...], keepdims: bool) -> Node:
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord != 0:
        return power(sum(power(abs(x), float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)
    raise GraphcError(f"norm: vector ord {ord!r} is not supported (None, 1, 2, inf, -inf or p != 0)")


def _matrix_norm(x: Node, ord: Any, axis: tuple[int, int], keepdims: bool) -> Node:
    rows, columns = axis
    if ord in (None, "fro"):
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    reducers = {1: (max, rows), -1: (min, rows), np.inf: (max, columns), -np.inf: (min, columns)}
    if ord not in reducers:
        raise GraphcError(f"norm: matrix ord {ord!r} is not supported ('fro', 1, -1, inf, -inf)")
    extreme, summed = reducers[ord]
    other = columns if summed == rows else rows
    totals = sum(abs(x), axis=summed, keepdims=True)
    result = extreme(totals, axis=other, keepdims=True)
    return result if keepdims else squeeze(result, tuple(sorted(axis)))


@function
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A002
    """numpy.linalg.norm: 2-norm (or ord 1, inf, -inf, p) of vectors, Frobenius (or 1, inf)
    of matrices; axis None means the whole of a 1-D or 2-D x (Frobenius when ord is None)."""
    x = float_operand(x)
    if axis is None:
        if ord is None:
            return sqrt(sum(x * x, axis=None, keepdims=keepdims))
        if x.ndim not in (1, 2):
            raise ShapeError(f"norm with ord={ord!r} and axis=None needs a 1-D or 2-D x, got rank {x.ndim}")
        axis = tuple(range(x.ndim))
    axes = (shapes.normalize_axis(axis, x.ndim),) if isinstance(axis, int) else \
        tuple(shapes.normalize_axis(a, x.ndim) for a in axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        return _matrix_norm(x, ord, (axes[0], axes[1]), keepdims)
    raise ShapeError(f"norm's axis must be an int or a pair of distinct axes, got {axis!r}")


__all__ = ["cholesky", "det", "eigh", "inv", "norm", "slogdet", "solve", "solve_triangular"]
