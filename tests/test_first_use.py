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
