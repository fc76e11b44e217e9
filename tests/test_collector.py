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


def test_overlapping_pauses_in_two_threads_keep_the_collector_off_until_both_end() -> None:
    """Two threads compile at once: the collector stays paused until the LAST pause ends (the
    first thread's exit used to restart it while the second was still simplifying), and is
    running again after both. Reference: gc.isenabled() read in the second thread."""
    import threading

    was = gc.isenabled()
    first_in, second_in, first_out, second_done = (threading.Event() for _ in range(4))
    seen: list[bool] = []

    def first() -> None:
        with collector.paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with collector.paused():
            second_in.set()
            first_out.wait(10)
            seen.append(gc.isenabled())  # the first thread has left its pause
        second_done.set()

    try:
        gc.enable()
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert second_done.is_set()
        assert seen == [False], "the collector ran again inside the second thread's pause"
        assert gc.isenabled()  # both ended: running again
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_process_forked_during_another_threads_pause_has_its_collector_running() -> None:
    """A fork (multiprocessing's default on Linux) while another thread compiles: the child has
    no such thread, so nothing would ever restart its collector (it stayed off for the child's
    whole life). Reference: gc.isenabled() in the child, sent back through a pipe."""
    import os
    import threading

    was = gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def compiling() -> None:
        with collector.paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=compiling)
    try:
        gc.enable()
        thread.start()
        assert inside.wait(10)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then a pause of its own must still work
            try:
                running = gc.isenabled()
                with collector.paused():
                    paused_off = not gc.isenabled()
                os.write(write, f"{int(running)}{int(paused_off)}{int(gc.isenabled())}".encode())
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 16).decode()
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == "111", answer
    finally:
        leave.set()
        thread.join(10)
        (gc.enable if was else gc.disable)()
