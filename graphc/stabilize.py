"""Rewrite a graph into numerically stable forms (layer L3).

Owns `stabilize(outputs)`. Autodiff runs it on the forward graph before the
reverse sweep, so the derivative is taken of the stable form; the simplifier
runs it on the joint graph too. The rules:

    log(softmax(z))      -> log_softmax(z)
    log(sigmoid(z))      -> -softplus(-z)
    log(1 + z)           -> log1p(z)
    exp(z) - 1           -> expm1(z)
    log(sum(exp(z)))     -> logsumexp(z)

A rewrite is kept only if it preserves the node's shape and dtype.
Imports: ir, ops and layer L0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .ir import Node, toposort
from .ops import log1p, log_softmax, logsumexp, negative, softplus
from .ops.elementwise import expm1

Rule = Callable[[Node], Node | None]


def _is_scalar_one(node: Node) -> bool:
    return node.value is not None and node.value.ndim == 0 and node.value.item() == 1


def _log_of(node: Node) -> Node | None:
    """log(softmax z), log(sigmoid z), log(1 + z), log(sum(exp z)) -> stable forms."""
    if node.op.name != "log":
        return None
    (inner,) = node.inputs
    kind = inner.op.name
    if kind == "softmax":
        return log_softmax(inner.inputs[0], axis=inner.attr["axis"])
    if kind == "sigmoid":
        return negative(softplus(negative(inner.inputs[0])))
    if kind == "add":
        left, right = inner.inputs
        if _is_scalar_one(left):
            return log1p(right)
        if _is_scalar_one(right):
            return log1p(left)
    if kind == "sum" and inner.inputs[0].op.name == "exp":
        return logsumexp(inner.inputs[0].inputs[0], axis=inner.attr["axis"],
                         keepdims=inner.attr["keepdims"])
    return None


def _exp_minus_one(node: Node) -> Node | None:
    """exp(z) - 1 -> expm1(z)."""
    if node.op.name == "subtract" and node.inputs[0].op.name == "exp" and _is_scalar_one(node.inputs[1]):
        return expm1(node.inputs[0].inputs[0])
    return None


RULES: tuple[Rule, ...] = (_log_of, _exp_minus_one)


def _rewrite(node: Node) -> Node:
    for rule in RULES:
        replacement = rule(node)
        if replacement is not None and replacement.shape == node.shape \
                and replacement.dtype == node.dtype:
            return replacement
    return node


def stabilize(outputs: Sequence[Node]) -> list[Node]:
    """Equivalent outputs with the unstable patterns above replaced, bottom-up, in one pass."""
    from .ir import apply

    memo: dict[Node, Node] = {}
    for node in toposort(outputs):
        inputs = tuple(memo[i] for i in node.inputs)
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            rebuilt = apply(node.op, *inputs, name=node.name, origin=node.origin, **node.attr)
        else:
            rebuilt = node
        memo[node] = _rewrite(rebuilt) if rebuilt.inputs else rebuilt
    return [memo[o] for o in outputs]
