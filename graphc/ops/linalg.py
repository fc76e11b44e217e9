"""Linear algebra: matmul (1-D, 2-D and batched), dot, outer.

Owns the matmul declaration (shape rule with NumPy's 1-D promotion and
batch broadcasting, VJP as matmuls of the cotangent) and the `dot` and
`outer` builders, which are compositions rather than ops of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import as_tensor, function, register
from .elementwise import multiply
from .shape import TRANSPOSE, expand_dims, reshape, squeeze, transpose


def _matmul_shape(inputs: Sequence[Node]) -> shapes.Shape:
    a, b = inputs
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul needs operands of rank >= 1 (use multiply for scalars)")
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    inner_a, inner_b = a_shape[-1], b_shape[-2]
    if isinstance(inner_a, int) and isinstance(inner_b, int) and inner_a != inner_b:
        raise ShapeError(f"contracted sizes differ: {inner_a} (last axis of the first operand) "
                         f"vs {inner_b} (the second operand's "
                         f"{'only' if b.ndim == 1 else 'second-to-last'} axis)")
    shapes.require_equal(inner_a, inner_b)
    batch = shapes.broadcast(a_shape[:-2], b_shape[:-2])
    rows = () if a.ndim == 1 else (a_shape[-2],)
    cols = () if b.ndim == 1 else (b_shape[-1],)
    return batch + rows + cols


def _swap_last(x: Node) -> Node:
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, axes)


def _matmul_vjp(g: Node, out: Node, a: Node, b: Node) -> tuple[Node, Node]:
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    if a.ndim <= 2 and b.ndim <= 2:
        if a.ndim == 1:  # (k) @ (k,n) -> (n)
            return matmul(b, g), outer(a, g)
        if b.ndim == 1:  # (m,k) @ (k) -> (m)
            return outer(g, b), matmul(transpose(a), g)
        return matmul(g, transpose(b)), matmul(transpose(a), g)
    # Batched: lift 1-D operands to matrices; batch axes are summed by sum_to centrally.
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, 1) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = expand_dims(g2, g2.ndim - 1)
    if b.ndim == 1:
        g2 = expand_dims(g2, g2.ndim)
    grad_a = matmul(g2, _swap_last(b2))
    grad_b = matmul(_swap_last(a2), g2)
    if b.ndim == 1:
        grad_b = squeeze(grad_b, grad_b.ndim - 1)
    return grad_a, grad_b


SMALL_MATMUL = 512  # multiply-adds up to which loops beat a BLAS call (~0.2 us each)
# Constants the lowering reads (the generated code changes with them): in the lowered-cache key
# (backend/lowered_cache.py `declared_settings`), so changing one at run time is another key.
LOWERING_SETTINGS = ("SMALL_MATMUL",)


def _small(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Static shapes with at most SMALL_MATMUL multiply-adds (and no empty axis)."""
    sizes = (*a, b[1])
    if not all(isinstance(s, int) and s >= 1 for s in sizes):
        return False
    return bool(sizes[0] * sizes[1] * sizes[2] <= SMALL_MATMUL)


def _matmul_kernel(node: Node) -> str:
    """Generated code: blas_dot (np.dot) for ranks <= 2, loops for small static
    matrices, else a loop of np.dot over the batch."""
    a, b = node.inputs
    operands = [f"{{{i}}}" + ("" if item.dtype == node.dtype else ".astype({out_dtype})")
                for i, item in enumerate(node.inputs)]
    if a.ndim == 2 and b.ndim == 2 and _small(a.shape, b.shape):
        return f"matmul_small({operands[0]}, {operands[1]})"
    if a.ndim <= 2 and b.ndim <= 2:
        return f"blas_dot({operands[0]}, {operands[1]})"
    batch = node.shape[:len(node.shape) - (a.ndim > 1) - (b.ndim > 1)]
    lhs = operands[0] if a.ndim > 1 else f"contiguous({operands[0]}).reshape((1, -1))"
    rhs = operands[1] if b.ndim > 1 else f"contiguous({operands[1]}).reshape((-1, 1))"
    ends = ", ".join(f"{{out_shape[{i}]}}" for i in range(len(batch)))
    return (f"matmul_batched({lhs}, {rhs}, ({ends},)).reshape({{out_shape}})")


def _matrices(node: Node) -> bool:
    """Two matrices of the result's dtype (no cast): a product that can be written into `{out}`."""
    a, b = node.inputs
    return a.ndim == 2 and b.ndim == 2 and a.dtype == node.dtype and b.dtype == node.dtype


def _gemm(node: Node) -> bool:
    """The product is written by BLAS gemm (`gemm_into`): float matrices of one dtype, not small.
    The record's `into_product`: kernel mode's workspace writes it by np.dot(a, b, out)."""
    return (_matrices(node) and node.dtype in (np.float32, np.float64)
            and not _small(node.inputs[0].shape, node.inputs[1].shape))


def _matmul_into(node: Node) -> str | None:
    """The product of two matrices written into `{out}`: `gemm_into(a, b, out)` (BLAS, float32
    and float64: backend/library_blas.py) or the small loops' `matmul_small_into`; None when
    an operand needs a cast or is not a matrix."""
    if not _matrices(node):
        return None
    if _small(node.inputs[0].shape, node.inputs[1].shape):
        return "matmul_small_into({0}, {1}, {out})"
    return "gemm_into({0}, {1}, {out})" if _gemm(node) else None


def _outer_sum(node: Node) -> tuple[Node, Node] | None:
    """(a, b) when node is transpose(a) @ b of matrices (Op.outer_sum), else None."""
    left, right = node.inputs
    if node.ndim != 2 or left.op is not TRANSPOSE or left.attr["axes"] != (1, 0):
        return None
    a = left.inputs[0]
    return (a, right) if a.ndim == 2 and right.ndim == 2 else None


MATMUL = register(Op(
    "matmul", shape=lambda inputs: _matmul_shape(inputs),
    dtype=lambda inputs: dtypes.promote([(i.dtype, i.weak) for i in inputs]),
    impl=np.matmul, vjp=_matmul_vjp, arity=2, label="matmul",
    batch=batching.matmul, outer_sum=_outer_sum,
    lowering=Kernel(lambda node: _matmul_kernel(node), allocates=True, product=True,
                    into=_matmul_into, into_product=_gemm),
    samples=(Sample(((3, 4), (4, 2))), Sample(((4,), (4, 2))), Sample(((3, 4), (4,))),
             Sample(((4,), (4,))), Sample(((2, 3, 4), (4, 5))), Sample(((2, 1, 3, 4), (3, 4, 2))),
             Sample(((4,), (2, 4, 3))), Sample(((2, 3, 4), (4,)))),
))


@function
def matmul(a: Any, b: Any) -> Node:
    """Matrix product with NumPy's rules for 1-D operands and batch axes (numpy.matmul)."""
    return apply(MATMUL, as_tensor(a), as_tensor(b))


@function
def dot(a: Any, b: Any) -> Node:
    """numpy.dot for operands of rank <= 2 (a scalar operand multiplies)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(
            f"dot supports operands of rank <= 2, got ranks {a.ndim} and {b.ndim}; "
            "use matmul for batched products"
        )
    return matmul(a, b)


@function
def outer(a: Any, b: Any) -> Node:
    """Outer product of the flattened operands (numpy.outer)."""
    a, b = as_tensor(a), as_tensor(b)
    column = expand_dims(reshape(a, (-1,)), 1)
    row = expand_dims(reshape(b, (-1,)), 0)
    return multiply(column, row)
