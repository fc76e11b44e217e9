"""2-D max pooling as three ops closed under differentiation (layer L2).

Owns `max_pool2d` (NCHW, windows `kernel` with `stride` and symmetric
`padding`, padding counted as -inf like PyTorch), `max_pool2d_grad` (scatters
a cotangent to each window's first maximum, PyTorch's tie rule) and
`max_pool2d_gather` (reads a tensor at each window's first maximum): the
gradient is linear in the cotangent and piecewise constant in x, so grad and
gather are each other's VJPs and derivatives of any order stay in the family.
A NaN in a window wins (it is the max, and the first NaN is the argmax), as
in NumPy. avg_pool2d is a depthwise convolution (ops/nn.py).
Imports: ir, shapes, errors, ops.base/batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import DTypeError, ShapeError
from ..ir import FUNCTIONS, Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import register

Pair = tuple[int, int]


def pool_out(x_shape: shapes.Shape, kernel: Pair, stride: Pair, padding: Pair) -> shapes.Shape:
    """(N, C, H', W') of a pooling of x, or a ShapeError naming the sizes that do not fit."""
    if len(x_shape) != 4:
        raise ShapeError(f"expected an input (N, C, H, W), got {shapes.format_shape(x_shape)}")
    spatial = x_shape[2:]
    if not all(isinstance(s, int) for s in spatial):
        raise ShapeError(f"the spatial sizes must be static, got {shapes.format_shape(x_shape)}")
    out = []
    for axis, size, k, s, p in zip(("height", "width"), spatial, kernel, stride, padding):
        if p > k // 2:
            raise ShapeError(f"padding {p} is more than half the kernel {axis} {k}")
        assert isinstance(size, int)
        length = (size + 2 * p - k) // s + 1
        if length < 1:
            raise ShapeError(f"the window {axis} {k} is larger than the padded input {axis} "
                             f"{size} + 2*{p}")
        out.append(length)
    return (x_shape[0], x_shape[1], out[0], out[1])


def _float_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    if any(i.dtype.kind != "f" for i in inputs) or len({i.dtype for i in inputs}) > 1:
        raise DTypeError("max pooling needs float tensors of one dtype, got "
                         + ", ".join(str(i.dtype) for i in inputs))
    return inputs[0].dtype


def _same_as(inputs: Sequence[Node], expected: shapes.Shape, what: str) -> None:
    given = inputs[1].shape
    if len(given) != len(expected) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(given, expected)):
        raise ShapeError(f"{what} {shapes.format_shape(given)} should have shape "
                         f"{shapes.format_shape(expected)}")
    for a, b in zip(given, expected):
        shapes.require_equal(a, b)


def _pool_shape(inputs: Sequence[Node], kernel: Pair, stride: Pair, padding: Pair) -> shapes.Shape:
    return pool_out(inputs[0].shape, kernel, stride, padding)


def _grad_shape(inputs: Sequence[Node], kernel: Pair, stride: Pair, padding: Pair) -> shapes.Shape:
    _same_as(inputs, pool_out(inputs[0].shape, kernel, stride, padding), "the cotangent")
    return inputs[0].shape


def _gather_shape(inputs: Sequence[Node], kernel: Pair, stride: Pair, padding: Pair) -> shapes.Shape:
    _same_as(inputs, inputs[0].shape, "the gathered tensor")
    return pool_out(inputs[0].shape, kernel, stride, padding)


# ------------------------------------------------------- NumPy references

def _taps(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, fill: float) -> Any:
    """(a, b, view): for each window offset in row-major order, the (N, C, H', W') strided view of
    the padded input at that offset (of x itself when there is no padding)."""
    padded = x if padding == (0, 0) else np.pad(
        x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    out_h = (padded.shape[2] - kernel[0]) // stride[0] + 1
    out_w = (padded.shape[3] - kernel[1]) // stride[1] + 1
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            yield a, b, padded[:, :, a:a + stride[0] * (out_h - 1) + 1:stride[0],
                               b:b + stride[1] * (out_w - 1) + 1:stride[1]]


def _argmax(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(max, flat window offset of the first maximum) per window, as np.max/np.argmax over the
    padded window (padding -inf, the first NaN wins)."""
    taps = _taps(x, kernel, stride, padding, -np.inf)
    _, _, first = next(taps)
    best: np.ndarray = first.copy()
    position: np.ndarray = np.zeros(first.shape, np.int64)
    for a, b, view in taps:
        better = ((view > best) | np.isnan(view)) & ~np.isnan(best)
        best = np.where(better, view, best)
        position = np.where(better, a * kernel[1] + b, position)
    return best, position


def max_pool2d_impl(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    return np.ascontiguousarray(_argmax(x, kernel, stride, padding)[0])


def max_pool2d_grad_impl(x: np.ndarray, g: np.ndarray, kernel: Pair, stride: Pair,
                         padding: Pair) -> np.ndarray:
    """Tap by tap, each window's cotangent added where that tap is the window's maximum."""
    position = _argmax(x, kernel, stride, padding)[1]
    n, c, height, width = x.shape
    padded = np.zeros((n, c, height + 2 * padding[0], width + 2 * padding[1]), g.dtype)
    zero = np.zeros((), g.dtype)
    for a, b, view in _taps(padded, kernel, stride, (0, 0), 0.0):
        view += np.where(position == a * kernel[1] + b, g, zero)  # a view of `padded` (no padding given)
    return np.ascontiguousarray(padded[:, :, padding[0]:padding[0] + height,
                                       padding[1]:padding[1] + width])


def max_pool2d_gather_impl(x: np.ndarray, h: np.ndarray, kernel: Pair, stride: Pair,
                           padding: Pair) -> np.ndarray:
    position = _argmax(x, kernel, stride, padding)[1]
    out = np.zeros(position.shape, h.dtype)
    for a, b, view in _taps(h, kernel, stride, padding, 0.0):
        out = np.where(position == a * kernel[1] + b, view, out)
    return out


# ----------------------------------------------------------- VJPs, batching

def _pool_vjp(g: Node, out: Node, x: Node, **attrs: Any) -> tuple[Node]:
    return (apply(MAX_POOL2D_GRAD, x, g, **attrs),)


def _grad_vjp(h: Node, out: Node, x: Node, g: Node, **attrs: Any) -> tuple[None, Node]:
    return (None, apply(MAX_POOL2D_GATHER, x, h, **attrs))


def _gather_vjp(k: Node, out: Node, x: Node, h: Node, **attrs: Any) -> tuple[None, Node]:
    return (None, apply(MAX_POOL2D_GRAD, x, k, **attrs))


def _batch_rule(name: str) -> batching.Rule:
    """Fold the batch into N: pooling treats every (example, image) alike."""
    def rule(args: Sequence[Node], batch_axes: Sequence[int | None], **attrs: Any) -> tuple[Node, int]:
        size = batching.batch_size(args, batch_axes)
        folded = []
        for x, axis in zip(args, batch_axes):
            front = batching.to_front(x, axis, size)
            merged = shapes.product([size, front.shape[1]])
            folded.append(FUNCTIONS["reshape"](front, (merged,) + front.shape[2:]))
        op = {"max_pool2d": MAX_POOL2D, "max_pool2d_grad": MAX_POOL2D_GRAD,
              "max_pool2d_gather": MAX_POOL2D_GATHER}[name]
        out = apply(op, *folded, **attrs)
        per_example = shapes.quotient(out.shape[0], size)
        return FUNCTIONS["reshape"](out, (size, per_example) + out.shape[1:]), 0
    return rule


_ATTRS = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)}
_OVERLAP = {"kernel": (3, 2), "stride": (1, 2), "padding": (1, 1)}


_ARGMAX = "max_pool2d_argmax(contiguous({0}), {kernel}, {stride}, {padding}, {%s})"
_ROUTE = "max_pool2d_route(%s, contiguous({1}), {%s}, %s).reshape({out_shape})"  # both ways


MAX_POOL2D = register(Op(
    "max_pool2d", shape=_pool_shape, dtype=_float_dtype, impl=max_pool2d_impl, vjp=_pool_vjp,
    arity=1, label="max_pool2d", batch=_batch_rule("max_pool2d"),
    lowering=Kernel("max_pool2d_forward(contiguous({0}), {kernel}, {stride}, {padding}, {out_shape})"),
    finite="if_inputs", nonnegative="if_inputs",
    samples=(Sample(((2, 3, 4, 6),), _ATTRS, ("float64",)), Sample(((1, 2, 5, 5),), _OVERLAP, ("float64",)),
             Sample(((2, 1, 4, 4),), _ATTRS, ("float32",))),
))
MAX_POOL2D_GRAD = register(Op(
    "max_pool2d_grad", shape=_grad_shape, dtype=_float_dtype, impl=max_pool2d_grad_impl, vjp=_grad_vjp,
    arity=2, label="max_pool2d_grad", batch=_batch_rule("max_pool2d_grad"),
    lowering=Kernel(_ROUTE % (_ARGMAX % "shape1", "out_shape", True)),
    samples=(Sample(((2, 3, 4, 6), (2, 3, 2, 3)), _ATTRS, ("float64",) * 2),
             Sample(((1, 2, 5, 5), (1, 2, 5, 3)), _OVERLAP, ("float64",) * 2)),
))
MAX_POOL2D_GATHER = register(Op(
    "max_pool2d_gather", shape=_gather_shape, dtype=_float_dtype, impl=max_pool2d_gather_impl,
    vjp=_gather_vjp, arity=2, label="max_pool2d_gather", batch=_batch_rule("max_pool2d_gather"),
    lowering=Kernel(_ROUTE % (_ARGMAX % "out_shape", "shape1", False)),
    samples=(Sample(((2, 3, 4, 6), (2, 3, 4, 6)), _ATTRS, ("float64",) * 2),
             Sample(((1, 2, 5, 5), (1, 2, 5, 5)), _OVERLAP, ("float64",) * 2)),
))


def max_pool(x: Node, kernel: Pair, stride: Pair, padding: Pair) -> Node:
    """The max_pool2d node (arguments normalized by the public builder in ops/nn.py)."""
    return apply(MAX_POOL2D, x, kernel=kernel, stride=stride, padding=padding)


__all__ = ["MAX_POOL2D", "MAX_POOL2D_GATHER", "MAX_POOL2D_GRAD", "max_pool", "pool_out"]
