"""Objectives and gradients over data sets larger than one machine, on Dask.

Why: full-batch optimisation (scipy.optimize with jac=True, L-BFGS) over data
that outgrows one machine needs the per-chunk work to run where the chunks
are and the results to be added up. A compiled graphc Function is exactly the
per-chunk work; the chunking, scheduling, data movement, retries and clusters
(a laptop, HPC, Kubernetes) come from Dask, an existing engine, not from us.

    f = gc.compile([X, y, W, b], [loss, dW, db])       # loss a sum over rows
    loss, dW, db = gc.dask.map_reduce(f, data={"X": Xd, "y": yd},
                                      params={"W": W0, "b": b0})

`data` are dask arrays cut into chunks along axis 0 only, with the same row
chunks; `params` are NumPy arrays, sent to the workers once per call
(not once per task, see `_shared`); the Function travels as its pickled
state (graph + options, graphc/portable.py) and is rebuilt once per worker
process through the disk cache. Each chunk's outputs are added by a tree reduction (`split_every`
partials per node, a fixed tree, so a rerun gives the same bits whichever
worker ran what) into NumPy arrays on the client.

Means: with `combine="sum"` (the default) the outputs are sums over chunks,
so write the loss as a sum over rows and divide on the client, and keep
terms of the parameters alone (a regulariser) out of `f` (they would be
counted once per chunk). With `combine="mean"` each chunk's outputs are
weighted by its share of the rows, so an `f` that takes `.mean()` over its
rows and adds a regulariser gives the mean over all rows plus the
regulariser once. Either way the result equals `f` run on all the data in one
process up to floating-point reassociation (~1e-13 relative in float64).

`dask` is imported inside the functions: `import graphc` works without it,
and a call without it raises GraphcError saying `pip install graphc[dask]`.
Imports: api, errors (layer L5). Entry points: `map_reduce`, `objective`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import portable
from .api import Function
from .errors import GraphcError

COMBINES = ("sum", "mean")


def _require_dask() -> Any:
    try:
        import dask
        import dask.array
    except ImportError as exc:
        raise GraphcError("graphc.dask needs Dask: pip install graphc[dask] "
                          f"(dask[array] and distributed) ({exc})") from None
    return dask


def _client(client: Any) -> Any:
    """The given client, else the current dask.distributed client, else None (local threads)."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client started: Dask's local threaded scheduler
        return None


@dataclass(frozen=True)
class Chunks:
    """The data's common row chunks: names, per-chunk row ranges and the blocks to feed."""

    names: tuple[str, ...]
    rows: tuple[tuple[int, int], ...]
    total: int
    blocks: tuple[tuple[Any, ...], ...]  # blocks[chunk] = one dask Delayed per name


def _check_options(caller: str, function: Any, combine: str, split_every: int) -> None:
    _require_dask()
    if not isinstance(function, Function):
        raise GraphcError(f"{caller} needs a compiled gc.Function, got {type(function).__name__}")
    if combine not in COMBINES:
        raise GraphcError(f"combine must be 'sum' or 'mean', got {combine!r}")
    if split_every < 2:
        raise GraphcError(f"split_every must be at least 2, got {split_every}")


def _split_inputs(function: Function, data: Mapping[str, Any],
                  params: Mapping[str, Any]) -> None:
    """Every input of `function` is in exactly one of data and params."""
    names = [str(node.name) for node in function.inputs]
    for given, what in ((data, "data"), (params, "params")):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise GraphcError(f"{what} names {', '.join(map(repr, unknown))}, which the "
                              f"Function does not take; its inputs are {', '.join(names)}")
    both = sorted(set(data) & set(params))
    if both:
        raise GraphcError(f"{', '.join(map(repr, both))} given both as data and as params")
    missing = [name for name in names if name not in data and name not in params]
    if missing:
        raise GraphcError(f"inputs {', '.join(map(repr, missing))} are in neither data nor params")
    if not data:
        raise GraphcError("data is empty: map_reduce needs at least one dask array to cut "
                          "into row chunks")


def _chunks(data: Mapping[str, Any]) -> Chunks:
    """Check the data's chunking (rows only, aligned) and cut it into per-chunk blocks."""
    import dask.array as da

    reference = ""
    row_chunks: tuple[int, ...] = ()
    for name, array in data.items():
        if not isinstance(array, da.Array):
            raise GraphcError(
                f"data {name!r} is a {type(array).__name__}; data must be dask arrays chunked "
                f"along axis 0 (dask.array.from_array({name}, chunks=(rows, ...)) ), and "
                "NumPy arrays go in params")
        if array.ndim == 0:
            raise GraphcError(f"data {name!r} is 0-d: data arrays are cut along axis 0, "
                              "so they need one; a scalar goes in params")
        split = [axis for axis in range(1, array.ndim) if len(array.chunks[axis]) > 1]
        if split:
            raise GraphcError(
                f"data {name!r} is chunked along axis {split[0]} too "
                f"(chunks {array.chunks[split[0]]}); each chunk must hold whole rows: "
                f"{name}.rechunk({{{split[0]}: -1}})")
        if any(np.isnan(size) for size in array.chunks[0]):
            raise GraphcError(f"data {name!r} has chunks of unknown size (after a filter or "
                              f"map_blocks that changed them): {name}.compute_chunk_sizes() first")
        if not reference:
            reference, row_chunks = name, array.chunks[0]
        elif array.chunks[0] != row_chunks:
            raise GraphcError(
                f"data {name!r} and {reference!r} have different row chunks "
                f"({_short(array.chunks[0])} and {_short(row_chunks)}): chunk i of every data "
                f"array must hold the same rows; {name}.rechunk({{0: {reference}.chunks[0]}})")
    names = tuple(data)
    per_name = [data[name].to_delayed().reshape(-1) for name in names]
    starts = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)
    rows = tuple((int(a), int(b)) for a, b in zip(starts[:-1], starts[1:]))
    blocks = tuple(tuple(column[i] for column in per_name) for i in range(len(rows)))
    return Chunks(names, rows, int(starts[-1]), blocks)


def _short(chunks: tuple[int, ...]) -> str:
    text = str(chunks)
    return text if len(text) < 60 else text[:56] + "...)"


def evaluate_chunk(state: dict[str, Any], index: int, rows: tuple[int, int], total: int,
                   weight: float | None, params: dict[str, Any], names: tuple[str, ...],
                   *blocks: np.ndarray) -> list[np.ndarray]:
    """One chunk's outputs (on a worker): the function of `state` on its rows and the params.

    The function arrives as its pickled state (plain data) and is rebuilt here
    (once per process, portable.rebuild keeps it), so a function that cannot be
    rebuilt on a worker is an error of this task, reported to the caller, not a
    message the worker fails to read. A graphc error is raised again as the
    same type, naming the chunk.
    """
    arguments = dict(params)
    arguments.update(zip(names, blocks))
    try:
        function = portable.rebuild(state)
        results = function(**arguments)
    except GraphcError as exc:
        message = f"chunk {index} (rows {rows[0]}:{rows[1]} of {total}): {exc}"
        try:
            renamed = type(exc)(message)
        except TypeError:  # an error type with other constructor arguments
            renamed = GraphcError(message)
        raise renamed from None
    results = [results] if function.structure == "single" else list(results)
    if weight is not None:
        return [np.asarray(np.asarray(r) * weight) for r in results]  # 0-d stays an array
    return [np.asarray(r) for r in results]


def add_partials(*partials: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of several chunks added output by output, in a fixed order."""
    total = [np.array(r, copy=True) for r in partials[0]]
    for partial in partials[1:]:
        for position, value in enumerate(partial):
            total[position] = np.asarray(total[position] + value)  # 0-d stays an array
    return total


def _tree(partials: list[Any], split_every: int) -> Any:
    """A fixed tree of additions over the per-chunk partial results."""
    from dask import delayed

    level = partials
    while len(level) > 1:
        level = [delayed(add_partials, pure=True)(*level[i:i + split_every])
                 for i in range(0, len(level), split_every)]
    return level[0]


def map_reduce(function: Function, data: Mapping[str, Any], params: Mapping[str, Any] | None = None,
               *, combine: str = "sum", client: Any = None, split_every: int = 8) -> Any:
    """`function` on each row chunk of `data` (on the workers) with `params`, outputs added.

    data: input name -> dask array chunked along axis 0 only (the same row
    chunks for all). params: input name -> array, sent to every worker once.
    combine: "sum" adds the chunks' outputs; "mean" weights each chunk by its
    rows / all rows (see the module docstring). client: a dask.distributed
    Client (default: the current one; with none, Dask's local threads).
    Returns the outputs like `function` does (one array, a list or a tuple).
    """
    _check_options("map_reduce", function, combine, split_every)
    params = dict(params or {})
    _split_inputs(function, data, params)
    arrays = {name: np.asarray(value) for name, value in params.items()}
    return _run(function, _chunks(data), _shared(portable.state_of(function), "function"),
                _shared(arrays, "params"), combine, _client(client), split_every)


def _shared(value: Any, kind: str) -> Any:
    """`value` as one key of the task graph, which every chunk's task reads.

    Sent to the scheduler once per call (not copied into each task), computed
    on one worker and copied to the others by Dask. Why not Client.scatter:
    Dask's memory manager drops extra copies of scattered data, and a
    scattered value lost with its worker cannot be recovered, while a key of
    the graph is simply computed again (the "worker dies" case).
    """
    from dask import delayed
    from dask.base import tokenize

    token = (kind == "function" and value.get("key")) or tokenize(value)  # a state carries its digest
    return delayed(value, name=f"graphc-{kind}-{token[:32]}", traverse=False)


def _run(function: Function, chunks: Chunks, function_ref: Any, params_ref: Any,
         combine: str, client: Any, split_every: int) -> Any:
    import dask
    from dask import delayed

    if combine == "mean" and chunks.total == 0:
        raise GraphcError("combine='mean' over data with no rows")
    task = delayed(evaluate_chunk, pure=True)
    partials = []
    for index, (rows, blocks) in enumerate(zip(chunks.rows, chunks.blocks)):
        weight = (rows[1] - rows[0]) / chunks.total if combine == "mean" else None
        partials.append(task(function_ref, index, rows, chunks.total, weight, params_ref,
                             chunks.names, *blocks))
    root = _tree(partials, split_every)
    if client is not None:
        results = client.compute(root).result()
    else:
        (results,) = dask.compute(root, scheduler="threads")
    if function.structure == "single":
        return results[0]
    return tuple(results) if function.structure == "tuple" else list(results)


class Objective:
    """`fun(x) -> (loss, gradient)` over a distributed data set, for scipy.optimize.

    `function` returns [loss, gradient of each param] in the order of
    `params` (e.g. gc.compile([X, y, W, b], [loss, *gc.grad(loss, [W, b])])).
    The parameters travel as one flat float64 vector `x`: `x0` holds the
    starting values, `unflatten(x)` gives them back by name. Each call is one
    map_reduce: the parameters are sent once, every chunk is evaluated
    where it lives, and the sum comes back as (float, flat gradient).
    """

    def __init__(self, function: Function, data: Mapping[str, Any], params: Mapping[str, Any],
                 *, combine: str = "sum", client: Any = None, split_every: int = 8) -> None:
        _check_options("objective", function, combine, split_every)
        if len(function.outputs) != 1 + len(params) or function.structure == "single":
            raise GraphcError(
                f"objective's Function must return [loss, one gradient per param] "
                f"({1 + len(params)} outputs for params {', '.join(params)}); it returns "
                f"{len(function.outputs)}")
        if function.outputs[0].ndim != 0:
            raise GraphcError(f"objective's first output must be the scalar loss; it has shape "
                              f"{function.outputs[0].shape}")
        self.function, self.data = function, dict(data)
        self.combine, self.split_every = combine, split_every
        self.client = _client(client)
        starts = {name: np.asarray(value) for name, value in params.items()}
        self.names = tuple(starts)
        self.shapes = {name: value.shape for name, value in starts.items()}
        # Each param in its input's dtype (a start value written as 0 must not make it an int).
        declared = {str(node.name): node.dtype for node in function.inputs}
        self.dtypes = {name: declared.get(name, value.dtype) for name, value in starts.items()}
        self.x0 = np.concatenate([value.ravel() for value in starts.values()]).astype(np.float64)
        _split_inputs(function, self.data, starts)
        self._chunks = _chunks(self.data)
        self._function_ref = _shared(portable.state_of(function), "function")
        self.evaluations = 0

    def unflatten(self, x: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """The flat vector `x` as arrays by param name (in each param's shape and dtype)."""
        flat = np.asarray(x, dtype=np.float64)
        if flat.shape != self.x0.shape:
            raise GraphcError(f"expected a flat vector of {self.x0.size} parameters, got shape "
                              f"{flat.shape}")
        values, start = {}, 0
        for name in self.names:
            size = int(np.prod(self.shapes[name], dtype=np.int64))
            values[name] = flat[start:start + size].reshape(self.shapes[name]).astype(self.dtypes[name])
            start += size
        return values

    def __call__(self, x: Sequence[float] | np.ndarray) -> tuple[float, np.ndarray]:
        params_ref = _shared(self.unflatten(x), "params")  # sent once per evaluation
        loss, *gradients = _run(self.function, self._chunks, self._function_ref, params_ref,
                                self.combine, self.client, self.split_every)
        self.evaluations += 1
        for name, gradient in zip(self.names, gradients):
            if gradient.shape != self.shapes[name]:
                raise GraphcError(f"output {1 + self.names.index(name)} has shape {gradient.shape}"
                                  f", but param {name!r} has shape {self.shapes[name]}: the "
                                  "outputs must be [loss, gradient of each param, in order]")
        return float(loss), np.concatenate([np.ravel(g) for g in gradients]).astype(np.float64)


def objective(function: Function, data: Mapping[str, Any], params: Mapping[str, Any],
              *, combine: str = "sum", client: Any = None, split_every: int = 8) -> Objective:
    """An `Objective` for scipy.optimize.minimize(fun, fun.x0, jac=True): see its docstring."""
    return Objective(function, data, params, combine=combine, client=client,
                     split_every=split_every)
