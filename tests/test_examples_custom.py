"""The examples of gc.custom_vjp and gc.random run on both backends, and their numbers are right.

log1mexp against mpmath at 50 digits (custom_vjp and a user op record), the
implicit fixed-point gradient against calculus and finite differences, and
Bayesian linear regression by SVI against the closed-form optimal Gaussian.
"""

from __future__ import annotations

import pytest
from examples_support import BACKENDS, load


@BACKENDS
def test_log1mexp_is_accurate_with_both_declarations(backend: str) -> None:
    pytest.importorskip("mpmath")
    errors = load("log1mexp").main(["--backend", backend])
    for name in ("custom_vjp", "op"):
        assert errors[f"{name}_value"] < 1e-15
        assert errors[f"{name}_gradient"] < 1e-15
        assert errors[f"{name}_vmap"] == 0.0


@BACKENDS
def test_fixed_point_gradient_is_implicit_and_right(backend: str) -> None:
    errors = load("fixed_point").main(["--backend", backend, "--steps", "30"])
    assert errors["sqrt"] < 1e-14 and errors["sqrt_gradient"] < 1e-14
    assert errors["sqrt_second"] < 1e-13
    assert errors["equilibrium_vs_unrolled"] < 1e-8


@BACKENDS
def test_bayesian_regression_learns_the_posterior(backend: str) -> None:
    pytest.importorskip("sklearn")
    result = load("bayesian_regression").main(["--backend", backend, "--steps", "800"])
    assert result["last_loss"] < result["first_loss"] - 0.05
    assert result["mean_error"] < 0.05
    assert result["std_error"] < 0.3
