"""First use after installing: a graph compiles only graphc's own kernels and helpers it calls.

A fresh process with an empty kernel cache (GRAPHC_KERNEL_CACHE_DIR) and an
empty graph cache compiles a tanh graph; the reference for "lazy" is what
graphc's functions that process jitted (runtime gives each a dispatcher on
first use, which then compiles or loads): tanh's kernel, no float32 kernel,
none of the convolution, linear-algebra or row-wise helpers. (The kernel
cache itself may be seeded from the package's, so its files prove nothing.)
The result is checked against NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json
import numpy as np
import graphc as gc
from graphc.backend import library, runtime
x = gc.input("x", shape=("n",))
f = gc.compile([x], gc.sum(gc.tanh(x)))
value = np.linspace(-2.0, 2.0, 9)
assert abs(f(value) - np.tanh(value).sum()) < 1e-12
print(json.dumps({"jitted": sorted(runtime._JITTED.functions), "seconds": f.stats["seconds"]}))
"""


def test_a_tanh_graph_compiles_no_family_helper(tmp_path: Path) -> None:
    kernels = tmp_path / "kernels"
    environment = dict(os.environ, GRAPHC_KERNEL_CACHE_DIR=str(kernels),
                       GRAPHC_CACHE_DIR=str(tmp_path / "graphs"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    from graphc.backend import library_conv, library_linalg

    family = set(library_conv.HELPERS) | set(library_linalg.HELPERS)
    assert "tanh_f64" in report["jitted"] and not family & set(report["jitted"]), report
    assert not any(name.endswith(("_f32", "_rows")) for name in report["jitted"]), report


SOFTMAX_SCRIPT = """
import json
import numpy as np
import graphc as gc
from graphc.backend import runtime
x = gc.input("x", shape=("batch", 4), dtype="float32")
labels = gc.input("labels", shape=("batch",), dtype="int64")
params = [gc.input(n, shape=s, dtype="float32") for n, s in [("W1", (4, 8)), ("b1", (8,)), ("W2", (8, 3)),
                                                            ("b2", (3,))]]
logits = gc.relu(x @ params[0] + params[1]) @ params[2] + params[3]
loss = -gc.mean(gc.sum(gc.one_hot(labels, 3, dtype="float32") * gc.log_softmax(logits), axis=1))
outputs = [loss, *gc.grad(loss, params)]
f = gc.compile([x, labels, *params], outputs)  # kernel mode: the graph function is Python
reference = gc.compile([x, labels, *params], outputs, backend="numpy")
rng = np.random.default_rng(0)
values = [rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6),
          *(rng.standard_normal(s).astype(np.float32) for s in [(4, 8), (8,), (8, 3), (3,)])]
for got, want in zip(f(*values), reference(*values)):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
print(json.dumps({"jitted": sorted(runtime._JITTED.functions), "source": f.source}))
"""


def test_a_kernel_mode_log_softmax_compiles_no_row_helper(tmp_path: Path) -> None:
    """The plain-Python graph function calls log_softmax_rows' NumPy twin (library.NUMPY_TWINS):
    neither it nor row_peak is jitted (~0.5 s of the float32 LSTM's first use, table 45)."""
    environment = dict(os.environ, GRAPHC_KERNEL_CACHE_DIR=str(tmp_path / "kernels"),
                       GRAPHC_CACHE_DIR=str(tmp_path / "graphs"), GRAPHC_TIERED="0", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SOFTMAX_SCRIPT], env=environment, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "log_softmax_rows_numpy as log_softmax_rows" in report["source"], report["source"]
    assert not {"log_softmax_rows", "row_peak"} & set(report["jitted"]), report["jitted"]


def test_graphcs_own_functions_compile_lean() -> None:
    """runtime jits its helpers and kernels without the cfunc wrapper (numba_hooks/lean.py), where
    this Numba has the option, and they still answer from Python and from compiled callers."""
    from graphc.backend import numba_hooks, runtime

    select = runtime.jitted("select")
    assert select.targetoptions.get("no_cfunc_wrapper", False) == bool(numba_hooks.lean_options())
    assert select(True, 1.5, 2.5) == 1.5 and select(False, 1.5, 2.5) == 2.5
    kernel = runtime.jitted("exp_f32")
    assert kernel.targetoptions.get("no_cfunc_wrapper", False) == bool(numba_hooks.lean_options())
    assert abs(kernel(np.float32(1.0)) - np.float32(np.e)) <= np.spacing(np.float32(np.e))
