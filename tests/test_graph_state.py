"""Graph metadata lives on the graph, not in module-level state (issue 13 item 6).

Gradient names are a Node field; backward origins a per-thread context.

Reference: the name gc.grad gives is `d_<input name>` by definition; each test
checks it survives a trip (pickle, serialize dumps/loads, a compiled
Function's source) or stays apart from another thread's graph.
"""

from __future__ import annotations

import pickle
import threading

import numpy as np

import graphc as gc
from graphc import autodiff, errors, serialize
from graphc.autodiff import gradient_name
from graphc.control import run as control_run
from graphc.control import scan_batch
from graphc.ir import toposort
from graphc.subgraph import Subgraph


def _loss_and_grad(name: str) -> tuple[gc.Tensor, gc.Tensor, gc.Tensor]:
    x = gc.input(name, shape=(3,))
    loss = gc.sum(gc.sin(x) * x)
    return x, loss, gc.grad(loss, x)


def test_the_name_is_on_the_node_and_no_module_table_holds_it() -> None:
    x, loss, g = _loss_and_grad("w")
    assert g.gradient_name == "d_w" and gradient_name(g) == "d_w"
    assert gradient_name(loss) is None and gradient_name(x) is None
    assert not hasattr(autodiff, "_gradient_names")


def test_gradient_names_survive_pickling_a_function() -> None:
    x, loss, g = _loss_and_grad("w")
    f = pickle.loads(pickle.dumps(gc.compile([x], [loss, g], backend="numpy")))
    assert f.options["names"] == [None, "d_w"]
    value = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(f(value)[1], np.sin(value) + value * np.cos(value))


def test_gradient_names_survive_serialize() -> None:
    x, loss, g = _loss_and_grad("w")
    (loss2, g2), _ = serialize.loads(serialize.dumps([x], [loss, g]), [x])
    assert g2 is not g and gradient_name(g2) == "d_w" and gradient_name(loss2) is None


def test_compiled_function_names_its_gradient_output() -> None:
    x, loss, g = _loss_and_grad("w")
    f = gc.compile([x], [loss, g], backend="numpy")
    assert f.options["names"] == [None, "d_w"]
    value = np.array([0.1, 0.5, -2.0])
    np.testing.assert_allclose(f(value)[1], np.sin(value) + value * np.cos(value))


def test_two_threads_building_graphs_do_not_mix_names() -> None:
    names: dict[str, list[str | None]] = {}
    barrier = threading.Barrier(2)

    def build(name: str) -> None:
        seen = []
        for _ in range(50):
            barrier.wait() if not seen else None
            _, loss, g = _loss_and_grad(name)
            seen.append(gradient_name(g))
            seen.append(gradient_name(loss))
        names[name] = seen

    threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert names["a"] == ["d_a", None] * 50
    assert names["b"] == ["d_b", None] * 50


def test_a_backward_origin_in_one_thread_does_not_label_another_threads_nodes() -> None:
    inside, done = threading.Event(), threading.Event()

    def differentiate() -> None:
        with errors.origin("backward of sigmoid at model.py:10"):
            assert gc.exp(gc.input("a", shape=(2,))).origin == "backward of sigmoid at model.py:10"
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=differentiate)
    thread.start()
    assert inside.wait(10)
    try:
        node = gc.exp(gc.input("b", shape=(2,)))
    finally:
        done.set()
        thread.join()
    assert "test_graph_state.py" in node.origin and "backward" not in node.origin, node.origin


def test_backward_nodes_name_the_forward_node_they_differentiate() -> None:
    x = gc.input("x", shape=(3,))
    forward = gc.sigmoid(x)
    g = gc.grad(gc.sum(forward), x)
    origins = {node.origin for node in toposort([g]) if node.op.name != "input"}
    wanted = [o for o in origins if o.startswith("backward of sigmoid at ") and "test_graph_state.py" in o]
    assert wanted, origins


def _loop_body(out: gc.Tensor) -> Subgraph:
    bodies = [dict(n.attrs)["body"] for n in toposort([out])
              if isinstance(dict(n.attrs).get("body"), Subgraph)]
    assert bodies, "no loop in the graph"
    return bodies[0]


def test_derived_loop_facts_live_on_the_body_and_do_not_pickle() -> None:
    W = gc.input("W", (2, 2))
    c0 = gc.input("c0", (2,))
    xs = gc.input("xs", (5, 2))
    c, ys = gc.scan(lambda c, x: (gc.tanh(c @ W + x), c.sum()), c0, xs)
    out = ys.sum() + c.sum()
    f = gc.compile([W, c0, xs], out, backend="numpy")
    Wv, cv, xv = np.eye(2) * 0.5, np.array([0.1, -0.2]), np.linspace(-1, 1, 10).reshape(5, 2)
    c_ref, total = cv, 0.0
    for x in xv:
        total += c_ref.sum()
        c_ref = np.tanh(c_ref @ Wv + x)
    np.testing.assert_allclose(f(Wv, cv, xv), total + c_ref.sum(), rtol=1e-12)
    body = _loop_body(out)
    assert body.carries == 1 and body.xs == 1
    consts = [Wv] if body.consts else []
    step = control_run.interpreter_step(body, [cv, xv[0], *consts], {})
    np.testing.assert_allclose(step[0], np.tanh(cv @ Wv + xv[0]), rtol=1e-12)
    assert [key[0] for key in body.derived] == ["plan"]
    assert not hasattr(control_run, "_plans") and not hasattr(scan_batch, "_memo")
    assert pickle.loads(pickle.dumps(body)).derived == {}
