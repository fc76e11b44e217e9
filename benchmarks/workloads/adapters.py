"""Turning one workload's side-by-side definitions into timed callables, one per implementation.

A workload module writes its computation once per tool, in that tool's own
idiom (`hand_numpy`, `hand_numba`, `graphc_graph`, `jax_loss`, `torch_loss`,
`pytensor_graph`); this module does the rest the same way for every workload:
differentiate (gc.grad, jax.value_and_grad, torch.autograd.grad,
pytensor.grad), compile, and wrap one call as `Prepared.run`. Frameworks are
imported lazily inside the builders, so a cold-start child process that times
JAX never imports Numba or graphc, and a missing framework only empties its
column (`Unavailable`). Imports: numpy and the standard library at module level.
Entry point: `standard(module)` -> {implementation name: builder}.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

# Column order of the table, and the labels printed above the columns.
LABELS = {
    "hand_numba": "hand Numba",
    "graphc_numba": "graphc numba",
    "graphc_parallel": "graphc parallel",  # gc.compile(parallel=True): prange on both cores
    "graphc_tiered": "graphc tiered",  # start-up rows only: NumPy answers while Numba compiles
    "graphc_numpy": "graphc numpy",
    "hand_numpy": "hand NumPy",
    "jax": "JAX jit",
    "torch": "torch eager",
    "torch_compile": "torch.compile",
    "pytensor": "PyTensor",
    "pytensor_numba": "PyTensor NUMBA",
}


class Unavailable(Exception):
    """This implementation cannot run here (framework not installed, backend missing); the cell says why."""


@dataclass
class Prepared:
    """One implementation, compiled and ready: `run()` computes every output once (and waits for it)."""

    run: Callable[[], Any]
    to_numpy: Callable[[Any], list[np.ndarray]]
    stats: dict[str, Any] | None = None  # graphc's f.stats (the tiered start-up reads numba_ready)


Builder = Callable[[dict[str, np.ndarray]], Prepared]


def _as_arrays(result: Any) -> list[np.ndarray]:
    return [np.asarray(value) for value in result]


def numpy_impl(function: Callable[..., Any], inputs: dict[str, np.ndarray]) -> Prepared:
    """A plain Python function of the input arrays (hand NumPy)."""
    arrays = list(inputs.values())
    return Prepared(lambda: function(*arrays), _as_arrays)


def njit(function: Callable[..., Any]) -> Any:
    """numba.njit, with the on-disk cache only when the harness set NUMBA_CACHE_DIR (start-up children).

    The timing process compiles in memory so no cache files land in the repository.
    """
    try:
        import numba
    except ImportError as error:
        raise Unavailable("numba not installed") from error
    return numba.njit(cache=bool(os.environ.get("NUMBA_CACHE_DIR")))(function)


def numba_impl(function: Callable[..., Any], inputs: dict[str, np.ndarray]) -> Prepared:
    """A hand-written fused forward+backward, compiled with @njit (the yardstick)."""
    jitted = njit(function)
    arrays = list(inputs.values())
    return Prepared(lambda: jitted(*arrays), _as_arrays)


def graphc_impl(module: ModuleType, inputs: dict[str, np.ndarray], backend: str,
                tiered: bool = False, parallel: bool = False) -> Prepared:
    """graphc: build the loss, gc.grad for every WRT input, gc.compile; a call includes input checks."""
    import graphc as gc

    graph_inputs, loss = module.graphc_graph()
    by_name = {node.name: node for node in graph_inputs}
    gradients = gc.grad(loss, [by_name[name] for name in module.WRT])
    try:
        options: dict[str, Any] = {"tiered": True} if tiered else {"tiered": False}  # compiled code
        if parallel:
            options["parallel"] = True
        function = gc.compile(graph_inputs, [loss, *gradients], backend=backend, **options)
    except (ImportError, ModuleNotFoundError) as error:
        raise Unavailable(f"backend not available: {error}") from error
    arrays = [inputs[node.name] for node in graph_inputs]
    return Prepared(lambda: function(*arrays), _as_arrays, function.stats)


def jax_impl(module: ModuleType, inputs: dict[str, np.ndarray]) -> Prepared:
    """JAX: jit(value_and_grad) over the WRT inputs, inputs already on the device; waits for the result."""
    try:
        import jax
    except ImportError as error:
        raise Unavailable("jax not installed") from error
    jax.config.update("jax_enable_x64", True)  # float64 workloads stay float64; float32 inputs stay float32
    names = list(inputs)
    argnums = tuple(names.index(name) for name in module.WRT)
    step = jax.jit(jax.value_and_grad(module.jax_loss, argnums=argnums))
    arrays = [jax.device_put(value) for value in inputs.values()]

    def run() -> Any:
        return jax.block_until_ready(step(*arrays))

    return Prepared(run, lambda result: [np.asarray(result[0]), *map(np.asarray, result[1])])


def torch_impl(module: ModuleType, inputs: dict[str, np.ndarray], compiled: bool = False) -> Prepared:
    """PyTorch eager autograd (or torch.compile'd forward, whose backward AOTAutograd compiles too)."""
    try:
        import torch
    except ImportError as error:
        raise Unavailable("torch not installed") from error
    tensors = {name: torch.from_numpy(value) for name, value in inputs.items()}
    wrt = [tensors[name].requires_grad_(True) for name in module.WRT]
    loss_function = module.torch_loss
    if compiled:
        try:
            loss_function = torch.compile(loss_function)
            loss_function(*tensors.values())  # compile now, fail here if the toolchain is missing
        except Exception as error:  # noqa: BLE001 - any compile failure just empties the column
            raise Unavailable(f"torch.compile failed: {type(error).__name__}: {error}") from error
    arguments = list(tensors.values())

    def run() -> Any:
        loss = loss_function(*arguments)
        return (loss, *torch.autograd.grad(loss, wrt))

    return Prepared(run, lambda result: [value.detach().numpy() for value in result])


def pytensor_impl(module: ModuleType, inputs: dict[str, np.ndarray], mode: str | None) -> Prepared:
    """PyTensor: pytensor.grad and pytensor.function in its default mode (C) or mode="NUMBA"."""
    try:
        import pytensor
    except ImportError as error:
        raise Unavailable("pytensor not installed") from error
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # graph walks recurse per op: 1000-op chain
    graph_inputs, loss = module.pytensor_graph()
    by_name = {variable.name: variable for variable in graph_inputs}
    gradients = pytensor.grad(loss, [by_name[name] for name in module.WRT])
    options = {} if mode is None else {"mode": mode}
    function = pytensor.function(graph_inputs, [loss, *gradients], **options)
    arrays = [inputs[variable.name] for variable in graph_inputs]
    return Prepared(lambda: function(*arrays), _as_arrays)


def standard(module: ModuleType) -> dict[str, Builder]:
    """The builders a workload module supports, from the functions it defines, in column order."""
    builders: dict[str, Builder] = {}
    if hasattr(module, "hand_numba"):
        builders["hand_numba"] = lambda inputs: numba_impl(module.hand_numba, inputs)
    if hasattr(module, "graphc_graph"):
        builders["graphc_numba"] = lambda inputs: graphc_impl(module, inputs, "numba")
        if getattr(module, "PARALLEL", False):
            builders["graphc_parallel"] = lambda inputs: graphc_impl(module, inputs, "numba",
                                                                     parallel=True)
        builders["graphc_numpy"] = lambda inputs: graphc_impl(module, inputs, "numpy")
    builders["hand_numpy"] = lambda inputs: numpy_impl(module.hand_numpy, inputs)
    if hasattr(module, "jax_loss"):
        builders["jax"] = lambda inputs: jax_impl(module, inputs)
    if hasattr(module, "torch_loss"):
        builders["torch"] = lambda inputs: torch_impl(module, inputs)
        if getattr(module, "TORCH_COMPILE", False):
            builders["torch_compile"] = lambda inputs: torch_impl(module, inputs, compiled=True)
    if hasattr(module, "pytensor_graph"):
        builders["pytensor"] = lambda inputs: pytensor_impl(module, inputs, None)
        builders["pytensor_numba"] = lambda inputs: pytensor_impl(module, inputs, "NUMBA")
    return builders


def max_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float, atol: float) -> str | None:
    """None when every output matches the reference, else which output is off and by how much.

    Each output is compared with np.allclose(rtol, atol * max|reference|): the absolute part
    scales with the output, so float32 sums of cancelling terms are judged fairly.
    """
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for index, (value, reference) in enumerate(zip(got, want)):
        value, reference = np.asarray(value), np.asarray(reference)
        if value.shape != reference.shape:
            return f"output {index}: shape {value.shape}, expected {reference.shape}"
        scale = float(np.max(np.abs(reference))) if reference.size else 0.0
        if not np.allclose(value, reference, rtol=rtol, atol=atol * scale):
            difference = np.abs(value.astype(np.float64) - reference.astype(np.float64))
            worst = int(np.argmax(difference))
            return (f"output {index}: max |difference| {difference.flat[worst]:.3g} at flat index {worst} "
                    f"(got {value.flat[worst]!r}, expected {reference.flat[worst]!r})")
    return None
