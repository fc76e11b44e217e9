"""The cyclic collector is paused over simplify and lowering (graphc/collector.py), and left
as it was found: running after a compile, still off if the user turned it off.

The reference is the interpreter's own flag, gc.isenabled(), read inside each stage.
"""

from __future__ import annotations

import gc

import pytest

import graphc as gc_
from graphc import collector
from graphc.backend.lower import lower
from graphc.ir import Graph
from graphc.simplify import simplify_graph


def deep_graph(depth: int = 24) -> tuple[list[gc_.Tensor], list[gc_.Tensor]]:
    x = gc_.input("x", ("n", 8))
    Ws = [gc_.input(f"W{i}", (8, 8)) for i in range(depth)]
    h = x
    for W in Ws:
        h = gc_.tanh(h @ W + 0.5)
    loss = gc_.sum(h ** 2)
    return [x, *Ws], [loss, *gc_.grad(loss, Ws)]


def test_simplify_and_lowering_run_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend import codegen, policy

    inputs, outputs = deep_graph()
    seen: list[tuple[str, bool]] = []
    schedule_for, generate = policy.schedule_for, codegen.generate

    def scheduling(*args: object, **kwargs: object) -> object:
        seen.append(("schedule", gc.isenabled()))
        return schedule_for(*args, **kwargs)

    def generating(*args: object, **kwargs: object) -> object:
        seen.append(("generate", gc.isenabled()))
        return generate(*args, **kwargs)

    monkeypatch.setattr(policy, "schedule_for", scheduling)
    monkeypatch.setattr(codegen, "generate", generating)
    was = gc.isenabled()
    gc.enable()
    try:
        simplified, _ = simplify_graph(Graph(tuple(inputs), tuple(outputs)),
                                       trace=lambda record: seen.append((record.name, gc.isenabled())))
        lowered = lower(tuple(inputs), simplified.outputs)
        assert gc.isenabled()  # running again afterwards
    finally:
        (gc.enable if was else gc.disable)()
    assert {name for name, _ in seen} >= {"cse", "algebraic", "schedule", "generate"}
    assert not any(running for _, running in seen), seen
    assert "def graph(" in lowered.generated.source


def test_paused_nests_and_keeps_a_disabled_collector_disabled() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with collector.paused():
            assert not gc.isenabled()
            with collector.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner one found it off: leaves it off
        assert gc.isenabled()
        gc.disable()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the user's choice stands
        gc.enable()
        with pytest.raises(ZeroDivisionError), collector.paused():
            1 / 0  # noqa: B018
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
