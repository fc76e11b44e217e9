"""The VJP of a scan: a reverse scan over the carries the forward loop saved.

Owns `scan_vjp`, the `vjp` rule of the scan op. The forward loop saves each
step's incoming carry (the ("history", i) outputs of the same loop family, so
one forward run serves both the values and the residuals). The backward body
recomputes the step from (carry_t, x_t) and applies the forward body's VJP
(autodiff.backward on the body graph):

    carry of the backward loop:  g_carry (one per float carry), g_const (accumulated)
    xs of the backward loop:     carry_t, x_t, and the incoming cotangent slice
    per-step output:             g_x_t, stacked into the cotangent of xs

It runs in the opposite direction of the forward loop. Its final carries are
the cotangents of init and of the loop-invariant inputs. The backward loop is
itself a scan, so grad of grad (and jvp, the transpose of this VJP) work by
the same rule. Imports: autodiff, ops, subgraph, control.scan/trace (layer L3).
"""

from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autodiff import backward
from ..errors import origin
from ..ir import Node
from ..ops import add, zeros_like
from ..subgraph import Subgraph
from .scan import scan_outputs
from .trace import placeholder


def _float(node: Node) -> bool:
    return dtypes.is_float(node.dtype)


def _backward_body(body: Subgraph, kind: str, index: int) -> tuple[Subgraph, list[int], list[int], list[int]]:
    """The step of the reverse loop for a cotangent on output (kind, index).

    Returns the body and the positions (in the forward body's inputs) of the
    float carries, float xs and float consts it differentiates.
    """
    nc, nx = body.carries, body.xs
    carry_in = [k for k in range(nc) if _float(body.inputs[k])]
    x_in = [k for k in range(nc, nc + nx) if _float(body.inputs[k])]
    const_in = [k for k in range(nc + nx, len(body.inputs)) if _float(body.inputs[k])]
    g_carry = {k: placeholder(body.inputs[k], f"g_carry{k}") for k in carry_in}
    g_const = {k: placeholder(body.inputs[k], f"g_{body.inputs[k].name}") for k in const_in}
    outputs, cotangents = [], []
    for k in carry_in:  # new carry k's cotangent is the running g_carry k
        if _float(body.outputs[k]):
            outputs.append(body.outputs[k])
            cotangents.append(g_carry[k])
    incoming: list[Node] = []
    if kind == "ys" and _float(body.outputs[nc + index]):
        incoming = [placeholder(body.outputs[nc + index], "g_y")]
        outputs.append(body.outputs[nc + index])
        cotangents.append(incoming[0])
    if kind == "history":
        incoming = [placeholder(body.inputs[index], "g_saved")]
    wrt = [body.inputs[k] for k in carry_in + x_in + const_in]
    pulled = backward(outputs, cotangents, wrt) if outputs else [zeros_like(w) for w in wrt]
    by_input = dict(zip(carry_in + x_in + const_in, pulled))
    if kind == "history":
        by_input[index] = add(by_input[index], incoming[0])
    new_carries = [by_input[k] for k in carry_in] + [add(g_const[k], by_input[k]) for k in const_in]
    inputs = ([g_carry[k] for k in carry_in] + [g_const[k] for k in const_in]
              + list(body.inputs[:nc + nx]) + incoming + list(body.inputs[nc + nx:]))
    step = Subgraph(tuple(inputs), tuple(new_carries + [by_input[k] for k in x_in]),
                    len(carry_in) + len(const_in), nc + nx + len(incoming))
    return step, carry_in, x_in, const_in


def scan_vjp(cotangent: Node, out: Node, *inputs: Node, body: Subgraph, output: tuple[str, int],
             length: Any, reverse: bool, unroll: int, **extra: Any) -> list[Node | None]:
    """Cotangents of (init..., xs..., consts...) for a cotangent on one scan output."""
    kind, index = output
    nc, nx = body.carries, body.xs
    with origin(f"backward of scan at {out.origin}"):
        step, carry_in, x_in, const_in = _backward_body(body, kind, index)
        saved = scan_outputs(body, inputs, [("history", i) for i in range(nc)], length=length,
                             reverse=reverse, unroll=unroll, **extra)
        g_init = [cotangent if kind == "carry" and k == index else zeros_like(inputs[k])
                  for k in carry_in]
        g_consts = [zeros_like(inputs[k]) for k in const_in]
        incoming = [cotangent] if kind in ("ys", "history") and step.xs > nc + nx else []
        loop_inputs = (g_init + g_consts + saved + list(inputs[nc:nc + nx]) + incoming
                       + list(inputs[nc + nx:]))
        wanted = [("carry", i) for i in range(step.carries)] + [("ys", j) for j in range(len(x_in))]
        results = scan_outputs(step, loop_inputs, wanted, length=length, reverse=not reverse,
                               unroll=unroll)
    cotangents: list[Node | None] = [None] * len(inputs)
    for k, node in zip(carry_in + const_in + x_in, results):
        cotangents[k] = node
    return cotangents
