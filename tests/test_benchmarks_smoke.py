"""Smoke test of benchmarks/compare.py: the command runs, prints its table, and its output check bites.

Timings are not tested (the machine is shared and noisy); what is tested is
that every implementation that runs is compared with hand NumPy first, that a
wrong one is reported as WRONG instead of being timed, and that such a run
exits non-zero. Only the NumPy-based implementations run (no Numba compile),
so this stays well under 20 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import compare  # noqa: E402
import harness  # noqa: E402
from workloads import adapters, chain, elementwise, logistic, mlp, rosenbrock, sigmoid_matmul  # noqa: E402


def test_quick_run_prints_one_table_with_checked_times() -> None:
    command = [sys.executable, str(BENCHMARKS / "compare.py"), "--quick",
               "--only", "sigmoid_matmul,rosenbrock", "--impls", "graphc_numpy,hand_numpy"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| workload | graphc numpy | hand NumPy |")
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| " + rosenbrock.TITLE, "| " + sigmoid_matmul.TITLE]
    for row in rows[1:]:
        graphc_cell, numpy_cell = row.split(" | ")[1:3]
        assert graphc_cell.endswith("x†") and numpy_cell.endswith("1.00x†"), completed.stdout  # timed, ratio to hand NumPy
    assert "WRONG" not in completed.stdout and "failed" not in completed.stdout


def test_each_tool_in_its_own_process_with_a_busy_core() -> None:
    """--process both: a row timed with every tool in a child process of its own, and the usual row."""
    command = [sys.executable, str(BENCHMARKS / "compare.py"), "--quick", "--process", "both",
               "--busy", "1", "--only", "rosenbrock", "--impls", "graphc_numpy,hand_numpy"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        f"| {rosenbrock.TITLE} [each tool in its own process]",
        f"| {rosenbrock.TITLE} [all tools in one process]"]
    for row in rows[1:]:
        assert row.split(" | ")[2].endswith("1.00x†"), completed.stdout  # hand NumPy timed
    assert "busy: 1 spinning process" in completed.stdout and "WRONG" not in completed.stdout


def test_a_wrong_implementation_is_caught_and_not_timed() -> None:
    def off_by_a_little(X, W):
        loss, d_X, d_W = sigmoid_matmul.hand_numpy(X, W)
        return loss, d_X, d_W * (1 + 1e-6)

    module = types.SimpleNamespace(**vars(sigmoid_matmul))
    module.IMPLEMENTATIONS = {
        "hand_numpy": lambda inputs: adapters.numpy_impl(sigmoid_matmul.hand_numpy, inputs),
        "graphc_numpy": lambda inputs: adapters.numpy_impl(off_by_a_little, inputs)}
    ready, cells = harness.prepare(module, ["hand_numpy", "graphc_numpy"], sigmoid_matmul.make_inputs(True))
    assert list(ready) == ["hand_numpy"]
    assert cells["graphc_numpy"].wrong and "output 2" in cells["graphc_numpy"].note

    harness.time_round_robin(ready, cells, rounds=2, sample_seconds=1e-4)
    assert cells["hand_numpy"].seconds is not None and cells["graphc_numpy"].seconds is None
    table, wrong = compare.render([compare.Row("w", cells)], ["graphc_numpy", "hand_numpy"])
    assert wrong and "WRONG [1]" in table and "graphc numpy: WRONG vs hand NumPy: output 2" in table


@pytest.mark.parametrize("change, message", [
    (lambda outputs: outputs[:1], "1 outputs, expected 2"),
    (lambda outputs: [outputs[0], outputs[1][:1]], "shape (1,)"),
    (lambda outputs: [outputs[0] + 1e-9, outputs[1]], "output 0"),
])
def test_max_error_names_the_output_that_is_off(change, message) -> None:
    x = rosenbrock.make_inputs(True)["x"]
    reference = list(rosenbrock.hand_numpy(x))
    assert adapters.max_error(reference, reference, rosenbrock.RTOL, rosenbrock.ATOL) is None
    assert message in adapters.max_error(change(reference), reference, rosenbrock.RTOL, rosenbrock.ATOL)


@pytest.mark.parametrize("module", [mlp, elementwise, rosenbrock, logistic, sigmoid_matmul, chain],
                         ids=lambda module: module.NAME)
def test_hand_numpy_gradients_match_directional_differences(module) -> None:
    """The reference itself must be right: <gradient, direction> against a central difference, in float64."""
    rng = np.random.default_rng(0)
    inputs = {name: value.astype(np.float64) if value.dtype.kind == "f" else value
              for name, value in module.make_inputs(True).items()}
    outputs = module.hand_numpy(*inputs.values())
    for position, name in enumerate(module.WRT):
        direction = rng.standard_normal(inputs[name].shape)
        step = 1e-6 * max(1.0, float(np.max(np.abs(inputs[name]))))
        up = module.hand_numpy(*{**inputs, name: inputs[name] + step * direction}.values())[0]
        down = module.hand_numpy(*{**inputs, name: inputs[name] - step * direction}.values())[0]
        numeric = (up - down) / (2 * step)
        analytic = float(np.sum(outputs[1 + position] * direction))
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (name, numeric, analytic)


def test_conv_benchmark_checks_each_tool_then_prints_one_table() -> None:
    """benchmarks/bench_conv.py (issue 16): runs, prints its table; only the NumPy backend here."""
    pytest.importorskip("sklearn")
    command = [sys.executable, str(BENCHMARKS / "bench_conv.py"), "--tools", "graphc_numpy", "--rounds", "3"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "| tool | us per step | vs PyTorch eager |" in completed.stdout
    assert "| graphc numpy |" in completed.stdout


def test_compile_time_pairs_each_graphc_run_with_the_jax_run_beside_it() -> None:
    """The "graphc cold / jax" column divides runs of the same repetition, not two medians
    (references: the ratios by hand); a failed run is left out, none at all prints n/a."""
    import compile_time

    cold = [{"seconds": 0.40}, {"seconds": 0.44}, {"seconds": 0.60}]
    jax = [{"seconds": 0.30}, {"seconds": 0.20}, {"seconds": 0.25}]
    assert compile_time.ratio_cell(cold, jax) == "2.20x (1.33-2.40)"  # the medians' ratio: 1.76
    assert compile_time.ratio_cell(cold[:1], jax[:1]) == "1.33x"
    assert compile_time.ratio_cell([{"seconds": None}], jax[:1]) == "n/a"


def test_direct_stages_times_each_kernel_both_ways() -> None:
    """benchmarks/direct_stages.py: every kernel of a small MLP step gets a row with the direct
    path's stages (which add up to its total) and Numba's compile of the same source."""
    pytest.importorskip("numba")
    command = [sys.executable, str(BENCHMARKS / "direct_stages.py"), "--depth", "4", "--rounds", "1"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})
    assert completed.returncode == 0, completed.stderr
    rows = [line.split(" | ") for line in completed.stdout.splitlines() if line.startswith("| fused_")]
    assert len(rows) >= 2, completed.stdout
    for row in rows:
        translate, optimise, machine, load, direct, numba = map(float, row[1:7])
        assert abs(translate + optimise + machine + load - direct) < 1e-3 and numba > 0
