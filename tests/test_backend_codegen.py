"""The numba backend on whole programs: golden generated source, values vs the NumPy
backend (float64 and float32, several batch sizes from one compile), the disk
cache across processes, corrupt cache entries, and `f.stats`.

Golden files live in tests/golden/codegen/; after an intended change of the
generated code run `GRAPHC_UPDATE_GOLDEN=1 pytest tests/test_backend_codegen.py`
and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc

GOLDEN = Path(__file__).parent / "golden" / "codegen"
UPDATE = os.environ.get("GRAPHC_UPDATE_GOLDEN") == "1"
ROOT = Path(__file__).resolve().parents[1]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.py"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with GRAPHC_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"generated code of {name} changed (see {path})"


def sum_sigmoid_matmul(dtype: str = "float64") -> tuple[list[Any], list[Any], list[str]]:
    X = gc.input("X", shape=("n", 3), dtype=dtype)
    W = gc.input("W", shape=(3, 2), dtype=dtype)
    loss = gc.sum(gc.sigmoid(X @ W))
    return [X, W], [loss, *gc.grad(loss, [X, W])], ["loss", "d_X", "d_W"]


def small_mlp(dtype: str = "float64") -> tuple[list[Any], list[Any], list[str]]:
    x = gc.input("x", shape=("batch", 4), dtype=dtype)
    labels = gc.input("labels", shape=("batch",), dtype="int64")
    W1 = gc.input("W1", shape=(4, 8), dtype=dtype)
    b1 = gc.input("b1", shape=(8,), dtype=dtype)
    W2 = gc.input("W2", shape=(8, 3), dtype=dtype)
    b2 = gc.input("b2", shape=(3,), dtype=dtype)
    hidden = gc.relu(x @ W1 + b1)
    logits = hidden @ W2 + b2
    loss = -gc.mean(gc.sum(gc.one_hot(labels, 3, dtype=dtype) * gc.log_softmax(logits), axis=1))
    params = [W1, b1, W2, b2]
    return [x, labels, *params], [loss, *gc.grad(loss, params)], \
        ["loss", "d_W1", "d_b1", "d_W2", "d_b2"]


def mlp_values(batch: int, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(batch, 4)).astype(dtype), rng.integers(0, 3, size=batch),
            rng.normal(size=(4, 8)).astype(dtype), rng.normal(size=8).astype(dtype),
            rng.normal(size=(8, 3)).astype(dtype), rng.normal(size=3).astype(dtype)]


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    found = {}
    for name, build in (("sum_sigmoid_matmul", sum_sigmoid_matmul), ("small_mlp", small_mlp)):
        for dtype in ("float64", "float32"):
            inputs, outputs, names = build(dtype)
            found[name, dtype] = (gc.compile(inputs, outputs, names=names),
                                  gc.compile(inputs, outputs, backend="numpy"))
    return found


@pytest.mark.parametrize("name", ["sum_sigmoid_matmul", "small_mlp"])
def test_golden_source(compiled: dict[str, Any], name: str) -> None:
    function, _ = compiled[name, "float64"]
    check_golden(name, function.source)
    # Readable: the user's input names and d_<input> gradients appear in the signature/return.
    assert "def graph(" in function.source and "return (loss, d_" in function.source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_mlp_matches_numpy_backend(compiled: dict[str, Any], dtype: str, batch: int) -> None:
    function, reference = compiled["small_mlp", dtype]
    values = mlp_values(batch, dtype, np.random.default_rng(batch))
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for got, want in zip(function(*values), reference(*values)):
        assert got.dtype == want.dtype == np.dtype(dtype) and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sum_sigmoid_matmul_against_formulas(compiled: dict[str, Any], dtype: str) -> None:
    function, _ = compiled["sum_sigmoid_matmul", dtype]
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(7, 3)).astype(dtype), rng.normal(size=(3, 2)).astype(dtype)
    loss, d_X, d_W = function(X, W)
    z = X.astype(np.float64) @ W.astype(np.float64)
    s = 1 / (1 + np.exp(-z))
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(loss, s.sum(), rtol=rtol)
    np.testing.assert_allclose(d_X, (s * (1 - s)) @ W.T, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(d_W, X.T @ (s * (1 - s)), rtol=rtol, atol=rtol)
    assert loss.shape == () and loss.dtype == np.dtype(dtype)


def test_outputs_do_not_alias_inputs() -> None:
    x = gc.input("x", shape=(2, 3))
    f = gc.compile([x], [x, x.T, x.reshape((3, 2)), x * 2])
    value = np.arange(6.0).reshape(2, 3)
    for result in f(value):
        assert not np.shares_memory(result, value)


def test_stats_report_stages_and_cache() -> None:
    x = gc.input("x", shape=("n",))
    f = gc.compile([x], gc.sum(gc.exp(x)))
    stats = f.stats
    assert stats["backend"] == "numba" and isinstance(stats["cache_hit"], bool)
    assert set(stats["seconds"]) >= {"schedule", "codegen", "import", "numba"}
    again = gc.compile([x], gc.sum(gc.exp(x)))
    assert again.stats["cache_hit"] and again.stats["source_cached"]


CHILD = """
import json, sys, numpy as np, graphc as gc
x = gc.input("x", shape=("n",)); y = gc.sum(gc.tanh(x) * gc.sin(x) + x * x)
f = gc.compile([x], [y, gc.grad(y, x)])
value = np.linspace(-1, 1, 11)
print(json.dumps({"hit": f.stats["cache_hit"], "loss": float(f(value)[0]),
                  "path": f.stats["cache_path"]}))
"""


def run_child(cache: Path) -> dict[str, Any]:
    environment = dict(os.environ, GRAPHC_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD], env=environment, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_machine_code(tmp_path: Path) -> None:
    value = np.linspace(-1, 1, 11)
    expected = float(np.sum(np.tanh(value) * np.sin(value) + value * value))
    first = run_child(tmp_path)
    second = run_child(tmp_path)
    assert not first["hit"] and second["hit"]
    assert first["loss"] == pytest.approx(expected, rel=1e-12) and second["loss"] == first["loss"]
    # Corrupt machine code, then a corrupt source entry: recompiled, never fatal.
    for entry in Path(first["path"]).parent.glob("__pycache__/*.nb*"):
        entry.write_bytes(b"garbage")
    assert run_child(tmp_path)["loss"] == first["loss"]
    Path(first["path"]).write_text("this is not python")
    third = run_child(tmp_path)
    assert third["loss"] == first["loss"] and not third["hit"]
    assert run_child(tmp_path)["hit"]


def test_source_is_the_file_numba_compiled(compiled: dict[str, Any]) -> None:
    function, _ = compiled["sum_sigmoid_matmul", "float64"]
    assert Path(function.stats["cache_path"]).read_text() == function.source


def test_import_graphc_does_not_import_numba() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, graphc; print('numba' in sys.modules)"],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_fast_call_path_agrees_with_checked_path(compiled: dict[str, Any]) -> None:
    function, _ = compiled["sum_sigmoid_matmul", "float64"]
    assert function.fast is not None
    rng = np.random.default_rng(3)
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    fast = function(X, W)
    general = function(X=X, W=W)  # keywords take the general path
    for a, b in zip(fast, general):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and a.shape == b.shape
    # Whatever the fast path does not accept falls back and is converted or rejected.
    np.testing.assert_allclose(function(X.tolist(), W)[0], fast[0])
    np.testing.assert_allclose(function(np.asfortranarray(X), W)[1], fast[1])
    with pytest.raises(gc.InputError, match="W"):
        function(X, rng.normal(size=(2, 3)))
    with pytest.raises(gc.InputError):
        function(X.astype(np.complex128), W)


def test_fast_call_is_the_whole_call_and_falls_back_for_every_other_form(
        compiled: dict[str, Any]) -> None:
    """The generated checks are Function.__call__ itself; other call forms reach calling.py."""
    function, _ = compiled["sum_sigmoid_matmul", "float64"]
    assert isinstance(function, gc.Function)
    rng = np.random.default_rng(4)
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    want = function(X=X, W=W)
    for got in (function(X, W), function(X, W=W)):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(gc.InputError, match="expected 2"):
        function(X, W, X)
    with pytest.raises(gc.InputError, match="W"):
        function(X)
    with pytest.raises(gc.InputError):
        function(X, W, W=W)
