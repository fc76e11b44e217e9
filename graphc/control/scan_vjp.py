"""The VJP of a scan: a reverse scan over the carries and residuals the forward loop saved.

Owns `scan_vjp`, the `vjp` rule of the scan op. The forward loop saves each
step's incoming carry (the ("history", i) outputs of the same loop family, so
one forward run serves both the values and the residuals) and, unless it is
checkpointed, the step's *residuals*: the values of its costly nodes (matrix
products, reductions, row-wise ops, transcendentals such as tanh: anything not a
view or cheap elementwise arithmetic) that
the backward step reads. They are extra per-step outputs of an extended copy of
the forward body (same inputs, same nodes: the simplifier's loop pass merges
it with the forward loop, so the loop runs once). The backward body reads them
instead of recomputing them and recomputes only the cheap elementwise work
from them (JAX's `checkpoint_dots` policy), then applies the forward body's
VJP (autodiff.backward on the body graph):

    carry of the backward loop:  g_carry (one per float carry), g_const (accumulated)
    xs of the backward loop:     carry_t, x_t, the incoming cotangent slice, residuals
    per-step output:             g_x_t, stacked into the cotangent of xs

It runs in the opposite direction of the forward loop. Its final carries are
the cotangents of init and of the loop-invariant inputs. The backward loop is
itself a scan, so grad of grad (and jvp, the transpose of this VJP) work by
the same rule. Imports: autodiff, ops, subgraph, control.scan/trace (layer L3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import dtypes
from ..autodiff import backward
from ..errors import NotDifferentiableError, origin
from ..ir import Node, substitute
from ..lowering import Leaf, Pointwise, View
from ..ops import add, zeros_like
from ..subgraph import Subgraph
from .scan import scan_outputs
from .trace import placeholder


def _float(node: Node) -> bool:
    return dtypes.is_float(node.dtype)


def _costly(node: Node) -> bool:
    """Worth saving rather than recomputing: not a leaf, not a view, not cheap elementwise.

    An expensive elementwise op (`Op.expensive`, a transcendental: 10-20 ns an element) is
    saved: its output is the size of its input, so saving it costs no more memory than
    saving what it reads. Measured: the LSTM step's backward loop recomputed 5 sigmoid/tanh
    per hidden unit per step from the saved gate slices (docs/benchmarks.md, Loops).
    """
    lowering = node.op.lowering
    if isinstance(lowering, Pointwise):
        return node.op.expensive
    return not isinstance(lowering, (Leaf, View))


def costly_reads(body: Subgraph, outputs: Sequence[Node]) -> list[Node]:
    """The costly forward-body nodes `outputs` read, in body order: a walk from `outputs`
    that stops at each one (what lies behind a saved node need not be recomputed)."""
    varying = set(body.inputs[:body.carries + body.xs])
    order = body.nodes()
    for node in order:
        if any(i in varying for i in node.inputs):
            varying.add(node)
    candidates = {n for n in order if n in varying and _costly(n)}
    found: set[Node] = set()
    seen: set[Node] = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in candidates:
            found.add(node)
            continue
        stack.extend(node.inputs)
    return [n for n in order if n in found]


_EXTENDED: dict[tuple[int, tuple[int, ...]], Subgraph] = {}


def extended(body: Subgraph, saved: Sequence[Node]) -> Subgraph:
    """The forward body with `saved` as extra per-step outputs (one object per body and set,
    so two gradients of one loop share one residual loop)."""
    position = {n: k for k, n in enumerate(body.nodes())}
    key = (body.number, tuple(position[n] for n in saved))
    if key not in _EXTENDED:
        if len(_EXTENDED) > 256:
            _EXTENDED.clear()
        _EXTENDED[key] = Subgraph(body.inputs, body.outputs + tuple(saved), body.carries, body.xs)
    return _EXTENDED[key]


def _backward_body(body: Subgraph, incoming: Sequence[tuple[str, int]], save: bool,
                   ) -> tuple[Subgraph, list[int], list[int], list[int], list[Node]]:
    """The step of the reverse loop, given which ys / saved-carry outputs receive a cotangent.

    Returns the body, the positions (in the forward body's inputs) of the
    float carries, float xs and float consts it differentiates, and the
    residuals it reads as per-step inputs (`save`; none for a checkpointed loop).
    """
    nc, nx = body.carries, body.xs
    carry_in = [k for k in range(nc) if _float(body.inputs[k])]
    x_in = [k for k in range(nc, nc + nx) if _float(body.inputs[k])]
    const_in = [k for k in range(nc + nx, len(body.inputs)) if _float(body.inputs[k])]
    g_carry = {k: placeholder(body.inputs[k], f"g_carry{k}") for k in carry_in}
    g_const = {k: placeholder(body.inputs[k], f"g_{body.inputs[k].name}") for k in const_in}
    outputs = [body.outputs[k] for k in carry_in if _float(body.outputs[k])]
    cotangents = [g_carry[k] for k in carry_in if _float(body.outputs[k])]
    slices: list[Node] = []
    for kind, index in incoming:
        like = body.outputs[nc + index] if kind == "ys" else body.inputs[index]
        slices.append(placeholder(like, f"g_{kind}{index}"))
        if kind == "ys":
            outputs.append(like)
            cotangents.append(slices[-1])
    wrt = [body.inputs[k] for k in carry_in + x_in + const_in]
    pulled = backward(outputs, cotangents, wrt) if outputs else [zeros_like(w) for w in wrt]
    by_input = dict(zip(carry_in + x_in + const_in, pulled))
    for (kind, index), cotangent in zip(incoming, slices):
        if kind == "history":  # the carry step t received was also read directly
            by_input[index] = add(by_input[index], cotangent)
    new_carries = [by_input[k] for k in carry_in] + [add(g_const[k], by_input[k]) for k in const_in]
    results = new_carries + [by_input[k] for k in x_in]
    saved = costly_reads(body, results) if save else []
    stand_ins = [placeholder(node, f"saved{k}") for k, node in enumerate(saved)]
    if saved:
        results = substitute(results, dict(zip(saved, stand_ins)))
    inputs = ([g_carry[k] for k in carry_in] + [g_const[k] for k in const_in]
              + list(body.inputs[:nc + nx]) + slices + stand_ins + list(body.inputs[nc + nx:]))
    step = Subgraph(tuple(inputs), tuple(results), len(carry_in) + len(const_in),
                    nc + nx + len(slices) + len(saved))
    return step, carry_in, x_in, const_in, saved


def scan_family_vjp(cotangents: Sequence[tuple[tuple[str, int], Node]], out: Node, *inputs: Node,
                    body: Subgraph, length: Any, reverse: bool, unroll: int,
                    residuals: int = 0, **extra: Any) -> list[Node | None]:
    """Cotangents of (init..., xs..., consts...) for cotangents on several outputs of one loop:
    one reverse loop for all of them (autodiff.FAMILY_VJPS calls it once per loop)."""
    nc, nx = body.carries, body.xs
    if extra.get("recompute") is not None:
        raise NotDifferentiableError(
            f"the reverse pass of a checkpointed scan (built at {out.origin}) cannot be "
            "differentiated again: use checkpoint=None for second derivatives")
    on_carry = {index: c for (kind, index), c in cotangents if kind == "carry"}
    incoming = [(output, c) for output, c in cotangents if output[0] != "carry"
                and _float(body.outputs[nc + output[1]] if output[0] == "ys" else body.inputs[output[1]])]
    every = extra.get("checkpoint", 1)
    with origin(f"backward of scan at {out.origin}"):
        step, carry_in, x_in, const_in, kept = _backward_body(body, [o for o, _ in incoming],
                                                              save=every == 1)
        forward, attrs = body, dict(extra)
        if kept:  # the forward loop, extended by the residuals as per-step outputs
            forward = extended(body, kept)
            attrs["residuals"] = residuals + len(kept)
        saved = scan_outputs(forward, inputs, [("history", i) for i in range(nc)]
                             + [("ys", forward.ys - len(kept) + k) for k in range(len(kept))],
                             length=length, reverse=reverse, unroll=unroll, **attrs)
        g_init = [on_carry[k] if k in on_carry else zeros_like(inputs[k]) for k in carry_in]
        g_consts = [zeros_like(inputs[k]) for k in const_in]
        loop_inputs = (g_init + g_consts + saved[:nc] + list(inputs[nc:nc + nx])
                       + [c for _, c in incoming] + saved[nc:] + list(inputs[nc + nx:]))
        wanted = [("carry", i) for i in range(step.carries)] + [("ys", j) for j in range(len(x_in))]
        rebuild = {} if every == 1 else {"recompute": (body, every, reverse)}
        count = length if every == 1 else out.inputs[nc].shape[0] if nx else length
        results = scan_outputs(step, loop_inputs, wanted, length=count, reverse=not reverse,
                               unroll=unroll, **rebuild)
    pulled: list[Node | None] = [None] * len(inputs)
    for k, node in zip(carry_in + const_in + x_in, results):
        pulled[k] = node
    return pulled


def scan_vjp(cotangent: Node, out: Node, *inputs: Node, output: tuple[str, int],
             **attrs: Any) -> list[Node | None]:
    """The op's per-node VJP rule: the family rule for one output."""
    return scan_family_vjp([(output, cotangent)], out, *inputs, **attrs)
