"""Array helpers that generated code calls for convolution and max pooling (ops/conv.py, ops/pool.py).

Owns direct loop nests for `conv` (conv2d_forward), its input gradient
(conv2d_transpose) and weight gradient (conv2d_weight_grad), and max
pooling's forward, scatter and gather. Plain Python over NumPy:
graphc.backend.runtime jits each with numba (cache=True); this module never
imports numba. Imports: numpy only (layer L4).

Why loops and not im2col + BLAS: on the sizes convolution nets on small
images have (digits: 8x8, 1-16 channels, batch 64) a BLAS call per image costs
more than the arithmetic, and building the im2col matrix costs as much as the
product. The loops run the contiguous output column innermost (a unit-stride,
vectorizable loop for stride 1) with the column range clipped to the image
once per row, so there is no branch per element. Measured against an
im2col + np.dot version in benchmarks/bench_conv.py (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Helpers cannot call each other's plain-Python versions (numba jits each one
# alone), so the clipped column range j with 0 <= j*stride + offset < width is
# written out in each conv loop:
#     first = ceil(-offset / stride) if offset < 0 else 0
#     end = min(out_w, ceil((width - offset) / stride)), or 0 when width <= offset


def conv2d_forward(x: Any, w: Any, stride: Any, padding: Any, dilation: Any, groups: int,
                   out_shape: Any) -> Any:
    """out[n, o, i, j] = sum over the group's channels and the kernel of x (zero-padded) * w."""
    n_, channels, height, width = x.shape
    out_channels, per_group, kernel_h, kernel_w = w.shape
    out_h, out_w = out_shape[2], out_shape[3]
    per_out = out_channels // groups
    out = np.zeros((n_, out_channels, out_h, out_w), x.dtype)
    for n in range(n_):
        for o in range(out_channels):
            base = (o // per_out) * per_group
            for c in range(per_group):
                for kh in range(kernel_h):
                    for kw in range(kernel_w):
                        weight = w[o, c, kh, kw]
                        offset = kw * dilation[1] - padding[1][0]
                        first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                        end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) \
                            if width > offset else 0
                        for i in range(out_h):
                            h = i * stride[0] + kh * dilation[0] - padding[0][0]
                            if h < 0 or h >= height:
                                continue
                            for j in range(first, end):
                                out[n, o, i, j] += weight * x[n, base + c, h, j * stride[1] + offset]
    return out


def conv2d_transpose(g: Any, w: Any, stride: Any, padding: Any, dilation: Any, groups: int,
                     out_shape: Any) -> Any:
    """The input gradient of conv2d_forward: every output cotangent scattered back through w."""
    n_, out_channels, out_h, out_w = g.shape
    _, per_group, kernel_h, kernel_w = w.shape
    height, width = out_shape[2], out_shape[3]
    per_out = out_channels // groups
    out = np.zeros((n_, per_group * groups, height, width), g.dtype)
    for n in range(n_):
        for o in range(out_channels):
            base = (o // per_out) * per_group
            for c in range(per_group):
                for kh in range(kernel_h):
                    for kw in range(kernel_w):
                        weight = w[o, c, kh, kw]
                        offset = kw * dilation[1] - padding[1][0]
                        first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                        end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) \
                            if width > offset else 0
                        for i in range(out_h):
                            h = i * stride[0] + kh * dilation[0] - padding[0][0]
                            if h < 0 or h >= height:
                                continue
                            for j in range(first, end):
                                out[n, base + c, h, j * stride[1] + offset] += weight * g[n, o, i, j]
    return out


def conv2d_weight_grad(x: Any, g: Any, stride: Any, padding: Any, dilation: Any, groups: int,
                       kernel_size: Any) -> Any:
    """The weight gradient of conv2d_forward: per tap, the sum over images and positions of x * g.

    Sums go into a row of partial sums (one per output column), added at the
    end: the inner loop then has no dependency between iterations and vectorizes.
    """
    n_, channels, height, width = x.shape
    _, out_channels, out_h, out_w = g.shape
    kernel_h, kernel_w = kernel_size[0], kernel_size[1]
    per_group = channels // groups
    per_out = out_channels // groups
    out = np.zeros((out_channels, per_group, kernel_h, kernel_w), x.dtype)
    partial = np.zeros(out_w, x.dtype)
    for o in range(out_channels):
        base = (o // per_out) * per_group
        for c in range(per_group):
            for kh in range(kernel_h):
                for kw in range(kernel_w):
                    offset = kw * dilation[1] - padding[1][0]
                    first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                    end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) \
                        if width > offset else 0
                    partial[:] = 0
                    for n in range(n_):
                        for i in range(out_h):
                            h = i * stride[0] + kh * dilation[0] - padding[0][0]
                            if h < 0 or h >= height:
                                continue
                            for j in range(first, end):
                                partial[j] += x[n, base + c, h, j * stride[1] + offset] * g[n, o, i, j]
                    total = partial[0] * 0
                    for j in range(out_w):
                        total += partial[j]
                    out[o, c, kh, kw] = total
    return out


def max_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """Max over each window, -inf padding, NaN propagating (np.max)."""
    height, width = x.shape[2], x.shape[3]
    out = np.empty((x.shape[0], x.shape[1], out_shape[2], out_shape[3]), x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_shape[2]):
                for j in range(out_shape[3]):
                    best = -np.inf
                    for a in range(kernel[0]):
                        h = i * stride[0] - padding[0] + a
                        if h < 0 or h >= height:
                            continue
                        for b in range(kernel[1]):
                            v = j * stride[1] - padding[1] + b
                            if 0 <= v < width:
                                value = x[n, c, h, v]
                                if value > best or (value != value and best == best):
                                    best = value  # once NaN, nothing replaces it
                    out[n, c, i, j] = best
    return out


def max_pool2d_argmax(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """Per window, the flat position h * W + w in x of its first maximum, -1 if that is padding.

    The window is scanned in row-major order with padding read as -inf and the
    first NaN winning, exactly as np.argmax over the padded window.
    """
    height, width = x.shape[2], x.shape[3]
    out = np.empty((x.shape[0], x.shape[1], out_shape[2], out_shape[3]), np.int64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_shape[2]):
                for j in range(out_shape[3]):
                    best = -np.inf
                    position = -2
                    for a in range(kernel[0]):
                        h = i * stride[0] - padding[0] + a
                        for b in range(kernel[1]):
                            v = j * stride[1] - padding[1] + b
                            inside = 0 <= h < height and 0 <= v < width
                            value = x[n, c, h, v] if inside else -np.inf
                            if position == -2 or value > best or (value != value and best == best):
                                best = value
                                position = h * width + v if inside else -1
                    out[n, c, i, j] = position
    return out


def max_pool2d_scatter(positions: Any, g: Any, x_shape: Any) -> Any:
    """Each window's cotangent added at its maximum's position (overlapping windows accumulate)."""
    out = np.zeros((x_shape[0], x_shape[1], x_shape[2] * x_shape[3]), g.dtype)
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            for i in range(g.shape[2]):
                for j in range(g.shape[3]):
                    position = positions[n, c, i, j]
                    if position >= 0:
                        out[n, c, position] += g[n, c, i, j]
    return out.reshape((x_shape[0], x_shape[1], x_shape[2], x_shape[3]))


def max_pool2d_select(positions: Any, values: Any) -> Any:
    """`values` (x's shape) read at each window's maximum; 0 where that is padding."""
    flat = values.reshape((values.shape[0], values.shape[1], values.shape[2] * values.shape[3]))
    out = np.zeros(positions.shape, values.dtype)
    for n in range(positions.shape[0]):
        for c in range(positions.shape[1]):
            for i in range(positions.shape[2]):
                for j in range(positions.shape[3]):
                    position = positions[n, c, i, j]
                    if position >= 0:
                        out[n, c, i, j] = flat[n, c, position]
    return out


HELPERS = ("conv2d_forward", "conv2d_transpose", "conv2d_weight_grad", "max_pool2d_forward",
           "max_pool2d_argmax", "max_pool2d_scatter", "max_pool2d_select")
