"""What the tiered start's first result does not pay for: reading Numba's version through
importlib.metadata (cache.numba_version), importing the loop code generator for a graph
without loops (api._holds_loops). References: importlib.metadata itself; scan_loops'
own holds_loops."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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
