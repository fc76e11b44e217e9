"""benchmarks/cold_stages.py: its stage timers add up, and every stage it names exists in this Numba.

The timers' accounting is what makes the table readable (a stage's row excludes the stages
nested in it, so the rows sum to the first call); a Numba release that moves one of the
internals the table names would otherwise print a silent zero row.
"""

from __future__ import annotations

import importlib
import sys
import time
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cold_stages  # noqa: E402


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_nested_stages_are_timed_exclusively_and_add_up() -> None:
    owner = types.SimpleNamespace()
    owner.inner = lambda: _busy(0.03)

    def outer() -> None:
        _busy(0.02)
        owner.inner()
        owner.inner()  # the same stage twice: its times are summed

    owner.outer = outer
    timers = cold_stages.Timers()
    assert timers.wrap(owner, "inner", "inner") and timers.wrap(owner, "outer", "outer")
    start = time.thread_time()
    owner.outer()
    total = time.thread_time() - start
    assert timers.cpu["inner"] == pytest.approx(0.06, abs=0.015)
    assert timers.cpu["outer"] == pytest.approx(0.02, abs=0.015)  # without the nested calls
    assert timers.cpu["inner"] + timers.cpu["outer"] == pytest.approx(total, abs=0.005)
    assert not timers.stack


def test_a_missing_internal_is_reported_not_wrapped() -> None:
    assert not cold_stages.Timers().wrap(types.SimpleNamespace(), "refresh", "set-up")


@pytest.mark.parametrize("label, module, owner, attribute", cold_stages.STAGES)
def test_every_stage_names_an_internal_of_this_numba(label: str, module: str, owner: str | None,
                                                     attribute: str) -> None:
    target = importlib.import_module(module)
    assert callable(getattr(getattr(target, owner) if owner else target, attribute, None)), label
