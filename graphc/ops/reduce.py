"""Reductions and normalisations: sum, mean, max, min, logsumexp, softmax, log_softmax.

Owns their declarations and builders. `logsumexp`, `softmax` and
`log_softmax` are primitives (not compositions) so that their NumPy
references, generated code and derivatives are the numerically stable forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import DTypeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel, Reduction, Rows, summing
from . import batching
from .base import as_tensor, constant, float_dtype, function, register, same_dtype
from .elementwise import equal, exp, where
from .shape import broadcast_to, expand_dims

REDUCE_SAMPLES = (
    Sample(((3, 4),), {"axis": (1,), "keepdims": False}),
    Sample(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
    Sample(((5,),), {"axis": (0,), "keepdims": False}),
    Sample(((2, 3),), {"axis": (0, 1), "keepdims": False}),
)


def _reduce_shape(inputs: Sequence[Node], axis: tuple[int, ...], keepdims: bool) -> shapes.Shape:
    x = inputs[0]
    if keepdims:
        return tuple(1 if i in axis else s for i, s in enumerate(x.shape))
    return tuple(s for i, s in enumerate(x.shape) if i not in axis)


def _sum_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    dtype = inputs[0].dtype
    return dtype if dtypes.is_float(dtype) else np.dtype("int64")


def _keep(g: Node, axis: tuple[int, ...], keepdims: bool) -> Node:
    """Give a reduced cotangent its size-1 axes back, ready to broadcast."""
    return g if keepdims else expand_dims(g, axis)


def _spread(g: Node, x: Node, axis: tuple[int, ...], keepdims: bool) -> Node:
    return broadcast_to(_keep(g, axis, keepdims), x.shape)


def count(x: Node, axis: tuple[int, ...], dtype: np.dtype) -> Node:
    """Number of elements reduced over `axis`, as a rank-0 tensor (run-time if symbolic)."""
    size = shapes.product([x.shape[a] for a in axis])
    if isinstance(size, int):
        return constant(size, dtype=dtype)
    return apply(SIZE, x, axis=axis, dtype=np.dtype(dtype).name)


SIZE = register(Op(
    "size", nonnegative="always", finite="always",
    shape=lambda inputs, axis, dtype: (), dtype=lambda inputs, axis, dtype: np.dtype(dtype),
    arity=1, label="size", impl=lambda x, axis, dtype: np.array(
        np.prod([x.shape[a] for a in axis], dtype=np.int64), dtype=dtype),
    vjp=lambda g, out, x, axis, dtype: (None,),
    lowering=Kernel(lambda node: "np.{dtype}(" + (" * ".join(
        f"{{shape0[{a}]}}" for a in node.attr["axis"]) or "1") + ")", shape_only=True),
    samples=(Sample(((3, 4),), {"axis": (0, 1), "dtype": "float64"}),),
    batch=batching.same_everywhere("size"),
))


def _max_vjp(g: Node, out: Node, x: Node, axis: tuple[int, ...], keepdims: bool) -> tuple[Node]:
    """Ties share the cotangent equally, as in JAX."""
    hit = equal(x, _keep(out, axis, keepdims))
    ties = sum_(where(hit, constant(1, dtype=x.dtype), 0), axis=axis, keepdims=True)
    return (where(hit, _keep(g, axis, keepdims) / ties, 0),)


def _mean_impl(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return np.mean(x, axis=axis, keepdims=keepdims)


def _logsumexp_impl(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    x = np.asarray(x)
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    with np.errstate(divide="ignore"):
        total = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)



def _declare_reduction(name: str, impl: Any, dtype: Any, vjp: Any, shape: Any = _reduce_shape,
                       **properties: Any) -> Op:
    return register(Op(name, shape=shape, dtype=dtype, impl=impl, vjp=vjp, arity=1,
                       label=name, samples=REDUCE_SAMPLES, batch=batching.reduction(name),
                       **properties))


SUM = _declare_reduction(
    "sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), _sum_dtype,
    lambda g, out, x, axis, keepdims: (_spread(g, x, axis, keepdims),), linear=True,
    lowering=summing(), nonnegative="if_inputs")
MEAN = _declare_reduction(
    "mean", _mean_impl, float_dtype,
    lambda g, out, x, axis, keepdims: (_spread(g / count(x, axis, g.dtype), x, axis, keepdims),),
    linear=True, lowering=summing("{acc} / {count}"), nonnegative="if_inputs")
def _extremum_shape(inputs: Sequence[Node], axis: tuple[int, ...], keepdims: bool) -> shapes.Shape:
    """max/min have no identity: NumPy refuses an empty axis, and so do we (now or per call)."""
    for a in axis:
        shapes.require_at_least(inputs[0].shape[a], 1, f"max and min have no value over an empty axis ({a})")
    return _reduce_shape(inputs, axis, keepdims)


MAX = _declare_reduction(
    "max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), same_dtype, _max_vjp,
    lowering=Reduction("{lowest}", "maximum({acc}, {0})"), shape=_extremum_shape)
MIN = _declare_reduction(
    "min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), same_dtype, _max_vjp,
    lowering=Reduction("{highest}", "minimum({acc}, {0})"), shape=_extremum_shape)
LOGSUMEXP = _declare_reduction(
    "logsumexp", _logsumexp_impl, float_dtype,
    lambda g, out, x, axis, keepdims: (_spread(g, x, axis, keepdims)
                                       * exp(x - _keep(out, axis, keepdims)),),
    lowering=Rows("logsumexp_rows", reduces=True))


def _softmax_impl(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_impl(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


NORMALIZE_SAMPLES = (Sample(((3, 4),), {"axis": (1,)}), Sample(((2, 3, 4),), {"axis": (0, 2)}),
                     Sample(((5,),), {"axis": (0,)}))


def _float_only(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    if not dtypes.is_float(inputs[0].dtype):
        raise DTypeError(f"expected a float tensor, got {inputs[0].dtype}")
    return inputs[0].dtype


SOFTMAX = register(Op(
    "softmax", nonnegative="always", finite="if_inputs",
    shape=lambda inputs, axis: inputs[0].shape, dtype=_float_only, arity=1,
    label="softmax", impl=_softmax_impl, samples=NORMALIZE_SAMPLES, lowering=Rows("softmax_rows"),
    batch=batching.along_axes("softmax"),
    vjp=lambda g, out, x, axis: (out * (g - sum_(g * out, axis=axis, keepdims=True)),),
))
LOG_SOFTMAX = register(Op(
    "log_softmax", shape=lambda inputs, axis: inputs[0].shape, dtype=_float_only, arity=1,
    label="log_softmax", impl=_log_softmax_impl, samples=NORMALIZE_SAMPLES,
    lowering=Rows("log_softmax_rows"),
    batch=batching.along_axes("log_softmax"),
    vjp=lambda g, out, x, axis: (g - exp(out) * sum_(g, axis=axis, keepdims=True),),
))


def _reduce(op: Op, x: Any, axis: Any, keepdims: bool) -> Node:
    x = as_tensor(x)
    axes = shapes.normalize_axes(axis, x.ndim)
    return apply(op, x, axis=axes, keepdims=bool(keepdims))


@function
def sum_(x: Any, axis: Any = None, keepdims: bool = False) -> Node:
    """Sum over axes (numpy.sum)."""
    return _reduce(SUM, x, axis, keepdims)


@function
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Node:
    """Arithmetic mean over axes (numpy.mean)."""
    return _reduce(MEAN, x, axis, keepdims)


@function
def max_(x: Any, axis: Any = None, keepdims: bool = False) -> Node:
    """Largest element over axes (numpy.max); ties share the gradient."""
    return _reduce(MAX, x, axis, keepdims)


@function
def min_(x: Any, axis: Any = None, keepdims: bool = False) -> Node:
    """Smallest element over axes (numpy.min); ties share the gradient."""
    return _reduce(MIN, x, axis, keepdims)


@function
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Node:
    """log(sum(exp(x))) computed without overflow (scipy.special.logsumexp)."""
    return _reduce(LOGSUMEXP, x, axis, keepdims)


@function
def softmax(x: Any, axis: Any = -1) -> Node:
    """exp(x) / sum(exp(x)) along axis, computed without overflow."""
    x = as_tensor(x)
    return apply(SOFTMAX, x, axis=shapes.normalize_axes(axis, x.ndim))


@function
def log_softmax(x: Any, axis: Any = -1) -> Node:
    """x - logsumexp(x) along axis: the stable log of softmax."""
    x = as_tensor(x)
    return apply(LOG_SOFTMAX, x, axis=shapes.normalize_axes(axis, x.ndim))


sum = sum_  # noqa: A001 - NumPy's names
max = max_  # noqa: A001
min = min_  # noqa: A001

__all__ = ["count", "logsumexp", "log_softmax", "max", "mean", "min", "softmax", "sum"]
