"""Compiling generated source with Numba: the only module that imports numba.

Owns: the jitted versions of the scalar kernels (graphc/backend/kernels.py)
and array helpers (graphc/backend/library.py), which generated modules import
from here by name (`from graphc.backend.compile import exp_f64`); loading a
generated module from the disk cache; `numba.njit(signature, cache=True,
error_model="numpy")` on its function; and the runner that calls it.
`compile_graph` is the entry point used by `graphc.api.compile`.

Numba is imported lazily (inside functions), so `import graphc` stays fast.
`error_model="numpy"` makes x/0 give inf/nan like NumPy instead of raising,
and keeps division branch-free so loops vectorize.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphcError
from ..ir import Node
from . import cache, kernels, library
from .codegen import SCALAR_KERNELS, Generated, generate
from .schedule import schedule

_jitted: dict[str, Any] = {}
JIT_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy"}


def jitted(name: str) -> Any:
    """The numba-compiled version of a kernel or helper (compiled once per process, cached)."""
    if name not in _jitted:
        import numba

        if name in SCALAR_KERNELS:
            function = getattr(kernels, name)
        elif name in library.HELPERS:
            function = getattr(library, name)
        else:
            raise AttributeError(name)
        _jitted[name] = numba.njit(**JIT_OPTIONS)(function)
    return _jitted[name]


def __getattr__(name: str) -> Any:
    """`from graphc.backend.compile import exp_f64` in generated modules (PEP 562)."""
    if name in SCALAR_KERNELS or name in library.HELPERS:
        return jitted(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _library_version() -> str:
    """Generated code links the helpers in, so their text is part of the cache key."""
    import numba

    texts = [Path(module.__file__).read_text() for module in (kernels, library)
             if module.__file__]
    return cache.digest("".join(texts) + numba.__version__)


def _numba_type(dtype: np.dtype, ndim: int) -> Any:
    from numba import from_dtype, types

    scalar = from_dtype(np.dtype(dtype))
    return scalar if ndim == 0 else types.Array(scalar, ndim, "C")


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphcError(f"cannot import generated module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache locates functions through their module
    spec.loader.exec_module(module)
    return module


def compile_graph(inputs: Sequence[Node], outputs: Sequence[Node],
                  output_names: Sequence[str | None] = ()) -> tuple[Callable[..., Any], str,
                                                                      dict[str, Any]]:
    """Schedule, generate, cache and jit: returns (runner, source, stats)."""
    import numba

    times: dict[str, float] = {}
    start = time.perf_counter()
    plan = schedule(inputs, outputs)
    times["schedule"] = time.perf_counter() - start

    start = time.perf_counter()
    generated = generate(plan, output_names)
    source = generated.source
    key = source + _library_version()  # helpers are linked in: their text is part of the key
    times["codegen"] = time.perf_counter() - start

    start = time.perf_counter()
    path, found = cache.store(source, key)
    module = _load(path, cache.module_name(key))
    times["import"] = time.perf_counter() - start

    start = time.perf_counter()
    signature = tuple(
        [_numba_type(i.dtype, i.ndim) for i in inputs]
        + [_numba_type(c.dtype, c.ndim) for c in generated.constants])
    for number in range(generated.parts if generated.parts > 1 else 0):
        part = f"{generated.function_name}_part{number}"
        setattr(module, part, numba.njit(**JIT_OPTIONS)(getattr(module, part)))
    function = getattr(module, generated.function_name)
    try:
        try:
            dispatcher = numba.njit(signature, **JIT_OPTIONS)(function)
        except (EOFError, OSError, ValueError, TypeError, pickle.UnpicklingError):
            cache.forget_compiled(path)  # unreadable machine code: compile afresh
            dispatcher = numba.njit(signature, **JIT_OPTIONS)(function)
    except numba.core.errors.TypingError as exc:
        raise GraphcError(f"numba could not compile the generated code ({path}): {exc}") from exc
    times["numba"] = time.perf_counter() - start
    hits = dispatcher.stats.cache_hits
    stats = {
        "backend": "numba",
        "cache_hit": bool(sum(hits.values())) if hasattr(hits, "values") else bool(hits),
        "source_cached": found,
        "cache_path": str(path),
        "seconds": times,
        "groups": sum(1 for u in plan.units if not isinstance(u, Node)),
        "parts": generated.parts,
        "nodes": len(plan.order),
    }
    return make_runner(dispatcher, inputs, outputs, generated), source, stats


def make_runner(dispatcher: Any, inputs: Sequence[Node], outputs: Sequence[Node],
                generated: Generated) -> Callable[[list[np.ndarray], dict[str, int]],
                                                  list[np.ndarray]]:
    """Call the jitted function; rank-0 values travel as scalars, outputs never alias inputs."""
    scalar_inputs = [i for i, node in enumerate(inputs) if node.ndim == 0]
    constants = list(generated.constants)
    scalar_outputs = [(i, node.dtype) for i, node in enumerate(outputs) if node.ndim == 0]
    may_alias = [i for i, node in enumerate(outputs) if node.ndim > 0 and _may_alias(node)]
    duplicates = [i for i, node in enumerate(outputs) if node in outputs[:i] and node.ndim > 0]

    def run(arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        arguments: list[Any] = list(arrays)
        for i in scalar_inputs:
            arguments[i] = arrays[i][()]
        results = list(dispatcher(*arguments, *constants))
        for i, dtype in scalar_outputs:
            results[i] = np.array(results[i], dtype=dtype)
        for i in may_alias:
            if any(np.may_share_memory(results[i], a) for a in (*arrays, *constants)):
                results[i] = results[i].copy()
        for i in duplicates:
            results[i] = results[i].copy()
        return results

    return run


def _may_alias(node: Node) -> bool:
    """Leaves, views and kernels may return (a view of) an argument; loops never do."""
    op = node.op
    return op.scalar is None and op.reduction is None and op.rows is None
