"""The loop examples run under the test suite, on both backends, small, and their numbers are right."""

from __future__ import annotations

import pytest
from examples_support import load


@pytest.mark.parametrize("backend, steps", [("numpy", 60), ("numba", 400)])
def test_ode_fit_recovers_the_rates_with_an_exact_gradient(backend: str, steps: int) -> None:
    """Both backends: the scan integrates and differentiates exactly. Recovering the rates
    within 10% needs the longer noisy record (60 steps: 34% off), which the numba run has;
    the NumPy run stays short (its scan steps run in Python: 150 steps cost 3x the CPU)."""
    result = load("ode_fit").main(["--backend", backend, "--steps", str(steps)])
    assert result["integrator_error"] < 1e-10
    assert result["gradient_error"] < 1e-6
    assert result["misfit"] < 0.05  # the noise variance is 0.04
    if steps >= 150:
        assert result["rate_error"] < 0.1


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_char_lstm_learns_and_samples(backend: str) -> None:
    result = load("char_lstm").main(["--backend", backend, "--epochs", "2", "--hidden", "16",
                                     "--length", "12", "--batch", "8", "--chars", "3000"])
    losses = result["losses"]
    assert losses[0] < result["uniform"] + 0.05 and losses[-1] < losses[0] - 0.2
    assert isinstance(result["sample"], str)
