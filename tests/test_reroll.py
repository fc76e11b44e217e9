"""Re-rolling (backend/codegen/reroll.py): repeated steps of a kernel-mode graph run as one loop.

References: the NumPy backend (the same graph, no loops), hand-written
NumPy loops (the HMM's forward-backward recursion, an RNN), and, for the
transformation alone, the original body executed line by line in plain Python
(the loop functions are plain Python too when not jitted).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend.codegen import reroll_runs, steps
from graphc.backend.codegen.reroll import MIN_REPEATS, reroll

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(autouse=True)
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small graphs keep the tests fast: every run of MIN_REPEATS steps is re-rolled."""
    monkeypatch.setattr(reroll_runs, "MIN_STATEMENTS", 0)


def _agree(inputs: list[Any], outputs: list[Any], arrays: list[np.ndarray]) -> Any:
    compiled = gc.compile(inputs, outputs)
    reference = gc.compile(inputs, outputs, backend="numpy")
    for got, want in zip(compiled(*arrays), reference(*arrays)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    return compiled


def test_hmm_forward_backward_is_rerolled_and_matches_the_recursion() -> None:
    from workloads import hmm

    hmm.configure(12)
    try:
        inputs = hmm.make_inputs(False)
        hmm.configure(12)
        graph_inputs, loss = hmm.graphc_graph()
        arrays = [inputs[n.name] for n in graph_inputs]
        f = _agree(graph_inputs, [loss, *gc.grad(loss, graph_inputs)], arrays)
        assert f.source.count("\ndef reroll_") == 2  # forward, backward: two loop modules
        for got, want in zip(f(*arrays), hmm.hand_numpy(*arrays)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    finally:
        hmm.configure(100)


def test_unrolled_rnn_matches_a_python_loop() -> None:
    steps, batch, width = 10, 3, 4
    W = gc.input("W", (width, width))
    U = gc.input("U", (width, width))
    xs = gc.input("xs", (steps, batch, width))
    h0 = gc.input("h0", (batch, width))
    h = h0
    for t in range(steps):
        h = gc.tanh(h @ W + xs[t] @ U)
    loss = gc.sum(h * h)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((width, width)) * 0.5, rng.standard_normal((width, width)) * 0.5,
              rng.standard_normal((steps, batch, width)), rng.standard_normal((batch, width))]
    f = _agree([W, U, xs, h0], [loss, *gc.grad(loss, [W, U, xs])], arrays)
    assert "def reroll_" in f.source
    hand = arrays[3]
    for t in range(steps):
        hand = np.tanh(hand @ arrays[0] + arrays[2][t] @ arrays[1])
    np.testing.assert_allclose(f(*arrays)[0], np.sum(hand * hand), rtol=1e-12)


def test_chain_of_identical_layers_with_own_weights() -> None:
    depth, width = 10, 6
    x = gc.input("x", (5, width))
    ws = [gc.input(f"w{i}", (width, width)) for i in range(depth)]
    bs = [gc.input(f"b{i}", (width,)) for i in range(depth)]
    h = x
    for w, b in zip(ws, bs):
        h = gc.tanh(h @ w + b)
    loss = gc.sum(h * h)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((5, width))] + [rng.standard_normal((width, width)) / 2
                                                   for _ in ws] + [rng.standard_normal(width) for _ in bs]
    f = _agree([x, *ws, *bs], [loss, *gc.grad(loss, [*ws, *bs])], arrays)
    assert "def reroll_" in f.source and "np.stack((" in f.source  # each layer's own weights
    hand = arrays[0]
    for w, b in zip(arrays[1:1 + depth], arrays[1 + depth:]):
        hand = np.tanh(hand @ w + b)
    np.testing.assert_allclose(f(*arrays)[0], np.sum(hand * hand), rtol=1e-12)


def _run(body: list[str], results: list[str], parameters: list[str], functions: str,
         arguments: dict[str, Any]) -> Any:
    source = "\n".join([f"def graph({', '.join(parameters)}):", *body,
                        f"    return ({', '.join(results)},)"])
    scope: dict[str, Any] = {"np": np, "empty": np.empty, "full": lambda s, v, d: np.full(s, v, d)}
    exec(compile(functions + "\n" + source, "<graph>", "exec"), scope)  # noqa: S102
    return scope["graph"](**arguments)


def _line(targets: list[str], form: list[Any], operands: list[Any], comment: str = "",
          **facts: Any) -> str:
    """A body line as the emitters write it: its text and its record (codegen/steps.py)."""
    return steps.statement("    ", targets, tuple(form), operands, comment, **facts)


def _body(steps_: int, cse_column: bool = False, irregular: bool = False) -> list[str]:
    """An HMM-like body: a carried vector, an invariant matrix, a column per step, a saved value."""
    matrix = steps.Allocation((4, 4), "np.float64")
    vector = steps.Allocation((4,), "np.float64")
    lines = [_line(["t0"], [0, "[:, None]"], ["a"], view=True)]
    previous = "t0"
    for step in range(steps_):
        n = 10 * (step + 1)
        column = 2 if cse_column and step % 3 == 2 else step % 5
        invariant = f"A{step}" if irregular and step == 3 else "A"  # not "invariant" then
        lines += [_line([f"t{n}"], ["empty((4, 4), np.float64)"], [], f"t{n}: f64[4,4] = x",
                        allocation=matrix, allocates=True, helpers=("empty",)),
                  _line([], ["add2(4, ", 0, ", ", 1, ", ", 2, ")"], [previous, invariant, f"t{n}"]),
                  _line([f"t{n + 1}"], [0, ".sum(axis=0)"], [f"t{n}"]),
                  _line([f"t{n + 2}"], [0, "[", ":", ", ", 1, "]"], ["B", column], view=True),
                  _line([f"t{n + 3}"], ["empty((4,), np.float64)"], [], allocation=vector,
                        allocates=True, helpers=("empty",)),
                  _line([], ["add1(4, ", 0, ", ", 1, ", ", 2, ")"],
                        [f"t{n + 1}", f"t{n + 2}", f"t{n + 3}"]),
                  _line([f"t{n + 4}"], [0, "[:, None]"], [f"t{n + 3}"], view=True)]
        previous = f"t{n + 4}"
    last = f"t{10 * steps_ + 3}"
    lines.append(steps.opaque(f"    out = {last}.sum() + t{10 * steps_}.sum() + t10.sum()", ["out"],
                              [last, f"t{10 * steps_}", "t10"]))
    return lines


def _describe(name: str) -> tuple[tuple[int, ...], str] | None:
    return ((4,), "np.float64") if name.endswith("1") or name == "a" else None


@pytest.mark.parametrize("cse_column", [False, True])
def test_transformation_alone_equals_the_unrolled_body(cse_column: bool) -> None:
    steps = MIN_REPEATS + 3
    body = _body(steps, cse_column)
    rerolled = reroll(body, ["out"], ["a", "A", "B"], _describe)
    assert rerolled.runs and rerolled.runs[0][1] >= steps - 1
    assert len(rerolled.body) < len(body) / 2
    kernels = ("def add2(n, x, y, out):\n    out[...] = x + y\n"
               "def add1(n, x, y, out):\n    out[...] = x + y\n")
    rng = np.random.default_rng(2)
    arguments = {"a": rng.standard_normal(4), "A": rng.standard_normal((4, 4)),
                 "B": rng.standard_normal((4, 5))}
    want = _run(body, ["out"], ["a", "A", "B"], kernels, arguments)
    got = _run(rerolled.body, ["out"], ["a", "A", "B"],
               kernels + "\n".join([*rerolled.constants, *rerolled.functions]),
               arguments)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_short_or_irregular_bodies_are_left_alone() -> None:
    body = _body(MIN_REPEATS - 1)
    assert reroll(body, ["out"], ["a", "A", "B"], _describe).body == body
    irregular = _body(6, irregular=True)  # a name only step 3 has is not "invariant"
    rerolled = reroll(irregular, ["out"], ["a", "A", "B", "A3"], _describe)
    assert not rerolled.runs


def test_a_loop_numba_cannot_compile_runs_as_python() -> None:
    import numba

    from graphc.backend.reroll_guard import guarded

    @numba.njit
    def loop(count: int, out: Any) -> int:
        for k in range(count):
            out[k] = undefined_helper(k)  # type: ignore[name-defined]  # noqa: F821
        return 0

    def plain(count: int, out: Any) -> int:
        for k in range(count):
            out[k] = k * 2.0
        return 0

    function = guarded(loop, plain)
    out = np.zeros(4)
    function(4, out)
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0, 6.0])
    assert function.fell_back
    def failing(count: int, out: Any) -> int:
        for k in range(count):
            out[k] = 1 // (k - k)
        return 0

    with pytest.raises(ZeroDivisionError):  # an error of the running loop is the caller's
        guarded(numba.njit(failing), plain)(2, np.zeros(2))


def test_runs_shorter_than_min_statements_stay_unrolled(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _body(MIN_REPEATS + 3)
    monkeypatch.setattr(reroll_runs, "MIN_STATEMENTS", 6 * (MIN_REPEATS + 3))
    assert not reroll(body, ["out"], ["a", "A", "B"], _describe).runs
    monkeypatch.setattr(reroll_runs, "MIN_STATEMENTS", 3 * MIN_REPEATS)
    assert reroll(body, ["out"], ["a", "A", "B"], _describe).runs


def test_one_more_step_shares_the_loops_and_finds_every_module_cached() -> None:
    """The loop modules are canonical (trip count and reversed offsets are arguments): the HMM
    over T and T + 1 steps calls the same `reroll_<hash>` functions, so the second graph is
    built only from known modules (`kernels_new == 0`) and loads their machine code."""
    import re

    from workloads import hmm

    loops = []
    try:
        for steps in (12, 13):
            hmm.configure(steps)
            inputs = hmm.make_inputs(False)
            hmm.configure(steps)
            graph_inputs, loss = hmm.graphc_graph()
            f = gc.compile(graph_inputs, [loss, *gc.grad(loss, graph_inputs)], tiered=False)
            loops.append(sorted(set(re.findall(r"\ndef (reroll_\w+)\(", f.source))))
            arrays = [inputs[n.name] for n in graph_inputs]
            for got, want in zip(f(*arrays), hmm.hand_numpy(*arrays)):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    finally:
        hmm.configure(100)
    assert len(loops[0]) == 2 and loops[1] == loops[0]
    assert f.stats["kernels_new"] == 0


def test_a_region_that_cannot_fit_is_planned_once_per_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    """No static shape (a symbolic batch size): every start of the 40-step region fails the
    same way; it is planned once per phase of its period, not once per line (that was quadratic)."""
    import importlib

    module = importlib.import_module("graphc.backend.codegen.reroll")  # the package re-exports reroll()
    plans: list[int] = []
    planned = module._Run.planned
    monkeypatch.setattr(module._Run, "planned", lambda self: plans.append(self.start) or planned(self))
    body = _body(40)
    assert not reroll(body, ["out"], ["a", "A", "B"], lambda name: None).runs
    period = 5  # the core statements of a step (views are substituted)
    assert 0 < len(plans) <= 2 * period, plans


def test_steps_that_move_much_memory_stay_unrolled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step whose stacked values are large per statement it saves (the MLP's products and
    activations) stays unrolled: fresh stacked buffers and copies cost more than the Python saved."""
    import importlib

    module = importlib.import_module("graphc.backend.codegen.reroll")
    body = _body(MIN_REPEATS + 3)

    def big(name: str) -> tuple[tuple[int, ...], str] | None:
        return ((128, 64), "np.float64") if _describe(name) else None

    assert reroll(body, ["out"], ["a", "A", "B"], _describe).runs
    assert not reroll(body, ["out"], ["a", "A", "B"], big).runs
    monkeypatch.setattr(module, "MAX_BYTES_PER_STATEMENT", 10**9)  # the only reason it was refused
    assert reroll(body, ["out"], ["a", "A", "B"], big).runs
