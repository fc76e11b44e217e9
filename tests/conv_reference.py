"""Independent references for the convolution and pooling ops: direct NumPy loops.

Written from the definitions (one output element at a time, padding checked
index by index), not from graphc's windowed implementations, so the
contract tests (tests/test_ops_contract.py REFERENCES) and tests/test_conv.py
compare two different computations.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _out(size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int) -> int:
    return (size + padding[0] + padding[1] - dilation * (kernel - 1) - 1) // stride + 1


def _taps(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Any, padding: Any,
          dilation: Any, groups: int) -> Any:
    """Every (n, o, i, j, c_in, c_w, kh, kw, h, w) term of the convolution sum inside the image."""
    n_, channels, height, width = x_shape
    out_channels, per_group, kh_, kw_ = w_shape
    oh = _out(height, kh_, stride[0], padding[0], dilation[0])
    ow = _out(width, kw_, stride[1], padding[1], dilation[1])
    per_out = out_channels // groups
    for n in range(n_):
        for o in range(out_channels):
            group = o // per_out
            for i in range(oh):
                for j in range(ow):
                    for c in range(per_group):
                        for kh in range(kh_):
                            for kw in range(kw_):
                                h = i * stride[0] + kh * dilation[0] - padding[0][0]
                                w = j * stride[1] + kw * dilation[1] - padding[1][0]
                                if 0 <= h < height and 0 <= w < width:
                                    yield n, o, i, j, group * per_group + c, c, kh, kw, h, w


def conv(x: np.ndarray, w: np.ndarray, stride: Any, padding: Any, dilation: Any,
         groups: int) -> np.ndarray:
    oh = _out(x.shape[2], w.shape[2], stride[0], padding[0], dilation[0])
    ow = _out(x.shape[3], w.shape[3], stride[1], padding[1], dilation[1])
    out = np.zeros((x.shape[0], w.shape[0], oh, ow), np.result_type(x, w))
    for n, o, i, j, ci, c, kh, kw, h, v in _taps(x.shape, w.shape, stride, padding, dilation, groups):
        out[n, o, i, j] += x[n, ci, h, v] * w[o, c, kh, kw]
    return out


def conv_transpose(g: np.ndarray, w: np.ndarray, stride: Any, padding: Any, dilation: Any,
                   groups: int, input_size: Any) -> np.ndarray:
    x_shape = (g.shape[0], w.shape[1] * groups, *input_size)
    out = np.zeros(x_shape, np.result_type(g, w))
    for n, o, i, j, ci, c, kh, kw, h, v in _taps(x_shape, w.shape, stride, padding, dilation, groups):
        out[n, ci, h, v] += g[n, o, i, j] * w[o, c, kh, kw]
    return out


def conv_weight_grad(x: np.ndarray, g: np.ndarray, stride: Any, padding: Any, dilation: Any,
                     groups: int, kernel_size: Any) -> np.ndarray:
    w_shape = (g.shape[1], x.shape[1] // groups, *kernel_size)
    out = np.zeros(w_shape, np.result_type(x, g))
    for n, o, i, j, ci, c, kh, kw, h, v in _taps(x.shape, w_shape, stride, padding, dilation, groups):
        out[o, c, kh, kw] += x[n, ci, h, v] * g[n, o, i, j]
    return out


def _pool_windows(x: np.ndarray, kernel: Any, stride: Any, padding: Any) -> Any:
    """(n, c, i, j, [(h, w) positions of the window inside the image, in row-major order])."""
    n_, c_, height, width = x.shape
    oh = (height + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (width + 2 * padding[1] - kernel[1]) // stride[1] + 1
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    cells = [(i * stride[0] + a - padding[0], j * stride[1] + b - padding[1])
                             for a in range(kernel[0]) for b in range(kernel[1])]
                    yield n, c, i, j, [(h, w) for h, w in cells if 0 <= h < height and 0 <= w < width]


def _first_max(x: np.ndarray, n: int, c: int, cells: list[tuple[int, int]]) -> tuple[int, int]:
    values = [x[n, c, h, w] for h, w in cells]
    nan = [k for k, v in enumerate(values) if v != v]
    return cells[nan[0] if nan else int(np.argmax(values))]


def max_pool2d(x: np.ndarray, kernel: Any, stride: Any, padding: Any) -> np.ndarray:
    oh = (x.shape[2] + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (x.shape[3] + 2 * padding[1] - kernel[1]) // stride[1] + 1
    out = np.empty((x.shape[0], x.shape[1], oh, ow), x.dtype)
    for n, c, i, j, cells in _pool_windows(x, kernel, stride, padding):
        out[n, c, i, j] = x[(n, c, *_first_max(x, n, c, cells))]
    return out


def max_pool2d_grad(x: np.ndarray, g: np.ndarray, kernel: Any, stride: Any, padding: Any) -> np.ndarray:
    out = np.zeros(x.shape, g.dtype)
    for n, c, i, j, cells in _pool_windows(x, kernel, stride, padding):
        out[(n, c, *_first_max(x, n, c, cells))] += g[n, c, i, j]
    return out


def max_pool2d_gather(x: np.ndarray, h: np.ndarray, kernel: Any, stride: Any, padding: Any) -> np.ndarray:
    out = np.empty(max_pool2d(x, kernel, stride, padding).shape, h.dtype)
    for n, c, i, j, cells in _pool_windows(x, kernel, stride, padding):
        out[n, c, i, j] = h[(n, c, *_first_max(x, n, c, cells))]
    return out


REFERENCES = {
    "conv": conv, "conv_transpose": conv_transpose, "conv_weight_grad": conv_weight_grad,
    "max_pool2d": max_pool2d, "max_pool2d_grad": max_pool2d_grad,
    "max_pool2d_gather": max_pool2d_gather,
}
