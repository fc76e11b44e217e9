"""Every example runs under the test suite, in a fast mode, and its numbers are right."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BACKEND = "numpy"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


def test_chain_rule_matches_calculus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = load("chain_rule").main(["--backend", BACKEND])
    assert set(errors) == {"sigmoid(x**2)", "sigmoid(x)**2", "sin(exp(tanh(x)))"}
    assert max(errors.values()) < 1e-12


def test_matrix_function_seed_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("matrix_function").main(["--backend", BACKEND])
    assert round(float(result["L"]), 4) == 2.3755
    assert abs(float(result["estimate"]) - result["dX"][0, 0]) < 1e-3
    out = capsys.readouterr().out
    assert "L = 2.3755" in out and "dL/dX" in out


def test_scipy_optimize_matches_scipy_and_scikit_learn() -> None:
    pytest.importorskip("sklearn")
    errors = load("scipy_optimize").main(["--backend", BACKEND])
    assert errors["gradient"] < 1e-10 and errors["hessian"] < 1e-9
    assert errors["solution"] < 1e-6
    assert errors["logistic"] < 1e-4 and errors["logistic_hessp"] < 1e-4


def test_per_example_gradients_match_a_loop_and_clip() -> None:
    result = load("per_example_gradients").main(["--backend", BACKEND, "--steps", "30"])
    assert result["max_difference_from_loop"] < 1e-12
    assert result["max_clipped_norm"] <= result["clip"] * (1 + 1e-12)
    assert result["accuracy"] > 0.9


def test_digits_training_learns() -> None:
    pytest.importorskip("sklearn")
    accuracy = load("train_digits").main(
        ["--epochs", "3", "--backend", BACKEND, "--quiet", "--hidden", "32"])
    assert accuracy > 0.8, "three epochs should be far above chance (0.1)"


def test_matrix_function_gradient_is_analytic() -> None:
    result = load("matrix_function").main(["--backend", BACKEND])
    np.random.seed(190204)
    X, W = np.random.randn(3, 3), np.random.randn(3, 2)
    s = 1 / (1 + np.exp(-(X @ W)))
    np.testing.assert_allclose(result["dX"], (s * (1 - s)) @ W.T, rtol=1e-12)
    np.testing.assert_allclose(result["dW"], X.T @ (s * (1 - s)), rtol=1e-12)


def test_backprop_graph_draws_the_textbook_numbers(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = load("backprop_graph").main(["--backend", BACKEND])
    assert result == {"loss": 3.0, "dw": 2.0, "db": 1.0}
    dot = (tmp_path / "backprop.dot").read_text()
    assert "value 7" in dot and "grad 2" in dot and "grad 1" in dot


def test_dask_logistic_fits_like_one_process() -> None:
    pytest.importorskip("distributed")
    result = load("dask_logistic").main(["--rows", "20000", "--chunk-rows", "5000", "--in-process",
                                         "--backend", BACKEND])
    assert result["weights"] < 1e-6 and result["loss_difference"] < 1e-10
