"""What the tiered start's first result does not pay for: reading Numba's version through
importlib.metadata (cache.numba_version), importing the loop code generator for a graph
without loops (api._holds_loops), np.where's extra passes in multiply_no_nan's NumPy
reference. References: importlib.metadata itself; scan_loops' own holds_loops; the
np.where formula."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

import graphc as gc
from graphc import api
from graphc.backend import cache

ROOT = Path(__file__).resolve().parents[1]


def test_numba_version_is_what_importlib_metadata_says() -> None:
    assert cache.numba_version() == metadata.version("numba")


def test_holds_loops_agrees_with_scan_loops() -> None:
    from graphc.backend.scan_loops import holds_loops

    x = gc.input("x", (3,))
    plain = gc.sum(gc.exp(x))
    looped, _ = gc.scan(lambda carry, item: (carry + item, carry * item), gc.constant(0.0), x)
    for graph in (plain, looped):
        assert api._holds_loops((graph,)) == holds_loops([graph])
    assert api._holds_loops((looped,)) and not api._holds_loops((plain,))


def test_numpy_tier_imports_neither_metadata_nor_the_loop_code_generator(tmp_path: Path) -> None:
    """A fresh process: the tiered start's first result (the NumPy tier) of a Jacobian."""
    script = (
        "import sys, numpy as np, graphc as gc\n"
        "x, A = gc.input('x', (150,)), gc.input('A', (150, 150))\n"
        "f = gc.compile([x, A], gc.jacobian(gc.tanh(x @ A), x), tiered=True)\n"
        "f(np.ones(150), np.eye(150))\n"
        "print(sorted(m for m in ('importlib.metadata', 'graphc.backend.scan_loops') "
        "if m in sys.modules), flush=True)\n"
        "import os; os._exit(0)  # not waiting for the worker's compile (it ends at end of input)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHC_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_multiply_no_nan_equals_the_where_formula_bit_for_bit() -> None:
    """The NumPy reference of multiply_no_nan against where(g == 0, 0, g * d): zeros of
    either sign, inf and NaN on both sides, broadcasting, 0-d operands, integers."""
    from graphc.ops.elementwise import _multiply_no_nan

    def where(g: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.where(np.equal(g, 0), np.zeros((), np.result_type(g, d)), np.multiply(g, d))

    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -2.5, 3.0])
    g = rng.choice(special, size=(6, 8))
    d = rng.choice(special, size=(8,))
    cases = [(g, d), (d, g), (g, g.T.copy().T), (np.float64(0.0), np.float64(np.inf)),
             (np.array(-0.0), np.array(2.0)), (np.arange(-3, 3), np.array([np.nan] * 6)),
             (rng.integers(-2, 2, (4, 5)), rng.integers(-2, 2, (5,))),
             (g.astype(np.float32), np.float32(np.inf))]
    with np.errstate(all="ignore"):
        for left, right in cases:
            got, expected = _multiply_no_nan(left, right), where(left, right)
            assert isinstance(got, np.ndarray) and got.dtype == expected.dtype
            assert got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
            assert np.array_equal(np.signbit(got), np.signbit(expected))
