"""Array helpers that generated code calls for convolution and max pooling (ops/conv.py, ops/pool.py).

Owns the im2col lowering of the three conv ops: `conv2d_unfold` (one walk,
both ways: the (C*kH*kW, N*H'*W') column matrix of the zero-padded input,
im2col, or its transpose, col2im), `conv2d_cotangent_rows` (the cotangent laid
out as the columns run) and the products `conv2d_gemm` (conv),
`conv2d_columns_grad` (conv_transpose, followed by col2im) and
`conv2d_weight_gemm` (conv_weight_grad), each ONE BLAS call per group over the
whole batch; and max pooling's loops (`max_pool2d_forward`, `max_pool2d_argmax`
and `max_pool2d_route`, which uses its positions both ways).
Generated code composes them in one statement (`conv2d_gemm(conv2d_unfold(x,
...), w, ...)`): a helper cannot call another helper's plain-Python version,
since numba jits each alone. Plain Python over NumPy: graphc.backend.runtime jits
each with numba (cache=True); this module never imports numba. Imports: numpy
only (layer L4).

Why im2col + BLAS: measured against direct loop nests (the output column
innermost, the column range clipped to the image once per row) on the digits
net's layers, the loops were 1.9-3.4x slower on the 1->8-channel 8x8 layer
and 29-41x slower on the 8->16-channel 4x4 one (docs/convolution.md).
Loops run the output column innermost, clipped to the image once per row,
so the innermost loops have no bounds branch per element."""

from __future__ import annotations

from typing import Any

import numpy as np

# Helpers cannot call each other's plain-Python versions (numba jits each one
# alone), so the clipped column range j with 0 <= j*stride + offset < width is
# written out in each loop over output columns:
#     first = ceil(-offset / stride) if offset < 0 else 0
#     end = min(out_w, ceil((width - offset) / stride)), or 0 when width <= offset


def conv2d_unfold(source: Any, x_shape: Any, w_shape: Any, stride: Any, padding: Any, dilation: Any,
                  y_shape: Any, fold: bool) -> Any:
    """The im2col walk, both ways, over flat arrays: entry (row (c, kh, kw), column (n, i, j))
    of the (C*kH*kW, N*H'*W') column matrix stands for pixel
    x[n, c, i*sh + kh*dh - top, j*sw + kw*dw - left] of the (N, C, H, W) image.

    fold=False: source is the image; returns the column matrix (flat, zero in the padding).
    fold=True: source is the column matrix; returns the image (flat) with each entry added
    back at its pixel: col2im, the transpose. One walk serves conv, its input gradient
    (conv_transpose) and its weight gradient."""
    flat = source.ravel()
    n_, channels, height, width = x_shape[0], x_shape[1], x_shape[2], x_shape[3]
    kernel_h, kernel_w = w_shape[2], w_shape[3]
    out_h, out_w = y_shape[2], y_shape[3]
    plane = out_h * out_w
    size = n_ * channels * height * width if fold else channels * kernel_h * kernel_w * n_ * plane
    out = np.zeros(size, source.dtype)
    for c in range(channels):
        for kh in range(kernel_h):
            for kw in range(kernel_w):
                row = ((c * kernel_h + kh) * kernel_w + kw) * n_ * plane
                offset = kw * dilation[1] - padding[1][0]
                first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) if width > offset else 0
                for n in range(n_):
                    for i in range(out_h):
                        h = i * stride[0] + kh * dilation[0] - padding[0][0]
                        if h < 0 or h >= height:
                            continue
                        column = row + n * plane + i * out_w
                        pixel = ((n * channels + c) * height + h) * width + offset
                        if fold:
                            for j in range(first, end):
                                out[pixel + j * stride[1]] += flat[column + j]
                        else:
                            for j in range(first, end):
                                out[column + j] = flat[pixel + j * stride[1]]
    return out


def conv2d_gemm(columns: Any, w: Any, groups: int, out_shape: Any) -> Any:
    """The convolution from its im2col matrix (flat, from conv2d_unfold): W @ columns per group,
    one BLAS call for the whole batch, then laid out (N, O, H', W')."""
    out_channels = w.shape[0]
    taps = w.shape[1] * w.shape[2] * w.shape[3]
    n_, plane = out_shape[0], out_shape[2] * out_shape[3]
    columns = columns.reshape((taps * groups, n_ * plane))
    weights = w.reshape((out_channels, taps))
    per_out = out_channels // groups
    product = np.empty((out_channels, n_ * plane), columns.dtype)
    for g in range(groups):
        product[g * per_out:(g + 1) * per_out] = np.dot(
            np.ascontiguousarray(weights[g * per_out:(g + 1) * per_out]),
            np.ascontiguousarray(columns[g * taps:(g + 1) * taps]))
    out = np.empty((n_, out_channels, plane), columns.dtype)
    for n in range(n_):
        for o in range(out_channels):
            out[n, o, :] = product[o, n * plane:(n + 1) * plane]
    return out.reshape((out_shape[0], out_shape[1], out_shape[2], out_shape[3]))


def conv2d_cotangent_rows(g: Any) -> Any:
    """The (N, O, H', W') cotangent laid out (O, N*H'*W'), as the im2col matrix's columns run."""
    n_, out_channels, plane = g.shape[0], g.shape[1], g.shape[2] * g.shape[3]
    rows = np.empty((out_channels, n_ * plane), g.dtype)
    flat = g.reshape((n_, out_channels, plane))
    for o in range(out_channels):
        for n in range(n_):
            rows[o, n * plane:(n + 1) * plane] = flat[n, o, :]
    return rows


def conv2d_weight_gemm(columns: Any, rows: Any, groups: int, w_shape: Any) -> Any:
    """The weight gradient: rows @ columns.T per group, from the input's im2col matrix (flat)
    and the cotangent's rows (conv2d_cotangent_rows)."""
    out_channels = rows.shape[0]
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    columns = columns.reshape((taps * groups, rows.shape[1]))
    per_out = out_channels // groups
    out = np.empty((out_channels, taps), rows.dtype)
    for k in range(groups):
        out[k * per_out:(k + 1) * per_out] = np.dot(
            np.ascontiguousarray(rows[k * per_out:(k + 1) * per_out]),
            np.ascontiguousarray(columns[k * taps:(k + 1) * taps]).T)
    return out.reshape((w_shape[0], w_shape[1], w_shape[2], w_shape[3]))


def conv2d_columns_grad(rows: Any, w: Any, groups: int) -> Any:
    """The cotangent of the im2col matrix: W.T @ rows per group (rows: conv2d_cotangent_rows)."""
    out_channels = w.shape[0]
    taps = w.shape[1] * w.shape[2] * w.shape[3]
    weights = w.reshape((out_channels, taps))
    per_out = out_channels // groups
    out = np.empty((taps * groups, rows.shape[1]), rows.dtype)
    for k in range(groups):
        out[k * taps:(k + 1) * taps] = np.dot(
            np.ascontiguousarray(weights[k * per_out:(k + 1) * per_out]).T,
            np.ascontiguousarray(rows[k * per_out:(k + 1) * per_out]))
    return out


def max_pool2d_forward(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """Max over each window, -inf padding, NaN propagating (np.max).

    Loops run window offset (a, b) outside and the output column j inside, so
    the inner loop is a branch-free running max over a row (it vectorizes).
    """
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out_shape[2], out_shape[3]
    out = np.full((x.shape[0], x.shape[1], out_h, out_w), -np.inf, x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_h):
                for a in range(kernel[0]):
                    h = i * stride[0] - padding[0] + a
                    if h < 0 or h >= height:
                        continue
                    for b in range(kernel[1]):
                        offset = b - padding[1]
                        first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                        end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) \
                            if width > offset else 0
                        for j in range(first, end):
                            value = x[n, c, h, j * stride[1] + offset]
                            best = out[n, c, i, j]
                            # NaN wins and stays: take value if it is larger or NaN, unless best is NaN
                            take = ((value > best) | (value != value)) & (best == best)
                            out[n, c, i, j] = value if take else best
    return out


def max_pool2d_argmax(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """Per window, the flat position h * W + w in x of its first maximum, -1 if that is padding.

    The window is scanned in row-major order with padding read as -inf and the
    first NaN winning, exactly as np.argmax over the padded window. As in
    max_pool2d_forward the output column is the inner loop (over one row of
    running maxima and positions); a window reaching into the padding starts
    at -1 with -inf (its first cell is padding).
    """
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out_shape[2], out_shape[3]
    out = np.empty((x.shape[0], x.shape[1], out_h, out_w), np.int64)
    best = np.empty(out_w, x.dtype)
    where = np.empty(out_w, np.int64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_h):
                top = i * stride[0] - padding[0]
                for j in range(out_w):
                    left = j * stride[1] - padding[1]
                    inside = 0 <= top < height and 0 <= left < width
                    best[j] = x[n, c, top, left] if inside else -np.inf
                    where[j] = top * width + left if inside else -1
                for a in range(kernel[0]):
                    h = top + a
                    if h < 0 or h >= height:
                        continue
                    for b in range(1 if a == 0 else 0, kernel[1]):  # (0, 0) seeded the row above
                        offset = b - padding[1]
                        first = (-offset + stride[1] - 1) // stride[1] if offset < 0 else 0
                        end = min(out_w, (width - offset + stride[1] - 1) // stride[1]) \
                            if width > offset else 0
                        for j in range(first, end):  # branch-free, so it vectorizes
                            value = x[n, c, h, j * stride[1] + offset]
                            current = best[j]
                            take = ((value > current) | (value != value)) & (current == current)
                            best[j] = value if take else current
                            where[j] = h * width + j * stride[1] + offset if take else where[j]
                out[n, c, i, :] = where
    return out


def max_pool2d_route(positions: Any, source: Any, x_shape: Any, scatter: bool) -> Any:
    """Between each window (positions: max_pool2d_argmax's) and its maximum's pixel in x, flat.

    scatter=True: source is the pooled cotangent; each window's value is added at its pixel
    (overlapping windows accumulate), giving x's size: max_pool2d's VJP. scatter=False:
    source has x's shape; it is read at each window's pixel, 0 where that is padding, giving
    the pooled size: the transpose. One walk serves both."""
    flat, where = source.ravel(), positions.ravel()
    windows, pixels = positions.shape[2] * positions.shape[3], x_shape[2] * x_shape[3]
    out = np.zeros(x_shape[0] * x_shape[1] * pixels if scatter else where.size, source.dtype)
    for k in range(where.size):
        if where[k] >= 0:
            pixel = (k // windows) * pixels + where[k]
            if scatter:
                out[pixel] += flat[k]
            else:
                out[k] = flat[pixel]
    return out


HELPERS = ("conv2d_unfold", "conv2d_gemm", "conv2d_cotangent_rows", "conv2d_weight_gemm",
           "conv2d_columns_grad", "max_pool2d_forward",
           "max_pool2d_argmax", "max_pool2d_route")
