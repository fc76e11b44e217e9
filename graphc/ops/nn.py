"""The public convolution and pooling builders: `gc.nn.conv1d/conv2d/max_pool2d/avg_pool2d`,
`gc.nn.convolve`/`gc.nn.correlate` (layer L2).

Owns argument handling in PyTorch's terms (`torch.nn.functional.conv2d(input,
weight, bias, stride, padding, dilation, groups)`: NCHW input, OIHW weights,
padding "valid" | "same" | int | per-axis ints | per-axis (before, after)
pairs) and SciPy's (`scipy.signal.convolve/correlate` modes), checked here so
errors name the function the user called. Everything lowers to the ops of
ops/conv.py and ops/pool.py: conv1d is conv2d with a height of 1, avg_pool2d is
a depthwise convolution with a constant kernel, convolve/correlate are one
image, one channel. Imports: ir, shapes, dtypes, errors, ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import ArgumentError, DTypeError, ShapeError, user_origin
from ..ir import Node, function
from .base import as_tensor, constant
from .conv import check_geometry, conv
from .elementwise import add
from .other import astype
from .pool import max_pool, pool_out
from .shape import expand_dims, getitem, reshape, squeeze

Pair = tuple[int, int]


# ---------------------------------------------------------------- arguments

def _ints(value: Any, count: int, what: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of `count` ints, each >= minimum."""
    items = value if isinstance(value, (tuple, list)) else (value,) * count
    if len(items) != count or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                      for v in items):
        raise ShapeError(f"{what} must be an int or {count} ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ShapeError(f"{what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> Pair:
    """Output ceil(size / stride); the odd pixel of padding goes after (PyTorch, JAX, TF)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def _padding(padding: Any, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int]) -> tuple[Pair, ...]:
    count = len(spatial)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * count
        if padding == "same":
            return tuple(_same_padding(*args) for args in zip(spatial, kernel, stride, dilation))
        raise ArgumentError(f"padding must be 'valid', 'same', an int or a tuple, got {padding!r} "
                            f"(at {user_origin()})")
    if isinstance(padding, (tuple, list)) and len(padding) == count and \
            all(isinstance(p, (tuple, list)) for p in padding):
        return tuple(tuple(_ints(p, 2, "padding (before, after)", 0)) for p in padding)  # type: ignore[misc]
    return tuple((p, p) for p in _ints(padding, count, "padding", 0))


def _floats(*tensors: Node, what: str) -> list[Node]:
    """The tensors in their common float dtype; integer tensors are refused."""
    bad = [t.dtype for t in tensors if t.dtype.kind != "f"]
    if bad:
        raise DTypeError(f"{what} needs float tensors, got {', '.join(str(t.dtype) for t in tensors)}")
    dtype = np.result_type(*(t.dtype for t in tensors))
    return [astype(t, dtype) for t in tensors]


def _static_spatial(x: Node, rank: int, what: str) -> tuple[int, ...]:
    if x.ndim != rank:
        layout = "(N, C, L)" if rank == 3 else "(N, C, H, W)"
        raise ShapeError(f"{what} must have rank {rank} {layout}, got {shapes.format_shape(x.shape)}")
    spatial = x.shape[2:]
    if not all(isinstance(s, int) for s in (*spatial, x.shape[1])):
        raise ShapeError(f"{what} needs static channel and spatial sizes, got "
                         f"{shapes.format_shape(x.shape)}")
    return tuple(int(s) for s in spatial)  # type: ignore[arg-type]


def _conv(x: Node, w: Node, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
          rank: int) -> Node:
    """conv1d (rank 3) and conv2d (rank 4): normalize, check, build, add the bias."""
    count = rank - 2
    spatial = _static_spatial(x, rank, "the input")
    if w.ndim != rank:
        raise ShapeError(f"the weights must have rank {rank} (O, C/groups, "
                         f"{'K' if rank == 3 else 'kH, kW'}), got {shapes.format_shape(w.shape)}")
    strides = _ints(stride, count, "stride", 1)
    dilations = _ints(dilation, count, "dilation", 1)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ShapeError(f"groups must be a positive int, got {groups!r}")
    kernel = tuple(int(k) if isinstance(k, int) else 0 for k in w.shape[2:])
    pads = _padding(padding, spatial, kernel, strides, dilations)
    x, w = _floats(x, w, what="a convolution")
    if rank == 3:  # a 1-D convolution is a 2-D one of height 1
        x, w = expand_dims(x, 2), expand_dims(w, 2)
        strides, dilations, pads = (1, *strides), (1, *dilations), ((0, 0), *pads)
    geometry = dict(stride=tuple(strides), padding=tuple(pads), dilation=tuple(dilations),
                    groups=int(groups))
    check_geometry(x.shape, w.shape, **geometry)  # type: ignore[arg-type]
    out = conv(x, w, **geometry)  # type: ignore[arg-type]
    if rank == 3:
        out = squeeze(out, 2)
    if bias is None:
        return out
    bias = as_tensor(bias)
    if bias.shape != (w.shape[0],):
        raise ShapeError(f"the bias must have shape [{w.shape[0]}] (one per output channel), got "
                         f"{shapes.format_shape(bias.shape)}")
    [bias] = _floats(bias, what="a convolution's bias")
    return add(out, reshape(bias, (w.shape[0],) + (1,) * count))


# ------------------------------------------------------------------ builders

@function
def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Node:
    """2-D cross-correlation of (N, C, H, W) input with (O, C/groups, kH, kW) weights (torch's conv2d)."""
    return _conv(as_tensor(input), as_tensor(weight), bias, stride, padding, dilation, groups, 4)


@function
def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Node:
    """1-D cross-correlation of an (N, C, L) input with (O, C/groups, K) weights (PyTorch's conv1d)."""
    return _conv(as_tensor(input), as_tensor(weight), bias, stride, padding, dilation, groups, 3)


def _pool_arguments(x: Node, kernel_size: Any, stride: Any, padding: Any,
                    what: str) -> tuple[Node, Pair, Pair, Pair]:
    _static_spatial(x, 4, "the input")
    kernel = _ints(kernel_size, 2, "kernel_size", 1)
    strides = kernel if stride is None else _ints(stride, 2, "stride", 1)
    pads = _ints(padding, 2, "padding", 0)
    pool_out(x.shape, kernel, strides, pads)  # type: ignore[arg-type]
    [x] = _floats(x, what=what)
    return x, kernel, strides, pads  # type: ignore[return-value]


@function
def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Node:  # noqa: A002
    """Max over (kH, kW) windows of an (N, C, H, W) input; stride defaults to the window (PyTorch's)."""
    x, kernel, strides, pads = _pool_arguments(as_tensor(input), kernel_size, stride, padding,
                                               "max_pool2d")
    return max_pool(x, kernel, strides, pads)


@function
def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Node:  # noqa: A002
    """Mean over (kH, kW) windows, padding counted as zeros (PyTorch's count_include_pad=True)."""
    x, kernel, strides, pads = _pool_arguments(as_tensor(input), kernel_size, stride, padding,
                                               "avg_pool2d")
    channels = int(x.shape[1])  # type: ignore[arg-type]
    weights = constant(np.full((channels, 1, *kernel), 1.0 / (kernel[0] * kernel[1]), x.dtype))
    return conv(x, weights, strides, ((pads[0],) * 2, (pads[1],) * 2), (1, 1), channels)


# -------------------------------------------------------- scipy.signal names

def _signal_operands(in1: Any, in2: Any, mode: str) -> tuple[Node, Node]:
    a, v = as_tensor(in1), as_tensor(in2)
    if mode not in ("full", "valid", "same"):
        raise ArgumentError(f"mode must be 'full', 'valid' or 'same', got {mode!r} (at {user_origin()})")
    if a.ndim != v.ndim or a.ndim not in (1, 2):
        raise ShapeError(f"in1 and in2 must both be 1-D or both 2-D, got "
                         f"{shapes.format_shape(a.shape)} and {shapes.format_shape(v.shape)}")
    if not all(isinstance(s, int) and s > 0 for s in (*a.shape, *v.shape)):
        raise ShapeError(f"in1 and in2 need static, non-empty sizes, got "
                         f"{shapes.format_shape(a.shape)} and {shapes.format_shape(v.shape)}")
    common = np.result_type(*(t.dtype if t.dtype.kind == "f" else np.float64 for t in (a, v)))
    return astype(a, common), astype(v, common)


def _swap_needed(a: Node, v: Node) -> bool:
    """scipy's 'valid' rule: the larger operand goes first; one must be larger on every axis."""
    bigger = all(p >= q for p, q in zip(a.shape, v.shape))  # type: ignore[operator]
    smaller = all(p <= q for p, q in zip(a.shape, v.shape))  # type: ignore[operator]
    if not (bigger or smaller):
        raise ShapeError(f"for 'valid' mode one input must be at least as large as the other on "
                         f"every axis, got {shapes.format_shape(a.shape)} and "
                         f"{shapes.format_shape(v.shape)}")
    return not bigger


def _flip(x: Node) -> Node:
    return getitem(x, (slice(None, None, -1),) * x.ndim)


def _correlate_core(a: Node, v: Node, mode: str) -> Node:
    """Cross-correlation of one-channel images: out[k] = sum_j a[k + j - before] v[j]."""
    pads = []
    for m in v.shape:
        assert isinstance(m, int)  # _signal_operands checked
        full = m - 1
        pads.append({"full": (full, full), "valid": (0, 0),
                     "same": (full - full // 2, full // 2)}[mode])
    if a.ndim == 1:
        pads.insert(0, (0, 0))
    image = reshape(a, (1, 1) + (1,) * (2 - a.ndim) + a.shape)
    kernel = reshape(v, (1, 1) + (1,) * (2 - v.ndim) + v.shape)
    out = conv(image, kernel, (1, 1), tuple(pads), (1, 1), 1)  # type: ignore[arg-type]
    return reshape(out, out.shape[4 - a.ndim:])


@function
def convolve(in1: Any, in2: Any, mode: str = "full") -> Node:
    """Convolution of two 1-D or two 2-D tensors with scipy.signal.convolve's modes."""
    a, v = _signal_operands(in1, in2, mode)
    if mode == "valid" and _swap_needed(a, v):
        a, v = v, a  # convolution commutes; scipy puts the larger operand first
    return _correlate_core(a, _flip(v), mode)


@function
def correlate(in1: Any, in2: Any, mode: str = "full") -> Node:
    """Cross-correlation of two 1-D or two 2-D tensors with scipy.signal.correlate's modes."""
    a, v = _signal_operands(in1, in2, mode)
    if mode == "valid" and _swap_needed(a, v):  # scipy: convolve(in1, reversed in2), swapped
        return _correlate_core(_flip(v), _flip(a), mode)
    return _correlate_core(a, v, mode)


__all__ = ["avg_pool2d", "conv1d", "conv2d", "convolve", "correlate", "max_pool2d"]
