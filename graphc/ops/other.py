"""Ops outside the numeric families: casts, fills, one-hot, stop_gradient.

Owns their declarations and builders. None of them passes a gradient except
`astype` between float types: `zeros_like`/`ones_like`/`one_hot` do not
depend on their input's values, and `stop_gradient` exists to block it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..errors import DTypeError, InputError, ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel, Pointwise
from . import batching
from .base import as_tensor, check_static_int, function, register, same_shape


def _astype_vjp(g: Node, out: Node, x: Node, dtype: str) -> tuple[Node | None]:
    return (astype(g, x.dtype) if dtypes.is_float(x.dtype) else None,)


ASTYPE = register(Op(
    "astype", finite="if_inputs", shape=same_shape, dtype=lambda inputs, dtype: np.dtype(dtype), arity=1,
    label="astype", impl=lambda x, dtype: np.asarray(x).astype(dtype), vjp=_astype_vjp,
    elementwise=True, lowering=Pointwise("np.{dtype}({0})", typed=True), linear=True,
    batch=batching.keeps_axis("astype"),
    samples=(Sample(((3, 2),), {"dtype": "float32"}), Sample(((4,),), {"dtype": "int64"})),
))
ZEROS_LIKE = register(Op(
    "zeros_like", nonnegative="always", finite="always",
    shape=same_shape, dtype=lambda inputs, dtype: np.dtype(dtype), arity=1,
    label="zeros_like", impl=lambda x, dtype: np.zeros(np.shape(x), dtype), lowering=Pointwise("{zero}"),
    vjp=lambda g, out, x, dtype: (None,), samples=(Sample(((3, 2),), {"dtype": "float64"}),),
    batch=batching.keeps_axis("zeros_like"),
))
ONES_LIKE = register(Op(
    "ones_like", nonnegative="always", finite="always",
    shape=same_shape, dtype=lambda inputs, dtype: np.dtype(dtype), arity=1,
    label="ones_like", impl=lambda x, dtype: np.ones(np.shape(x), dtype), lowering=Pointwise("{one}"),
    vjp=lambda g, out, x, dtype: (None,), samples=(Sample(((3, 2),), {"dtype": "float32"}),),
    batch=batching.keeps_axis("ones_like"),
))
STOP_GRADIENT = register(Op(
    "stop_gradient", finite="if_inputs", nonnegative="if_inputs",
    shape=same_shape, dtype=lambda inputs: inputs[0].dtype, arity=1,
    label="stop_gradient", impl=lambda x: np.asarray(x), vjp=lambda g, out, x: (None,),
    elementwise=True, lowering=Pointwise("{0}", operators_only=True), samples=(Sample(((3,),)),),
    batch=batching.keeps_axis("stop_gradient"),
))


def _one_hot_impl(labels: np.ndarray, depth: int, dtype: str) -> np.ndarray:
    labels = np.asarray(labels)
    outside = (labels < 0) | (labels >= depth)
    if outside.any():  # the numba backend checks the same in library.one_hot_flat
        position = int(np.flatnonzero(outside)[0])
        raise InputError(f"one_hot: label {labels.flat[position]} (at flat position {position}) "
                         f"is out of range for {depth} classes (0 to {depth - 1})")
    return (labels[..., None] == np.arange(depth)).astype(dtype)


ONE_HOT = register(Op(
    "one_hot", nonnegative="always", finite="always",
    shape=lambda inputs, depth, dtype: inputs[0].shape + (depth,),
    dtype=lambda inputs, depth, dtype: np.dtype(dtype), arity=1, label="one_hot",
    impl=_one_hot_impl, vjp=lambda g, out, labels, depth, dtype: (None,),
    batch=batching.keeps_axis("one_hot"),
    lowering=Kernel("one_hot_flat(contiguous({0}).reshape(-1), {depth}, {one})"
           ".reshape({out_shape})", allocates=True),
    samples=(Sample(((5,),), {"depth": 4, "dtype": "float64"}, dtypes=("int64",)),),
))


@function
def astype(x: Any, dtype: Any) -> Node:
    """Cast to dtype (numpy's astype); a no-op when the dtype is already right."""
    x = as_tensor(x)
    target = dtypes.as_dtype(dtype)
    if target == x.dtype:
        return x
    return apply(ASTYPE, x, dtype=target.name)


@function
def zeros_like(x: Any, dtype: Any = None) -> Node:
    """Zeros of x's shape (and dtype unless given)."""
    x = as_tensor(x)
    return apply(ZEROS_LIKE, x, dtype=dtypes.as_dtype(dtype or x.dtype).name)


@function
def ones_like(x: Any, dtype: Any = None) -> Node:
    """Ones of x's shape (and dtype unless given)."""
    x = as_tensor(x)
    return apply(ONES_LIKE, x, dtype=dtypes.as_dtype(dtype or x.dtype).name)


@function
def one_hot(labels: Any, n: int, dtype: Any = "float64") -> Node:
    """labels (integers) -> rows with a 1 at each label's position, shape labels.shape + (n,)."""
    labels = as_tensor(labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"one_hot needs integer labels, got {labels.dtype}")
    depth = check_static_int(n, "one_hot's number of classes")
    if depth <= 0:
        raise ShapeError(f"one_hot needs a positive number of classes, got {depth}")
    return apply(ONE_HOT, labels, depth=depth, dtype=dtypes.as_dtype(dtype).name)


@function
def stop_gradient(x: Any) -> Node:
    """The same values, seen as a constant by differentiation."""
    return apply(STOP_GRADIENT, as_tensor(x))
