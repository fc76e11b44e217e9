"""Static shapes with symbolic dimensions, and NumPy broadcasting over them.

Owns: shape normalisation, broadcasting, axis normalisation, and the
equalities between symbolic sizes that building a graph implies
(`x("n",3) + y("m",3)` implies n == m; a call that violates it is rejected
by the compiled function). `Dim` (a symbolic size) and slice lengths live in
dims.py and are re-exported here. Imports: dims, errors (layer L0).

A `Dim` is a product of named factors times an integer, so that reshaping a
`("n", 3)` tensor to `(-1,)` has the exact size `3*n` and every size in a
graph can be computed at run time from the inputs' sizes.

Symbolic sizes never broadcast implicitly: only a static 1 stretches. This is
PyTensor's rule, and it is what lets shapes be decided when the graph is built.
"""

from __future__ import annotations

import operator
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

# Symbolic sizes live in dims.py; re-exported here, where the rest of graphc finds them.
from .dims import SLICES as SLICES
from .dims import Dim as Dim
from .dims import Shape as Shape
from .dims import Size as Size
from .dims import Slice as Slice
from .dims import _arithmetic as _arithmetic  # graphc.ops.base installs the hook
from .dims import sliced as sliced
from .errors import ShapeError


@dataclass(frozen=True)
class AtLeast:
    """A lower bound on a run-time size: a static index into a symbolic axis needs
    index + 1 elements, a max over an axis needs one. Checked on every call."""

    minimum: int
    why: str  # "index 5 is out of bounds for axis 0": what the error of a violating call says

    def __str__(self) -> str:
        return f">= {self.minimum}"


# (a, b): a == b; (a, AtLeast(k, why)): a >= k.
Constraint = tuple[Size, "Size | AtLeast"]

class _Collecting(threading.local):
    """Per thread: graphs built on several threads at once must not mix their records."""

    def __init__(self) -> None:
        self.stack: list[list[Constraint]] = []


# Equalities between sizes found while a node's shape rule runs; the node
# records them so the compiled function can check them against real inputs.
_collecting = _Collecting()


@contextmanager
def collect_constraints() -> Iterator[list[Constraint]]:
    found: list[Constraint] = []
    _collecting.stack.append(found)
    try:
        yield found
    finally:
        _collecting.stack.pop()


def require_equal(a: Size, b: Size) -> None:
    """Record that two sizes must be equal at run time (static ones checked now)."""
    if a == b:
        return
    if isinstance(a, int) and isinstance(b, int):
        raise ShapeError(f"sizes {a} and {b} differ")
    if _collecting.stack:
        _collecting.stack[-1].append((a, b))


def require_at_least(size: Size, minimum: int, why: str) -> None:
    """Record that a size must be at least `minimum` at run time (static ones checked now)."""
    if isinstance(size, int):
        if size < minimum:
            raise ShapeError(f"{why}: the size is {size}, it needs at least {minimum}")
        return
    if _collecting.stack:
        _collecting.stack[-1].append((size, AtLeast(minimum, why)))


def input_shape(spec: Sequence[Any]) -> Shape:
    """Turn a user shape (ints, None, names) into a Shape."""
    if isinstance(spec, (int, str)) or spec is None:
        spec = (spec,)
    dims: list[Size] = []
    for entry in spec:
        if isinstance(entry, Dim):  # another tensor's size: gc.input("y", x.shape)
            if entry.plain_name is None and not entry._is_none:
                raise ShapeError(f"an input's dimension must be an int, None or a name; "
                                 f"{entry} is a size derived from other sizes")
            entry = entry.plain_name
        if entry is None:
            dims.append(Dim.anonymous())
        elif isinstance(entry, str):
            if not entry.isidentifier():
                raise ShapeError(f"dimension name {entry!r} must be an identifier")
            dims.append(Dim.named(entry))
        elif static_int(entry) is not None and static_int(entry) >= 0:  # type: ignore[operator]
            dims.append(static_int(entry))  # type: ignore[arg-type]
        else:
            raise ShapeError(
                f"bad dimension {entry!r}: expected a non-negative int, None or a name"
            )
    return tuple(dims)


def format_shape(shape: Shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def product(sizes: Sequence[Size]) -> Size:
    """Exact product of sizes, symbolic when any factor is."""
    coefficient = 1
    factors: list[str] = []
    for size in sizes:
        if isinstance(size, Dim):
            coefficient *= size.coefficient
            factors.extend(size.factors)
        else:
            coefficient *= size
    if not factors or coefficient == 0:
        return coefficient
    return Dim(tuple(sorted(factors)), coefficient)


def quotient(total: Size, known: Size) -> Size | None:
    """total / known when it is exact, else None."""
    t_coef, t_fac = (total, Counter()) if isinstance(total, int) else (
        total.coefficient, Counter(total.factors))
    k_coef, k_fac = (known, Counter()) if isinstance(known, int) else (
        known.coefficient, Counter(known.factors))
    if k_coef == 0 or t_coef % k_coef or k_fac - t_fac:
        return None
    rest = t_fac - k_fac
    coefficient = t_coef // k_coef
    if not rest:
        return coefficient
    return Dim(tuple(sorted(rest.elements())), coefficient)


def broadcast(*shapes: Shape) -> Shape:
    """NumPy broadcasting of static/symbolic shapes; raises ShapeError on conflict."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    result: list[Size] = []
    for axis in range(ndim):
        sizes = [s[axis] for s in padded if not (isinstance(s[axis], int) and s[axis] == 1)]
        if not sizes:
            result.append(1)
            continue
        statics = {s for s in sizes if isinstance(s, int)}
        if len(statics) > 1:
            raise ShapeError(
                "shapes " + ", ".join(format_shape(s) for s in shapes)
                + f" cannot be broadcast together (axis {axis - ndim}: sizes "
                + " vs ".join(map(str, sorted(statics))) + ")"
            )
        chosen: Size = statics.pop() if statics else sizes[0]
        for size in sizes:
            require_equal(size, chosen)
        result.append(chosen)
    return tuple(result)


def static_int(value: Any) -> int | None:
    """value as an int if it is an integer (Python or NumPy, not bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def normalize_axis(axis: Any, ndim: int, what: str = "axis") -> int:
    index = static_int(axis)
    if index is None:
        raise ShapeError(f"{what} must be an int, got {axis!r}")
    axis = index
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of bounds for a tensor of rank {ndim}")
    return axis % ndim


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """axis=None|int|tuple -> sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(sorted(normalize_axis(a, ndim) for a in axis))
        if len(set(axes)) != len(axes):
            raise ShapeError(f"repeated axis in {axis!r}")
        return axes
    return (normalize_axis(axis, ndim),)


def resolve(shape: Shape, binding: dict[str, int]) -> tuple[int, ...]:
    """Concrete shape at run time; raises ShapeError if a size is unknown."""
    out: list[int] = []
    for size in shape:
        if isinstance(size, Dim):
            value = size.resolve(binding)
            if value is None:
                raise ShapeError(f"size {size} is not determined by the inputs")
            out.append(value)
        else:
            out.append(size)
    return tuple(out)


def contains_dims(value: Any) -> bool:
    if isinstance(value, Dim):
        return True
    if isinstance(value, tuple):
        return any(contains_dims(v) for v in value)
    return False


def resolve_attr(value: Any, binding: dict[str, int]) -> Any:
    """Replace Dims inside an attribute value (nested tuples) by their sizes."""
    if isinstance(value, Dim):
        return resolve((value,), binding)[0]
    if isinstance(value, tuple):
        return tuple(resolve_attr(v, binding) for v in value)
    return value
