"""Tracing a loop body once into a closed `Subgraph`, with carry invariance checked.

Owns `trace_body`: call the user's `fn(carry, x)` on placeholders shaped like
one carry and one slice of `xs`, then close the traced graph: every tensor
the body reads from outside (a weight, or anything computed from outer
tensors only: loop-invariant work) becomes a body input and an input of the
scan node, so the body is hoisted of invariant work by construction. Checks
that the new carry has the init's structure, shapes and dtypes, naming the
carry entry and the user's line. Imports: ir, ops, subgraph, control.pytree
(layer L3).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import dtypes, shapes
from ..errors import DTypeError, GraphcError, ShapeError
from ..ir import Node, substitute, toposort
from ..ops import as_tensor, astype
from ..ops.base import INPUT
from ..subgraph import Subgraph
from . import pytree

_ids = itertools.count(1)


@dataclass(frozen=True)
class Traced:
    """A traced body, the outer tensors it reads (its consts), and the ys structure."""

    body: Subgraph
    consts: tuple[Node, ...]
    ys_structure: pytree.Structure


def placeholder(like: Node, name: str, weak: bool = False) -> Node:
    """A body input with exactly `like`'s (possibly symbolic) shape and dtype."""
    return Node(INPUT, (), (), like.shape, like.dtype, name=name, origin=like.origin, weak=weak)


def slice_placeholder(xs: Node, name: str) -> Node:
    """A body input shaped like one step's slice of `xs` (its axis 0 removed)."""
    return Node(INPUT, (), (), xs.shape[1:], xs.dtype, name=name, origin=xs.origin)


def trace_body(fn: Callable[..., Any], what: str, init: Sequence[Node], structure: Any,
               xs: Sequence[Node], xs_structure: Any, where: str) -> Traced:
    """Trace fn(carry, x) -> (new_carry, y) once; a weak (Python number) init adopts
    the dtype the body gives its carry, as it would in NumPy arithmetic."""
    carries = [placeholder(c, f"carry{k}", weak=c.weak) for k, c in enumerate(init)]
    slices = [slice_placeholder(x, f"x{k}") for k, x in enumerate(xs)]
    new_carry, ys, ys_structure = _call(fn, what, carries, structure, slices, xs_structure, where)
    if any(c.weak for c in init):
        adopted = [placeholder(astype(c, n.dtype) if _adopts(c, n) else c, f"carry{k}")
                   for k, (c, n) in enumerate(zip(init, new_carry))]
        if any(a.dtype != c.dtype for a, c in zip(adopted, carries)):
            carries = adopted
            new_carry, ys, ys_structure = _call(fn, what, carries, structure, slices,
                                                xs_structure, where)
    _check_invariant(what, carries, new_carry, structure, where)
    body, consts = close(carries, slices, list(new_carry) + list(ys))
    return Traced(body, consts, ys_structure)


def _adopts(init: Node, new: Node) -> bool:
    """A Python float init takes the float dtype the body computes its carry in."""
    return init.weak and new.dtype != init.dtype and dtypes.is_float(init.dtype) \
        and dtypes.is_float(new.dtype)


def _call(fn: Callable[..., Any], what: str, carries: list[Node], structure: Any,
          slices: list[Node], xs_structure: Any, where: str) -> tuple[list[Node], list[Node], Any]:
    carry_tree = pytree.unflatten(structure, carries)
    x_tree = pytree.unflatten(xs_structure, slices) if xs_structure != "none" else None
    result = fn(carry_tree, x_tree)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GraphcError(f"{what}: the body must return a pair (new_carry, y), got "
                          f"{type(result).__name__} (at {where})")
    new_tree, y_tree = result
    new_leaves, new_structure = pytree.flatten(new_tree)
    if new_structure != structure:
        raise GraphcError(f"{what}: the body returned a carry shaped {pytree.describe(new_structure)}"
                          f" but init is {pytree.describe(structure)}; the carry must keep its "
                          f"structure (at {where})")
    y_leaves, y_structure = pytree.flatten(y_tree)
    try:
        new_nodes = [as_tensor(leaf) for leaf in new_leaves]
        y_nodes = [as_tensor(leaf) for leaf in y_leaves]
    except GraphcError as exc:
        raise GraphcError(f"{what}: the body must return tensors: {exc} (at {where})") from None
    return new_nodes, y_nodes, y_structure


def _check_invariant(what: str, carries: Sequence[Node], new: Sequence[Node], structure: Any,
                     where: str) -> None:
    for path, old, got in zip(pytree.paths(structure, "carry"), carries, new):
        if tuple(got.shape) != tuple(old.shape):
            raise ShapeError(
                f"{what}: {path} has shape {shapes.format_shape(old.shape)} in init but the body "
                f"returns shape {shapes.format_shape(got.shape)}; a carry must keep its shape and "
                f"dtype from step to step (at {where})")
        if got.dtype != old.dtype:
            raise DTypeError(
                f"{what}: {path} has dtype {dtypes.short_name(old.dtype)} in init but the body "
                f"returns {dtypes.short_name(got.dtype)}; a carry must keep its shape and dtype "
                f"from step to step (cast init or the new carry with astype; at {where})")


def close(carries: Sequence[Node], slices: Sequence[Node],
          outputs: Sequence[Node]) -> tuple[Subgraph, tuple[Node, ...]]:
    """The body as a closed Subgraph: outer tensors it reads become placeholder inputs.

    An outer tensor is one that depends on no body input and is not a
    constant: a user input, or loop-invariant work done inside fn (hoisted:
    it is computed once, outside the loop).
    """
    own = set(carries) | set(slices)
    inside: set[Node] = set()
    outer: list[Node] = []
    seen: set[Node] = set()
    order = toposort(outputs)
    for node in order:
        if node in own or any(i in inside for i in node.inputs):
            inside.add(node)
    for node in order:
        readers = [i for i in node.inputs if i not in inside] if node in inside else []
        for source in readers:
            if source.op.name != "constant" and source not in seen:
                seen.add(source)
                outer.append(source)
    for node in outputs:
        if node not in inside and node.op.name != "constant" and node not in seen:
            seen.add(node)
            outer.append(node)
    stand_ins: dict[Node, Node] = {}
    same: dict[Any, Node] = {}  # `rates[0]` read four times is one loop input, not four
    for node in outer:
        key = (node.op.name, node.inputs, node.attrs) if node.inputs else node
        if key in same:
            stand_ins[node] = stand_ins[same[key]]
            continue
        same[key] = node
        stand_ins[node] = placeholder(node, node.name if node.op.name == "input" and node.name
                                      else f"k{next(_ids)}")
    outer = [node for node in outer if same.get(
        (node.op.name, node.inputs, node.attrs) if node.inputs else node) is node]
    closed = substitute(list(outputs), stand_ins) if stand_ins else list(outputs)
    inputs = tuple(carries) + tuple(slices) + tuple(stand_ins[n] for n in outer)
    return Subgraph(inputs, tuple(closed), len(carries), len(slices)), tuple(outer)
