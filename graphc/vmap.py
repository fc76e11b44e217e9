"""`gc.vmap`: run a function on a whole batch of examples with one graph (layer L3).

Owns `vmap` and `batch_graph`. vmap is a graph-to-graph transformation like
`grad`: it calls the user's function once, on per-example placeholder inputs
(the arguments without their batch axis), then walks the traced graph once in
topological order and asks each op's `batch` rule (graphc/ops/batching.py)
for the node that computes it for every example. Nodes that do not depend on
a batched argument are kept as they are, so weights and constants are shared,
not repeated. The batched graph has as many nodes as the traced one (plus the
occasional transpose a rule needs), whatever the batch size.

Semantics are JAX's: `in_axes` is an int, None (argument not batched) or a
tuple/list with one entry per argument (an entry may itself match a nested
tuple/list argument); outputs are a tensor or nested tuples/lists of them,
with the batch axis moved to `out_axes`. Imports: ir, ops, layer L0.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from . import dtypes, shapes
from .errors import GraphcError, ShapeError, origin, user_origin
from .ir import Node, apply, toposort
from .ops import as_tensor, broadcast_to, expand_dims
from .ops.base import INPUT
from .ops.batching import Axis, moveaxis

Batched = tuple[Node, Axis]
Located = tuple[Node, int]  # an argument and the position of its batch axis
_placeholder_ids = itertools.count(1)


def vmap(fn: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0) -> Callable[..., Any]:
    """fn mapped over a batch axis of its arguments (jax.vmap): one graph for every example."""
    if not callable(fn):
        raise GraphcError(f"vmap needs a function, got {type(fn).__name__} (at {user_origin()})")
    _check_axes_spec(in_axes, "in_axes")
    _check_axes_spec(out_axes, "out_axes")

    @functools.wraps(fn)
    def batched(*args: Any, **kwargs: Any) -> Any:
        return _call(fn, in_axes, out_axes, args, kwargs)

    return batched


def _check_axes_spec(spec: Any, what: str) -> None:
    if spec is None or shapes.static_int(spec) is not None:
        return
    if isinstance(spec, (tuple, list)):
        for entry in spec:
            _check_axes_spec(entry, what)
        return
    raise GraphcError(f"vmap: {what} entries must be ints or None, got {spec!r} "
                      f"(at {user_origin()})")


# ------------------------------------------------------------- structures

def _flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves of nested tuples/lists, and the structure to rebuild them with."""
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        structure = []
        for item in tree:
            item_leaves, item_structure = _flatten(item)
            leaves.extend(item_leaves)
            structure.append((len(item_leaves), item_structure))
        return leaves, (type(tree), structure)
    return [tree], None


def _unflatten(structure: Any, leaves: Sequence[Any]) -> Any:
    if structure is None:
        return leaves[0]
    kind, items = structure
    out, start = [], 0
    for count, item_structure in items:
        out.append(_unflatten(item_structure, leaves[start:start + count]))
        start += count
    return kind(*out) if hasattr(kind, "_fields") else kind(out)


def _broadcast_spec(spec: Any, tree: Any, what: str, where: str) -> list[Any]:
    """One axis per leaf of `tree`: an int/None applies to all its leaves, a tuple/list must match."""
    if spec is None or shapes.static_int(spec) is not None:
        return [spec] * len(_flatten(tree)[0])
    if not isinstance(tree, (tuple, list)) or len(spec) != len(tree):
        got = f"{len(tree)} entries" if isinstance(tree, (tuple, list)) else "a single tensor"
        raise GraphcError(f"vmap: {what} {where} has {len(spec)} entries but {got} came "
                          f"(in_axes/out_axes must match the structure; at {user_origin()})")
    return [axis for s, t in zip(spec, tree) for axis in _broadcast_spec(s, t, what, where)]


# ------------------------------------------------------------------ call

def _describe(position: int, leaf: Node) -> str:
    named = f" ({leaf.name!r})" if leaf.op.name == "input" and leaf.name else ""
    return f"argument {position}{named} of shape {shapes.format_shape(leaf.shape)}"


def _bind_arguments(args: Sequence[Any], kwargs: dict[str, Any],
                    in_axes: Any) -> tuple[list[Any], list[Located | None], list[str]]:
    """Arguments as tensor leaves, each with its batch axis (or None), and a name for errors."""
    trees = list(args) + list(kwargs.values())
    if isinstance(in_axes, (tuple, list)):
        if len(in_axes) != len(args):
            raise GraphcError(
                f"vmap: in_axes has {len(in_axes)} entries but the function was called with "
                f"{len(args)} positional arguments (at {user_origin()})")
        per_argument = list(in_axes) + [0] * len(kwargs)
    else:
        per_argument = [in_axes] * len(trees)
    axes: list[Located | None] = []
    names: list[str] = []
    for position, (tree, spec) in enumerate(zip(trees, per_argument)):
        tree_leaves = [as_tensor(leaf) for leaf in _flatten(tree)[0]]
        where = f"for argument {position}"
        for leaf, axis in zip(tree_leaves, _broadcast_spec(spec, tree, "in_axes", where)):
            names.append(_describe(position, leaf))
            if axis is None:
                axes.append(None)
                continue
            if not -leaf.ndim <= axis < leaf.ndim:
                raise ShapeError(f"vmap: in_axes {axis} is out of range for {names[-1]} "
                                 f"(rank {leaf.ndim}; at {user_origin()})")
            axes.append((leaf, axis % leaf.ndim))
    return trees, axes, names


def _batch_size(axes: Sequence[Located | None], names: Sequence[str]) -> shapes.Size:
    """The one batch size of all batched arguments; differing sizes are an error."""
    found = [(leaf.shape[a], name, a) for entry, name in zip(axes, names) if entry
             for leaf, a in [entry]]
    if not found:
        raise GraphcError("vmap needs at least one batched argument, but in_axes is None for "
                          f"all of them (at {user_origin()})")
    size, first, first_axis = found[0]
    for other, name, axis in found[1:]:
        if _differ(size, other):
            raise ShapeError(f"vmap: batch sizes differ: {first} has size {size} on axis "
                             f"{first_axis}, but {name} has size {other} on axis {axis} "
                             f"(at {user_origin()})")
    return size


def _differ(a: shapes.Size, b: shapes.Size) -> bool:
    """Sizes known to differ: two static ones, or two differently named ones.

    A named or None size next to a static one may be equal at run time; ops that combine
    the two record that equality, and the compiled function checks it per call.
    """
    if a == b:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return True
    return all(isinstance(s, shapes.Dim) and not s.is_anonymous for s in (a, b))


def _placeholder(leaf: Node, axis: int) -> Node:
    """A per-example input: the argument's shape and dtype without the batch axis."""
    shape = leaf.shape[:axis] + leaf.shape[axis + 1:]
    return Node(INPUT, (), (), shape, leaf.dtype, name=f"vmap_example_{next(_placeholder_ids)}",
                origin=user_origin())


def _call(fn: Callable[..., Any], in_axes: Any, out_axes: Any, args: Sequence[Any],
          kwargs: dict[str, Any]) -> Any:
    trees, axes, names = _bind_arguments(args, kwargs, in_axes)
    size = _batch_size(axes, names)
    mapping: dict[Node, Batched] = {}
    examples: list[Node] = []
    for entry in axes:
        if entry is None:
            continue
        leaf, axis = entry
        example = _placeholder(leaf, axis)
        mapping[example] = (leaf, axis)
        examples.append(example)
    # Rebuild each argument with placeholders in place of its batched leaves.
    rebuilt_leaves, flat_axes = iter(examples), iter(axes)
    call_args = []
    for tree in trees:
        leaves, structure = _flatten(tree)
        swapped = [next(rebuilt_leaves) if next(flat_axes) is not None else as_tensor(leaf)
                   for leaf in leaves]
        call_args.append(_unflatten(structure, swapped))
    positional, keywords = call_args[:len(args)], dict(zip(kwargs, call_args[len(args):]))
    result = fn(*positional, **keywords)
    out_leaves, out_structure = _flatten(result)
    out_leaves = [as_tensor(leaf) for leaf in out_leaves]
    out_spec = _broadcast_spec(out_axes, result, "out_axes", "for the outputs")
    batched = batch_graph(out_leaves, mapping)
    final = [_place(node, axis, wanted, size, i)
             for i, ((node, axis), wanted) in enumerate(zip(batched, out_spec))]
    return _unflatten(out_structure, final)


def _place(node: Node, axis: Axis, wanted: int | None, size: shapes.Size, index: int) -> Node:
    """Put an output's batch axis at out_axes; an unbatched output is repeated over the batch."""
    if wanted is None:
        if axis is not None:
            raise GraphcError(f"vmap: out_axes is None for output {index}, but it depends on "
                              f"the batched arguments (at {user_origin()})")
        return node
    rank = node.ndim + (axis is None)
    if not -rank <= wanted < rank:
        raise ShapeError(f"vmap: out_axes {wanted} is out of range for output {index} "
                         f"(rank {rank} with the batch axis; at {user_origin()})")
    wanted %= rank
    if axis is None:
        return broadcast_to(expand_dims(node, wanted),
                            node.shape[:wanted] + (size,) + node.shape[wanted:])
    return moveaxis(node, axis, wanted)


# ----------------------------------------------------------------- the walk

def batch_graph(outputs: Sequence[Node], mapping: dict[Node, Batched]) -> list[Batched]:
    """Batched versions of `outputs`, given batched stand-ins for some of the nodes they use.

    One pass in topological order. A node none of whose inputs changed is kept;
    one whose inputs changed but are unbatched is rebuilt; the rest go through
    their op's batching rule.
    """
    memo: dict[Node, Batched] = dict(mapping)
    for node in toposort(outputs):
        if node in memo:
            continue
        inputs = [memo[i] for i in node.inputs]
        if all(axis is None for _, axis in inputs):
            if all(new is old for (new, _), old in zip(inputs, node.inputs)):
                memo[node] = (node, None)
            else:
                memo[node] = (apply(node.op, *(new for new, _ in inputs), name=node.name,
                                    origin=node.origin, **node.attr), None)
            continue
        memo[node] = _batch_node(node, inputs)
    return [memo[o] for o in outputs]


def _batch_node(node: Node, inputs: Sequence[Batched]) -> Batched:
    rule = node.op.batch
    if rule is None:
        raise GraphcError(f"vmap: {node.op.name} has no batching rule, so it cannot be vmapped "
                          f"(node built at {node.origin})")
    args = [new for new, _ in inputs]
    axes = [axis for _, axis in inputs]
    with origin(f"vmap of {node.op.name} at {node.origin}"):
        try:
            out, axis = rule(args, axes, **node.attr)
        except GraphcError as exc:
            if getattr(exc, "located", False):
                raise
            located = type(exc)(f"vmap of {node.op.name} (node built at {node.origin}): {exc}")
            located.located = True  # type: ignore[attr-defined]
            raise located from None
    _check_rule(node, out, axis)
    return out, axis


def _check_rule(node: Node, out: Node, axis: Axis) -> None:
    """A rule's result must be the node's shape and dtype with the batch axis added: catch bugs here."""
    expected = list(node.shape)
    if axis is not None:
        if not 0 <= axis <= node.ndim:
            expected = []
        else:
            expected.insert(axis, out.shape[axis] if axis < out.ndim else -1)
    same = len(expected) == out.ndim and all(
        not (isinstance(a, int) and isinstance(b, int)) or a == b
        for a, b in zip(expected, out.shape))
    if not same or out.dtype != node.dtype:
        raise GraphcError(
            f"vmap: the batching rule of {node.op.name} returned "
            f"{dtypes.short_name(out.dtype)}{shapes.format_shape(out.shape)} with the batch on "
            f"axis {axis}, but the node is {dtypes.short_name(node.dtype)}"
            f"{shapes.format_shape(node.shape)} (node built at {node.origin}); "
            "this is a bug in the rule")


__all__ = ["batch_graph", "vmap"]
