"""Saved simplified graphs (graphc/serialize.py, api._simplified): a loaded graph is the same graph.

Reference: the graph the simplifier returns in this process. Every op's
samples (and their gradients) go through dumps/loads and must come back node
for node (op, attrs, shape, dtype, name, weak, value, constraints), with the
same generated source; then gc.compile is checked to load what a previous
compile saved, and to recover from a corrupt entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_backend_ops import CASES, _values

import graphc as gc
from graphc import dtypes, serialize
from graphc.backend.policy import schedule_for
from graphc.backend.codegen import generate
from graphc.ir import Graph, Node, apply, toposort
from graphc.simplify import simplify_graph


def _same(a: Node, b: Node) -> None:
    assert (a.op, a.attrs, a.shape, a.dtype, a.name, a.weak, a.constraints, a.origin) == \
        (b.op, b.attrs, b.shape, b.dtype, b.name, b.weak, b.constraints, b.origin), a
    if a.value is None:
        assert b.value is None
    else:
        assert b.value is not None and a.value.shape == b.value.shape
        assert a.value.dtype == b.value.dtype
        np.testing.assert_array_equal(a.value, b.value)


@pytest.mark.parametrize("label", [c[0] for c in CASES])
def test_every_op_comes_back_node_for_node(label: str) -> None:
    _, op, sample = next(c for c in CASES if c[0] == label)
    values = _values(op, sample, np.random.default_rng(3))
    inputs = [gc.input(f"in{j}", v.shape, v.dtype) for j, v in enumerate(values)]
    out = apply(op, *inputs, **sample.attrs)
    outputs = [out]
    wrt = [n for n in inputs if dtypes.is_float(n.dtype)]
    if op.differentiable and op.vjp is not None and dtypes.is_float(out.dtype) and wrt:
        outputs += gc.grad(gc.sum(out * 0.5), wrt)
    simplified, _ = simplify_graph(Graph(tuple(inputs), tuple(outputs)))
    loaded, extra = serialize.loads(serialize.dumps(inputs, simplified.outputs, {"a": 1}), inputs)
    assert extra == {"a": 1}
    fresh_order, loaded_order = toposort(simplified.outputs), toposort(loaded)
    assert len(fresh_order) == len(loaded_order)
    for a, b in zip(fresh_order, loaded_order):
        _same(a, b)
    for a, b in zip(simplified.outputs, loaded):
        assert fresh_order.index(a) == loaded_order.index(b)
    try:
        want = generate(schedule_for(inputs, simplified.outputs)).source
    except gc.GraphcError:  # an op the numba backend rejects for this sample
        return
    assert generate(schedule_for(inputs, loaded)).source == want


def test_loading_needs_the_same_inputs() -> None:
    x = gc.input("x", shape=("n",))
    data = serialize.dumps([x], [gc.sum(gc.exp(x))])
    with pytest.raises(ValueError, match="does not match"):
        serialize.loads(data, [gc.input("x", shape=(3,))])


def _graph(scale: float) -> tuple[list[Any], list[Any]]:
    x = gc.input("x", shape=("n",))
    loss = gc.sum(gc.log1p(gc.exp(x * scale)))  # the simplifier rewrites this (softplus)
    return [x], [loss, gc.grad(loss, x)]


def test_compile_loads_what_an_earlier_compile_saved(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    value = np.linspace(-3.0, 40.0, 9)
    first = gc.compile(*_graph(2.0), backend="numpy")
    second = gc.compile(*_graph(2.0), backend="numpy")
    assert not first.stats["simplify"]["cached"] and second.stats["simplify"]["cached"]
    assert second.source == first.source
    for a, b in zip(first(value), second(value)):
        np.testing.assert_array_equal(a, b)
    assert not gc.compile(*_graph(3.0), backend="numpy").stats["simplify"]["cached"]
    assert len(list((tmp_path / "graphs").iterdir())) == 2  # one entry per graph
    for saved in (tmp_path / "graphs").iterdir():  # a flipped byte in a constant's value
        data = bytearray(saved.read_bytes())
        data[len(data) // 2] ^= 0x01
        saved.write_bytes(bytes(data))
    flipped = gc.compile(*_graph(2.0), backend="numpy")
    assert not flipped.stats["simplify"]["cached"] and flipped.source == first.source
    for saved in (tmp_path / "graphs").iterdir():
        saved.write_bytes(b"not a pickle")  # corrupt: simplified again and rewritten
    third = gc.compile(*_graph(2.0), backend="numpy")
    assert not third.stats["simplify"]["cached"] and third.source == first.source
    assert gc.compile(*_graph(2.0), backend="numpy").stats["simplify"]["cached"]
