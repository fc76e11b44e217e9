"""Symbolic sizes: `Dim` (a product of named factors times an integer) and slice lengths.

Owns: `Dim`, `Size`/`Shape`, the length of a slice of a symbolic size
(`Slice`, `sliced`, the `SLICES` registry), and the hook through which a Dim
in arithmetic becomes a tensor (`_arithmetic`, installed by graphc.ops.base).
Imports: nothing of graphc's (layer L0). Entry points: `Dim.named`,
`Dim.anonymous`, `sliced`. graphc.shapes re-exports all of it (split off
from shapes.py, which keeps broadcasting, axes and the size constraints).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

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
