"""Kernel mode: loop nests the plain Python graph function computes itself, without a kernel.

Owns: `in_python(unit, plan)` (which units), `emit(generator, unit)` (their
NumPy statements) and `wrapped(lines)` (under `np.errstate`). Why: every
kernel is a whole Numba compilation cold (~0.1-0.25 s: typing, lowering, the
CPython wrapper and finalisation are per function), however little it does.
Two kinds of group need none, at the same IEEE rounding:

- float64 groups of rank 0 whose every op's record says `operators_only`
  (graphc/lowering.py: a mean's backward `1 / (n * 32)`, a loss's
  `t9 + 0.5 * t11`; not `math.sqrt`, which raises on a negative argument
  where Numba gives nan): their loop-free lines run as they are, on NumPy
  float64 scalars and Python floats, which round like Numba's doubles. Only
  float64: Python's and NumPy's rules widen float32 and integers unlike Numba's.
- one or two binary ops of same-shape, same-dtype float arrays whose record
  names a NumPy ufunc (`Pointwise.ufunc`; a Hessian's sum of two
  contributions): one call each on whole arrays (`np.add(a, b, order="C")`),
  elementwise and correctly rounded like the loop, and as fast (memory-bound).

NumPy warns on overflow or division by zero where Numba (error_model="numpy")
is silent, hence the `np.errstate` block (~1 us a call).
Imports: schedule, lowering. Entry point: codegen.generate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ir import Node
from ...lowering import Pointwise
from ..schedule import Group, Schedule, data_inputs, is_constant, kind
from . import steps

_F64 = np.dtype("float64")
_MOST = 2  # ufunc calls per unit: a longer chain is better fused in one loop
_SHARED_AFTER = 3  # more ufunc units of one form than this: one shared kernel (see choose)


def _pointwise(node: Node) -> Pointwise | None:
    lowering = node.op.lowering
    return lowering if isinstance(lowering, Pointwise) else None


def _operators_only(node: Node) -> bool:
    """Operators and literals only (the record says so): `math.sqrt`, `math.log` or a runtime
    helper would raise on a domain error in Python (ValueError) where Numba returns nan, or
    need an import."""
    lowering = _pointwise(node)
    return lowering is not None and lowering.operators_only


def _scalars(unit: Group) -> bool:
    return unit.shape == () and unit.source is None and all(
        member.dtype == _F64 and all(i.dtype == _F64 for i in data_inputs(member))
        and _operators_only(member) for member in unit.members)


def _ufunc(node: Node, plan: Schedule, earlier: set[Node]) -> bool:
    """`ufunc(a, b)`, both whole arrays of the node's shape and dtype (no broadcast, no index map)."""
    lowering = _pointwise(node)
    if kind(node) != "pointwise" or lowering is None or lowering.ufunc is None or len(node.inputs) != 2:
        return False
    return node.dtype.kind == "f" and all(
        i.shape == node.shape and i.dtype == node.dtype and (
            i in earlier or i in plan.materialized and kind(i) != "view"
            or kind(i) == "leaf" and (not is_constant(i) or i.ndim > 0))
        for i in node.inputs)


def _ufuncs(unit: Group, plan: Schedule) -> bool:
    if unit.shape == () or unit.source is not None or len(unit.members) > _MOST:
        return False
    earlier: set[Node] = set()
    for member in unit.members:
        if not _ufunc(member, plan, earlier):
            return False
        earlier.add(member)
    return True


def in_python(unit: Group | Node, plan: Schedule) -> bool:
    """Whether kernel mode may compute this unit in the graph function itself (see above)."""
    return isinstance(unit, Group) and (_scalars(unit) or _ufuncs(unit, plan))


def choose(units: Sequence[Group | Node], plan: Schedule) -> set[int]:
    """The ids of the units kernel mode computes in Python.

    A ufunc unit repeated more than `_SHARED_AFTER` times (the HMM's 100 steps each
    add a row of log_B) stays a kernel: compiled once, it is cheaper per call
    (~0.4 us a kernel call against ~0.6 us a small ufunc call), and a
    kernel shared that often costs nothing more to compile.
    """
    chosen = [u for u in units if in_python(u, plan)]
    counts = Counter(_signature(u) for u in chosen if isinstance(u, Group) and u.shape != ())
    return {id(u) for u in chosen if not isinstance(u, Group) or u.shape == ()
            or counts[_signature(u)] <= _SHARED_AFTER}


def _signature(unit: Group) -> tuple[tuple[str, str, int], ...]:
    return tuple((m.op.name, m.dtype.str, m.ndim) for m in unit.members)


def emit(generator: Any, unit: Group | Node) -> bool:
    """Write a ufunc unit's statements with `generator` (a statements.Generator); False: not one."""
    if not isinstance(unit, Group) or unit.shape == ():
        return False
    for node in unit.members:
        a, b = (generator.variable(i, node) for i in node.inputs)
        lowering = _pointwise(node)
        assert lowering is not None and lowering.ufunc is not None  # checked by _ufunc
        ufunc = lowering.ufunc
        generator.writer.emit(f'{generator.name(node)} = {ufunc}({a}, {b}, order="C")',
                              generator.describe(node))
        reads = [v for v, i in zip((a, b), node.inputs) if not generator._is_literal(i)]
        generator.writer.lines[-1] = steps.opaque(generator.writer.lines[-1], [generator.name(node)],
                                                  reads)
    return True


def scalar_arguments(generator: Any, unit: Group | Node) -> list[str]:
    """The variables of a scalar unit's rank-0 inputs that a kernel returned (a Python float)."""
    if not isinstance(unit, Group) or unit.shape != ():
        return []
    names: list[str] = []
    for member in unit.members:
        for source in data_inputs(member):
            name = generator.variable(source, member)
            group = generator.plan.group_of.get(source)
            from_kernel = group is not None and group is not unit and not _scalars(group)
            if from_kernel and source in generator.plan.materialized and name not in names:
                names.append(name)
    return names


def wrapped(lines: list[str], scalars: list[str]) -> list[str]:
    """The unit's lines inside `with np.errstate(all="ignore"):` (silent, as in Numba).

    `scalars`: rank-0 inputs made NumPy float64 first: a kernel returns a Python
    float, and Python's float division raises ZeroDivisionError where Numba's gives inf.
    """
    if not lines:
        return lines
    inner = [steps.Statement("    " + line, step.opaque()) if (step := steps.step_of(line)) else
             "    " + line for line in lines]
    return [steps.opaque('    with np.errstate(all="ignore"):  # computed in Python: as silent as Numba',
                         [], []),
            *(steps.opaque(f"        {name} = np.float64({name})  # x / 0 is inf, as in Numba",
                           [name], [name]) for name in scalars),
            *inner]


def recorded(generator: Any, unit: Group, lines: list[str]) -> list[str]:
    """A scalar unit's loop-free lines, each with an opaque record (codegen/steps.py) naming
    what the unit reads and assigns: re-rolling never moves them, and keeps the values they
    read reachable."""
    members = set(unit.members)
    reads: list[str] = []
    for member in unit.members:
        for source in member.inputs:
            while kind(source) == "view" and source not in generator.plan.materialized \
                    and source.inputs and source not in members:
                source = source.inputs[0]  # read through views, as Emitter.access does
            name = generator.names.get(source)
            if source not in members and name is not None and name not in reads:
                reads.append(name)
    targets = [generator.names[m] for m in unit.members if m in generator.names]
    return [line if steps.step_of(line) else steps.opaque(line, targets if index == 0 else [],
                                                           [*reads, *targets])
            for index, line in enumerate(lines)]
