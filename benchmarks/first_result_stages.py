"""Where the tiered start's first Jacobian / Hessian goes: CPU and wall ms per stage.

One fresh process with an empty graphc cache (a temporary GRAPHC_CACHE_DIR), the
steps `gc.compile(..., tiered=True)` takes for the workload of bench_jacobian.py,
timed one by one: graph build, simplify (with the cache key and the signed cache
entry), the import of the code generator, codegen (`prepare`), the warm check, the
request for the compile worker (`state_of`, `start`), and the first (NumPy tier)
call. docs/benchmarks.md, table 26.

    PYTHONPATH=$PWD python3 benchmarks/first_result_stages.py jacobian 1000
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc_stages_")
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402 - after the environment above

import graphc as gc  # noqa: E402
from graphc import api, calling  # noqa: E402


def main(task: str, n: int) -> None:
    rng = np.random.default_rng(n)
    values = [rng.standard_normal(n), rng.standard_normal((n, n)) / np.sqrt(n)]
    marks: list[tuple[str, float, float]] = [("start", time.process_time(), time.perf_counter())]

    def mark(name: str) -> None:
        marks.append((name, time.process_time(), time.perf_counter()))

    x, A = gc.input("x", (n,)), gc.input("A", (n, n))
    inner = gc.log1p((x @ A) ** 2)
    out = (gc.hessian(gc.sum(inner) + gc.sum(x ** 3), x) if task == "hessian"
           else gc.jacobian(inner + x ** 3, x))
    mark("graph build")
    inputs, requirements = (x, A), calling.collect_constraints((out,))
    simple, report = api._simplified(inputs, (out,))
    mark("simplify + cache key + entry")
    from graphc.backend.jit import prepare
    from graphc.backend.tiered_process import ProcessTier, is_warm
    mark("import code generator")
    prepared = prepare(inputs, simple, [None], False, load=False)
    mark("codegen (prepare)")
    is_warm(prepared)
    stats: dict = {"simplify": report}
    runner = ProcessTier(prepared, "single", requirements, api.numpy_runner(inputs, simple), stats)
    options = {"backend": "numba", "names": [None], "tiered": True, "parallel": False}
    function = api.Function(inputs, simple, "single", "numba", runner, runner.source, stats, None,
                            requirements, options)
    runner.on_switch = function.switch_to
    from graphc.portable import state_of
    state = state_of(function)
    mark("warm check + state_of")
    runner.start(state)
    mark("start (request, worker)")
    function(*values)
    mark("first call (NumPy tier)")
    for (_, cpu0, wall0), (name, cpu1, wall1) in zip(marks, marks[1:]):
        print(f"{name:30s} cpu {1e3 * (cpu1 - cpu0):7.1f} ms  wall {1e3 * (wall1 - wall0):7.1f} ms")
    print(f"{'total':30s} cpu {1e3 * (marks[-1][1] - marks[0][1]):7.1f} ms  "
          f"wall {1e3 * (marks[-1][2] - marks[0][2]):7.1f} ms")
    os._exit(0)  # the worker finishes at end of its input; this measurement does not wait


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "jacobian", int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
