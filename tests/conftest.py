"""Fixtures shared by the whole test suite.

Keep this file generic: fixtures any test module may want (a seeded random
generator, a one-call "compile and run with the NumPy backend" helper, and
one Numba disk cache for the whole run).
Topic-specific helpers belong in their own `tests/<topic>_support.py` module.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

import graphc as gc

# The default tiered start (a compile worker process while NumPy answers) is
# tested for real in tests/test_backend_tiered_process.py; the rest of the
# suite compiles before returning, as `tiered=False`, so it stays deterministic.
os.environ.setdefault("GRAPHC_TIERED", "0")
# Likewise a cold graph's kernels are compiled in this process only, not shared
# with a forked child when a core looks idle (that depends on the machine's
# load); tests/test_fork_compile.py switches the child on.
os.environ.setdefault("GRAPHC_FORK_COMPILE", "0")

# Property tests: CI (CI=true) draws the same examples every run, so a red CI
# is reproducible and its time does not vary with the draw; a developer's run
# explores new examples. Each test keeps its own `max_examples`.
# HYPOTHESIS_PROFILE=ci (or =dev) chooses explicitly.
try:
    from hypothesis import settings
except ImportError:  # the dev extra brings it; tests that need it import it themselves
    pass
else:
    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


if os.environ.get("GRAPHC_DIRECT_CHECK") == "1":  # every direct kernel call compared with Numba's
    from direct_check import install

    install()


@pytest.fixture(scope="session", autouse=True)
def graphc_cache_dir(request: pytest.FixtureRequest) -> Iterator[str]:
    """GRAPHC_CACHE_DIR -> pytest's cache folder (.pytest_cache/d/graphc-numba).

    Every compile in the run (and every subprocess a test starts) shares one
    disk cache, so a graph compiled by one test is loaded by the next, a rerun
    loads machine code instead of compiling, and the user's cache is untouched.
    """
    directory = str(request.config.cache.mkdir("graphc-numba"))
    previous = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = directory
    yield directory
    from graphc.backend.compile_workers import stop_workers

    stop_workers()  # compile workers are detached: none may outlive the run (tiered=True tests)
    if previous is None:
        del os.environ["GRAPHC_CACHE_DIR"]
    else:
        os.environ["GRAPHC_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def own_warning_filters() -> Iterator[None]:
    """Each test starts from the run's warning filters, whatever the tests before it did.

    pytest's warnings plugin does this too, but not under `-p no:warnings`; and on two
    workers (.ci/run) the files before a test differ from a serial run, so a filter one
    test leaked (an `error` filter, say) would fail another test only in some orders.
    """
    with warnings.catch_warnings():
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test, so every test sees the same numbers."""
    return np.random.default_rng(20240611)


def _run_numpy(inputs: Sequence[gc.Tensor], outputs: Any, *values: Any) -> Any:
    return gc.compile(list(inputs), outputs, backend="numpy")(*values)


@pytest.fixture
def run_numpy() -> Callable[..., Any]:
    """`run_numpy([x, y], outputs, x_value, y_value)`: compile with backend="numpy" and call once."""
    return _run_numpy


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--random-graphs", type=int, default=2000,
                     help="how many random graphs tests/test_random_graphs.py checks (CI: 2000)")
