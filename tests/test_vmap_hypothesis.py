"""Random graphs (the autodiff hypothesis generator) vmapped, against a loop over the examples.

Each drawn program is built once on per-example inputs; vmap maps it (and its
gradient, so the backward rules are batched too) over a batch of 3 with every
input batched at a drawn axis or not at all. The reference evaluates the
per-example graph on one example at a time with the interpreter.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_autodiff_hypothesis import INPUT_RANGE, Program, programs, sinks_of

import graphc as gc
from graphc.interpret import evaluate

BATCH = 3


def apply_program(program: Program, inputs: list[gc.Tensor]) -> list[gc.Tensor]:
    """The program's sinks, its scalar loss and the loss's gradients, built on `inputs`."""
    sinks = sinks_of(program, inputs)
    loss = sinks[0].sum()
    for extra in sinks[1:]:
        loss = loss + extra.sum()
    return sinks + [loss] + gc.grad(loss, inputs)


@settings(max_examples=40, deadline=None)
@given(program=programs(), data=st.data())
def test_random_graph_vmapped_equals_the_loop(program: Program, data: st.DataObject) -> None:
    ranks = [len(s) for s in program.shapes]
    axes = [data.draw(st.one_of(st.none(), st.integers(0, r)), label=f"axis{k}")
            for k, r in enumerate(ranks)]
    if all(a is None for a in axes):
        axes[0] = 0
    rng = np.random.default_rng(program.seed)
    values = []
    for shape, axis in zip(program.shapes, axes):
        examples = [rng.uniform(*INPUT_RANGE, size=shape) for _ in range(BATCH)]
        values.append(examples[0] if axis is None else np.stack(examples, axis=axis))
    batched_inputs = [gc.input(f"b{k}", v.shape) for k, v in enumerate(values)]
    outputs = gc.vmap(lambda *xs: apply_program(program, list(xs)), in_axes=tuple(axes))(*batched_inputs)
    per_example_inputs = [gc.input(f"x{k}", s) for k, s in enumerate(program.shapes)]
    per_example = apply_program(program, per_example_inputs)
    note(gc.format_graph(per_example))
    got = evaluate(outputs, dict(zip(batched_inputs, values)))
    for b in range(BATCH):
        feed = {x: v if a is None else np.take(v, b, axis=a)
                for x, v, a in zip(per_example_inputs, values, axes)}
        expected = evaluate(per_example, feed)
        for k, (g, e) in enumerate(zip(got, expected)):
            np.testing.assert_allclose(g[b], e, rtol=1e-12, atol=1e-13, err_msg=f"output {k}, example {b}")
