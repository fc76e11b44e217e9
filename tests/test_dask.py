"""graphc.dask on a LocalCluster of 2 worker processes: map_reduce and the scipy objective.

The reference is always the same compiled Function run on all the rows in
this process (and NumPy's own formula once). One cluster serves the module;
the test that kills a worker runs last.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc import portable

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402 - after the skip

ROWS, FEATURES, CHUNK = 1000, 4, 130  # 8 chunks, the last one short
LAMBDA = 0.1


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """2 worker processes, 1 thread each; not the default client, so tests pass it explicitly."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", memory_limit="1GiB")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def logistic_terms(mean: bool) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    """Inputs and [loss, dW, db]: a sum over rows, or a mean plus an L2 term."""
    X = gc.input("X", shape=("n", FEATURES))
    y = gc.input("y", shape=("n",))
    W = gc.input("W", shape=(FEATURES,))
    b = gc.input("b")
    z = X @ W + b
    rows = gc.softplus(z) - y * z
    loss = gc.mean(rows) + 0.5 * LAMBDA * gc.sum(W * W) if mean else gc.sum(rows)
    return [X, y, W, b], [loss, *gc.grad(loss, [W, b])]


@pytest.fixture(scope="module")
def f_sum() -> gc.Function:
    return gc.compile(*logistic_terms(mean=False))


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(18)
    X = rng.normal(size=(ROWS, FEATURES))
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-X @ np.arange(FEATURES)))).astype(float)
    return {"X": X, "y": y, "W": rng.normal(size=FEATURES) * 0.3, "b": np.array(0.2)}


def chunked(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"X": da.from_array(arrays["X"], chunks=(CHUNK, FEATURES)),
            "y": da.from_array(arrays["y"], chunks=CHUNK)}


def params(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"W": arrays["W"], "b": arrays["b"]}


def assert_same(ours: Any, theirs: Any) -> None:
    """Equal up to reassociation of the sums over rows (float64)."""
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * ROWS)


def test_sum_over_chunks_equals_one_process(client: Any, f_sum: gc.Function,
                                            arrays: dict[str, np.ndarray]) -> None:
    result = gc.dask.map_reduce(f_sum, chunked(arrays), params(arrays), client=client)
    assert isinstance(result, list) and all(isinstance(r, np.ndarray) for r in result)
    assert_same(result, f_sum(**arrays))
    X, y, W, b = arrays["X"], arrays["y"], arrays["W"], arrays["b"]
    p = 1 / (1 + np.exp(-(X @ W + b)))
    np.testing.assert_allclose(result[1], X.T @ (p - y), rtol=1e-10)  # NumPy's own gradient


def test_mean_with_a_regulariser_comes_out_right(client: Any, arrays: dict[str, np.ndarray]) -> None:
    f_mean = gc.compile(*logistic_terms(mean=True), backend="numpy")
    result = gc.dask.map_reduce(f_mean, chunked(arrays), params(arrays), combine="mean",
                                client=client)
    assert_same(result, f_mean(**arrays))
    summed = gc.dask.map_reduce(f_mean, chunked(arrays), params(arrays), client=client)
    assert abs(summed[0] - result[0]) > 0.1  # "sum" counts the L2 term once per chunk


def test_without_a_client_dask_threads_compute_the_same(f_sum: gc.Function,
                                                        arrays: dict[str, np.ndarray]) -> None:
    result = gc.dask.map_reduce(f_sum, chunked(arrays), params(arrays), split_every=2)
    assert_same(result, f_sum(**arrays))


def test_the_function_travels_to_workers(client: Any, f_sum: gc.Function,
                                         arrays: dict[str, np.ndarray]) -> None:
    remote = client.submit(f_sum, *arrays.values(), pure=False).result(timeout=300)  # a lost worker fails
    for ours, theirs in zip(remote, f_sum(*arrays.values())):
        np.testing.assert_array_equal(ours, theirs)
    stats = client.submit(getattr, f_sum, "stats", pure=False).result(timeout=300)
    assert stats["unpickled"] and stats["cache_hit"]  # compiled here, loaded there


def test_misaligned_chunks_are_refused(client: Any, f_sum: gc.Function,
                                       arrays: dict[str, np.ndarray]) -> None:
    data = dict(chunked(arrays), y=da.from_array(arrays["y"], chunks=100))
    with pytest.raises(gc.GraphcError, match=r"'y' and 'X' have different row chunks.*rechunk"):
        gc.dask.map_reduce(f_sum, data, params(arrays), client=client)
    data = dict(chunked(arrays), X=da.from_array(arrays["X"], chunks=(CHUNK, 2)))
    with pytest.raises(gc.GraphcError, match=r"'X' is chunked along axis 1 too"):
        gc.dask.map_reduce(f_sum, data, params(arrays), client=client)
    data = dict(chunked(arrays), y=chunked(arrays)["y"][chunked(arrays)["y"] > -1])  # sizes unknown
    with pytest.raises(gc.GraphcError, match=r"'y' has chunks of unknown size.*compute_chunk_sizes"):
        gc.dask.map_reduce(f_sum, data, params(arrays), client=client)
    with pytest.raises(gc.GraphcError, match=r"'y' is a ndarray; data must be dask arrays"):
        gc.dask.map_reduce(f_sum, dict(chunked(arrays), y=arrays["y"]), params(arrays))


def test_every_input_must_be_data_or_params(f_sum: gc.Function,
                                            arrays: dict[str, np.ndarray]) -> None:
    with pytest.raises(gc.GraphcError, match="'b' are in neither data nor params"):
        gc.dask.map_reduce(f_sum, chunked(arrays), {"W": arrays["W"]})
    with pytest.raises(gc.GraphcError, match="params names 'w', which the Function does not take"):
        gc.dask.map_reduce(f_sum, chunked(arrays), dict(params(arrays), w=1.0))
    with pytest.raises(gc.GraphcError, match="combine must be"):
        gc.dask.map_reduce(f_sum, chunked(arrays), params(arrays), combine="max")


def test_a_graphc_error_on_a_worker_names_the_chunk(client: Any, f_sum: gc.Function,
                                                    arrays: dict[str, np.ndarray]) -> None:
    def drop_a_row_in_chunk_3(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        return block[:-1] if block_info[0]["chunk-location"][0] == 3 else block

    data = chunked(arrays)
    data["X"] = data["X"].map_blocks(drop_a_row_in_chunk_3, dtype=float)  # metadata now lies
    with pytest.raises(gc.InputError, match=r"^chunk 3 \(rows 390:520 of 1000\): input 'y'"):
        gc.dask.map_reduce(f_sum, data, params(arrays), client=client)


def test_a_worker_with_another_graphc_reports_it(client: Any, arrays: dict[str, np.ndarray]) -> None:
    f = gc.compile(*logistic_terms(mean=False), backend="numpy")
    state = portable.state_of(f)  # what travels; as if made by other graphc code:
    f.__dict__["_portable_state"] = {**{k: v for k, v in state.items() if k != "key"},
                                     "code": "0123456789abcdef"}
    with pytest.raises(gc.GraphcError, match="another version of graphc"):
        gc.dask.map_reduce(f, chunked(arrays), params(arrays), client=client)


def test_objective_fits_like_scipy_in_one_process(client: Any, arrays: dict[str, np.ndarray]) -> None:
    from scipy.optimize import minimize

    f_mean = gc.compile(*logistic_terms(mean=True), backend="numpy")  # numba: the tests above
    fun = gc.dask.objective(f_mean, chunked(arrays), params(arrays), combine="mean", client=client)

    def local(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, dW, db = f_mean(arrays["X"], arrays["y"], x[:FEATURES], x[FEATURES])
        return float(loss), np.concatenate([dW, [db]])

    loss, gradient = fun(fun.x0)
    expected = local(fun.x0)
    assert abs(loss - expected[0]) < 1e-12 and np.allclose(gradient, expected[1], atol=1e-13)
    fitted = minimize(fun, fun.x0, jac=True, method="L-BFGS-B")
    reference = minimize(local, fun.x0, jac=True, method="L-BFGS-B")
    assert fitted.success and fun.evaluations == fitted.nfev + 1
    np.testing.assert_allclose(fitted.x, reference.x, atol=1e-6)
    assert set(fun.unflatten(fitted.x)) == {"W", "b"} and fun.unflatten(fitted.x)["b"].shape == ()


def test_objective_checks_its_function(arrays: dict[str, np.ndarray], f_sum: gc.Function) -> None:
    with pytest.raises(gc.GraphcError, match=r"\[loss, one gradient per param\]"):
        gc.dask.objective(f_sum, chunked(arrays), {"W": arrays["W"], "b": arrays["b"], "X": 1.0})
    with pytest.raises(gc.GraphcError, match="flat vector of 5"):
        gc.dask.objective(f_sum, chunked(arrays), params(arrays))(np.zeros(4))
    with pytest.raises(gc.GraphcError, match="combine must be"):
        gc.dask.objective(f_sum, chunked(arrays), params(arrays), combine="average")
    fun = gc.dask.objective(f_sum, chunked(arrays), {"W": [0, 0, 0, 0], "b": 0})  # ints given
    assert fun.unflatten(np.full(5, 0.5))["b"].dtype == np.float64  # the input's dtype


def test_the_docs_code_runs(client: Any) -> None:
    """docs/distributed.md's blocks in order, connected to this module's cluster
    instead of starting another LocalCluster (the one line that differs)."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "distributed.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    start = "LocalCluster(n_workers=2, threads_per_worker=1)"
    assert start in code
    exec(compile(code.replace(start, repr(client.scheduler.address)), "distributed.md", "exec"), {})


def test_graphc_imports_without_dask_and_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['dask'] = None; import graphc as gc\n"
            "try:\n    gc.dask.map_reduce(None, {})\n"
            "except gc.GraphcError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install graphc[dask]" in result.stdout


def test_a_worker_killed_mid_evaluation_is_retried_exactly(client: Any, f_sum: gc.Function,
                                                           arrays: dict[str, np.ndarray]) -> None:
    def slow(block: np.ndarray) -> np.ndarray:
        time.sleep(0.2)
        return block

    data = chunked(arrays)
    data["X"] = data["X"].map_blocks(slow, dtype=float)
    expected = gc.dask.map_reduce(f_sum, data, params(arrays), client=client)
    pids = client.run(os.getpid)
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(
        gc.dask.map_reduce(f_sum, data, params(arrays), client=client)))
    thread.start()
    busy: list[str] = []
    deadline = time.monotonic() + 30
    while not busy and time.monotonic() < deadline:
        busy = [worker for worker, keys in client.processing().items()
                if any("slow" in str(key) for key in keys)]
        time.sleep(0.01)
    assert busy, "no chunk was ever seen running"
    os.kill(pids[busy[0]], signal.SIGKILL)
    thread.join(timeout=120)
    assert results, "the evaluation did not finish after a worker died"
    for ours, theirs in zip(results[0], expected):  # same chunks, same tree: the same bits
        np.testing.assert_array_equal(ours, theirs)
