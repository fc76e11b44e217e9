"""CPU time of lowering a large graph and of its re-roll step (codegen.reroll), no Numba compile.

Every compile of a kernel-mode graph, warm ones included, lowers it (the
graph's cache key is its generated text), and lowering runs the re-roller's
search for repeated steps over the whole body. This times `backend.lower.lower`
(schedule + codegen) on the simplified 64-layer tanh MLP (width 32, a named
batch size: nothing fits a loop) and the unrolled HMM over T = 100 steps (two
loops), the minimum over --rounds calls in one process, and the share of it
spent in `codegen.reroll` (timed by wrapping that function in this script).
Running it with PYTHONPATH set to another checkout is an A/B comparison:

    PYTHONPATH=$PWD python3 benchmarks/bench_reroll_search.py --rounds 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def graphs() -> dict[str, tuple[Any, Any]]:
    """name -> (inputs, outputs) of the graphs, as the user builds them."""
    sys.path.insert(0, str(HERE))
    from compile_time import mlp_graph
    from workloads import hmm

    import graphc as gc

    hmm.configure(100)
    inputs, loss = hmm.graphc_graph()
    return {"mlp64": tuple(mlp_graph(64, 32)),  # type: ignore[dict-item]
            "hmm100": (inputs, [loss, *gc.grad(loss, inputs)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    import graphc as gc
    import graphc.backend.codegen as codegen
    from graphc.backend.lower import lower

    spent: list[float] = []
    reroll = codegen.reroll

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return reroll(*args, **kwargs)
        finally:
            spent.append(time.process_time() - start)

    codegen.reroll = timed  # type: ignore[assignment]  # instrumentation of this script only
    report = {}
    for name, (inputs, outputs) in graphs().items():
        simplified = gc.compile(inputs, outputs, backend="numpy")  # the graph lower() sees
        lowering, searching = [], []
        for _ in range(options.rounds):
            spent.clear()
            start = time.process_time()
            lower(simplified.inputs, simplified.outputs)
            lowering.append(time.process_time() - start)
            searching.append(sum(spent))
        report[name] = {"lower_min": round(min(lowering), 4), "reroll_min": round(min(searching), 4),
                        "reroll_median": round(sorted(searching)[len(searching) // 2], 4)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
