"""`graphc warmup` pre-builds what graphs use on their first compile (graphc/warmup.py).

The reference is Numba's own record: the machine code versions (overloads)
each of graphc's jitted kernels and helpers holds in a process. A process runs
the warm-up graphs, then compiles small graphs of the kinds users start with
(one-function graphs, which call the jitted helpers, and a kernel-mode MLP);
every kernel or helper version those need must already be there, loaded or
compiled by the warm-up. (The disk cache cannot tell: the package's cache may
already be warm from earlier runs.) Results are checked against NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json
import numpy as np
import graphc as gc
from graphc import warmup
from graphc.backend import runtime

def versions():
    return {(name, str(sig)) for name, d in runtime._JITTED.functions.items()
            for sig in getattr(d, "overloads", {})}

# The warm-up as a user runs it, `graphc warmup --dtype float64` (tests/test_cli.py checks
# the other commands in processes of their own; one cold warm-up serves both files).
import contextlib, io, os
from graphc.cli import main
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    code = main(["warmup", "--dtype", "float64"])
cache = os.environ["GRAPHC_CACHE_DIR"]
cli = {"code": code, "lines": printed.getvalue().splitlines(),
       "cache": sorted(os.listdir(cache)) if os.path.isdir(cache) else []}
warm = versions()
rng = np.random.default_rng(0)
checks = {}

# a small classifier's loss: BLAS, log-softmax rows, one-hot (one function: few loop nests)
X, labels = gc.input("X", ("n", 5)), gc.input("labels", ("n",), dtype="int64")
W, b = gc.input("W", (5, 3)), gc.input("b", (3,))
loss = -gc.mean(gc.sum(gc.one_hot(labels, 3) * gc.log_softmax(X @ W + b, axis=-1), axis=-1))
values = [rng.normal(size=(7, 5)), rng.integers(0, 3, 7), rng.normal(size=(5, 3)), rng.normal(size=3)]
checks["classifier"] = ([X, labels, W, b], [loss], values)

# a small Gaussian process's negative log-likelihood: Cholesky, triangular solve, diagonal
P, y = gc.input("P", (6, 2)), gc.input("y", (6,))
K = gc.exp(-gc.sum((P[:, None, :] - P[None, :, :]) ** 2, axis=-1)) + gc.eye(6) * 0.5
L = gc.linalg.cholesky(K)
alpha = gc.linalg.solve_triangular(L, y, lower=True)
nll = 0.5 * gc.sum(alpha * alpha) + gc.sum(gc.log(gc.diagonal(L)))
checks["gp"] = ([P, y], [nll], [rng.normal(size=(6, 2)), rng.normal(size=6)])

# tanh MLPs with their gradients: 2 layers (one function), 3 (kernel mode: fused kernels
# call the jitted scalar kernels, the graph function NumPy)
for depth in (2, 3):
    x = gc.input("x", ("n", 8))
    h, weights = x, []
    for i in range(depth):
        weights.append(gc.input(f"W{i}", (8, 8)))
        h = gc.tanh(h @ weights[-1])
    mse = gc.mean(h * h)
    checks[f"mlp{depth}"] = ([x, *weights], [mse, *gc.grad(mse, weights)],
                             [rng.normal(size=(4, 8)), *(rng.normal(size=(8, 8)) * 0.3 for _ in weights)])

report = {}
for name, (inputs, outputs, values) in checks.items():
    got = gc.compile(inputs, outputs, verbose=False)
    want = gc.compile(inputs, outputs, backend="numpy")(*values)
    for a, w in zip(got(*values), want):
        np.testing.assert_allclose(a, w, rtol=1e-9, atol=1e-12)
    report[name] = {"kernels": got.stats.get("kernels", 0),
                    "new": sorted(f"{n}{s}" for n, s in versions() - warm)}
    warm = versions()
print(json.dumps({"cli": cli, "graphs": report}))
"""


def test_warmup_pre_builds_every_helper_version_small_graphs_use(tmp_path: Path) -> None:
    environment = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, capture_output=True,
                          text=True, timeout=1200, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    both = json.loads(done.stdout.strip().splitlines()[-1])
    cli, report = both["cli"], both["graphs"]
    # `graphc warmup`: its report, and its graphs compiled in a temporary graph cache
    lines = cli["lines"]
    assert cli["code"] == 0 and [line.split(":")[0].split(None, 1)[1] for line in lines[:5]] == [
        "every kernel in a fused loop", "a large graph (block interpreter)",
        "a small network (BLAS, log-softmax rows)", "a Gaussian process (linear algebra)",
        "a conv net (convolution, pooling)"], lines
    assert "(1 interpreted group)" in lines[1] and lines[5].startswith("warmed up in"), lines
    assert cli["cache"] == [], cli  # the user's graph cache is left alone
    # the small graphs compiled after it need no new kernel or helper version
    one_function = [report[name]["kernels"] for name in ("classifier", "gp", "mlp2")]
    assert one_function == [0, 0, 0] and report["mlp3"]["kernels"] > 0, report  # both paths
    assert all(not entry["new"] for entry in report.values()), report
