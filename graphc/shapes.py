"""Static shapes with symbolic dimensions, and NumPy broadcasting over them.

Owns: `Dim` (a symbolic size), shape normalisation, broadcasting, axis
normalisation, and the equalities between symbolic sizes that building a
graph implies (`x("n",3) + y("m",3)` implies n == m; a call that violates it
is rejected by the compiled function). Imports: errors (layer L0).

A `Dim` is a product of named factors times an integer, so that reshaping a
`("n", 3)` tensor to `(-1,)` has the exact size `3*n` and every size in a
graph can be computed at run time from the inputs' sizes.

Symbolic sizes never broadcast implicitly: only a static 1 stretches. This is
PyTensor's rule, and it is what lets shapes be decided when the graph is built.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import ShapeError

_anonymous_ids = itertools.count(1)


@dataclass(frozen=True)
class Dim:
    """A size known only at run time: coefficient * product of named factors.

    What users see in `x.shape`. A plain named size compares and hashes equal
    to its name (`x.shape == ("n", 3)`, `{"n": 1}[x.shape[0]]`), and a `None`
    size to None, as API.md promises; a derived size (`3*n`, `n-1`) prints as
    such. Inside graphc sizes are only ever compared with sizes, so the str
    and None equalities cannot mix two different sizes: two anonymous sizes
    both equal None but never each other, and hash alike, which keeps
    `a == b => hash(a) == hash(b)` true for dict keys and constraint sets.

    In arithmetic with tensors or numbers a Dim is the run-time size as a
    tensor (`gc.sum(x) / x.shape[0]`): graphc.ops.base installs that
    conversion, reading the size off the tensor that first carried it
    (`_witness`, set when the first node with this Dim is built; a strong
    reference, so `x[1:].shape[0]` outlives the temporary `x[1:]`).
    """

    factors: tuple[str, ...]
    coefficient: int = 1

    # (Node, axis) set by ir.Node; a ClassVar, so not a field: not compared, not pickled
    _witness: ClassVar[Any] = None

    @staticmethod
    def named(name: str) -> Dim:
        return Dim((name,), 1)

    @staticmethod
    def anonymous() -> Dim:
        """A fresh size for a `None` dimension: equal to no other dimension."""
        return Dim((f"?{next(_anonymous_ids)}",), 1)

    @property
    def is_anonymous(self) -> bool:
        return any(f.startswith("?") for f in self.factors)

    @property
    def plain_name(self) -> str | None:
        """The name of a plain named size ("n"), None for anonymous or derived sizes."""
        if self.coefficient == 1 and len(self.factors) == 1 and self.factors[0].isidentifier():
            return self.factors[0]
        return None

    def resolve(self, binding: dict[str, int]) -> int | None:
        """The concrete size under `binding` (factor name -> size), if all are bound."""
        size = self.coefficient
        for factor in self.factors:
            value = binding.get(factor)
            if value is None and factor in SLICES:
                value = SLICES[factor].resolve(binding)
            if value is None:
                return None
            size *= value
        return size

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Dim):
            return self.factors == other.factors and self.coefficient == other.coefficient
        if isinstance(other, str):
            return self.plain_name == other
        if other is None:
            return self._is_none
        return NotImplemented

    def __hash__(self) -> int:
        name = self.plain_name
        if name is not None:
            return hash(name)
        if self._is_none:
            return hash(None)
        return hash((self.factors, self.coefficient))

    @property
    def _is_none(self) -> bool:
        """A size declared None (or left unknown by a reshape): it stands for None."""
        return self.coefficient == 1 and len(self.factors) == 1 and self.factors[0].startswith("?")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Dim, (self.factors, self.coefficient))

    def __repr__(self) -> str:
        name = self.plain_name
        if name is not None:
            return repr(name)
        return "None" if self._is_none else f"Dim({str(self)!r})"

    def __str__(self) -> str:
        names = [_display(f) for f in self.factors]
        if self.coefficient != 1:
            names.insert(0, str(self.coefficient))
        return "*".join(names)

    # Arithmetic makes tensors: the operator hook is installed by graphc.ops.base.
    def __add__(self, other: Any) -> Any: return _arithmetic[0]("add", self, other)
    def __radd__(self, other: Any) -> Any: return _arithmetic[0]("add", other, self)
    def __sub__(self, other: Any) -> Any: return _arithmetic[0]("subtract", self, other)
    def __rsub__(self, other: Any) -> Any: return _arithmetic[0]("subtract", other, self)
    def __mul__(self, other: Any) -> Any: return _arithmetic[0]("multiply", self, other)
    def __rmul__(self, other: Any) -> Any: return _arithmetic[0]("multiply", other, self)
    def __truediv__(self, other: Any) -> Any: return _arithmetic[0]("divide", self, other)
    def __rtruediv__(self, other: Any) -> Any: return _arithmetic[0]("divide", other, self)
    def __pow__(self, other: Any) -> Any: return _arithmetic[0]("power", self, other)
    def __rpow__(self, other: Any) -> Any: return _arithmetic[0]("power", other, self)
    def __neg__(self) -> Any: return _arithmetic[0]("multiply", -1, self)


def _no_arithmetic(name: str, a: Any, b: Any) -> Any:
    raise TypeError("symbolic sizes become tensors in arithmetic once graphc.ops is imported")


# (op name, a, b) -> tensor; replaced by graphc.ops.base when the ops load.
_arithmetic: list[Any] = [_no_arithmetic]


@dataclass(frozen=True)
class Slice:
    """The length of base[start:stop:step]: a size computed from another size at run time."""

    base: Dim
    start: int | None
    stop: int | None
    step: int | None

    def resolve(self, binding: dict[str, int]) -> int | None:
        base = self.base.resolve(binding)
        if base is None:
            return None
        return len(range(*slice(self.start, self.stop, self.step).indices(base)))

    def source(self, base: str) -> str:
        """The length as an arithmetic expression of `base` (for generated code)."""
        step = 1 if self.step is None else self.step
        if step > 0:
            lo = _bound(self.start, base, 0, "0", base)
            hi = _bound(self.stop, base, None, base, base)
            return f"max(0, ({hi} - {lo} + {step - 1}) // {step})"
        lo = _bound(self.start, base, None, f"({base} - 1)", f"({base} - 1)", floor="-1")
        hi = _bound(self.stop, base, None, "-1", f"({base} - 1)", floor="-1")
        return f"max(0, ({lo} - {hi} + {-step - 1}) // {-step})"

    def __str__(self) -> str:
        offset = self._offset()
        if offset is not None:
            base = str(self.base)
            base = base if base.isidentifier() else f"({base})"
            return f"{base}-{offset}"
        parts = ["" if b is None else str(b) for b in (self.start, self.stop, self.step)]
        text = ":".join(parts[:2]) + (f":{parts[2]}" if parts[2] else "")
        return f"{self.base}[{text}]"


    def _offset(self) -> int | None:
        """k when the length is base - k (x[1:], x[:-1], x[2:-1]), else None."""
        if self.step not in (None, 1) or (self.start or 0) < 0 or (self.stop is not None and self.stop >= 0):
            return None
        offset = (self.start or 0) + (-self.stop if self.stop is not None else 0)
        return offset or None


def _bound(value: int | None, base: str, default: int | None, none: str, top: str,
           floor: str = "0") -> str:
    """A slice bound clipped the way slice.indices clips it, as source text."""
    if value is None:
        return none
    if value >= 0:
        return f"min({value}, {top})"
    return f"max({base} - {-value}, {floor})"


# A slice of a symbolic size is a factor of its own, named canonically after
# the base and the bounds, so equal slices are equal sizes and products work.
SLICES: dict[str, Slice] = {}


def sliced(base: Size, start: int | None, stop: int | None, step: int | None) -> Size:
    """The size of base[start:stop:step], exact for static and symbolic bases."""
    if isinstance(base, int):
        return len(range(*slice(start, stop, step).indices(base)))
    # A witness-free copy of the base: the global SLICES must not keep a graph alive.
    length = Slice(Dim(base.factors, base.coefficient), start, stop, step)
    name = f"({','.join(base.factors)}*{base.coefficient})[{start}:{stop}:{step}]"
    SLICES.setdefault(name, length)
    return Dim((name,), 1)


def _display(factor: str) -> str:
    if factor in SLICES:
        return str(SLICES[factor])
    return "?" if factor.startswith("?") else factor


Size = int | Dim
Shape = tuple[Size, ...]


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
