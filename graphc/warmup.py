"""`graphc warmup`: compile, once per installation, what every later process only loads.

Why: graphc's scalar kernels, array helpers and block interpreter are Numba
functions with `cache=True` in the package itself. The first process that
needs one compiles it (an MLP step's set: ~14 s; the block interpreter:
~6 s per dtype); every later process loads it. Running `graphc warmup` after
installing (in a Dockerfile, say) moves that cost out of the first real run.

It compiles five small graphs per dtype: every kernel in a fused loop, a
graph large enough for the block interpreter, a small network (BLAS,
row-wise log-softmax, one-hot), a Gaussian process (the linear-algebra
helpers) and a conv net (the convolution and pooling helpers). The last
three are compiled as one njit function, as a graph with few loop nests is:
that function calls the jitted helpers, while a graph in kernel mode (six
loop nests or more, as these graphs are) calls their NumPy twins
(library.NUMPY_TWINS) and compiles none of them, so compiled the default
way they would pre-build nothing that lasts (measured: the GP compiled 13
fused kernels, in the temporary graph cache, and no helper). Everything
else compiles lazily: a graph compiles only the kernels and helpers it calls.
The graphs are compiled in a temporary graph cache, so the user's cache
directory is left alone, and their results are checked against the NumPy
backend. Imports: the graphc package (layer L5); entry
point `warm_up`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import GraphcError

Case = tuple[str, list[Any], list[Any], list[np.ndarray]]
ONE_FUNCTION = 2  # the cases from this index on are compiled as one njit function (see above)


def _cases(dtype: np.dtype) -> list[Case]:
    from . import autodiff, ops

    rng = np.random.default_rng(0)
    x = ops.input("x", shape=("n",), dtype=dtype)
    value = rng.uniform(-2.0, 2.0, 700).astype(dtype)
    terms = [ops.exp(x), ops.log(ops.abs(x) + 1), ops.log1p(ops.abs(x)), ops.expm1(x),
             ops.tanh(x), ops.sigmoid(x), ops.softplus(x), ops.sin(x), ops.cos(x)]
    every = ops.sum(sum(terms[1:], terms[0]))
    y = x
    for _ in range(8):  # sin, tanh, exp, log1p, softplus and their derivatives: > 48 call sites
        y = ops.tanh(ops.sin(y) * 0.5 + x) + ops.exp(-y * y) * 0.25 + ops.log1p(y * y) * 0.1 \
            - ops.softplus(y) * 0.1
    large = ops.sum(y)
    X = ops.input("X", shape=("batch", 8), dtype=dtype)
    labels = ops.input("labels", shape=("batch",), dtype="int64")
    W1 = ops.input("W1", shape=(8, 32), dtype=dtype)
    b1 = ops.input("b1", shape=(32,), dtype=dtype)
    W2 = ops.input("W2", shape=(32, 4), dtype=dtype)
    b2 = ops.input("b2", shape=(4,), dtype=dtype)
    logits = ops.relu(X @ W1 + b1) @ W2 + b2  # the training step of a small network
    network = -ops.mean(ops.sum(ops.one_hot(labels, 4, dtype=dtype)
                                * ops.log_softmax(logits, axis=-1), axis=-1))
    parameters = [W1, b1, W2, b2]
    batch = [rng.normal(size=(16, 8)).astype(dtype), rng.integers(0, 4, 16),
             *(rng.normal(size=tuple(int(s) for s in p.shape)).astype(dtype)
               for p in parameters)]
    return [
        ("every kernel in a fused loop", [x], [every, autodiff.grad(every, x)], [value]),
        ("a large graph (block interpreter)", [x], [large, autodiff.grad(large, x)], [value]),
        ("a small network (BLAS, log-softmax rows)", [X, labels, *parameters],
         [network, *autodiff.grad(network, parameters)], batch),
        _gaussian_process(dtype, rng),
        _conv_net(dtype, rng),
    ]


def _gaussian_process(dtype: np.dtype, rng: np.random.Generator) -> Case:
    """The linear-algebra family's helpers: Cholesky, triangular solves, diagonals, triangles."""
    from . import autodiff, linalg, ops

    x = ops.input("points", shape=("n", 2), dtype=dtype)
    y = ops.input("targets", shape=("n",), dtype=dtype)
    scale = ops.input("scale", shape=(), dtype=dtype)
    squared = ops.sum(x * x, axis=1)
    distances = ops.maximum(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0)
    kernel = ops.exp(-distances * scale) + ops.diag(0.5 + 0.0 * y)
    factor = linalg.cholesky(kernel)
    alpha = linalg.solve_triangular(factor, y, lower=True)
    loss = 0.5 * ops.sum(alpha * alpha) + ops.sum(ops.log(ops.diagonal(factor)))
    values = [rng.normal(size=(12, 2)).astype(dtype), rng.normal(size=12).astype(dtype),
              np.asarray(0.7, dtype)]
    return ("a Gaussian process (linear algebra)", [x, y, scale],
            [loss, *autodiff.grad(loss, [x, scale])], values)


def _conv_net(dtype: np.dtype, rng: np.random.Generator) -> Case:
    """The convolution family's helpers: im2col, the three products, max pooling both ways."""
    from . import autodiff, nn, ops

    images = ops.input("images", shape=("n", 1, 6, 6), dtype=dtype)
    K = ops.input("K", shape=(3, 1, 3, 3), dtype=dtype)
    c = ops.input("c", shape=(3,), dtype=dtype)
    hidden = nn.max_pool2d(ops.relu(nn.conv2d(images, K, c, padding="same")), 2)
    loss = ops.sum(ops.tanh(hidden))
    values = [rng.normal(size=(4, 1, 6, 6)).astype(dtype), rng.normal(size=(3, 1, 3, 3)).astype(dtype),
              rng.normal(size=3).astype(dtype)]
    return ("a conv net (convolution, pooling)", [images, K, c],
            [loss, *autodiff.grad(loss, [images, K, c])], values)


def _one_function(inputs: list[Any], outputs: list[Any], values: list[np.ndarray]) -> list[Any]:
    """The graph's results, computed by it simplified and compiled as one njit function."""
    from . import calling
    from .backend.jit import compile_graph
    from .ir import Graph
    from .simplify import simplify_graph

    simplified, _ = simplify_graph(Graph(tuple(inputs), tuple(outputs)))
    compiled = compile_graph(simplified.inputs, simplified.outputs, kernels=False)
    arrays = [calling.coerce(node, value) for node, value in zip(simplified.inputs, values)]
    return list(compiled.runner(arrays, calling.bind(simplified.inputs, arrays, [])))


def warm_up(dtypes: Sequence[str] = ("float64", "float32"),
            report: Callable[[str], None] = print) -> None:
    """Compile and check the warm-up graphs for each dtype; raise GraphcError on a mismatch."""
    from .api import compile as compile_graph

    previous = os.environ.get("GRAPHC_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="graphc-warmup-") as directory:
        os.environ["GRAPHC_CACHE_DIR"] = directory
        try:
            for dtype in dtypes:
                for index, (name, inputs, outputs, values) in enumerate(_cases(np.dtype(dtype))):
                    start = time.perf_counter()
                    if index >= ONE_FUNCTION:
                        got, interpreted = _one_function(inputs, outputs, values), 0
                    else:
                        function = compile_graph(inputs, outputs, tiered=False)  # compile here, now
                        got = function(*values)
                        interpreted = function.stats.get("interpreted_groups", 0)
                    seconds = time.perf_counter() - start
                    want = compile_graph(inputs, outputs, backend="numpy")(*values)
                    tolerance = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
                    for a, b in zip(got, want):
                        if not np.allclose(a, b, rtol=tolerance, atol=tolerance):
                            raise GraphcError(f"warmup: {dtype} {name}: the numba backend "
                                              f"disagrees with the numpy backend")
                    report(f"{dtype:8s} {name}: {seconds:.1f} s"
                           + (f" ({interpreted} interpreted group)" if interpreted else ""))
        finally:
            if previous is None:
                os.environ.pop("GRAPHC_CACHE_DIR", None)
            else:
                os.environ["GRAPHC_CACHE_DIR"] = previous
