"""Binding call arguments to a graph's inputs: count, keywords, dtypes, shapes, named sizes.

Shared by every backend so `f(...)` fails the same way everywhere: a
`gc.InputError` naming the input, what was expected and what came. Imports:
ir and layer L0 (layer L3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import dtypes, shapes
from .errors import InputError
from .ir import Node, toposort

Requirement = tuple[shapes.Size, shapes.Size, Node]


def collect_constraints(outputs: Sequence[Node]) -> list[Requirement]:
    """Every size equality the graph's construction assumed (e.g. n == m), with its node."""
    found: list[Requirement] = []
    for node in toposort(outputs):
        found.extend((a, b, node) for a, b in node.constraints)
    return found


def order_arguments(inputs: Sequence[Node], args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    """Positional and keyword arguments -> one value per input, in declared order."""
    names = [i.name for i in inputs]
    if len(args) > len(inputs):
        raise InputError(f"expected {_arguments(len(inputs))} ({', '.join(map(str, names))}), "
                         f"got {len(args) + len(kwargs)}")
    values: list[Any] = list(args) + [None] * (len(inputs) - len(args))
    given = [True] * len(args) + [False] * (len(inputs) - len(args))
    for key, value in kwargs.items():
        if key not in names:
            raise InputError(f"unexpected keyword argument {key!r}; inputs are "
                             f"{', '.join(map(str, names))}")
        position = names.index(key)
        if given[position]:
            raise InputError(f"input {key!r} given twice (by position and by keyword)")
        values[position], given[position] = value, True
    missing = [n for n, g in zip(names, given) if not g]
    if missing:
        raise InputError(f"expected {_arguments(len(inputs))}, missing {', '.join(map(str, missing))}")
    return values


def _arguments(count: int) -> str:
    return f"{count} argument{'' if count == 1 else 's'}"


def _expected_shape(node: Node) -> str:
    return "(" + ", ".join("None" if isinstance(s, shapes.Dim) and s.is_anonymous else
                           (repr(str(s)) if isinstance(s, shapes.Dim) else str(s))
                           for s in node.shape) + ("," if node.ndim == 1 else "") + ")"


def coerce(node: Node, value: Any) -> np.ndarray:
    """The argument as a C-contiguous array of the input's dtype, or InputError."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"input {node.name!r}: could not make an array of the "
                         f"{type(value).__name__} given ({exc})") from None
    if array.dtype != node.dtype:
        same_kind = array.dtype.kind in "biuf" and np.can_cast(array.dtype, node.dtype, "same_kind")
        if not same_kind:
            raise InputError(f"input {node.name!r}: expected dtype {node.dtype}, got {array.dtype}"
                             " (which does not convert without losing its kind)")
        array = array.astype(node.dtype)
    # np.ascontiguousarray would turn a 0-d array into a 1-d one.
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def bind(inputs: Sequence[Node], arrays: Sequence[np.ndarray],
         constraints: Sequence[Requirement]) -> dict[str, int]:
    """Check every input's shape and return the named-size binding (name -> size)."""
    binding: dict[str, int] = {}
    bound_by: dict[str, str] = {}
    for node, array in zip(inputs, arrays):
        if array.ndim != node.ndim:
            raise InputError(f"input {node.name!r}: expected rank {node.ndim} with shape "
                             f"{_expected_shape(node)}, got shape {array.shape}")
        for axis, (size, actual) in enumerate(zip(node.shape, array.shape)):
            if isinstance(size, int):
                if size != actual:
                    raise InputError(f"input {node.name!r}: expected shape {_expected_shape(node)},"
                                     f" got {array.shape} (axis {axis} must be {size})")
                continue
            factor = size.factors[0]
            if factor in binding and binding[factor] != actual:
                raise InputError(
                    f"input {node.name!r}: axis {axis} has size {actual}, but dimension "
                    f"{str(size)!r} is {binding[factor]} (from input {bound_by[factor]!r})")
            binding[factor] = actual
            bound_by[factor] = str(node.name)
    for left, right, node in constraints:
        a = left if isinstance(left, int) else left.resolve(binding)
        b = right if isinstance(right, int) else right.resolve(binding)
        if a is not None and b is not None and a != b:
            raise InputError(
                f"{_describe(left, a, bound_by)} and {_describe(right, b, bound_by)} must be "
                f"equal: they meet in {node.op.name} (built at {node.origin})")
    return binding


def _describe(size: shapes.Size, value: int, bound_by: dict[str, str]) -> str:
    if isinstance(size, int):
        return f"size {size}"
    sources = sorted({bound_by[f] for f in size.factors if f in bound_by})
    what = "a size declared None" if size.is_anonymous else f"dimension {str(size)!r}"
    return f"{what} = {value} (from input {', '.join(map(repr, sources))})"


def dtype_name(node: Node) -> str:
    return dtypes.short_name(node.dtype)
