"""Matrix structure: triangles, diagonals, the identity (NumPy's tril, triu, diagonal, diag, trace, eye).

Owns three ops on the last two axes (leading axes are a batch): `band`
(np.tril / np.triu; linear, its VJP is itself), `diagonal` and `diag_embed`
(each the other's VJP), the public builders `tril triu diagonal diag trace eye`,
the internal `diagonal_matrix` (the identity basis of Jacobians), and what the
linear-algebra family shares: `float_operand` (integers compute in float64, as
NumPy's linalg does), `swap_last`, `square_matrix` (the shape check) and
`trailing` (the batching rule of an op on trailing axes). Numba lowering:
helpers in graphc/backend/library_linalg.py. Imports: ir, layer L0, base,
batching, shape, reduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ShapeError
from ..ir import OPS, Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import as_tensor, check_static_int, constant, function, register, same_dtype
from .other import astype
from .reduce import sum
from .shape import transpose

# ------------------------------------------------------------------ shared


def float_operand(x: Any) -> Node:
    """x as a float tensor: integers and bools compute in float64, as in numpy.linalg."""
    x = as_tensor(x)
    return x if dtypes.is_float(x.dtype) else astype(x, "float64")


def swap_last(x: Node) -> Node:
    """x with its last two axes swapped (a batch of transposes)."""
    return transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def square_matrix(x: Node, what: str = "a") -> shapes.Size:
    """The size n of a (..., n, n) operand; a ShapeError otherwise."""
    if x.ndim < 2:
        raise ShapeError(f"{what} must be a matrix (or a stack of them), got rank {x.ndim}")
    rows, columns = x.shape[-2], x.shape[-1]
    if isinstance(rows, int) and isinstance(columns, int) and rows != columns:
        raise ShapeError(f"{what} must be square, got {rows} x {columns}")
    shapes.require_equal(rows, columns)
    return columns


def trailing(name: str, core: int) -> batching.Rule:
    """Batching rule of an op on its inputs' last `core` axes: leading axes are already a batch.

    One input batched on a leading axis: apply the op as is. Otherwise move every
    batch axis to the front (repeating an unbatched operand), so the operands'
    leading axes stay equal.
    """
    def rule(args: Sequence[Node], batch_axes: Sequence[int | None], **attrs: Any) -> tuple[Node, int]:
        if len(args) == 1 and batch_axes[0] is not None and batch_axes[0] < args[0].ndim - core:
            return apply(OPS[name], args[0], **attrs), batch_axes[0]
        size = batching.batch_size(args, batch_axes)
        moved = [batching.to_front(x, axis, size) for x, axis in zip(args, batch_axes)]
        return apply(OPS[name], *moved, **attrs), 0
    return rule


def _matrix_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    if inputs[0].ndim < 2:
        raise ShapeError(f"needs a matrix (or a stack of them), got rank {inputs[0].ndim}")
    return inputs[0].shape


def _stacked(kernel: str) -> str:
    """A kernel template on the (batch, m, n) stack of input 0, reshaped back to the output."""
    return kernel.replace("{0}", "to_stack({0})") + ".reshape({out_shape})"


# ------------------------------------------------------------------ triangles

def _band_impl(x: np.ndarray, k: int, lower: bool) -> np.ndarray:
    return np.tril(x, k) if lower else np.triu(x, k)


BAND = register(Op(
    "band", shape=_matrix_shape, dtype=same_dtype, impl=_band_impl, arity=1, label="band",
    vjp=lambda g, out, x, k, lower: (band(g, k, lower),), linear=True,
    batch=trailing("band", 2), lowering=Kernel(_stacked("band_stack({0}, {k}, {lower})")),
    samples=(Sample(((3, 4),), {"k": 0, "lower": True}), Sample(((2, 3, 3),), {"k": -1, "lower": False}),
             Sample(((4, 3),), {"k": 1, "lower": True})),
))


def band(x: Node, k: int, lower: bool) -> Node:
    return apply(BAND, x, k=k, lower=lower)


@function
def tril(m: Any, k: int = 0) -> Node:
    """The lower triangle of each matrix (elements above the k-th diagonal zeroed), as numpy.tril."""
    return band(as_tensor(m), check_static_int(k, "tril's k"), True)


@function
def triu(m: Any, k: int = 0) -> Node:
    """The upper triangle of each matrix (elements below the k-th diagonal zeroed), as numpy.triu."""
    return band(as_tensor(m), check_static_int(k, "triu's k"), False)


# ------------------------------------------------------------------ diagonals

def _diagonal_size(rows: shapes.Size, columns: shapes.Size, offset: int) -> shapes.Size:
    if isinstance(rows, int) and isinstance(columns, int):
        return max(0, min(rows + min(offset, 0), columns - max(offset, 0)))
    if offset == 0 and rows == columns:
        return rows
    raise ShapeError(f"the diagonal at offset {offset} of a {rows} x {columns} matrix needs static "
                     "sizes (or offset 0 of a square matrix)")


def _diagonal_shape(inputs: Sequence[Node], offset: int) -> shapes.Shape:
    x = inputs[0]
    if x.ndim < 2:
        raise ShapeError(f"needs a matrix (or a stack of them), got rank {x.ndim}")
    return x.shape[:-2] + (_diagonal_size(x.shape[-2], x.shape[-1], offset),)


def _diagonal_vjp(g: Node, out: Node, x: Node, offset: int) -> tuple[Node]:
    return (diag_embed(g, offset, x.shape[-2], x.shape[-1]),)


DIAGONAL = register(Op(
    "diagonal", shape=_diagonal_shape, dtype=same_dtype, arity=1, label="diagonal",
    impl=lambda x, offset: np.diagonal(x, offset, -2, -1).copy(), vjp=_diagonal_vjp, linear=True,
    batch=trailing("diagonal", 2), rearranges=True,
    lowering=Kernel("diagonal_stack(to_stack({0}), {offset}, {out_shape}[-1]).reshape({out_shape})"),
    samples=(Sample(((3, 3),), {"offset": 0}), Sample(((2, 3, 4),), {"offset": 1}),
             Sample(((4, 3),), {"offset": -2})),
))


def _diag_embed_impl(v: np.ndarray, offset: int, rows: int, columns: int) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (rows, columns), v.dtype)
    start_row, start_column = max(-offset, 0), max(offset, 0)
    index = np.arange(v.shape[-1])
    out[..., start_row + index, start_column + index] = v
    return out


def _diag_embed_shape(inputs: Sequence[Node], offset: int, rows: shapes.Size,
                      columns: shapes.Size) -> shapes.Shape:
    v = inputs[0]
    if v.ndim < 1:
        raise ShapeError("needs a vector (or a stack of them), got a scalar")
    shapes.require_equal(v.shape[-1], _diagonal_size(rows, columns, offset))
    return v.shape[:-1] + (rows, columns)


DIAG_EMBED = register(Op(
    "diag_embed", shape=_diag_embed_shape, dtype=same_dtype, arity=1, label="diag_embed",
    impl=_diag_embed_impl, linear=True, batch=trailing("diag_embed", 1),
    vjp=lambda g, out, v, offset, rows, columns: (apply(DIAGONAL, g, offset=offset),),
    lowering=Kernel("diag_embed_stack(contiguous({0}).reshape((-1, {shape0}[-1])), {offset}, {rows}, "
           "{columns}).reshape({out_shape})"),
    samples=(Sample(((3,),), {"offset": 0, "rows": 3, "columns": 3}),
             Sample(((2, 3),), {"offset": 1, "rows": 3, "columns": 4})),
))


def diag_embed(v: Node, offset: int, rows: shapes.Size, columns: shapes.Size) -> Node:
    """Matrices (rows x columns) of zeros with v's last axis on the offset diagonal (internal)."""
    return apply(DIAG_EMBED, v, offset=offset, rows=rows, columns=columns)


@function
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """numpy.diagonal: the diagonal of the (axis1, axis2) planes, as a new last axis."""
    a = as_tensor(a)
    if a.ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 axes, got rank {a.ndim}")
    first, second = shapes.normalize_axis(axis1, a.ndim), shapes.normalize_axis(axis2, a.ndim)
    if first == second:
        raise ShapeError(f"diagonal's axis1 and axis2 are the same axis ({first})")
    order = tuple(i for i in range(a.ndim) if i not in (first, second)) + (first, second)
    moved = a if order == tuple(range(a.ndim)) else transpose(a, order)
    return apply(DIAGONAL, moved, offset=check_static_int(offset, "diagonal's offset"))


@function
def diag(v: Any, k: int = 0) -> Node:
    """numpy.diag: a 1-D v -> the matrix with v on diagonal k; a 2-D v -> its k-th diagonal."""
    v = as_tensor(v)
    k = check_static_int(k, "diag's k")
    if v.ndim == 2:
        return apply(DIAGONAL, v, offset=k)
    if v.ndim != 1:
        raise ShapeError(f"diag needs a 1-D or 2-D input, got rank {v.ndim}")
    size = v.shape[0]
    if k != 0 and not isinstance(size, int):
        raise ShapeError(f"diag with k={k} needs a static length, got {size}")
    side = size + abs(k) if k else size
    return diag_embed(v, k, side, side)


def diagonal_matrix(v: Node, size: int) -> Node:
    """The size x size matrix with v (a scalar or a (size,) vector) on its diagonal, 0 elsewhere,
    as `where(i == j, v, 0)` over two views of one `arange(size)` (internal).

    Why not `diag_embed` or `constant(eye) * v`: gc.jacobian/gc.hessian's identity basis and
    the simplifier's rescaled diagonals are this. An n x n constant is 8 MB at n = 1000 that
    the compile copies, hashes and pickles (~0.1 s of a first result); `diag_embed` is a
    helper call Numba compiles in (~1 s) where this is elementwise and fuses into the loop
    that reads it. A small one (n * n <= the simplifier's fold_limit) folds into a constant.
    The zeros are exact, whatever v holds (inf, NaN): `simplify.diagonal` reads them as
    structural.
    """
    index = constant(np.arange(size))
    rows, columns = apply(OPS["expand_dims"], index, axis=(1,)), apply(OPS["expand_dims"], index, axis=(0,))
    zero = constant(np.zeros((), v.dtype), dtype=v.dtype)
    return apply(OPS["where"], apply(OPS["equal"], rows, columns), v, zero)


@function
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """numpy.trace: the sum along a diagonal (per remaining index for rank > 2)."""
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


@function
def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = "float64") -> Node:  # noqa: N803
    """numpy.eye: a constant N x M identity (ones on diagonal k); sizes are static ints."""
    rows = check_static_int(N, "eye's N")
    columns = rows if M is None else check_static_int(M, "eye's M")
    return constant(np.eye(rows, columns, check_static_int(k, "eye's k"), dtype=dtypes.as_dtype(dtype)))
