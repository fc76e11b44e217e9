"""Binding call arguments to a graph's inputs: count, keywords, dtypes, shapes, named sizes.

Shared by every backend so `f(...)` fails the same way everywhere: a
`gc.InputError` naming the input, what was expected and what came. The
compiled backend's call path lives here too, one screen from `bind`:
`make_runner` (the checked path's call of the jitted function) and
`make_fast_call` (straight-line code doing `bind`'s checks for the common
call). Imports: ir, interpret and layer L0 (layer L3).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import dtypes, interpret, shapes
from .errors import InputError
from .ir import Node, toposort

Requirement = tuple[shapes.Size, "shapes.Size | shapes.AtLeast", Node]


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
        array = _convert(node, array)
    # Compiled code takes writable C-contiguous arrays: a strided view (x[::2], a column)
    # or a read-only buffer (np.frombuffer, a memory map) is copied once per call.
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(array, order="C", copy=True)


def _convert(node: Node, array: np.ndarray) -> np.ndarray:
    """array.astype(node.dtype), refusing values the input's dtype cannot hold.

    A float64 that overflows float32 would become inf, an int64 beyond int32
    (or a uint64 beyond int64) would wrap: both silent wrong answers, so the
    call is refused naming the input (O(n) only on the converting path).
    """
    target = node.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(target)
    if target.kind == "f" and array.dtype.kind == "f" and target.itemsize < array.dtype.itemsize:
        overflow = np.isinf(converted) & np.isfinite(array)
        if overflow.any():
            where = tuple(int(i) for i in np.argwhere(overflow)[0])
            raise InputError(f"input {node.name!r}: value {float(array[where])!r} at index {where} "
                             f"overflows {target} (largest {np.finfo(target).max:.6g}); "
                             f"pass {target} data or declare the input {array.dtype}")
    if target.kind in "iu" and array.dtype.kind in "iu" and not np.can_cast(array.dtype, target) \
            and array.size:
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            bad = high if high > info.max else low
            other = f" or declare the input {array.dtype}" if array.dtype in dtypes.SUPPORTED else ""
            raise InputError(f"input {node.name!r}: value {int(bad)} does not fit {target} "
                             f"(range {info.min} to {info.max}); pass {target} data{other}")
    return converted


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
        if isinstance(right, shapes.AtLeast):
            _check_at_least(left, right, node, binding, bound_by)
            continue
        a = left if isinstance(left, int) else left.resolve(binding)
        b = right if isinstance(right, int) else right.resolve(binding)
        if a is not None and b is not None and a != b:
            raise InputError(
                f"{_describe(left, a, bound_by)} and {_describe(right, b, bound_by)} must be "
                f"equal: they meet in {node.op.name} (built at {node.origin})")
    return binding


def _check_at_least(size: shapes.Size, bound: shapes.AtLeast, node: Node,
                    binding: dict[str, int], bound_by: dict[str, str]) -> None:
    value = size if isinstance(size, int) else size.resolve(binding)
    if value is not None and value < bound.minimum:
        raise InputError(
            f"{bound.why}: {_describe(size, value, bound_by)}, needs at least {bound.minimum} "
            f"({node.op.name} built at {node.origin})")


def _describe(size: shapes.Size, value: int, bound_by: dict[str, str]) -> str:
    if isinstance(size, int):
        return f"size {size}"
    sources = sorted({bound_by[f] for f in size.factors if f in bound_by})
    what = "a size declared None" if size.is_anonymous else f"dimension {str(size)!r}"
    return f"{what} = {value} (from input {', '.join(map(repr, sources))})"


def dtype_name(node: Node) -> str:
    return dtypes.short_name(node.dtype)


# ------------------------------------------------- the compiled backend's call

Runner = Callable[[list[np.ndarray], dict[str, int]], list[np.ndarray]]


def make_runner(jitted: Callable[..., Any], inputs: Sequence[Node], outputs: Sequence[Node],
                constants: Sequence[np.ndarray], range_flag: bool,
                may_alias: Sequence[bool]) -> Runner:
    """Call the jitted function; rank-0 values travel as scalars, outputs never alias inputs.

    `may_alias[i]`: output i may be (a view of) an argument, so it is copied
    when it shares memory with one. `range_flag`: the function returns one more
    value, the count of sin/cos arguments beyond the reduced kernels' range.
    """
    scalar_inputs = [i for i, node in enumerate(inputs) if node.ndim == 0]
    constants = list(constants)
    scalar_outputs = [(i, node.dtype) for i, node in enumerate(outputs) if node.ndim == 0]
    aliasing = [i for i, node in enumerate(outputs) if node.ndim > 0 and may_alias[i]]
    duplicates = [i for i, node in enumerate(outputs) if node in outputs[:i] and node.ndim > 0]

    def run(arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        arguments: list[Any] = list(arrays)
        for i in scalar_inputs:
            arguments[i] = arrays[i][()]
        try:
            results = list(jitted(*arguments, *constants))
        except InputError as error:  # a bad index or label met inside compiled code
            raise located(error, inputs, outputs, arrays, binding) from None
        if range_flag and results.pop():
            return exactly(inputs, outputs, arrays, binding)
        for i, dtype in scalar_outputs:
            results[i] = np.array(results[i], dtype=dtype)
        for i in aliasing:
            if any(np.may_share_memory(results[i], a) for a in (*arrays, *constants)):
                results[i] = results[i].copy()
        for i in duplicates:
            results[i] = results[i].copy()
        return results

    return run


def located(error: InputError, inputs: Sequence[Node], outputs: Sequence[Node],
            arrays: list[np.ndarray], binding: dict[str, int]) -> InputError:
    """The InputError the NumPy interpreter raises for the same call, naming the node and
    the user's line (compiled code knows neither); `error` itself if it does not raise.

    Only a call that already failed pays for this second run: the helpers that raise
    inside compiled code (index and label checks) check exactly what the ops' NumPy
    references check, with the same message."""
    try:
        interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding)
    except InputError as same:
        return same
    return error


def exactly(inputs: Sequence[Node], outputs: Sequence[Node], arrays: list[np.ndarray],
            binding: dict[str, int]) -> list[np.ndarray]:
    """The outputs by the NumPy interpreter: the rare call where a sin/cos argument
    exceeded the reduced kernels' range (|x| > ~8e5), so libm must do the reduction."""
    results = interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding)
    return [np.array(r, copy=True) for r in results]


def _bind_slice(factor: str, bound: dict[str, str]) -> bool:
    """Whether a size factor has a run-time expression; a slice of bound sizes gets one."""
    length = shapes.SLICES.get(factor)
    if factor not in bound and length is not None and all(
            _bind_slice(f, bound) for f in length.base.factors):
        base = " * ".join([str(length.base.coefficient)] + [bound[f] for f in length.base.factors])
        bound[factor] = "(" + length.source(f"({base})") + ")"
    return factor in bound


def _fast_checks(names: Sequence[str], inputs: Sequence[Node],
                 requirements: Sequence[Requirement]) -> list[str] | None:
    """`bind`'s checks as Python expressions of the arguments; None if an input binds no size."""
    checks: list[str] = []
    bound: dict[str, str] = {}
    for index, (name, node) in enumerate(zip(names, inputs)):
        checks.append(f"type({name}) is ndarray and {name}.dtype is dtype{index} "
                      f"and {name}.ndim == {node.ndim}"
                      # compiled for writable C-contiguous arrays only: views and read-only
                      # buffers take the general path, which copies them (each `.flags` is a
                      # new object: read once, ~20 ns a call)
                      + (f" and (flags := {name}.flags).c_contiguous and flags.writeable"
                         if node.ndim > 0 else ""))
        for axis, size in enumerate(node.shape):
            actual = f"{name}.shape[{axis}]"
            if isinstance(size, int):
                checks.append(f"{actual} == {size}")
            elif size.factors[0] in bound:
                checks.append(f"{actual} == {bound[size.factors[0]]}")
            else:
                bound[size.factors[0]] = actual
    for left, right, _ in requirements:
        sides = []
        for size in (left, right.minimum if isinstance(right, shapes.AtLeast) else right):
            if isinstance(size, int):
                sides.append(str(size))
            elif all(_bind_slice(f, bound) for f in size.factors):
                sides.append(" * ".join([str(size.coefficient)] + [bound[f] for f in size.factors]))
            else:
                return None  # a size no input binds: leave it to the general path
        checks.append(f"{sides[0]} {'>=' if isinstance(right, shapes.AtLeast) else '=='} {sides[1]}")
    return checks


def make_fast_call(jitted: Callable[..., Any], inputs: Sequence[Node], outputs: Sequence[Node],
                   constants: Sequence[np.ndarray], structure: str,
                   requirements: Sequence[Requirement] | None, range_flag: bool,
                   may_alias: Sequence[bool]) -> Callable[..., Any] | None:
    """A builder of the Function's `__call__`: straight-line code for the common call.

    `make_fast_call(...)(general)` is a function of the inputs, passed
    positionally as exact arrays, that checks what `bind` would (type, dtype,
    rank, static sizes, named sizes agreeing, the graph's size equalities) and
    calls the jitted function. Anything else (keywords, a list, a wrong dtype
    or count) goes to `general(*args, **kwargs)`, the checked path that
    converts or raises the precise InputError; so does a call whose sin/cos
    needed libm (`range_flag`), which general recomputes, and one whose compiled
    code raised InputError (general names the node). Being the whole call
    (no wrapper around it) saves ~0.3 us per call.
    """
    if any(node.ndim > 0 and alias for node, alias in zip(outputs, may_alias)) or \
            len(set(outputs)) != len(outputs):
        return None  # outputs that may alias an argument need the runner's checks
    names = [f"a{i}" for i in range(len(inputs))]
    checks = _fast_checks(names, inputs, collect_constraints(outputs) if requirements is None
                          else requirements)
    if checks is None:
        return None
    arguments = [f"{n}[()]" if node.ndim == 0 else n for n, node in zip(names, inputs)]
    arguments += [f"c{i}" for i in range(len(constants))]
    # The dtype is named even for float64: a user op's template may compute a bool or an int
    # for an output it declares float64, which the general path casts too (make_runner).
    finish = [f"array(r[{i}], dtype_out{i})" if node.ndim == 0 else f"r[{i}]"
              for i, node in enumerate(outputs)]
    result = {"single": finish[0], "tuple": "(" + ", ".join(finish) + ",)"}.get(
        structure, "[" + ", ".join(finish) + "]")
    given = ", ".join(names)
    passed = (f"*[a for a in ({given},) if a is not MISSING], *rest" if names else "*rest")
    fallback = f"general({passed}, **named)"
    flag_check = f"        if r[{len(outputs)}]:\n            return {fallback}\n" if range_flag else ""
    source = (f"def bind(general):\n"
              f"    def call({', '.join([n + '=MISSING' for n in names] + ['*rest'])}, **named):\n"
              f"        if not rest and not named and {' and '.join(checks) or 'True'}:\n"
              f"            try:\n"
              f"                r = jitted({', '.join(arguments)})\n"
              f"            except InputError:  # general names the node and the user's line\n"
              f"                return {fallback}\n"
              + textwrap.indent(flag_check, "    ") +
              f"            return {result}\n"
              f"        return {fallback}\n"
              f"    return call\n")
    scope: dict[str, Any] = {"ndarray": np.ndarray, "array": np.array, "jitted": jitted,
                             "MISSING": _MISSING, "InputError": InputError}
    scope.update({f"dtype{i}": node.dtype for i, node in enumerate(inputs)})
    scope.update({f"dtype_out{i}": node.dtype for i, node in enumerate(outputs)})
    scope.update({f"c{i}": value for i, value in enumerate(constants)})
    exec(compile(source, "<graphc fast call>", "exec"), scope)
    return scope["bind"]  # type: ignore[no-any-return]


_MISSING = object()  # an input the caller did not pass positionally
