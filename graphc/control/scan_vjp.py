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

from collections.abc import Sequence
from typing import Any

from .. import dtypes
from ..autodiff import backward
from ..errors import NotDifferentiableError, origin
from ..ir import Node
from ..ops import add, zeros_like
from ..subgraph import Subgraph
from .scan import scan_outputs
from .trace import placeholder


def _float(node: Node) -> bool:
    return dtypes.is_float(node.dtype)


def _backward_body(body: Subgraph, incoming: Sequence[tuple[str, int]],
                   ) -> tuple[Subgraph, list[int], list[int], list[int]]:
    """The step of the reverse loop, given which ys / saved-carry outputs receive a cotangent.

    Returns the body and the positions (in the forward body's inputs) of the
    float carries, float xs and float consts it differentiates.
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
    inputs = ([g_carry[k] for k in carry_in] + [g_const[k] for k in const_in]
              + list(body.inputs[:nc + nx]) + slices + list(body.inputs[nc + nx:]))
    step = Subgraph(tuple(inputs), tuple(new_carries + [by_input[k] for k in x_in]),
                    len(carry_in) + len(const_in), nc + nx + len(slices))
    return step, carry_in, x_in, const_in


def scan_family_vjp(cotangents: Sequence[tuple[tuple[str, int], Node]], out: Node, *inputs: Node,
                    body: Subgraph, length: Any, reverse: bool, unroll: int,
                    **extra: Any) -> list[Node | None]:
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
    with origin(f"backward of scan at {out.origin}"):
        step, carry_in, x_in, const_in = _backward_body(body, [o for o, _ in incoming])
        saved = scan_outputs(body, inputs, [("history", i) for i in range(nc)], length=length,
                             reverse=reverse, unroll=unroll, **extra)
        g_init = [on_carry[k] if k in on_carry else zeros_like(inputs[k]) for k in carry_in]
        g_consts = [zeros_like(inputs[k]) for k in const_in]
        loop_inputs = (g_init + g_consts + saved + list(inputs[nc:nc + nx]) + [c for _, c in incoming]
                       + list(inputs[nc + nx:]))
        wanted = [("carry", i) for i in range(step.carries)] + [("ys", j) for j in range(len(x_in))]
        every = extra.get("checkpoint", 1)
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
