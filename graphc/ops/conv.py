"""2-D convolution as three ops that are each other's derivatives (layer L2).

Owns the declarations of `conv` (cross-correlation, NCHW input, OIHW weights,
PyTorch's `conv2d`), `conv_transpose` (its gradient with respect to the input,
the "transposed convolution") and `conv_weight_grad` (its gradient with
respect to the weights), their NumPy references, VJPs and batching rules.
The public builders (`gc.nn.conv2d`, ...) are in ops/nn.py; conv1d is conv
with a height of 1.

Why three ops: all three are partial derivatives of one trilinear form

    T(x, w, g) = sum x[n, c, i*s + k*d - p] * w[o, c, k] * g[n, o, i]

(per spatial axis, channels restricted to their group), so each op's VJP is
written with the other two and grad-of-grad of any order stays inside this
family. Every op carries the same geometry attributes: `stride` (sh, sw),
`padding` ((top, bottom), (left, right)), `dilation` (dh, dw) and `groups`.
Spatial and channel sizes are static; the batch size may be symbolic.
Imports: ir, shapes, dtypes, errors, ops.base/batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import shapes
from ..errors import DTypeError, ShapeError
from ..ir import FUNCTIONS, Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import register

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]


# ------------------------------------------------------------------ geometry

def out_size(size: int, kernel: int, stride: int, padding: Pair, dilation: int) -> int:
    """Output length along one axis (PyTorch's formula; < 1 means the kernel does not fit)."""
    return (size + padding[0] + padding[1] - dilation * (kernel - 1) - 1) // stride + 1


def _static(shape: shapes.Shape, what: str) -> tuple[int, ...]:
    if not all(isinstance(s, int) for s in shape):
        raise ShapeError(f"{what} must have static sizes, got {shapes.format_shape(shape)}")
    return tuple(int(s) for s in shape)  # type: ignore[arg-type]


def check_geometry(x_shape: shapes.Shape, w_shape: shapes.Shape, stride: Pair, padding: Padding,
                   dilation: Pair, groups: int) -> tuple[int, int]:
    """The output's spatial size, or a ShapeError naming the sizes that do not fit."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(f"expected an input (N, C, H, W) and weights (O, C/groups, kH, kW), got "
                         f"{shapes.format_shape(x_shape)} and {shapes.format_shape(w_shape)}")
    channels, height, width = _static(x_shape[1:], "the input's channel and spatial axes")
    out_channels, per_group, kernel_h, kernel_w = _static(w_shape, "the weights")
    if channels != per_group * groups:
        raise ShapeError(f"the input has {channels} channels but the weights expect "
                         f"{per_group} per group x {groups} groups = {per_group * groups}")
    if out_channels % groups:
        raise ShapeError(f"{out_channels} output channels cannot be split into {groups} groups")
    result = []
    for axis, size, kernel in (("height", height, kernel_h), ("width", width, kernel_w)):
        index = 0 if axis == "height" else 1
        out = out_size(size, kernel, stride[index], padding[index], dilation[index])
        if out < 1:
            span = dilation[index] * (kernel - 1) + 1
            raise ShapeError(f"the kernel {axis} {kernel} (dilated: {span}) is larger than the padded "
                             f"input {axis} {size} + {padding[index][0]} + {padding[index][1]}")
        result.append(out)
    return result[0], result[1]


def _conv_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    a, b = inputs
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        raise DTypeError(f"convolution needs float tensors, got {a.dtype} and {b.dtype}")
    if a.dtype != b.dtype:
        raise DTypeError(f"convolution needs operands of one dtype, got {a.dtype} and {b.dtype}")
    return a.dtype


def _conv_out(x_shape: shapes.Shape, w_shape: shapes.Shape, stride: Pair, padding: Padding,
              dilation: Pair, groups: int) -> shapes.Shape:
    height, width = check_geometry(x_shape, w_shape, stride, padding, dilation, groups)
    return (x_shape[0], w_shape[0], height, width)


def _conv_shape(inputs: Sequence[Node], stride: Pair, padding: Padding, dilation: Pair,
                groups: int) -> shapes.Shape:
    return _conv_out(inputs[0].shape, inputs[1].shape, stride, padding, dilation, groups)


def _transpose_shape(inputs: Sequence[Node], stride: Pair, padding: Padding, dilation: Pair,
                     groups: int, input_size: Pair) -> shapes.Shape:
    g, w = inputs
    channels = int(w.shape[1]) * groups if isinstance(w.shape[1], int) else w.shape[1]
    x_shape = (g.shape[0], channels, *input_size)
    expected = _conv_out(x_shape, w.shape, stride, padding, dilation, groups)
    if tuple(g.shape[1:]) != tuple(expected[1:]):
        raise ShapeError(f"the cotangent {shapes.format_shape(g.shape)} is not the output shape "
                         f"{shapes.format_shape(expected)} of a convolution of an input "
                         f"{shapes.format_shape(x_shape)}")
    return x_shape


def _weight_grad_shape(inputs: Sequence[Node], stride: Pair, padding: Padding, dilation: Pair,
                       groups: int, kernel_size: Pair) -> shapes.Shape:
    x, g = inputs
    if len(g.shape) != 4:
        raise ShapeError(f"expected a cotangent (N, O, H', W'), got {shapes.format_shape(g.shape)}")
    channels = x.shape[1]
    per_group = channels // groups if isinstance(channels, int) else channels
    w_shape = (g.shape[1], per_group, *kernel_size)
    expected = _conv_out(x.shape, w_shape, stride, padding, dilation, groups)
    shapes.require_equal(x.shape[0], g.shape[0])
    if tuple(g.shape[1:]) != tuple(expected[1:]):
        raise ShapeError(f"the cotangent {shapes.format_shape(g.shape)} is not the output shape "
                         f"{shapes.format_shape(expected)} of a convolution with weights "
                         f"{shapes.format_shape(w_shape)}")
    return w_shape


# ------------------------------------------------------- NumPy references

def _windows(x: np.ndarray, kernel: Pair, out: Pair, stride: Pair, padding: Padding,
             dilation: Pair) -> np.ndarray:
    """(N, C, kH, kW, H', W') view of the zero-padded input: the im2col columns, unmaterialized."""
    padded = np.pad(x, ((0, 0), (0, 0), padding[0], padding[1]))
    n, c, _, _ = padded.shape
    sn, sc, sh, sw = padded.strides
    return as_strided(padded, (n, c, kernel[0], kernel[1], out[0], out[1]),
                      (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]),
                      writeable=False)


def _out_hw(x_hw: Sequence[int], kernel: Sequence[int], stride: Pair, padding: Padding,
            dilation: Pair) -> Pair:
    return (out_size(x_hw[0], kernel[0], stride[0], padding[0], dilation[0]),
            out_size(x_hw[1], kernel[1], stride[1], padding[1], dilation[1]))


def conv_impl(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Padding, dilation: Pair,
              groups: int) -> np.ndarray:
    """Per group, one tensordot (one BLAS product) of the im2col view with the weights."""
    out_channels, per_group, kh, kw = w.shape
    out = _out_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    cols = _windows(x, (kh, kw), out, stride, padding, dilation)
    per_out = out_channels // groups
    result = np.empty((x.shape[0], out_channels, *out), np.result_type(x, w))
    for k in range(groups):
        product = np.tensordot(cols[:, k * per_group:(k + 1) * per_group],
                               w[k * per_out:(k + 1) * per_out], axes=([1, 2, 3], [1, 2, 3]))
        result[:, k * per_out:(k + 1) * per_out] = product.transpose(0, 3, 1, 2)
    return result


def conv_transpose_impl(g: np.ndarray, w: np.ndarray, stride: Pair, padding: Padding, dilation: Pair,
                        groups: int, input_size: Pair) -> np.ndarray:
    """Per group, the column cotangents (a tensordot), added back tap by tap (col2im)."""
    n, out_channels, oh, ow = g.shape
    _, per_group, kh, kw = w.shape
    per_out = out_channels // groups
    height = input_size[0] + sum(padding[0])
    width = input_size[1] + sum(padding[1])
    padded = np.zeros((n, groups * per_group, height, width), np.result_type(g, w))
    for k in range(groups):
        cols = np.tensordot(g[:, k * per_out:(k + 1) * per_out], w[k * per_out:(k + 1) * per_out],
                            axes=([1], [0]))  # (n, oh, ow, per_group, kh, kw)
        target = padded[:, k * per_group:(k + 1) * per_group]
        for i in range(kh):
            for j in range(kw):
                top, left = i * dilation[0], j * dilation[1]
                target[:, :, top:top + stride[0] * (oh - 1) + 1:stride[0],
                       left:left + stride[1] * (ow - 1) + 1:stride[1]] += \
                    cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(padded[:, :, padding[0][0]:padding[0][0] + input_size[0],
                                       padding[1][0]:padding[1][0] + input_size[1]])


def conv_weight_grad_impl(x: np.ndarray, g: np.ndarray, stride: Pair, padding: Padding,
                          dilation: Pair, groups: int, kernel_size: Pair) -> np.ndarray:
    """Per group, one tensordot of the cotangent with the im2col view over (n, i, j)."""
    channels = x.shape[1]
    out_channels, oh, ow = g.shape[1:]
    per_group, per_out = channels // groups, out_channels // groups
    cols = _windows(x, kernel_size, (oh, ow), stride, padding, dilation)
    result = np.empty((out_channels, per_group, *kernel_size), np.result_type(x, g))
    for k in range(groups):
        result[k * per_out:(k + 1) * per_out] = np.tensordot(
            g[:, k * per_out:(k + 1) * per_out], cols[:, k * per_group:(k + 1) * per_group],
            axes=([0, 2, 3], [0, 4, 5]))
    return result


# ------------------------------------------------------------------- VJPs

def _geometry(attrs: dict[str, Any]) -> dict[str, Any]:
    return {key: attrs[key] for key in ("stride", "padding", "dilation", "groups")}


def _spatial(node: Node) -> Pair:
    height, width = node.shape[2:]
    assert isinstance(height, int) and isinstance(width, int)  # the shape rules require it
    return (height, width)


def _conv_vjp(g: Node, out: Node, x: Node, w: Node, **attrs: Any) -> tuple[Node, Node]:
    return (apply(CONV_TRANSPOSE, g, w, input_size=_spatial(x), **attrs),
            apply(CONV_WEIGHT_GRAD, x, g, kernel_size=_spatial(w), **attrs))


def _conv_transpose_vjp(h: Node, out: Node, g: Node, w: Node, input_size: Pair,
                        **attrs: Any) -> tuple[Node, Node]:
    return (apply(CONV, h, w, **attrs),
            apply(CONV_WEIGHT_GRAD, h, g, kernel_size=_spatial(w), **attrs))


def _conv_weight_grad_vjp(h: Node, out: Node, x: Node, g: Node, kernel_size: Pair,
                          **attrs: Any) -> tuple[Node, Node]:
    return (apply(CONV_TRANSPOSE, g, h, input_size=_spatial(x), **attrs),
            apply(CONV, x, h, **attrs))


# ------------------------------------------------------------ batching

def _into_axis(x: Node, axis: int | None, size: shapes.Size, at: int) -> Node:
    """x (per example rank 4) with the batch merged into axis `at` (0: N, 1: channels)."""
    front = batching.to_front(x, axis, size)
    moved = batching.moveaxis(front, 0, at)
    merged = shapes.product([moved.shape[at], moved.shape[at + 1]])
    return FUNCTIONS["reshape"](moved, moved.shape[:at] + (merged,) + moved.shape[at + 2:])


def _split_axis(x: Node, size: shapes.Size, at: int) -> Node:
    """Undo _into_axis on a result: axis `at` of size B*k becomes (B, k); the batch axis is `at`."""
    rest = shapes.quotient(x.shape[at], size)
    assert rest is not None
    return FUNCTIONS["reshape"](x, x.shape[:at] + (size, rest) + x.shape[at + 1:])


def _batch_rule(name: str, layout: tuple[int, int, int]) -> batching.Rule:
    """Fold the batch into the groups: B examples of a G-group op are one B*G-group op.

    `layout` gives, for the two inputs and the output, the axis whose channels
    the groups split (1 for N-first tensors, 0 for weights). When only the
    first input is batched and it is N-first, the batch joins N instead
    (no copy of the weights, no extra groups).
    """
    def rule(args: Sequence[Node], batch_axes: Sequence[int | None], **attrs: Any) -> tuple[Node, int]:
        op = {"conv": CONV, "conv_transpose": CONV_TRANSPOSE, "conv_weight_grad": CONV_WEIGHT_GRAD}[name]
        size = batching.batch_size(args, batch_axes)
        if batch_axes[1] is None and layout[0] == 1 and layout[2] == 1:
            folded = _into_axis(args[0], batch_axes[0], size, 0)
            return _split_axis(apply(op, folded, args[1], **attrs), size, 0), 0
        if not isinstance(size, int):
            raise ShapeError(f"vmap of {name} over its weights needs a static batch size, got {size}")
        inputs = [_into_axis(x, a, size, at) for x, a, at in zip(args, batch_axes, layout[:2])]
        attrs = dict(attrs, groups=attrs["groups"] * size)
        return _split_axis(apply(op, *inputs, **attrs), size, layout[2]), layout[2]
    return rule


# ---------------------------------------------------------- declarations

_GEOMETRY = {"stride": (1, 1), "padding": ((0, 0), (0, 0)), "dilation": (1, 1), "groups": 1}
_STRIDED = {"stride": (2, 1), "padding": ((1, 0), (2, 1)), "dilation": (1, 2), "groups": 2}
F64 = ("float64", "float64")
F32 = ("float32", "float32")


# Lowering (backend/library_conv.py): im2col + one BLAS product over the whole batch per group.
_IM2COL = "conv2d_unfold(contiguous({0}), {shape0}, {%s}, {stride}, {padding}, {dilation}, {%s}, False)"
_CONV_KERNEL = (f"conv2d_gemm({_IM2COL % ('shape1', 'out_shape')}, contiguous({{1}}), "
                "{groups}, {out_shape})")
_TRANSPOSE_KERNEL = ("conv2d_unfold(conv2d_columns_grad(conv2d_cotangent_rows(contiguous({0})), "
                     "contiguous({1}), {groups}), {out_shape}, {shape1}, {stride}, {padding}, "
                     "{dilation}, {shape0}, True).reshape({out_shape})")
_WEIGHT_KERNEL = (f"conv2d_weight_gemm({_IM2COL % ('out_shape', 'shape1')}, "
                  "conv2d_cotangent_rows(contiguous({1})), {groups}, {out_shape})")


CONV = register(Op(
    "conv", shape=_conv_shape, dtype=_conv_dtype, impl=conv_impl, vjp=_conv_vjp, arity=2,
    label="conv", batch=_batch_rule("conv", (1, 0, 1)),
    lowering=Kernel(_CONV_KERNEL),
    samples=(Sample(((2, 3, 5, 4), (4, 3, 3, 2)), _GEOMETRY, F64),
             Sample(((2, 4, 6, 5), (4, 2, 2, 3)), _STRIDED, F64),
             Sample(((1, 2, 4, 4), (2, 2, 3, 3)), dict(_GEOMETRY, padding=((1, 1), (1, 1))), F32)),
))
CONV_TRANSPOSE = register(Op(
    "conv_transpose", shape=_transpose_shape, dtype=_conv_dtype, impl=conv_transpose_impl,
    vjp=_conv_transpose_vjp, arity=2, label="conv_transpose",
    batch=_batch_rule("conv_transpose", (1, 0, 1)),
    lowering=Kernel(_TRANSPOSE_KERNEL),
    samples=(Sample(((2, 4, 3, 3), (4, 3, 3, 2)), dict(_GEOMETRY, input_size=(5, 4)), F64),
             Sample(((2, 4, 3, 4), (4, 2, 2, 3)), dict(_STRIDED, input_size=(6, 5)), F64)),
))
CONV_WEIGHT_GRAD = register(Op(
    "conv_weight_grad", shape=_weight_grad_shape, dtype=_conv_dtype, impl=conv_weight_grad_impl,
    vjp=_conv_weight_grad_vjp, arity=2, label="conv_weight_grad",
    batch=_batch_rule("conv_weight_grad", (1, 1, 0)),
    lowering=Kernel(_WEIGHT_KERNEL),
    samples=(Sample(((2, 3, 5, 4), (2, 4, 3, 3)), dict(_GEOMETRY, kernel_size=(3, 2)), F64),
             Sample(((2, 4, 6, 5), (2, 4, 3, 4)), dict(_STRIDED, kernel_size=(2, 3)), F64)),
))


def conv(x: Node, w: Node, stride: Pair, padding: Padding, dilation: Pair, groups: int) -> Node:
    """The conv node (arguments already normalized by the public builders in ops/nn.py)."""
    return apply(CONV, x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)


__all__ = ["CONV", "CONV_TRANSPOSE", "CONV_WEIGHT_GRAD", "check_geometry", "conv", "conv_impl",
           "conv_transpose_impl", "conv_weight_grad_impl", "out_size"]
