"""Every example runs under the test suite, on both backends, in a fast mode, and its numbers are right.

The numba runs are what a user runs (numba is every example's default); they
are kept small with the examples' own flags (one epoch, a narrow layer), so
a slow compile shows up here -- running NumPy alone once hid a 62 s one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from examples_support import BACKENDS, EXAMPLES, load


@BACKENDS
def test_chain_rule_matches_calculus(backend: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    errors = load("chain_rule").main(["--backend", backend])
    assert set(errors) == {"sigmoid(x**2)", "sigmoid(x)**2", "sin(exp(tanh(x)))"}
    assert max(errors.values()) < 1e-12


@BACKENDS
def test_matrix_function_seed_example(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = load("matrix_function").main(["--backend", backend])
    assert round(float(result["L"]), 4) == 2.3755
    assert abs(float(result["estimate"]) - result["dX"][0, 0]) < 1e-3
    out = capsys.readouterr().out
    assert "L = 2.3755" in out and "dL/dX" in out


@BACKENDS
def test_scipy_optimize_matches_scipy_and_scikit_learn(backend: str) -> None:
    pytest.importorskip("sklearn")
    errors = load("scipy_optimize").main(["--backend", backend])
    assert errors["gradient"] < 1e-10 and errors["hessian"] < 1e-9
    assert errors["solution"] < 1e-6
    assert errors["logistic"] < 1e-4 and errors["logistic_hessp"] < 1e-4


@BACKENDS
def test_gaussian_process_matches_scikit_learn(backend: str) -> None:
    pytest.importorskip("sklearn")
    result = load("gaussian_process").main(["--backend", backend, "--size", "60"])
    assert result["value_error"] < 1e-9 and result["gradient_error"] < 1e-8
    assert abs(result["log_likelihood"] - result["sklearn_log_likelihood"]) < 1e-4
    np.testing.assert_allclose(result["theta"], result["sklearn_theta"], atol=1e-3)


@BACKENDS
def test_per_example_gradients_match_a_loop_and_clip(backend: str) -> None:
    result = load("per_example_gradients").main(["--backend", backend, "--steps", "30"])
    assert result["max_difference_from_loop"] < 1e-12
    assert result["max_clipped_norm"] <= result["clip"] * (1 + 1e-12)
    assert result["accuracy"] > 0.9


@BACKENDS
def test_digits_training_learns(backend: str) -> None:
    pytest.importorskip("sklearn")
    accuracy = load("train_digits").main(
        ["--epochs", "3", "--backend", backend, "--quiet", "--hidden", "32"])
    assert accuracy > 0.8, "three epochs should be far above chance (0.1)"


@BACKENDS
def test_conv_digits_learns(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    accuracy = load("conv_digits").main(["--epochs", "2", "--backend", backend])
    assert accuracy > 0.6, "two epochs of the conv net should be far above chance (0.1)"
    assert "epoch  2: loss" in capsys.readouterr().out  # accuracy is printed per epoch


def test_matrix_function_gradient_is_analytic() -> None:
    result = load("matrix_function").main(["--backend", "numpy"])
    np.random.seed(190204)
    X, W = np.random.randn(3, 3), np.random.randn(3, 2)
    s = 1 / (1 + np.exp(-(X @ W)))
    np.testing.assert_allclose(result["dX"], (s * (1 - s)) @ W.T, rtol=1e-12)
    np.testing.assert_allclose(result["dW"], X.T @ (s * (1 - s)), rtol=1e-12)


@BACKENDS
def test_backprop_graph_draws_the_textbook_numbers(backend: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = load("backprop_graph").main(["--backend", backend])
    assert result == {"loss": 3.0, "dw": 2.0, "db": 1.0}
    dot = (tmp_path / "backprop.dot").read_text()
    assert "value 7" in dot and "grad 2" in dot and "grad 1" in dot


@BACKENDS
def test_quickstart_learns_and_its_gradient_checks(backend: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    result = load("quickstart").main(["--backend", backend])
    out = capsys.readouterr().out
    assert "loss at W=0: 0.693147 (log 2 = 0.693147)" in out  # the mean of -log(1/2)
    assert "check_grad: the symbolic gradient agrees" in out
    assert float(result["loss"]) < 0.3


def test_every_example_runs_on_numba_by_default() -> None:
    """The same default everywhere: what a user gets from `python examples/X.py`."""
    import ast

    for path in sorted(EXAMPLES.glob("[!_]*.py")):
        tree = ast.parse(path.read_text())
        uses_shared_flag = "backend_from_args" in path.read_text()
        defaults = [k.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                    for k in node.keywords if k.arg == "default"
                    and isinstance(k.value, ast.Constant) and k.value.value in ("numba", "numpy")]
        assert uses_shared_flag or defaults == ["numba"], (path.name, defaults)


def test_examples_need_only_their_documented_extras() -> None:
    """chain_rule draws with matplotlib when it is there (the `examples` extra installs it)."""
    import tomllib

    project = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text())["project"]
    extras = " ".join(project["optional-dependencies"]["examples"])
    for path in sorted(EXAMPLES.glob("*.py")):
        for module in ("matplotlib", "sklearn", "tqdm"):
            if f"import {module}" in path.read_text() or f"from {module}" in path.read_text():
                package = {"sklearn": "scikit-learn"}.get(module, module)
                assert package in extras, (path.name, module)


@BACKENDS
def test_dask_logistic_fits_like_one_process(backend: str) -> None:
    pytest.importorskip("distributed")
    result = load("dask_logistic").main(["--rows", "20000", "--chunk-rows", "5000", "--in-process",
                                         "--backend", backend])
    assert result["weights"] < 1e-6 and result["loss_difference"] < 1e-10
