"""Rewrite a graph into numerically stable forms (layer L3).

Owns `stabilize(outputs)` and its rules. Autodiff runs it on the forward
graph before the reverse sweep, so the derivative is taken of the stable form
(`log_softmax(z)`, not `log(softmax(z))`); the simplifier runs the same rules
on the joint graph as its `stabilize` pass. Each rule is exact in real
arithmetic and avoids an overflow, an underflow to log(0), or a cancellation.

Imports: rewrite, ir and layer L0. Entry point: `stabilize`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .ir import Node
from .rewrite import Rewriter, Var, op, rebuild, rule

z, axis, keepdims = Var("z"), Var("axis"), Var("keepdims")
exp, log, log1p, expm1 = op("exp"), op("log"), op("log1p"), op("expm1")
sigmoid, softplus, softmax, log_softmax = op("sigmoid"), op("softplus"), op("softmax"), op("log_softmax")
sum_, logsumexp = op("sum"), op("logsumexp")

RULES = (
    # Hand-written logistic functions (PyTensor's tutorial writes p = 1 / (1 + exp(-z))):
    # e^-z overflows to inf for z << 0, so p becomes 0 and log(p) -inf; sigmoid never does.
    rule(1 / (1 + exp(-z)), sigmoid(z), "sigmoid_by_hand"),
    rule(1 / (1 + exp(z)), sigmoid(-z), "sigmoid_of_negative_by_hand"),
    rule(exp(z) / (1 + exp(z)), sigmoid(z), "sigmoid_as_exp_ratio"),
    # log of a normalised exp: softmax underflows to 0 and log(0) = -inf
    rule(log(softmax(z, axis=axis)), log_softmax(z, axis=axis), "log_softmax"),
    # log σ(z) = -log(1 + e^-z): σ underflows to 0 for z << 0
    rule(log(sigmoid(z)), -softplus(-z), "log_sigmoid"),
    # log(1 - σ(z)) = log σ(-z): 1 - σ cancels to 0 for z >> 0
    rule(log(1 - sigmoid(z)), -softplus(z), "log_one_minus_sigmoid"),
    # log(1 + e^z) is softplus: e^z overflows for z >> 0
    rule(log(1 + exp(z)), softplus(z), "log_one_plus_exp"),
    rule(log1p(exp(z)), softplus(z), "log1p_exp"),
    # 1 + z rounds away the digits of a small z
    rule(log(1 + z), log1p(z), "log1p"),
    # e^z - 1 cancels for small z
    rule(exp(z) - 1, expm1(z), "expm1"),
    # Σ e^z overflows; logsumexp subtracts the max first
    rule(log(sum_(exp(z), axis=axis, keepdims=keepdims)),
         logsumexp(z, axis=axis, keepdims=keepdims), "logsumexp"),
)


def stabilize(outputs: Sequence[Node], *, keep: Iterable[Node] = ()) -> list[Node]:
    """Equivalent outputs with the unstable forms above replaced, in one bottom-up pass.

    Nodes in `keep` (and everything below them) are left as they are, so a
    caller that holds on to an intermediate node can still find it. A graph
    with nothing to rewrite comes back identical (same node objects).
    """
    return rebuild(list(outputs), Rewriter(RULES), keep=keep)
