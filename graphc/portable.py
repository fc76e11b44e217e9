"""Compiled functions that travel: a `Function` pickles as its graph and options.

Why: multiprocessing, joblib and Dask ship a function to other processes by
pickling it, and machine code does not travel (a Numba dispatcher cannot be
pickled, and a worker may be another machine). What travels is what compile
needs to build the same function again: the optimized graph as records
(serialize.py), the inputs, the size equalities the call checks, and the
options (backend, output names, tiered, parallel). The receiving process
builds it with `api.build` without simplifying again; the generated source is
the same text, so the Numba tier loads its machine code from the disk cache
when that process (or any process sharing the cache directory) compiled it
before.

A process that receives the same state again (a Dask worker running many
tasks with one function) gets the Function it built the first time: rebuilt
functions are kept by the digest of their state. The sender keeps its state
too, so pickling a Function for every task costs one `dumps` of the graph.

Trust: unpickling runs code chosen by whoever made the bytes (that is pickle);
unpickle Functions only from processes you trust, as with any pickle.
Imports: api, serialize, ir (layer L5). Entry points: `state_of`, `rebuild`.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from . import serialize
from .errors import GraphcError
from .ir import OPS, Node

if TYPE_CHECKING:
    from .api import Function

FORMAT = 1  # bump when the state's layout changes
KEPT = 64  # rebuilt functions kept per process (least recently used dropped)

# Per-process: functions this process rebuilt from pickles (an LRU, shared by threads).
_rebuilt: OrderedDict[str, Function] = OrderedDict()
_lock = threading.Lock()  # Dask workers run tasks in threads


def state_of(function: Function) -> dict[str, Any]:
    """What a pickle of `function` holds: plain data, no machine code."""
    from .api import _code_version

    cached = function.__dict__.get("_portable_state")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        graph = serialize.dumps(function.inputs, function.outputs)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise GraphcError(f"this Function cannot be pickled: its graph holds a value pickle "
                          f"cannot store ({exc})") from exc
    state = {
        "format": FORMAT,
        "code": _code_version(),
        "inputs": [(node.name, node.shape, node.dtype.str, node.origin) for node in function.inputs],
        "graph": graph,
        "structure": function.structure,
        # The node a size equality came from only names the op and line in errors.
        "requirements": [(left, right, node.op.name, node.origin)
                         for left, right, node in function.requirements or ()],
        "options": dict(function.options or {"backend": function.backend, "names": None,
                                             "tiered": False, "parallel": False}),
        "simplify": function.stats.get("simplify"),
    }
    state["key"] = _key(state)
    function.__dict__["_portable_state"] = state
    return state


def rebuild(state: dict[str, Any]) -> Function:
    """The Function described by `state` (from `state_of`), built in this process.

    Raises GraphcError if the state was made by another graphc (its graph
    records may mean something else here).
    """
    from .api import _code_version

    if state.get("format") != FORMAT or state.get("code") != _code_version():
        raise GraphcError(
            f"this Function was pickled by another version of graphc (code {state.get('code')}, "
            f"this process has {_code_version()}): install the same graphc in every process "
            "that receives compiled functions (every Dask worker)")
    key = state.get("key") or _key(state)  # a task per chunk rebuilds: keep this cheap
    with _lock:
        function = _rebuilt.get(key)
        if function is None:
            function = _build(state)
            _rebuilt[key] = function
            while len(_rebuilt) > KEPT:
                _rebuilt.popitem(last=False)
        _rebuilt.move_to_end(key)
    return function


def _key(state: dict[str, Any]) -> str:
    """The digest of what defines the function (everything but stats and the key itself)."""
    defining = {k: v for k, v in state.items() if k not in ("simplify", "key")}
    return hashlib.sha256(pickle.dumps(defining, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def _build(state: dict[str, Any]) -> Function:
    from .api import build

    inputs = tuple(Node(OPS["input"], (), (), shape, np.dtype(dtype), name=name, origin=origin)
                   for name, shape, dtype, origin in state["inputs"])
    try:
        outputs, _ = serialize.loads(state["graph"], inputs)
    except (ValueError, KeyError, IndexError) as exc:
        raise GraphcError(f"a pickled Function's graph does not load: {exc}") from exc
    # A stand-in for the node each equality came from: errors read its op and line.
    requirements = [(left, right, Node(OPS[op], (), (), (), np.dtype("float64"), origin=origin))
                    for left, right, op, origin in state["requirements"]]
    stats: dict[str, Any] = {"unpickled": True}
    if state["simplify"] is not None:
        stats["simplify"] = state["simplify"]
    function = build(inputs, tuple(outputs), state["structure"], requirements, stats,
                     dict(state["options"]))
    function.__dict__["_portable_state"] = state  # passing it on costs nothing
    return function
