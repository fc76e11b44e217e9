"""Statistics over axes: prod, argmax, argmin (ops) and var, std (compositions).

Owns their declarations and builders. `prod` accumulates in the fused loop
of its input; its gradient is exact when the input has zeros (the product of
the *other* entries, never out / x). `argmax`/`argmin` give int64 indices
(first occurrence, NaN first, as NumPy) through a row helper and have no
gradient. `var`/`std` are the two-pass formula (mean, then squared
deviations) written with graphc ops, so their gradients, batching and both
backends come from those ops. Imports: ir, shapes, errors, base, reduce,
elementwise, batching (layer L2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, ShapeError
from ..ir import Node, Op, apply
from ..lowering import Kernel, Reduction
from . import batching
from .base import as_tensor, constant, function, register
from .elementwise import equal, not_equal, sqrt, square, where
from .other import astype
from .reduce import REDUCE_SAMPLES, _keep, _reduce_shape, _sum_dtype, count, mean, sum_


def _prod_vjp(g: Node, out: Node, x: Node, axis: tuple[int, ...], keepdims: bool) -> tuple[Node]:
    """d prod / d x_i = product of the other entries: out / x_i without zeros; with one zero,
    the product of the nonzero entries at the zero and 0 elsewhere; with two or more, 0."""
    nonzero = not_equal(x, 0)
    safe = where(nonzero, x, 1)
    others = prod(safe, axis=axis, keepdims=True)
    zeros = sum_(where(nonzero, 0, 1), axis=axis, keepdims=True)
    local = where(equal(zeros, 0), others / safe,
                  where(nonzero, 0, where(equal(zeros, 1), others, 0)))
    return (_keep(g, axis, keepdims) * local,)


PROD = register(Op(
    "prod", shape=_reduce_shape, dtype=_sum_dtype, arity=1, label="prod",
    impl=lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), vjp=_prod_vjp,
    lowering=Reduction("1", "{acc} * {0}"), samples=REDUCE_SAMPLES, batch=batching.reduction("prod"),
))


def _arg_shape(inputs: Sequence[Node], axis: tuple[int, ...], keepdims: bool) -> shapes.Shape:
    for a in axis:
        shapes.require_at_least(inputs[0].shape[a], 1, f"argmax and argmin of an empty axis ({a})")
    return _reduce_shape(inputs, axis, keepdims)


def _arg_impl(function_: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """np.argmax over one or more axes (vmap shifts axes, a flattened call may have several)."""
    def impl(x: Any, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        x = np.asarray(x)
        kept = [a for a in range(x.ndim) if a not in axis]
        moved = np.transpose(x, kept + list(axis)).reshape([x.shape[a] for a in kept] + [-1])
        index = function_(moved, axis=-1)
        if keepdims:
            index = index.reshape([1 if a in axis else x.shape[a] for a in range(x.ndim)])
        return np.asarray(index, dtype=np.int64)
    return impl


def _rows_kernel(helper: str, extra: str = "") -> Callable[[Node], str]:
    """Generated code: the helper on a (kept, reduced) table of the input (codegen's to_rows),
    then `extra` arguments."""
    def template(node: Node) -> str:
        source, axis = node.inputs[0], tuple(node.attr["axis"])
        kept = tuple(a for a in range(source.ndim) if a not in axis)
        order = kept + axis
        rows = " * ".join(f"{{shape0[{a}]}}" for a in kept) or "1"
        columns = " * ".join(f"{{shape0[{a}]}}" for a in axis) or "1"
        order_text = "(" + ", ".join(map(str, order)) + ("," if len(order) == 1 else "") + ")"
        call = f"{helper}(to_rows({{0}}, {order_text}, {rows}, {columns}){extra})"
        return call + "[0, 0]" if node.ndim == 0 else call + ".reshape({out_shape})"
    return template


def _declare_arg(name: str, function_: Callable[..., Any]) -> Op:
    return register(Op(
        name, shape=_arg_shape, dtype=lambda inputs, axis, keepdims: np.dtype("int64"), arity=1,
        label=name, impl=_arg_impl(function_), vjp=lambda g, out, x, axis, keepdims: (None,),
        lowering=Kernel(_rows_kernel("arg_extreme_rows", f", {name == 'argmax'}")), samples=REDUCE_SAMPLES,
        batch=batching.reduction(name), finite="always", nonnegative="always"))


ARGMAX = _declare_arg("argmax", np.argmax)
ARGMIN = _declare_arg("argmin", np.argmin)


@function
def prod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Node:
    """Product over axes (numpy.prod); its gradient is right when x holds zeros."""
    x = _prepare(x, dtype, out, "prod")
    return apply(PROD, x, axis=shapes.normalize_axes(axis, x.ndim), keepdims=bool(keepdims))


def _arg(op: Op, x: Any, axis: Any, out: Any, keepdims: bool) -> Node:
    x = _prepare(x, None, out, op.name)
    if x.ndim == 0:  # NumPy: the only element is at 0
        return constant(0, dtype="int64")
    axes = tuple(range(x.ndim)) if axis is None else (shapes.normalize_axis(axis, x.ndim),)
    return apply(op, x, axis=axes, keepdims=bool(keepdims))


@function
def argmax(x: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Node:
    """Index of the first largest element (numpy.argmax; axis=None: of the flattened tensor)."""
    return _arg(ARGMAX, x, axis, out, keepdims)


@function
def argmin(x: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Node:
    """Index of the first smallest element (numpy.argmin; axis=None: of the flattened tensor)."""
    return _arg(ARGMIN, x, axis, out, keepdims)


@function
def var(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
        keepdims: bool = False) -> Node:
    """Variance, sum((x - mean)^2) / (N - ddof) over axes (numpy.var)."""
    x = _prepare(x, dtype, out, "var")
    if not dtypes.is_float(x.dtype):
        x = astype(x, "float64")
    axes = shapes.normalize_axes(axis, x.ndim)
    if isinstance(ddof, Node) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise ShapeError(f"var's ddof must be a static number, got {ddof!r}")
    deviation = x - mean(x, axis=axes, keepdims=True)
    total = sum_(square(deviation), axis=axes, keepdims=keepdims)
    return total / (count(x, axes, x.dtype) - constant(ddof, dtype=x.dtype))


@function
def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
        keepdims: bool = False) -> Node:
    """Standard deviation, sqrt(var) (numpy.std)."""
    return sqrt(var(x, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))


def _prepare(x: Any, dtype: Any, out: Any, name: str) -> Node:
    if out is not None:
        raise ArgumentError(f"{name}(..., out=...) is not supported: graphc tensors are immutable; "
                            "use the tensor the call returns")
    x = as_tensor(x)
    return x if dtype is None else astype(x, dtype)


__all__ = ["argmax", "argmin", "prod", "std", "var"]
