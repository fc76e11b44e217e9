"""The block interpreter (graphc/backend/interpreter/, policy.py): large groups run as programs.

References: the NumPy backend (each op's NumPy `impl`), the same graph lowered
to generated loops (the same scalar templates, so equal to the last bit except
where sums reassociate), and for the chain an analytic derivative. Small graphs
are forced through the interpreter by lowering its thresholds; one test checks
that a large graph picks it by itself, and one that machine code calling it is
loaded from the disk cache by a second process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import policy
from graphc.backend.interpreter import opcodes, program, source
from graphc.backend.schedule import Group
from graphc.ir import OPS, REAL, Node, apply
from graphc.lowering import Pointwise

ROOT = Path(__file__).resolve().parents[1]
SIZE = 2 * opcodes.BLOCK + 37  # three blocks, the last one partial


@pytest.fixture
def interpret_everything(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every interpretable group of any graph runs in the interpreter."""
    monkeypatch.setattr(policy, "LARGE_KERNEL_CALLS", -1)
    monkeypatch.setattr(policy, "LARGE_POINTWISE", -1)
    monkeypatch.setattr(policy, "MIN_MEMBERS", 1)
    yield


def test_interpreter_file_is_generated_from_the_op_declarations() -> None:
    assert opcodes.INTERPRETER_PATH.read_text() == source.interpreter_source(), (
        "graphc/backend/interpreter/run.py is stale: run `python -m graphc.backend.interpreter.source`")


def test_every_elementwise_op_without_attributes_has_an_opcode() -> None:
    table = opcodes.opcodes()
    for name, op in OPS.items():
        if isinstance(op.lowering, Pointwise) and not any(sample.attrs for sample in op.samples):
            assert name in table, name
    assert "astype" not in table  # its template needs the target dtype


def _op_cases(dtype: np.dtype) -> tuple[list[Node], list[np.ndarray], list[tuple[str, Node]]]:
    """Every opcode's op applied to inputs drawn from its domain, all of length SIZE."""
    rng = np.random.default_rng(11)
    inputs: list[Node] = []
    values: list[np.ndarray] = []
    cases: list[tuple[str, Node]] = []
    for name in opcodes.opcodes():
        op = OPS[name]
        assert isinstance(op.lowering, Pointwise) and op.arity is not None
        arguments: list[Node] = []
        for position in range(op.arity):
            domain = op.domain[position] if position < len(op.domain) else REAL
            value = domain.sample(rng, (SIZE,)).astype(dtype)
            node = gc.input(f"{name}_{position}", (SIZE,), dtype)
            inputs.append(node)
            values.append(value)
            condition = position in op.lowering.conditions
            arguments.append(gc.greater(node, 0) if condition else node)
        attrs = {"dtype": dtype.name} if name in ("zeros_like", "ones_like") else {}
        cases.append((name, apply(op, *arguments, **attrs)))
    return inputs, values, cases


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_opcode_against_numpy_and_generated_loops(
        interpret_everything: None, monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    inputs, values, cases = _op_cases(np.dtype(dtype))
    outputs = [node for _, node in cases]
    interpreted = gc.compile(inputs, outputs, simplify=False)
    assert interpreted.stats["interpreted_groups"] >= 1
    assert interpreted.stats["instructions"] >= len(cases)
    got = interpreted(*values)
    want = gc.compile(inputs, outputs, backend="numpy", simplify=False)(*values)
    tolerance = 1e-12 if dtype == "float64" else 2e-6
    for (name, node), a, b in zip(cases, got, want):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance, err_msg=name)
    monkeypatch.setattr(policy, "LARGE_KERNEL_CALLS", 10**9)  # the same graph as loops
    monkeypatch.setattr(policy, "LARGE_POINTWISE", 10**9)
    looped = gc.compile(inputs, outputs, simplify=False)
    assert looped.stats["interpreted_groups"] == 0
    for (name, _), a, b in zip(cases, got, looped(*values)):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_broadcasts_views_bools_and_reductions(interpret_everything: None,
                                               rng: np.random.Generator) -> None:
    """A (n, 3) group reading a row, a column, a scalar and a transpose, with every reduction."""
    x = gc.input("x", shape=("n", 3))
    row = gc.input("row", shape=(3,))
    column = gc.input("column", shape=("n", 1))
    scale = gc.input("scale", shape=())
    flipped = gc.input("flipped", shape=(3, "n"))
    y = gc.tanh(x * row + column) * scale - gc.exp(-flipped.T * flipped.T)
    positive = y > 0
    z = gc.where(positive, y, 0.5 * y) + gc.sigmoid(y)
    outputs = [z, gc.sum(z), gc.sum(z, axis=0), gc.sum(z, axis=1), gc.max(z, axis=1),
               gc.min(z), gc.mean(z), gc.sum(positive), positive]
    inputs = [x, row, column, scale, flipped]
    compiled = gc.compile(inputs, outputs)
    assert compiled.stats["interpreted_groups"] >= 1
    reference = gc.compile(inputs, outputs, backend="numpy")
    for n in (1, 7, 700):  # one element, a partial block, blocks across rows
        values = [rng.normal(size=(n, 3)), rng.normal(size=3), rng.normal(size=(n, 1)),
                  np.float64(rng.normal()), rng.normal(size=(3, n))]
        for a, b in zip(compiled(*values), reference(*values)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def _chain(x: Any, steps: int) -> Any:
    y = x
    for _ in range(steps):
        y = gc.tanh(gc.sin(y) * 0.9 + x)
    return y


def test_large_graph_picks_the_interpreter_and_matches_the_chain_rule() -> None:
    x = gc.input("x", shape=("n",))
    steps = 40  # sin + tanh forward, cos + tanh' backward: > LARGE_KERNEL_CALLS call sites
    loss = gc.sum(_chain(x, steps))
    f = gc.compile([x], [loss, gc.grad(loss, x)])
    assert f.stats["interpreted_groups"] == 1 and f.stats["groups"] == 1
    assert "interpret_f64(program0, registers0, block_count)" in f.source
    value = np.linspace(-1.5, 2.0, SIZE)  # not symmetric: the sum does not cancel to ~0
    got = f(value)
    v, dv = value.copy(), np.ones_like(value)
    for _ in range(steps):  # forward value and d/dx by hand, with NumPy
        t = np.tanh(np.sin(v) * 0.9 + value)
        v, dv = t, (1 - t * t) * (np.cos(v) * 0.9 * dv + 1.0)
    np.testing.assert_allclose(got[0], v.sum(), rtol=1e-12)
    np.testing.assert_allclose(got[1], dv, rtol=1e-10, atol=1e-12)


def test_float32_chain_and_sin_beyond_the_reduced_range() -> None:
    x = gc.input("x", shape=("n",), dtype="float32")
    loss = gc.sum(_chain(x, 40))
    outputs = [loss, gc.grad(loss, x)]
    f = gc.compile([x], outputs)
    assert f.stats["interpreted_groups"] == 1
    reference = gc.compile([x], outputs, backend="numpy")
    value = np.linspace(-1.5, 2.0, SIZE).astype(np.float32)
    for a, b in zip(f(value), reference(value)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
    value[5] = 1.0e9  # sin of it needs libm's range reduction: the call is recomputed exactly
    for a, b in zip(f(value), reference(value)):
        np.testing.assert_array_equal(a, b)


def test_registers_are_reused_and_never_written_while_read(interpret_everything: None) -> None:
    x = gc.input("x", shape=(10,))
    loss = gc.sum(_chain(x, 30))
    outputs = [loss, gc.grad(loss, x)]
    f = gc.compile([x], outputs, simplify=False)
    plan = policy.schedule_for([x], outputs)
    groups = [u for u in plan.units if isinstance(u, Group)]
    built = program.build(groups[0], np.dtype("float64"), kept=lambda n: False,
                         invariant=lambda source, reader: repr(source.value.flat[0])
                         if opcodes.is_literal(source) else None)
    assert len(built.fills) == 2  # 0.9 and 1.0, each once however many nodes hold it
    assert built.registers < len(built.rows) // 4  # live values, not one per node
    for number, row in enumerate(built.rows):
        assert row[1] not in built.operands(number)
    assert f.stats["instructions"] == len(built.rows)


def test_groups_it_cannot_run_stay_generated_loops() -> None:
    x = gc.input("x", shape=(8,))
    labels = gc.input("labels", shape=(8,), dtype="int64")
    mixed = gc.exp(x) * labels  # reads an int64 array: registers hold one float dtype
    plan = policy.schedule_for([x, labels], [mixed])
    (group,) = [u for u in plan.units if isinstance(u, Group)]
    assert policy.interpretable(group) is None
    cast = gc.astype(gc.exp(x), "float32")  # no opcode: the template needs the dtype
    plan = policy.schedule_for([x], [cast])
    assert all(policy.interpretable(u) is None for u in plan.units if isinstance(u, Group))


CHILD = """
import json, numpy as np, graphc as gc
x = gc.input("x", shape=("n",)); y = x
for _ in range(40):
    y = gc.tanh(gc.sin(y) * 0.9 + x)
loss = gc.sum(y)
f = gc.compile([x], [loss, gc.grad(loss, x)])
print(json.dumps({"hit": f.stats["cache_hit"], "interpreted": f.stats["interpreted_groups"],
                  "loss": float(f(np.linspace(-2.0, 2.0, 1100))[0])}))
"""


def test_a_second_process_loads_code_that_calls_the_interpreter(tmp_path: Path) -> None:
    environment = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    reports = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CHILD], env=environment,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = reports
    assert first["interpreted"] == 1 and not first["hit"] and second["hit"]
    assert second["loss"] == first["loss"]


def test_parallel_blocks_match_the_serial_program() -> None:
    x = gc.input("x", shape=("n",))
    loss = gc.sum(_chain(x, 40))
    outputs = [loss, gc.grad(loss, x)]
    serial = gc.compile([x], outputs)
    parallel = gc.compile([x], outputs, parallel=True)
    assert parallel.stats["interpreted_groups"] == 1 and parallel.stats["parallel"]
    assert "for block_number in prange(" in parallel.source
    value = np.linspace(-1.5, 2.0, SIZE)
    want = serial(value)
    got = parallel(value)
    np.testing.assert_array_equal(got[1], want[1])  # elementwise: the same instructions
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)  # block sums, added in any order


def test_bool_arithmetic_stays_out_of_the_registers(interpret_everything: None) -> None:
    """`add` of two bools is a logical or in NumPy, 2.0 in float registers: not interpreted."""
    x = gc.input("x", shape=("n",))
    either = (x > 0.0) + (x > -1.0)
    out = either * x + gc.exp(x)
    assert opcodes.domain(either) is None and opcodes.domain(out) == "float64"
    f = gc.compile([x], [out, gc.sum(out)])
    value = np.array([-2.0, -0.5, 0.5, 3.0])
    want = np.logical_or(value > 0, value > -1) * value + np.exp(value)
    got = f(value)
    np.testing.assert_allclose(got[0], want, rtol=1e-14)
    np.testing.assert_allclose(got[1], want.sum(), rtol=1e-14)


def test_large_graphs_keep_the_cap_on_loops_the_interpreter_cannot_run() -> None:
    x = gc.input("x", shape=("n",))
    h = x
    for step in range(600):
        h = gc.tanh(h * 1.0001 + 0.0001 * step)
        if step % 100 == 50:  # casts have no opcode: they must not join the float64 groups
            h = gc.astype(gc.astype(h, "float32"), "float64")
    plan = policy.schedule_for([x], [h])
    chosen = policy.choose(plan)
    loops = [u for u in plan.units if isinstance(u, Group) and u not in chosen]
    assert chosen and max(len(g.members) for g in loops) <= policy.GROUP_LIMIT
    comparisons = [x > float(k) for k in range(400)]  # bools only: still one float64 program
    plan = policy.schedule_for([x], comparisons)
    assert [policy.interpretable(u) for u in plan.units if isinstance(u, Group)] == [
        np.dtype("float64")]


def test_opcodes_are_the_interpreters_not_the_registrys(monkeypatch: pytest.MonkeyPatch) -> None:
    """An op missing from the compiled table (registered at run time) is not interpreted."""
    x = gc.input("x", shape=(4,))
    node = gc.exp(x) + x
    assert opcodes.domain(node) == "float64"
    table = {name: code for name, code in opcodes.opcodes().items() if name != "add"}
    monkeypatch.setattr(opcodes, "opcodes", lambda: table)
    assert opcodes.domain(node) is None


def test_max_after_a_parallel_loop_float32(interpret_everything: None) -> None:
    x = gc.input("x", shape=("n",), dtype="float32")
    y = gc.astype(gc.astype(x, "float64"), "float32")  # a generated loop, prange-safe
    z = gc.exp(y) + 1.0  # interpreted
    f = gc.compile([x], [gc.max(z), gc.min(z)], parallel=True)
    value = np.linspace(-1, 1, 1000, dtype=np.float32)
    got = f(value)
    want = gc.compile([x], [gc.max(z), gc.min(z)], backend="numpy")(value)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-7)


def test_a_group_with_only_loop_invariant_inputs(interpret_everything: None) -> None:
    """Every register is filled once (a broadcast rank-0 input): no per-block loads."""
    s = gc.input("s", shape=())
    y = gc.exp(gc.broadcast_to(s, (700,))) * 2.0
    f = gc.compile([s], [y, gc.sum(y)])
    assert f.stats["interpreted_groups"] == 1
    got = f(np.float64(0.5))
    np.testing.assert_allclose(got[0], np.full(700, np.exp(0.5) * 2.0), rtol=1e-15)
    np.testing.assert_allclose(got[1], 700 * np.exp(0.5) * 2.0, rtol=1e-13)
