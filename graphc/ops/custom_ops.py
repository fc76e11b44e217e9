"""The `custom_call` op: a user function's value, differentiated by the user's own rule.

Owns the declaration of `custom_call`, the node `gc.custom_vjp`/`gc.custom_jvp`
(graphc/custom.py) put on each output of a decorated function. Its inputs are
(value, *arguments): `value` is the function's output, built from the
arguments by ordinary graph ops, and the node's value IS that value (the
interpreter returns it, generated code aliases it). What differs is
autodiff: the op's VJP rule gives no cotangent to `value` (the body is not
differentiated) and asks the node's `rule` attribute for the cotangents of
the arguments. The rule is an object with two methods, so this layer needs
no autodiff or vmap code:

    rule.cotangents(cotangent, arguments) -> one cotangent (or None) per argument
    rule.batched(batched: tuple[bool, ...]) -> the rule of the same call on a batch
        (arguments with True carry a batch axis at 0; the value always does)

Imports: ir and layer L0 (layer L2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir import Node, Op, Sample, apply, register
from ..lowering import Kernel
from . import batching


def _vjp(g: Node, out: Node, value: Node, *arguments: Node, rule: Any) -> tuple[Any, ...]:
    return (None, *rule.cotangents(g, arguments))


def _batch(args: Sequence[Node], batch_axes: Sequence[int | None], rule: Any) -> tuple[Node, int]:
    """Batch axes to the front, and a rule that maps the user's rule over them (gc.vmap of it)."""
    size = batching.batch_size(args, batch_axes)
    value = batching.to_front(args[0], batch_axes[0], size)
    moved = [a if axis is None else batching.moveaxis(a, axis, 0)
             for a, axis in zip(args[1:], batch_axes[1:])]
    flags = tuple(axis is not None for axis in batch_axes[1:])
    return apply(CUSTOM_CALL, value, *moved, rule=rule.batched(flags)), 0


class ExampleRule:
    """A rule for the op's contract-test samples: no cotangent for any argument."""

    def cotangents(self, cotangent: Node, arguments: Sequence[Node]) -> tuple[None, ...]:
        return (None,) * len(arguments)

    def batched(self, batched: tuple[bool, ...]) -> ExampleRule:
        return self

    def __repr__(self) -> str:
        return "example"

    def __reduce__(self) -> str:
        return "EXAMPLE_RULE"  # unpickles as the one instance: saved graphs compare equal


EXAMPLE_RULE = ExampleRule()

CUSTOM_CALL = register(Op(
    "custom_call", label="custom_call", arity=None,
    shape=lambda inputs, rule: inputs[0].shape, dtype=lambda inputs, rule: inputs[0].dtype,
    impl=lambda value, *arguments, rule: np.asarray(value), vjp=_vjp, batch=_batch,
    lowering=Kernel("{0}"),  # the value itself: one alias statement in generated code
    samples=(Sample(((2, 3), (3,)), {"rule": EXAMPLE_RULE}), Sample(((), (2,), ()), {"rule": EXAMPLE_RULE})),
))


def custom_call(value: Node, arguments: Sequence[Node], rule: Any) -> Node:
    """The node standing for a user function's output `value` whose derivative is `rule`'s."""
    return apply(CUSTOM_CALL, value, *arguments, rule=rule)
