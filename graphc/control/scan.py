"""`gc.scan`: a loop in the graph, `jax.lax.scan` semantics, the body traced once.

Owns the `scan` op and its builder. One loop is a *family* of `scan` nodes
that share the body, the inputs and the loop attributes and differ only in
`output`, the result each one stands for:

    ("carry", i)    the final value of carry leaf i
    ("ys", j)       per-step output leaf j, stacked on a new axis 0
    ("history", i)  carry leaf i as each step received it, stacked (what the
                    reverse pass reads; autodiff asks for it)

so every node of the graph stays one tensor with one shape and dtype, and
every pass (CSE, DCE, printing, serialization) works unchanged; the
interpreter runs a family's loop once for all its members
(interpret.FAMILIES), as does the numba backend (backend/loops.py).

Node inputs: init leaves, then xs leaves, then the outer tensors the body
reads (its consts). Attributes: `body` (a Subgraph), `output`, `length`
(the static step count when there are no xs, else None), `reverse`,
`unroll` (a code generation hint; results do not depend on it).
Imports: ir, ops, interpret, subgraph, control.trace/pytree/run (layer L3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import autodiff, interpret, shapes
from ..errors import GraphcError, ShapeError, api_boundary, user_origin
from ..ir import Node, Op, apply, register
from ..lowering import Loop
from ..ops import as_tensor
from ..subgraph import Subgraph
from . import pytree, run
from .trace import trace_body

Output = tuple[str, int]


def steps(inputs: Sequence[Node], body: Subgraph, length: Any, recompute: Any = None) -> shapes.Size:
    """The number of steps: `length` without xs (or when rebuilding from checkpoints, whose
    first xs are the checkpoints), else the size of the xs' axis 0."""
    if body.xs and recompute is None:
        return inputs[body.carries].shape[0]
    return length  # type: ignore[no-any-return]


BUILT = [False]  # whether this process has built a scan node (the loop pass skips its walk if not)


def _shape(inputs: Sequence[Node], *, body: Subgraph, output: Output, length: Any,
           reverse: bool, unroll: int, checkpoint: int = 1, recompute: Any = None,
           **rest: Any) -> shapes.Shape:
    BUILT[0] = True
    kind, index = output
    if kind == "carry":
        return body.outputs[index].shape
    count = steps(inputs, body, length, recompute)
    if kind == "ys":
        return (count,) + tuple(body.outputs[body.carries + index].shape)
    if checkpoint > 1:
        count = -(-count // checkpoint)  # static: scan() checks
    return (count,) + tuple(body.inputs[index].shape)


def _dtype(inputs: Sequence[Node], *, body: Subgraph, output: Output, **rest: Any) -> np.dtype:
    kind, index = output
    if kind == "ys":
        return body.outputs[body.carries + index].dtype
    return body.inputs[index].dtype


def checkpoints_of(attrs: dict[str, Any]) -> run.Checkpoints:
    """How the loop with these attributes keeps or rebuilds saved carries."""
    if attrs.get("recompute") is not None:
        forward, every, forward_reverse = attrs["recompute"]
        return run.Checkpoints(every, forward, forward_reverse)
    return run.Checkpoints(attrs.get("checkpoint", 1))


def _impl(*arrays: np.ndarray, body: Subgraph, output: Output, length: Any, reverse: bool,
          **rest: Any) -> np.ndarray:
    """One node alone (constant folding): the loop run for this output only."""
    return run.run_loop(body, list(arrays), length, reverse, [output], run.interpreter_step, {},
                        checkpoints_of(rest))[0]


def _vjp(cotangent: Node, out: Node, *inputs: Node, **attrs: Any) -> list[Node | None]:
    from .scan_vjp import scan_vjp  # the reverse scan is built from autodiff's backward sweep

    return scan_vjp(cotangent, out, *inputs, **attrs)


def _batch(args: Sequence[Node], axes: Sequence[int | None], **attrs: Any) -> tuple[Node, int | None]:
    from .scan_batch import scan_batch  # the body batched by graphc.vmap

    return scan_batch(args, axes, **attrs)


SCAN = register(Op("scan", shape=_shape, dtype=_dtype, impl=_impl, vjp=_vjp, batch=_batch,
                   label="scan", lowering=Loop()))


def family_key(node: Node) -> Any:
    """What the nodes of one loop share: inputs and every attribute but `output`."""
    return (node.inputs, tuple((k, v) for k, v in node.attrs if k != "output"))


def _run_family(members: list[Node], arguments: list[np.ndarray],
                binding: dict[str, int]) -> list[np.ndarray]:
    attrs = members[0].attr
    wanted = [m.attr["output"] for m in members]
    length = shapes.resolve_attr(attrs["length"], binding)
    return run.run_loop(attrs["body"], arguments, length, attrs["reverse"], wanted,
                        run.interpreter_step, binding, checkpoints_of(attrs))


interpret.FAMILIES["scan"] = (family_key, _run_family)


def _family_vjp(cotangents: Any, out: Node, *inputs: Node, **attrs: Any) -> Any:
    from .scan_vjp import scan_family_vjp

    return scan_family_vjp(cotangents, out, *inputs, **attrs)


autodiff.FAMILY_VJPS["scan"] = (family_key, _family_vjp)


def scan_outputs(body: Subgraph, inputs: Sequence[Node], wanted: Sequence[Output], *,
                 length: Any, reverse: bool, unroll: int = 1, **extra: Any) -> list[Node]:
    """The nodes of one loop for the `wanted` outputs (same inputs and attributes)."""
    return [apply(SCAN, *inputs, body=body, output=output, length=length, reverse=reverse,
                  unroll=unroll, **extra) for output in wanted]


def saved_bytes(outputs: Sequence[Node]) -> int | str | None:
    """Bytes of the carries and residuals the graph's loops save for their reverse passes
    (f.stats["saved_bytes"]):
    an int, a formula in the symbolic sizes (`8*T*3`), or None when nothing is saved."""
    from ..ir import toposort

    total: Any = 0
    symbolic: list[str] = []
    found = False
    for node in toposort(outputs):
        if node.op is SCAN and _saved(node):
            found = True
            size = shapes.product(node.shape)
            if isinstance(size, int):
                total += size * node.dtype.itemsize
            else:
                symbolic.append(f"{node.dtype.itemsize}*{size}")
    if not found:
        return None
    return " + ".join([str(total)] * bool(total) + symbolic) if symbolic else int(total)


def _saved(node: Node) -> bool:
    """A loop output kept for a reverse pass: saved carries, or a residual (a trailing ys of
    a forward body extended by scan_vjp, counted by the `residuals` attribute)."""
    kind, index = node.attr["output"]
    body = node.attr["body"]
    return kind == "history" or kind == "ys" and index >= body.ys - node.attr.get("residuals", 0)


def _leaves(tree: Any, what: str, where: str) -> tuple[list[Node], Any]:
    leaves, structure = pytree.flatten(tree)
    try:
        return [as_tensor(leaf) for leaf in leaves], structure
    except GraphcError as exc:
        raise GraphcError(f"scan: {what} must hold tensors: {exc} (at {where})") from None


def _check_length(xs: Sequence[Node], length: Any, where: str) -> Any:
    """The static length when there are no xs; checks that xs agree on their axis 0."""
    for x in xs:
        if x.ndim == 0:
            raise ShapeError(f"scan: every xs entry needs a leading axis to scan over, got a "
                             f"rank-0 tensor (at {where})")
    if not xs:
        if length is None:
            raise GraphcError(f"scan: give xs or length (at {where})")
        size = shapes.static_int(length)
        if size is None or size < 0:
            raise ShapeError(f"scan: length must be a non-negative int, got {length!r} (at {where})")
        return size
    first = xs[0].shape[0]
    for x in xs[1:]:
        if isinstance(first, int) and isinstance(x.shape[0], int) and first != x.shape[0] \
                or (not isinstance(first, int) and not isinstance(x.shape[0], int) and first != x.shape[0]):
            raise ShapeError(f"scan: xs entries have different lengths {first} and {x.shape[0]} "
                             f"on axis 0 (at {where})")
    if length is not None and isinstance(first, int) and shapes.static_int(length) != first:
        raise ShapeError(f"scan: length={length!r} but xs have {first} steps (at {where})")
    return None


def _checkpoint_attrs(checkpoint: Any, xs: Sequence[Node], length: Any, where: str) -> dict[str, Any]:
    if checkpoint is None or checkpoint == 1:
        return {}
    every = shapes.static_int(checkpoint)
    if every is None or every < 1:
        raise GraphcError(f"scan: checkpoint must be a positive int, got {checkpoint!r} (at {where})")
    count = xs[0].shape[0] if xs else length
    if not isinstance(count, int):
        raise ShapeError(f"scan: checkpoint={every} needs a static number of steps, but xs have "
                         f"{count} rows (at {where})")
    return {"checkpoint": every}


@api_boundary
def scan(fn: Callable[..., Any], init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: int | bool = 1, checkpoint: int | None = None) -> tuple[Any, Any]:
    """Loop `fn(carry, x) -> (new_carry, y)` over axis 0 of `xs`: (final carry, stacked ys).

    jax.lax.scan semantics. The body is traced once into a subgraph; the
    graph does not grow with the number of steps. `checkpoint=k`: the reverse
    pass saves every k-th carry and recomputes the others (k ~ sqrt(T) keeps
    O(sqrt(T)) carries live).
    """
    where = user_origin()
    if not callable(fn):
        raise GraphcError(f"scan needs a function fn(carry, x), got {type(fn).__name__} (at {where})")
    if isinstance(unroll, bool):  # JAX's unroll=True: unroll fully (a code generation hint here)
        unroll = 1
    if shapes.static_int(unroll) is None or unroll < 1:
        raise GraphcError(f"scan: unroll must be a positive int or a bool, got {unroll!r} (at {where})")
    init_leaves, structure = _leaves(init, "init", where)
    xs_leaves, xs_structure = _leaves(xs, "xs", where)
    static_length = _check_length(xs_leaves, length, where)
    extra = _checkpoint_attrs(checkpoint, xs_leaves, static_length, where)
    traced = trace_body(fn, "scan", init_leaves, structure, xs_leaves, xs_structure, where)
    body = traced.body
    inputs = [c if c.dtype == p.dtype else c.astype(p.dtype)
              for c, p in zip(init_leaves, body.inputs)] + xs_leaves + list(traced.consts)
    wanted = [("carry", i) for i in range(body.carries)] + [("ys", j) for j in range(body.ys)]
    nodes = scan_outputs(body, inputs, wanted, length=static_length, reverse=bool(reverse),
                         unroll=int(unroll), **extra)
    carry = pytree.unflatten(structure, nodes[:body.carries])
    ys = pytree.unflatten(traced.ys_structure, nodes[body.carries:])
    return carry, ys


__all__ = ["SCAN", "scan", "scan_outputs", "steps"]
