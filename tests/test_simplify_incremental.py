"""Later rounds of the simplifier skip what earlier rounds found stable (simplify/passes.py Memo).

The reference is the same pipeline with `Options(incremental=False)`, which visits
every node in every round: on every graph both must give the same printed graph, the
same rewrites and the same number of rounds; and the round that confirms the fixed
point must not run the rules again (its passes report the nodes they reused).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from test_simplify_properties import random_graph

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import Graph, toposort
from graphc.printing import format_graph
from graphc.simplify.passes import Options
from graphc.simplify.pipeline import Report, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compile_time import mlp_graph  # noqa: E402


def both(outputs: list[gc.Tensor]) -> tuple[tuple[Graph, Report], tuple[Graph, Report]]:
    leaves = tuple(n for n in toposort(outputs) if n.op.name == "input")
    graph = Graph(leaves, tuple(outputs))
    return run(graph, Options()), run(graph, Options(incremental=False))


def printed(graph: Graph) -> str:
    """The graph's text, loop bodies numbered in order of appearance (each run makes new ones)."""
    text = format_graph(list(graph.outputs), list(graph.inputs))
    numbers: dict[str, str] = {}
    return re.sub(r"body#\d+", lambda m: numbers.setdefault(m.group(), f"body#{len(numbers)}"), text)


def assert_same(outputs: list[gc.Tensor]) -> Report:
    (fast, fast_report), (full, full_report) = both(outputs)
    assert printed(fast) == printed(full)
    assert fast_report.rounds == full_report.rounds
    assert fast_report.converged == full_report.converged
    assert fast_report.rewrites() == full_report.rewrites()
    assert [(r.round, r.name, r.ops_after) for r in fast_report.passes] == \
        [(r.round, r.name, r.ops_after) for r in full_report.passes]
    assert all(r.reused == 0 for r in full_report.passes)
    return fast_report


def test_the_confirming_round_reuses_the_nodes_it_saw_and_runs_no_rule() -> None:
    inputs, outputs = mlp_graph(12, 8)  # benchmarks/compile_time.py's deep tanh MLP
    report = assert_same(outputs)
    assert report.rounds == 2 and report.converged
    last = [r for r in report.passes if r.round == 2]
    by_name = {r.name: r for r in last if r.name != "cse"}
    for name in ("fold_constants", "algebraic", "stabilize"):
        assert by_name[name].rewrites == {} and by_name[name].reused > 0, by_name[name]
    # visited again: only the nodes round 1 built after the pass had run (its own rewrites' results)
    assert by_name["stabilize"].reused == by_name["stabilize"].nodes_before
    first_algebraic = next(r for r in report.passes if r.name == "algebraic")
    assert by_name["algebraic"].reused >= by_name["algebraic"].nodes_before \
        - sum(first_algebraic.rewrites.values())
    assert all(r.reused == 0 for r in report.passes if r.round == 1)


def test_graphs_that_need_more_rounds_simplify_the_same() -> None:
    x = gc.input("x", shape=(3,))
    z = gc.input("z", shape=(2, 3))
    cases = [
        [gc.log(1 + gc.exp(x) * 1)],
        [gc.exp(x) * 1 + gc.exp(x), gc.sum(gc.transpose(gc.transpose(z)) * 1.0, axis=0)],
        [gc.log(gc.sigmoid(x * 1 + 0)) - gc.log(1 - gc.sigmoid(x)), gc.grad(gc.sum(gc.tanh(z)), z)],
        [gc.mean(gc.reshape(gc.reshape(z, (-1,)), (2, 3)) ** 2) / (x * 0 + 2)],
    ]
    rounds = [assert_same(case).rounds for case in cases]
    assert max(rounds) >= 2, rounds


def test_loop_bodies_simplify_the_same() -> None:
    xs = gc.input("xs", shape=(5, 3))
    W = gc.input("W", shape=(3, 3))
    c0 = gc.input("c0", shape=(3,))
    c, ys = gc.scan(lambda c, x: (gc.tanh(c @ W + x * 1.0), gc.sum(c) + 0.0), c0, xs)
    loss = gc.sum(c) + gc.sum(ys)
    assert_same([loss, *gc.grad(loss, [W, c0])])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_random_graphs_simplify_the_same(case: tuple) -> None:
    outputs, values = case
    report = assert_same(outputs)
    (fast, _), _ = both(outputs)
    want = evaluate(outputs, values)
    got = evaluate(list(fast.outputs), values)
    for w, g in zip(want, got):
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], rtol=1e-4, atol=1e-5)
    assert Counter(r.round for r in report.passes)[report.rounds] == 7
