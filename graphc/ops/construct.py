"""Building and rearranging arrays: arange, roll, pad (and the internal `iota` op).

Owns: `arange` (a constant for static bounds; for a symbolic stop such as
`x.shape[0]`, the `iota` op, which reads that size off the tensor carrying
it, sliced by start and step), `roll` (two slices joined in the other
order) and `pad` (blocks of the constant, or of the edge values, joined on
both sides, one axis after the other as NumPy does); both along axes of static
size (other axes may be symbolic). roll and pad are
compositions of slicing and concatenate, so their gradients, batching and
lowering are those ops'. Imports: ir, shapes, dtypes, errors, base, shape,
batching (layer L2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, GraphcError, ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import as_tensor, check_static_int, constant, function, register
from .other import astype
from .shape import broadcast_to, concatenate, getitem, reshape

IOTA = register(Op(
    "iota", shape=lambda inputs, axis: (inputs[0].shape[axis[0]],),
    dtype=lambda inputs, axis: np.dtype("int64"), arity=1, label="iota",
    impl=lambda x, axis: np.arange(np.shape(x)[axis[0]], dtype=np.int64),
    vjp=lambda g, out, x, axis: (None,),
    lowering=Kernel(lambda node: "iota({shape0[" + str(node.attr["axis"][0]) + "]})"),
    samples=(Sample(((3, 4),), {"axis": (1,)}), Sample(((5,),), {"axis": (0,)})),
    batch=batching.same_everywhere("iota"), finite="always", nonnegative="always"))


def _static_number(value: Any, what: str) -> Any:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ShapeError(f"arange's {what} must be a static number, got {value!r}")
    return value


@function
def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Node:
    """Evenly spaced values in [start, stop) (numpy.arange); stop may be a size like x.shape[0]."""
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if isinstance(stop, shapes.Dim):
        return _symbolic_arange(start, stop, step, dtype)
    if isinstance(start, shapes.Dim):
        raise ShapeError("arange with a symbolic start is not supported; use "
                         "gc.arange(n) + start or a symbolic stop")
    values = np.arange(_static_number(start, "start"), _static_number(stop, "stop"),
                       _static_number(step, "step"), dtype=None if dtype is None else dtypes.as_dtype(dtype))
    return constant(values)


def _symbolic_arange(start: Any, stop: shapes.Dim, step: Any, dtype: Any) -> Node:
    begin = check_static_int(start, "arange's start (with a symbolic stop)")
    stride = check_static_int(step, "arange's step (with a symbolic stop)")
    if begin < 0 or stride <= 0:
        raise ShapeError(f"arange with a symbolic stop needs start >= 0 and step > 0, got "
                         f"start={begin}, step={stride}")
    witness = stop._witness
    if witness is None or stop.coefficient != 1 or len(stop.factors) != 1:
        raise GraphcError(f"arange's stop {stop} is not the size of a tensor axis; pass x.shape[i]")
    values = apply(IOTA, witness[0], axis=(witness[1],))
    if begin or stride != 1:
        values = getitem(values, slice(begin, None, stride))
    return values if dtype is None else astype(values, dtype)


def _along(x: Node, axis: int, part: slice) -> Node:
    index = [slice(None)] * x.ndim
    index[axis] = part
    return getitem(x, tuple(index))


@function
def roll(a: Any, shift: Any, axis: Any = None) -> Node:
    """Shift elements along axes, wrapping around (numpy.roll); static shifts."""
    x = as_tensor(a)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) == 1:
        shifts = tuple(shifts) * len(axes)
    if len(axes) == 1:
        axes = tuple(axes) * len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll got {len(shifts)} shifts for {len(axes)} axes")
    for s, ax in zip(shifts, axes):
        x = _roll_one(x, check_static_int(s, "roll's shift"), shapes.normalize_axis(ax, x.ndim))
    return x


def _roll_one(x: Node, shift: int, axis: int) -> Node:
    size = x.shape[axis]
    if not isinstance(size, int):
        if shift == 0:
            return x
        raise ShapeError(f"roll along axis {axis} of symbolic size {size} is not supported: "
                         "roll needs the axis's size when the graph is built")
    shift = shift % size if size else 0
    if shift == 0:
        return x
    # x[-s:] then x[:-s]; for s < 0 that is x[|s|:] then x[:|s|]
    return concatenate([_along(x, axis, slice(-shift, None)), _along(x, axis, slice(None, -shift))],
                       axis=axis)


def _pairs(value: Any, ndim: int, what: str) -> np.ndarray:
    try:
        table = np.broadcast_to(np.asarray(value), (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad's {what} {value!r} does not fit a tensor of rank {ndim} "
                         "(give n, (before, after) or one pair per axis)") from None
    if table.dtype.kind not in "iuf":
        raise ShapeError(f"pad's {what} must be static numbers, got {value!r}")
    return table


@function
def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Node:
    """Pad with a constant (default 0) or the edge values (numpy.pad); static pad widths."""
    x = as_tensor(array)
    if mode not in ("constant", "edge"):
        raise ArgumentError(f"pad mode {mode!r} is not supported; graphc pads in 'constant' "
                            "and 'edge' mode")
    allowed = {"constant_values"} if mode == "constant" else set()
    if set(kwargs) - allowed:
        raise ArgumentError(f"pad(mode={mode!r}) got unexpected keywords {sorted(set(kwargs) - allowed)}")
    if any(isinstance(w, Node) for w in np.ravel(np.asarray(pad_width, dtype=object))):
        raise ShapeError("pad widths must be static ints")
    widths = _pairs(pad_width, x.ndim, "pad_width")
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ShapeError(f"pad widths must be non-negative ints, got {pad_width!r}")
    values = _pairs(kwargs.get("constant_values", 0), x.ndim, "constant_values")
    for axis in range(x.ndim):
        pieces: list[Node | None] = []
        if widths[axis].any() and not isinstance(x.shape[axis], int):
            raise ShapeError(f"pad along axis {axis} of symbolic size {x.shape[axis]} is not "
                             "supported: pad needs the axis's size when the graph is built")
        for side, width in enumerate(int(w) for w in widths[axis]):
            if width == 0:
                pieces.append(None)
                continue
            block_shape = tuple(width if a == axis else s for a, s in enumerate(x.shape))
            if mode == "edge":
                edge = _along(x, axis, slice(0, 1) if side == 0 else slice(-1, None))
                pieces.append(broadcast_to(edge, block_shape))
            else:
                fill = np.asarray(values[axis, side]).astype(x.dtype)
                pieces.append(broadcast_to(constant(fill), block_shape))
        if pieces[0] is not None or pieces[1] is not None:
            x = concatenate([p for p in (pieces[0], x, pieces[1]) if p is not None], axis=axis)
    return x


__all__ = ["arange", "pad", "roll"]
