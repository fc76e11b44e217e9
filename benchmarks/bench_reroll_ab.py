"""Per-call A/B for re-rolling (issue 17 item 6): the HMM T=100, graphc numba vs numpy backend vs JAX jit.

CPU time per call, round-robin blocks of calls in one process (40 calls of
numba and JAX, 5 of the numpy backend per block), medians; JAX is the
yardstick that makes two processes comparable on a busy machine. Run it for
two checkouts alternately (first argument: the checkout, also its PYTHONPATH):

    for t in /work/main $PWD /work/main $PWD; do
        PYTHONPATH=$t /work/benchvenv/bin/python benchmarks/bench_reroll_ab.py $t 15; done
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def main(checkout: str, rounds: int) -> None:
    sys.path.insert(0, os.path.join(checkout, "benchmarks"))
    import jax
    import jax.numpy as jnp
    from workloads import hmm

    import graphc as gc

    hmm.configure(100)
    inputs = hmm.make_inputs(False)
    graph_inputs, loss = hmm.graphc_graph()
    outputs = [loss, *gc.grad(loss, graph_inputs)]
    arrays = [inputs[n.name] for n in graph_inputs]
    numba_f = gc.compile(graph_inputs, outputs)
    numpy_f = gc.compile(graph_inputs, outputs, backend="numpy")
    jax.config.update("jax_enable_x64", True)
    jitted = jax.jit(jax.value_and_grad(hmm.jax_loss, argnums=(0, 1, 2)))
    jax_arrays = [jnp.asarray(a) for a in arrays]
    calls: dict[str, tuple[Callable[[], Any], int]] = {
        "numba": (lambda: numba_f(*arrays), 40), "numpy": (lambda: numpy_f(*arrays), 5),
        "jax": (lambda: jax.block_until_ready(jitted(*jax_arrays)), 40)}
    for call, _ in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, (call, count) in calls.items():
            start = time.process_time()
            for _ in range(count):
                call()
            times[name].append((time.process_time() - start) / count)
    ms = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    print(f"{checkout}: numba {ms['numba']:.3f} ms  numpy {ms['numpy']:.2f} ms  jax {ms['jax']:.3f} ms  "
          f"numba/jax {ms['numba'] / ms['jax']:.2f}  load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 15)
