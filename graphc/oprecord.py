"""The op record: everything graphc knows about one op, and the registry of ops.

Owns: `Op` (declared once in graphc/ops/ and read by every consumer: shape and
dtype rules, NumPy reference, VJP/JVP, batching rule, lowering, label),
`Interval`/`Sample` (inputs for the registry-driven contract tests), `OPS`
(name -> Op) and `register`. Imports: numpy and layer L0 only. Entry point:
`register(Op(...))`. Split out of graphc.ir so ir holds only nodes and their
construction; `from graphc.ir import Op, OPS, ...` keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from . import shapes
from .lowering import Kernel, Lowering, Pointwise

ShapeRule = Callable[..., shapes.Shape]
DTypeRule = Callable[..., np.dtype]
Attrs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Interval:
    """Where an op input is valid, for sampling in tests: [low, high], maybe avoiding 0."""

    low: float = -3.0
    high: float = 3.0
    avoid: float | None = None  # keep at least 0.3 away from this point

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        values = rng.uniform(self.low, self.high, size=shape)
        if self.avoid is not None:
            close = np.abs(values - self.avoid) < 0.3
            pushed = self.avoid + np.copysign(0.3 + np.abs(values), values - self.avoid)
            values = np.where(close, pushed, values)
        return np.asarray(values)


REAL = Interval()


@dataclass(frozen=True)
class Sample:
    """One example call of an op for the registry-driven contract tests."""

    shapes: tuple[tuple[int, ...], ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    dtypes: tuple[str, ...] | None = None  # default: float64 for every input


@dataclass(frozen=True, eq=False)
class Op:
    """Everything graphc knows about one op, declared once in graphc/ops/."""

    name: str
    shape: ShapeRule  # (inputs, **attrs) -> Shape; raises ShapeError
    dtype: DTypeRule  # (inputs, **attrs) -> dtype; raises DTypeError
    impl: Callable[..., Any]  # NumPy reference: (*arrays, **attrs) -> array
    vjp: Callable[..., Sequence[Any]] | None = None  # (cotangent, out, *inputs, **attrs)
    jvp: Callable[..., Any] | None = None  # (tangents, out, *inputs, **attrs)
    # vmap: (args, batch_axes, **attrs) -> (output, its batch axis or None); see ops/batching.py
    batch: Callable[..., tuple[Any, int | None]] | None = None
    arity: int | None = None  # None: variadic
    label: str = ""
    infix: str | None = None  # "+" for add: the printer writes `x + y`
    # How the op becomes code: one typed record (graphc/lowering.py), e.g. Pointwise("({0} + {1})")
    lowering: Lowering | None = None
    # Shorthands for a user's own op (gc.Op, docs/custom_vjp.md), turned into `lowering`:
    # `scalar` (an elementwise template) is Pointwise(scalar), `kernel` (a statement on
    # whole arrays, or node -> one) is Kernel(kernel).
    scalar: InitVar[str | None] = None
    kernel: InitVar[str | Callable[..., str] | None] = None
    elementwise: bool = False
    commutative: bool = False
    identity: float | None = None  # x op identity == x
    absorbing: float | None = None  # x op absorbing == absorbing (IEEE permitting)
    involution: bool = False  # op(op(x)) == x
    rearranges: bool = False  # only moves or repeats its input's elements (reshape, transpose)
    finite: str = ""  # "always": output finite; "if_inputs": finite when the inputs are
    nonnegative: str = ""  # "always": output >= 0 (or NaN); "if_inputs": when the inputs are
    linear: bool = False  # linear in its float inputs (for transposition)
    # An elementwise op far dearer than arithmetic (a transcendental: 10-20 ns an element):
    # a scan's VJP saves its output as a residual instead of recomputing it (control/scan_vjp.py).
    expensive: bool = False
    # node -> (a, b) when the node is transpose(a) @ b of two matrices, the sum over rows r of
    # outer(a[r], b[r]); else None. A loop summing such values into a carry stacks a and b
    # and computes one product after the loop (control/optimize.py reads it; matmul declares it).
    outer_sum: Callable[[Any], tuple[Any, Any] | None] | None = None
    differentiable: bool = True  # False: a float output with no rule is an error
    domain: tuple[Interval, ...] = ()  # per input; default REAL
    samples: tuple[Sample, ...] = ()

    def __post_init__(self, scalar: str | None, kernel: str | Callable[..., str] | None) -> None:
        given = [r for r in (self.lowering, scalar, kernel) if r is not None]
        if len(given) > 1:
            raise ValueError(f"op {self.name!r}: give one of lowering=, scalar= and kernel=")
        if scalar is not None:
            object.__setattr__(self, "lowering", Pointwise(scalar))
        elif kernel is not None:
            object.__setattr__(self, "lowering", Kernel(kernel))

    def __repr__(self) -> str:
        return f"Op({self.name})"


OPS: dict[str, Op] = {}  # filled once at import by graphc.ops: the op registry


def register(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} declared twice")
    OPS[op.name] = op
    return op
