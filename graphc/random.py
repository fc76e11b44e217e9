"""`gc.random`: random numbers in the graph, JAX-style keys (docs/random.md).

Owns nothing: re-exports the builders declared in graphc/ops/random_ops.py,
so a draw is an ordinary graph node that both backends compute alike.
Imports: ops (layer L5 wiring).
"""

from .ops.random_ops import bernoulli, key, normal, split, uniform

__all__ = ["bernoulli", "key", "normal", "split", "uniform"]
