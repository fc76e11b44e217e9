"""Minor page faults and CPU time per call of graphc's numba function for each per-call workload
of compare.py, all in one process: first alone, then after each workload's JAX step has run.

    PYTHONPATH=$PWD python benchmarks/bench_faults.py [workload,workload,...]
    GRAPHC_WORKSPACE=0 PYTHONPATH=$PWD python benchmarks/bench_faults.py    # without the call workspace

Why: a call that frees large temporaries may give their pages back to the OS, and the
next call faults them in again, depending on what else ran in the process
(docs/codegen.md, "Memory of a call"; docs/benchmarks.md, table 22).
"""
import importlib
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import PER_CALL, adapters  # noqa: E402

names = sys.argv[1].split(",") if len(sys.argv) > 1 else [w for w in PER_CALL if w != "chain"]
ready = {}
for workload in names:
    module = importlib.import_module(f"workloads.{workload}")
    inputs = module.make_inputs(False)
    ready[workload] = (module, inputs, adapters.graphc_impl(module, inputs, "numba"))


def measure(tag: str, calls: int = 50) -> None:
    for workload, (_, _, prepared) in ready.items():
        for _ in range(20):
            prepared.run()
        before, cpu = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
        for _ in range(calls):
            prepared.run()
        cpu = (time.process_time() - cpu) / calls
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before.ru_minflt) / calls
        print(f"{tag:10s} {workload:18s} faults/call {faults:7.1f}  cpu {cpu * 1e3:8.3f} ms  "
              f"kernels={prepared.stats.get('kernels')}")


measure("alone")
for workload, (module, inputs, _) in ready.items():
    try:
        step = adapters.jax_impl(module, inputs)
        for _ in range(3):
            step.run()
    except Exception as error:  # noqa: BLE001 - JAX missing or failing: say so, measure anyway
        print("jax", workload, error)
measure("after JAX")
