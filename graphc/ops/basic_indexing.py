"""Basic indexing: `x[1:, None, -1]` (getitem) and its transpose, scatter (layer L2).

Owns the two op declarations and the `getitem` builder: a static index
(ints, slices, None, '...') is normalized to a tuple of parts; integer
tensors go to the gathers of ops/indexing_plan.py. A static index into a
symbolic axis is a run-time size constraint (checked on every call), so the
generated code, which reads without bounds checks, stays in bounds.
`index_source` writes an index as Python source (codegen, the printer).
Split off from ops/shape.py, which re-exports these names. Imports: shapes,
errors, ir, batching, base. Entry point: `getitem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import as_tensor, check_static_int, function, register, same_dtype

Shape = shapes.Shape

IndexPart = tuple[Any, ...]


def _normalize_index(x: Node, index: Any) -> tuple[IndexPart, ...]:
    """Static basic index -> tuple of ("int", i) / ("slice", a, b, c) / ("new",)."""
    if not isinstance(index, tuple):
        index = (index,)
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise ShapeError(f"too many indices ({consumed}) for a tensor of rank {x.ndim}")
    parts: list[IndexPart] = []
    for item in index:
        if item is Ellipsis:
            parts.extend([("slice", None, None, None)] * (x.ndim - consumed))
        elif item is None:
            parts.append(("new",))
        elif isinstance(item, slice):
            bounds = [None if b is None else check_static_int(b, "a slice bound")
                      for b in (item.start, item.stop, item.step)]
            if bounds[2] == 0:
                raise ShapeError("slice step cannot be zero")
            parts.append(("slice", *bounds))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            parts.append(("int", int(item)))
        else:
            raise ShapeError(
                f"unsupported index {item!r}: graphc supports static ints, slices, None, ... "
                "and integer tensors (or lists and integer arrays)"
            )
    taken = sum(1 for p in parts if p[0] != "new")
    parts.extend([("slice", None, None, None)] * (x.ndim - taken))
    return tuple(parts)


def _index_tuple(index: tuple[IndexPart, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for part in index:
        if part[0] == "int":
            out.append(part[1])
        elif part[0] == "new":
            out.append(None)
        else:
            out.append(slice(*part[1:]))
    return tuple(out)


def _require_index(size: Any, axis: int, index: int) -> None:
    """A static index must fall inside its axis: now if the size is static, else on every call
    (the generated code reads without bounds checks, so this is what keeps reads in bounds)."""
    if isinstance(size, int):
        if not -size <= index < size:
            raise ShapeError(f"index {index} is out of bounds for axis {axis} with size {size}")
        return
    shapes.require_at_least(size, index + 1 if index >= 0 else -index,
                            f"index {index} is out of bounds for axis {axis}")


def _scatter_shape(inputs: Sequence[Node], shape: Shape, index: tuple[IndexPart, ...]) -> Shape:
    """The gradient of x[i] writes at i: the same bound as the read it differentiates."""
    axes = iter(enumerate(shape))
    for part in index:
        if part[0] == "new":
            continue
        axis, size = next(axes)
        if part[0] == "int":
            _require_index(size, axis, part[1])
    return tuple(shape)


def _getitem_shape(inputs: Sequence[Node], index: tuple[IndexPart, ...]) -> Shape:
    dims = iter(enumerate(inputs[0].shape))
    result: list[Any] = []
    for part in index:
        if part[0] == "new":
            result.append(1)
            continue
        axis, size = next(dims)
        if part[0] == "int":
            _require_index(size, axis, part[1])
            continue
        start, stop, step = part[1:]
        if isinstance(size, int):
            result.append(len(range(*slice(start, stop, step).indices(size))))
        elif start is None and stop is None and step in (None, 1, -1):
            result.append(size)
        else:
            result.append(shapes.sliced(size, start, stop, step))
    result.extend(size for _, size in dims)  # axes the index leaves out are kept whole
    return tuple(result)


def index_entries(index: tuple[IndexPart, ...]) -> tuple[str | int, ...]:
    """The index's entries: an integer as an int, the rest as Python source (`1:`, `None`)."""
    pieces: list[str | int] = []
    for part in index:
        if part[0] == "int":
            pieces.append(int(part[1]))
        elif part[0] == "new":
            pieces.append("None")
        else:
            start, stop, step = ("" if b is None else str(b) for b in part[1:])
            pieces.append(f"{start}:{stop}" + (f":{step}" if step else ""))
    return tuple(pieces)


def index_source(index: tuple[IndexPart, ...], separator: str = ", ") -> str:
    """`[1:, None]`: the index as Python source, for generated code and the printer."""
    return "[" + separator.join(str(p) for p in index_entries(index)) + "]"


def _scatter_impl(g: np.ndarray, shape: tuple[int, ...], index: tuple[IndexPart, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    out[_index_tuple(index)] = g
    return out



def _scatter_kernel(node: Node) -> str:
    """zeros, then the values copied into the view the index selects: a loop helper
    (backend/library_views.py), because Numba compiles a slice assignment slowly."""
    view = "{out}" + index_source(node.attr["index"])
    if node.inputs[0].ndim == 0:  # the index selects one element, not a view
        return "{out} = zeros({shape}, {out_dtype})\n" + view + " = {0}"
    return "{out} = zeros({shape}, {out_dtype})\ncopy_into(" + view + ", {0})"


GETITEM = register(Op(
    "getitem", shape=_getitem_shape, dtype=same_dtype, arity=1, linear=True, label="getitem",
    impl=lambda x, index: x[_index_tuple(index)],
    vjp=lambda g, out, x, index: (apply(SCATTER, g, shape=x.shape, index=index),),
    batch=batching.getitem,
    lowering=Kernel(lambda node: "{0}" + index_source(node.attr["index"]),
                    entries=lambda node: index_entries(node.attr["index"])),
    samples=(Sample(((4, 3),), {"index": (("int", 1),)}),
             Sample(((5, 3),), {"index": (("slice", 1, None, 2), ("int", -1))}),
             Sample(((5,),), {"index": (("slice", None, None, -1),)}),
             Sample(((2, 3),), {"index": (("slice", None, None, None), ("new",),
                                          ("slice", 0, 2, None))})),
))
SCATTER = register(Op(
    "scatter", shape=_scatter_shape, dtype=same_dtype, arity=1,
    linear=True, label="scatter", impl=_scatter_impl,
    lowering=Kernel(lambda node: _scatter_kernel(node), allocates=True),
    vjp=lambda g, out, x, shape, index: (apply(GETITEM, g, index=index),),
    batch=batching.scatter,
    samples=(Sample(((3,),), {"shape": (4, 3), "index": (("int", 1), ("slice", None, None, None))}),),
))


@function
def getitem(x: Any, index: Any) -> Node:
    """x[index]: static ints, slices, None and '...'; integer tensors gather (ops/indexing_plan.py)."""
    from .indexing_plan import advanced_getitem, is_advanced  # integer tensors: a gather

    x = as_tensor(x)
    if is_advanced(index):
        return advanced_getitem(x, index)
    normalized = _normalize_index(x, index)
    if all(p == ("slice", None, None, None) for p in normalized):
        return x
    return apply(GETITEM, x, index=normalized)

