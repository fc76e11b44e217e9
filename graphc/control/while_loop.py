"""`gc.while_loop`: value-dependent termination, reverse-differentiable when bounded.

Owns the `while_loop` op (one node per carry leaf, a family like scan's) and
its builder. `while_loop(cond_fn, body_fn, init)` runs `body_fn` while
`cond_fn(carry)` is true (jax.lax.while_loop semantics); the number of steps
is known only at run time, so nothing is saved for a reverse pass and
differentiating it raises a graphc error saying what to do. With
`max_steps=n` it is a scan of n steps whose carry also holds a done flag:
a finished loop passes its carry through unchanged (a select, so no NaN
leaks from the steps after the end), and the scan's VJP differentiates it,
saving at most n carries. Imports: ir, ops, interpret, subgraph,
control.scan/trace/pytree (layer L3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import interpret, shapes
from ..errors import GraphcError, NotDifferentiableError, ShapeError, api_boundary, user_origin
from ..interpret import evaluate
from ..ir import Node, Op, apply, register
from ..lowering import Loop
from ..ops import as_tensor, constant, equal
from ..ops import where as select
from ..ops.batching import unbatchable
from ..subgraph import Subgraph
from . import pytree
from .scan import scan
from .trace import close


def _shape(inputs: Sequence[Node], *, body: Subgraph, output: int, **rest: Any) -> shapes.Shape:
    return body.inputs[output].shape


def _dtype(inputs: Sequence[Node], *, body: Subgraph, output: int, **rest: Any) -> np.dtype:
    return body.inputs[output].dtype


def _loop(body: Subgraph, arguments: Sequence[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
    """Run the loop: the body graph gives (new carries..., cond(carry))."""
    carries = [np.asarray(a) for a in arguments[:body.carries]]
    consts = [np.asarray(a) for a in arguments[body.carries:]]
    while True:
        results = evaluate(body.outputs, dict(zip(body.inputs, carries + consts)), binding)
        if not bool(results[-1]):
            return carries
        carries = results[:-1]


def _impl(*arrays: np.ndarray, body: Subgraph, output: int, **rest: Any) -> np.ndarray:
    return _loop(body, arrays, {})[output]


def _vjp(cotangent: Node, out: Node, *inputs: Node, **attrs: Any) -> list[Node | None]:
    raise NotDifferentiableError(
        f"while_loop built at {out.origin} cannot be differentiated in reverse mode: its number "
        "of steps is known only when it runs, so no carries are saved for the reverse pass. Give "
        "max_steps=n (an upper bound on the steps) to make it differentiable, or wrap the solve "
        "in gc.custom_vjp with an implicit-function VJP")


WHILE = register(Op("while_loop", shape=_shape, dtype=_dtype, impl=_impl, vjp=_vjp,
                    label="while_loop", lowering=Loop(steps_known=False), batch=unbatchable(
                        "each example may need a different number of steps; give while_loop "
                        "max_steps=n (then it is a scan, which vmap batches)")))


def _run_family(members: list[Node], arguments: list[np.ndarray],
                binding: dict[str, int]) -> list[np.ndarray]:
    final = _loop(members[0].attr["body"], arguments, binding)
    return [final[m.attr["output"]] for m in members]


interpret.FAMILIES["while_loop"] = (
    lambda node: (node.inputs, tuple((k, v) for k, v in node.attrs if k != "output")), _run_family)


def _condition(cond_fn: Callable[..., Any], carry: Any, where: str) -> Node:
    result = as_tensor(cond_fn(carry))
    if result.ndim != 0 or result.dtype != np.dtype(bool):
        raise ShapeError(f"while_loop: cond_fn must return a bool scalar, got "
                         f"{result.dtype}{shapes.format_shape(result.shape)} (at {where})")
    return result


@api_boundary
def while_loop(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], init: Any,
               max_steps: int | None = None) -> Any:
    """Repeat `carry = body_fn(carry)` while `cond_fn(carry)`; returns the final carry."""
    where = user_origin()
    if not callable(cond_fn) or not callable(body_fn):
        raise GraphcError(f"while_loop needs cond_fn and body_fn functions (at {where})")
    if max_steps is not None:
        return _bounded(cond_fn, body_fn, init, max_steps, where)
    leaves, structure = pytree.flatten(init)
    leaves = [as_tensor(leaf) for leaf in leaves]

    def step(carry: Any, _: Any) -> tuple[Any, None]:
        return body_fn(carry), None

    from .trace import trace_body

    traced = trace_body(step, "while_loop", leaves, structure, [], "none", where)
    carries = list(traced.body.inputs[:traced.body.carries])
    test = _condition(cond_fn, pytree.unflatten(structure, carries), where)
    outer_body, consts = close(carries, [], list(_unclosed(traced)) + [test])
    inputs = [c if c.dtype == p.dtype else c.astype(p.dtype)
              for c, p in zip(leaves, carries)] + list(consts)
    nodes = [apply(WHILE, *inputs, body=outer_body, output=i) for i in range(len(carries))]
    return pytree.unflatten(structure, nodes)


def _unclosed(traced: Any) -> list[Node]:
    """The traced body's new carries with its consts put back as the outer tensors."""
    from ..ir import substitute

    body = traced.body
    consts = body.inputs[body.carries + body.xs:]
    return substitute(list(body.outputs[:body.carries]), dict(zip(consts, traced.consts)))


def _bounded(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], init: Any, max_steps: int,
             where: str) -> Any:
    count = shapes.static_int(max_steps)
    if count is None or count < 0:
        raise GraphcError(f"while_loop: max_steps must be a non-negative int, got {max_steps!r} "
                          f"(at {where})")

    def step(state: Any, _: Any) -> tuple[Any, None]:
        carry, done = state
        running = select(done, constant(False), _condition(cond_fn, carry, where))
        new_leaves, structure = pytree.flatten(body_fn(carry))
        old_leaves, _ = pytree.flatten(carry)
        kept = [select(running, as_tensor(n), o) for n, o in zip(new_leaves, old_leaves)]
        return (pytree.unflatten(structure, kept), equal(running, constant(False))), None

    (final, _), _ = scan(step, (init, constant(False)), length=count)
    return final


__all__ = ["WHILE", "while_loop"]
