"""What makes a graph "large" (graphc/backend/policy.py): the distinct work Numba compiles.

In kernel mode structurally identical groups share one kernel, so a deep MLP
whose 900 nodes are 64 copies of one layer compiles four small kernels and
must not count as large (it used to, by its node count, and then paid ~0.3 s
of interpreter set-up on every warm start). A graph that compiles as one njit
function (parallel=True, a loop body) still counts every node, and a graph
whose groups really differ (the chain of test_backend_interpreter) stays large.
References: the MLP by hand in NumPy (test_backend_kernel_mode.by_hand) and
the NumPy backend.
"""

from __future__ import annotations

import numpy as np
from test_backend_kernel_mode import by_hand, mlp, values

import graphc as gc
from graphc.backend import policy
from graphc.backend.codegen import kernel_mode
from graphc.backend.lower import lower
from graphc.backend.schedule import Group, schedule
from graphc.ir import toposort


def simplified(inputs: list[gc.Tensor], outputs: list[gc.Tensor]) -> tuple[tuple, tuple]:
    f = gc.compile(inputs, outputs, backend="numpy")
    return f.inputs, f.outputs


def test_identical_layers_count_once() -> None:
    inputs, outputs = simplified(*mlp(64, 3))
    assert policy.is_large(toposort(outputs)), "by node count the graph is large: else no test"
    lowered = lower(inputs, outputs)
    assert lowered.generated.kernels and lowered.generated.interpreted == 0
    assert all(g.domain is None for g in lowered.plan.units if isinstance(g, Group))
    assert max(len(g.members) for g in lowered.plan.units
               if isinstance(g, Group)) <= policy.GROUP_LIMIT
    work = policy.distinct_work(lowered.plan)
    every = [n for g in lowered.plan.units if isinstance(g, Group) for n in g.members]
    assert 0 < len(work) < len(every) / 10


def test_one_njit_function_still_counts_every_node() -> None:
    """parallel=True (no kernel mode) and kernels=False compile every group's code."""
    inputs, outputs = simplified(*mlp(64, 3))
    for options in ({"parallel": True}, {"kernels": False}):
        lowered = lower(inputs, outputs, **options)  # type: ignore[arg-type]
        assert not lowered.generated.kernels and lowered.generated.interpreted == 1, options


def _form_of(expression: object, *inputs: gc.Tensor) -> object:
    """The form of the one group of a graph computing `expression`."""
    plan = schedule(inputs, [expression])  # type: ignore[list-item]
    (group,) = [g for g in plan.units if isinstance(g, Group)]
    return policy.form(group, plan.materialized)


def test_form_tells_apart_what_changes_the_code() -> None:
    x, row = gc.input("x", ("n", 4)), gc.input("row", (4,))
    wide, long = gc.input("wide", ("m", 9)), gc.input("long", (9,))
    base = _form_of(gc.tanh(x * 2.0 + 1.0), x)
    assert _form_of(gc.tanh(wide * 2.0 + 1.0), wide) == base  # other sizes: the same kernel
    assert len({base,
                _form_of(gc.sin(x * 2.0 + 1.0), x),  # another op
                _form_of(gc.tanh(x * 3.0 + 1.0), x),  # another literal
                _form_of(gc.tanh(x * row + 1.0), x, row),  # a broadcast read
                _form_of(gc.tanh(x * x + 1.0), x),  # one array read twice
                _form_of(gc.tanh(gc.astype(x, "float32") * 2.0 + 1.0), x),  # another dtype
                _form_of(gc.tanh(long * 2.0 + 1.0), long),  # another rank
                }) == 7


def test_kernel_mode_is_what_the_plan_says() -> None:
    """schedule_for asks about the capped plan; generate decides on the plan it gets."""
    inputs, outputs = simplified(*mlp(64, 3))
    asked: list[bool] = []

    def shared(plan: object) -> bool:
        asked.append(kernel_mode(plan))  # type: ignore[arg-type]
        return asked[-1]

    plan = policy.schedule_for(inputs, outputs, shared)
    assert asked == [True] and kernel_mode(plan) and not policy.choose(plan)


def test_deep_mlp_without_the_interpreter_matches_numpy_and_by_hand() -> None:
    depth = 50  # tanh and its derivative: more than LARGE_KERNEL_CALLS call sites by node count
    inputs, outputs = mlp(depth, 3)
    f = gc.compile(inputs, outputs, verbose=False)
    assert f.stats["interpreted_groups"] == 0 and f.stats["kernels"] >= 3
    arrays = values(depth, 3, batch=5)
    got = f(*arrays)
    for mine, want in zip(got, by_hand(arrays, depth)):
        np.testing.assert_allclose(mine, want, rtol=1e-11, atol=1e-14)
    for mine, want in zip(got, gc.compile(inputs, outputs, backend="numpy")(*arrays)):
        np.testing.assert_allclose(mine, want, rtol=1e-12, atol=1e-14)
