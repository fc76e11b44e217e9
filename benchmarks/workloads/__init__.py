"""The benchmark workloads, one module each, every implementation side by side.

A workload module defines `make_inputs(quick)`, `hand_numpy` (the reference
every other implementation is checked against), `WRT` (the inputs to
differentiate), `RTOL`/`ATOL`, and one function per tool in that tool's idiom
(`hand_numba`, `graphc_graph`, `jax_loss`, `torch_loss`, `pytensor_graph`);
`adapters.standard` turns those into `IMPLEMENTATIONS`. Nothing here imports a
framework at import time. Entry point: benchmarks/compare.py.
"""

PER_CALL = ("mlp", "elementwise", "rosenbrock", "logistic", "sigmoid_matmul", "gaussian_process",
            "classifier", "hmm")
