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


# NumPy-level twins: the kernel-mode graph function (plain Python) calls these instead of the
# jitted helpers above (codegen's NUMPY_LEVEL): whole-array NumPy (BLAS through np.matmul, the
# im2col walk as one strided slice per kernel tap), as fast, and nothing to compile on first
# use (the jitted conv helpers: ~6 s of Numba's first use on the digits conv net).
def conv2d_unfold_numpy(source: Any, x_shape: Any, w_shape: Any, stride: Any, padding: Any,
                        dilation: Any, y_shape: Any, fold: bool) -> Any:
    """conv2d_unfold at NumPy level: the same walk, one strided slice of the padded image per
    tap (kh, kw); col2im adds the taps in the same order as the loops, so the sums agree."""
    n_, channels, height, width = (int(s) for s in x_shape)
    kernel_h, kernel_w, out_h, out_w = int(w_shape[2]), int(w_shape[3]), int(y_shape[2]), int(y_shape[3])
    top, left = int(padding[0][0]), int(padding[1][0])
    if top < 0 or left < 0:  # the ops' NumPy references (np.pad) refuse it before this
        raise ValueError(f"conv2d_unfold: negative padding {padding}")
    reach_h = (out_h - 1) * stride[0] + (kernel_h - 1) * dilation[0] + 1
    reach_w = (out_w - 1) * stride[1] + (kernel_w - 1) * dilation[1] + 1
    padded = np.zeros((n_, channels, max(top + height, reach_h), max(left + width, reach_w)), source.dtype)
    image = padded[:, :, top:top + height, left:left + width]

    def window(kh: int, kw: int) -> Any:
        h0, w0 = kh * dilation[0], kw * dilation[1]
        return padded[:, :, h0:h0 + (out_h - 1) * stride[0] + 1:stride[0],
                      w0:w0 + (out_w - 1) * stride[1] + 1:stride[1]].transpose(1, 0, 2, 3)

    if fold:
        columns = source.reshape((channels, kernel_h, kernel_w, n_, out_h, out_w))
        for kh in range(kernel_h):
            for kw in range(kernel_w):
                window(kh, kw)[...] += columns[:, kh, kw]
        return np.ascontiguousarray(image).ravel()
    image[...] = source.reshape((n_, channels, height, width))
    out = np.empty((channels, kernel_h, kernel_w, n_, out_h, out_w), source.dtype)
    for kh in range(kernel_h):
        for kw in range(kernel_w):
            out[:, kh, kw] = window(kh, kw)
    return out.ravel()


def conv2d_gemm_numpy(columns: Any, w: Any, groups: int, out_shape: Any) -> Any:
    """conv2d_gemm at NumPy level: one BLAS product per group (np.matmul over the groups)."""
    out_channels, taps = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    n_, plane = out_shape[0], out_shape[2] * out_shape[3]
    product = np.matmul(w.reshape((groups, out_channels // groups, taps)),
                        columns.reshape((groups, taps, n_ * plane)))
    product = product.reshape((out_channels, n_, plane)).transpose(1, 0, 2)
    return np.ascontiguousarray(product).reshape(tuple(out_shape))


def conv2d_cotangent_rows_numpy(g: Any) -> Any:
    """conv2d_cotangent_rows at NumPy level."""
    n_, out_channels = g.shape[0], g.shape[1]
    rows = g.reshape((n_, out_channels, -1)).transpose(1, 0, 2)
    return np.ascontiguousarray(rows).reshape((out_channels, -1))


def conv2d_weight_gemm_numpy(columns: Any, rows: Any, groups: int, w_shape: Any) -> Any:
    """conv2d_weight_gemm at NumPy level."""
    out_channels, taps = rows.shape[0], w_shape[1] * w_shape[2] * w_shape[3]
    grouped = columns.reshape((groups, taps, rows.shape[1]))
    out = np.matmul(rows.reshape((groups, out_channels // groups, rows.shape[1])),
                    grouped.transpose(0, 2, 1))
    return out.reshape(tuple(w_shape))


def conv2d_columns_grad_numpy(rows: Any, w: Any, groups: int) -> Any:
    """conv2d_columns_grad at NumPy level."""
    out_channels, taps = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    weights = w.reshape((groups, out_channels // groups, taps)).transpose(0, 2, 1)
    out = np.matmul(weights, rows.reshape((groups, out_channels // groups, rows.shape[1])))
    return out.reshape((groups * taps, rows.shape[1]))


def _pool_windows(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """(x padded with -inf, a function giving tap (a, b)'s (N, C, H', W') view) for max pooling."""
    out_h, out_w = int(out_shape[2]), int(out_shape[3])
    top, left = int(padding[0]), int(padding[1])
    reach_h = (out_h - 1) * stride[0] + kernel[0]
    reach_w = (out_w - 1) * stride[1] + kernel[1]
    padded = np.full(x.shape[:2] + (max(top + x.shape[2], reach_h), max(left + x.shape[3], reach_w)),
                     -np.inf, x.dtype)
    padded[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x

    def window(a: int, b: int) -> Any:
        return padded[:, :, a:a + (out_h - 1) * stride[0] + 1:stride[0],
                      b:b + (out_w - 1) * stride[1] + 1:stride[1]]
    return padded, window


def max_pool2d_forward_numpy(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """max_pool2d_forward at NumPy level: np.maximum over the taps (NaN wins, as the loops)."""
    if int(padding[0]) < 0 or int(padding[1]) < 0:  # pool_out refuses it before this
        raise ValueError(f"max_pool2d_forward: negative padding {padding}")
    _, window = _pool_windows(x, kernel, stride, padding, out_shape)
    out = np.full(tuple(int(s) for s in out_shape), -np.inf, x.dtype)
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            np.maximum(out, window(a, b), out=out)
    return out


def max_pool2d_argmax_numpy(x: Any, kernel: Any, stride: Any, padding: Any, out_shape: Any) -> Any:
    """max_pool2d_argmax at NumPy level: the taps in row-major order, the same rule as the loops
    (padding is -inf, so it is never taken after the first cell)."""
    if int(padding[0]) < 0 or int(padding[1]) < 0:  # pool_out refuses it before this
        raise ValueError(f"max_pool2d_argmax: negative padding {padding}")
    height, width = x.shape[2], x.shape[3]
    _, window = _pool_windows(x, kernel, stride, padding, out_shape)
    rows = np.arange(int(out_shape[2]))[:, None] * stride[0] - int(padding[0])
    columns = np.arange(int(out_shape[3]))[None, :] * stride[1] - int(padding[1])
    best = window(0, 0).copy()
    inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    where = np.broadcast_to(np.where(inside, rows * width + columns, -1), best.shape).astype(np.int64)
    for a in range(kernel[0]):
        for b in range(1 if a == 0 else 0, kernel[1]):
            value = window(a, b)
            take = ((value > best) | (value != value)) & (best == best)
            best = np.where(take, value, best)
            where = np.where(take, (rows + a) * width + columns + b, where)
    return np.ascontiguousarray(where)


def max_pool2d_route_numpy(positions: Any, source: Any, x_shape: Any, scatter: bool) -> Any:
    """max_pool2d_route at NumPy level (np.add.at adds repeated pixels in the loops' order)."""
    flat, where = source.ravel(), positions.ravel()
    windows, pixels = positions.shape[2] * positions.shape[3], x_shape[2] * x_shape[3]
    valid = np.flatnonzero(where >= 0)
    pixel = (valid // windows) * pixels + where[valid]
    out = np.zeros(x_shape[0] * x_shape[1] * pixels if scatter else where.size, source.dtype)
    if scatter:
        np.add.at(out, pixel, flat[valid])
    else:
        out[valid] = flat[pixel]
    return out


NUMPY_TWINS = {name: f"{name}_numpy" for name in
               ("max_pool2d_forward", "max_pool2d_argmax", "max_pool2d_route", "conv2d_unfold",
                "conv2d_gemm", "conv2d_cotangent_rows", "conv2d_weight_gemm", "conv2d_columns_grad")}
