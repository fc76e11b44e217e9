"""The numba backend for graphs holding loops: each scan body compiled, the loop itself jitted.

Owns `compile_with_loops(inputs, outputs) -> (runner, source, stats)`, used by
`graphc.api` when a graph holds a `scan` or `while_loop` node. A scan body is
compiled like any graph (lower -> Numba, disk-cached) into one function of
(carries, x slices, consts); a small generated driver, jitted too, runs the
`for` loop around it: it slices xs, passes carries on and writes each step's
outputs (and, for a reverse pass, the carry each step received) into buffers
allocated once before the loop. Neither the body nor the driver depends on
the number of steps, so compile time is flat in T.

What runs where (stated in docs/scan.md): the loops run compiled; the code
around them (slicing, the loss, what the loops' results feed) runs in the
NumPy interpreter; a `while_loop`, the reverse loop of a checkpointed scan
(it rebuilds carries from checkpoints) and a body that holds
a loop of its own run as a Python loop of compiled steps (inner loops
compiled), as does the rare call whose output sizes are known only by running
a step. Imports: interpret, shapes, subgraph,
control.run, backend.jit/lower (layer L4); numba lazily.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import interpret, shapes
from ..errors import GraphcError, ShapeError
from ..ir import Node, toposort
from ..lowering import Loop
from ..subgraph import Subgraph, subgraphs_of
from . import cache, numba_hooks
from .jit import _jit, prepare
from .runtime import JIT_OPTIONS
from .scan_codegen import body_step, drivers, loop_names


def holds_loops(outputs: Sequence[Node]) -> bool:
    """Whether the graph has a node that runs a loop (scan, while_loop)."""
    return any(isinstance(node.op.lowering, Loop) for node in toposort(outputs))


def _driver_source(body: Subgraph, history: bool, range_flag: bool, constants: int) -> str:
    """The jitted loop around the compiled body, as Python source for Numba."""
    carries, xs, consts, ys, saved = loop_names(body, history, constants)
    arguments = ["count", "reverse", "every"] + carries + xs + consts + ys + saved
    lines = [f"def drive({', '.join(arguments)}):", "    flag = 0",
             "    for s in range(count):", "        t = count - 1 - s if reverse else s"]
    if saved:  # every carry by data index, or (checkpoint=every) each every-th in loop order
        lines.append("        if s % every == 0:")
        lines.append("            saved_at = t if every == 1 else s // every")
        lines += [f"            {h}[saved_at] = {c}" for h, c in zip(saved, carries)]
    lines += [f"        {line}" for line in body_step("body", body, (carries, xs, consts, ys), range_flag)]
    lines.append(f"    return ({', '.join(carries + ['flag'])},)")
    return "\n".join(lines) + "\n"


@dataclass
class LoopKernel:
    """A compiled scan body and its drivers (with and without saved carries)."""

    body: Subgraph
    dispatcher: Any
    constants: list[np.ndarray]
    range_flag: bool
    source: str
    drivers: dict[bool, Any] = field(default_factory=dict)

    def driver(self, history: bool) -> Any:
        """The jitted loop, from graphc's disk cache like a compiled graph (numba cache=True):
        a second process loads its machine code instead of compiling it again."""
        if history not in self.drivers:
            import numba

            text = ("import numpy as np\n\nbody = None  # the compiled loop body, set before jitting\n\n\n"
                    + _driver_source(self.body, history, self.range_flag, len(self.constants)))
            key = text + self.source + cache.code_version()
            path, _ = cache.store(text, key)
            module = cache.load_module(path, cache.module_name(key))
            setattr(module, "body", self.dispatcher)  # noqa: B010 - the module global the driver calls
            self.drivers[history] = numba.njit(**JIT_OPTIONS)(module.drive)
            numba_hooks.light_cache_loads(self.drivers[history])
        return self.drivers[history]


def _compile_body(body: Subgraph) -> LoopKernel | None:
    """The body as a Numba function; None when it holds a loop itself (run interpreted)."""
    if any(subgraphs_of(node) for node in body.nodes()):
        return None
    from ..ir import Graph
    from ..simplify import simplify_graph

    simplified, _ = simplify_graph(Graph(body.inputs, body.outputs))  # rewrites inside the body
    prepared = prepare(body.inputs, simplified.outputs, kernels=False)  # called from a jitted loop
    dispatcher = _jit(prepared)
    generated = prepared.generated
    return LoopKernel(body, dispatcher, list(generated.constants), bool(generated.range_flag),
                      generated.source)


def _sizes(body: Subgraph, values: Sequence[np.ndarray], binding: dict[str, int]) -> dict[str, int]:
    sizes = dict(binding)
    for node, value in zip(body.inputs, values):
        for axis, size in enumerate(node.shape):
            if isinstance(size, shapes.Dim) and len(size.factors) == 1 and size.coefficient == 1:
                sizes.setdefault(size.factors[0], np.shape(value)[axis])
    return sizes


def _scalar(value: np.ndarray) -> Any:
    """A loop argument as the compiled body takes it: rank 0 as a scalar, else a writable C array
    (a constant's array is read-only, a type the body was not compiled for)."""
    if value.ndim == 0:
        return value[()]
    return value if value.flags.c_contiguous and value.flags.writeable else np.array(value, order="C")


class LoopRunner:
    """Runs scan families with compiled kernels inside interpret.evaluate (its `runners`)."""

    def __init__(self, outputs: Sequence[Node]) -> None:
        self.kernels: dict[int, LoopKernel | None] = {}
        self.failures: list[str] = []  # bodies Numba could not compile (run interpreted)
        self.seconds = 0.0
        for node in toposort(outputs):
            if isinstance(node.op.lowering, Loop):
                self._kernel(node.attr["body"])
        self.runners = {"scan": self.run_scan, "while_loop": self.run_while}

    def _kernel(self, body: Subgraph) -> LoopKernel | None:
        if body.number not in self.kernels:
            start = time.perf_counter()
            try:
                self.kernels[body.number] = _compile_body(body)
            except GraphcError as exc:  # Numba cannot compile it: the interpreter runs its steps
                self.kernels[body.number] = None
                self.failures.append(f"{body!r}: {exc}")
            self.seconds += time.perf_counter() - start
        return self.kernels[body.number]

    def run_scan(self, members: list[Node], arguments: list[np.ndarray],
                 binding: dict[str, int]) -> list[np.ndarray]:
        from ..control import run
        from ..control.scan import checkpoints_of

        attrs = members[0].attr
        body, reverse = attrs["body"], attrs["reverse"]
        wanted = [m.attr["output"] for m in members]
        length = shapes.resolve_attr(attrs["length"], binding)
        kernel = self._kernel(body)
        checkpoints = checkpoints_of(attrs)
        if kernel is not None and checkpoints.forward is None:  # not a loop rebuilding carries
            result = self._compiled(kernel, arguments, length, reverse, wanted, binding,
                                    checkpoints.every)
            if result is not None:
                return result
        if checkpoints.forward is not None:
            self._kernel(checkpoints.forward)
        # A reverse loop rebuilding carries (and the rare fallbacks): a Python loop of compiled steps.
        return run.run_loop(body, arguments, length, reverse, wanted, self._step, binding,
                            checkpoints)

    def _step(self, body: Subgraph, values: list[np.ndarray], sizes: dict[str, int]) -> list[np.ndarray]:
        """One step of a body: its compiled function, else the interpreter (inner loops compiled)."""
        kernel = self.kernels.get(body.number)
        if kernel is not None:
            results = list(kernel.dispatcher(*[_scalar(np.asarray(v)) for v in values],
                                             *kernel.constants))
            if not (kernel.range_flag and results.pop()):
                return [np.asarray(r) for r in results]
        return interpret.evaluate(body.outputs, dict(zip(body.inputs, values)), sizes,
                                  runners=self.runners)

    def run_while(self, members: list[Node], arguments: list[np.ndarray],
                  binding: dict[str, int]) -> list[np.ndarray]:
        """A while_loop: a Python loop of compiled steps (the body also gives cond(carry))."""
        body = members[0].attr["body"]
        carries, consts = list(arguments[:body.carries]), list(arguments[body.carries:])
        while True:
            results = self._step(body, carries + consts, binding)
            if not bool(results[-1]):
                break
            carries = results[:-1]
        return [np.array(carries[m.attr["output"]], copy=True) for m in members]

    def _compiled(self, kernel: LoopKernel, arguments: list[np.ndarray], length: Any, reverse: bool,
                  wanted: list[tuple[str, int]], binding: dict[str, int],
                  every: int = 1) -> list[np.ndarray] | None:
        """The loop by the jitted driver; None when an output size is known only by running."""
        body = kernel.body
        nc, nx = body.carries, body.xs
        carries, xs, consts = arguments[:nc], arguments[nc:nc + nx], arguments[nc + nx:]
        count = xs[0].shape[0] if xs else int(length)
        if any(x.shape[0] != count for x in xs):
            raise ShapeError(f"scan: xs entries have {count} and {[x.shape[0] for x in xs]} steps")
        slices = [np.zeros(x.shape[1:], x.dtype) for x in xs]
        sizes = _sizes(body, list(carries) + slices + list(consts), binding)
        try:
            ys = [np.empty((count,) + shapes.resolve(y.shape, sizes), y.dtype)
                  for y in body.outputs[nc:]]
        except ShapeError:
            return None
        history = any(kind == "history" for kind, _ in wanted)
        saved = [np.empty((-(-count // every),) + c.shape, c.dtype) for c in carries] if history else []
        drive = kernel.driver(history)
        results = drive(count, bool(reverse), every, *[_scalar(c) for c in carries],
                        *[_scalar(x) for x in xs], *[_scalar(k) for k in consts],
                        *kernel.constants, *ys, *saved)
        if results[-1]:  # a sin/cos argument beyond the fast kernels' range: exactly, by NumPy
            return None
        finals = [np.array(r, dtype=c.dtype, copy=True) for r, c in zip(results[:-1], carries)]
        chosen = {"carry": finals, "ys": ys, "history": saved}
        return [chosen[kind][index] for kind, index in wanted]


def _emittable(outputs: Sequence[Node]) -> str | None:
    """Why the graph's loops cannot all be part of its generated function, or None."""
    for node in toposort(outputs):
        loop = node.op.lowering
        if not isinstance(loop, Loop):
            continue
        if not loop.steps_known:
            return "a while_loop (its number of steps is known only when it runs)"
        if node.attr.get("recompute") is not None:
            return "the reverse loop of a checkpointed scan (it rebuilds carries)"
        if any(subgraphs_of(n) for n in node.attr["body"].nodes()):
            return "a loop body holding a loop of its own"
    return None


def compile_with_loops(inputs: Sequence[Node], outputs: Sequence[Node],
                       names: Sequence[str | None] | None = (), structure: str = "list",
                       requirements: Sequence[Any] | None = None, parallel: bool = False,
                       ) -> tuple[Any, str, dict[str, Any], Any]:
    """(runner, source, stats, fast call or None) for a graph holding loops.

    The whole graph as one generated module (backend/scan_codegen.py: each
    loop a jitted `for` loop around its body, called from the graph's
    function) when every loop allows it; else the loops compiled apart and
    the code around them run by the NumPy interpreter (`interpreted_around`).
    """
    why = _emittable(outputs)
    if why is None:
        from .jit import compile_graph

        start = time.perf_counter()
        try:
            compiled = compile_graph(inputs, outputs, names, structure, requirements, parallel)
        except GraphcError as exc:  # a loop scan_codegen cannot emit, or Numba refused it
            why = str(exc)
        else:
            stats = compiled.stats.as_dict()
            stats["loops"] = {"mode": "compiled with the graph", "compiled": drivers(outputs),
                              "interpreted": [], "seconds": time.perf_counter() - start}
            return compiled.runner, compiled.source, stats, compiled.fast
    runner, source, stats = interpreted_around(inputs, outputs)
    stats["loops"]["why"] = why
    return runner, source, stats, None


def interpreted_around(inputs: Sequence[Node], outputs: Sequence[Node]) -> tuple[Any, str, dict[str, Any]]:
    """(runner, source, stats): the loops compiled apart, the code around them interpreted."""
    loops = LoopRunner(outputs)

    def runner(arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        results = interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding,
                                     runners=loops.runners)
        return [np.array(r, copy=True) if r.base is not None or not r.flags.writeable else r
                for r in results]

    from ..printing import format_graph

    parts = [format_graph(outputs, inputs)]
    for number, kernel in loops.kernels.items():
        if kernel is not None:
            parts.append(f"# loop body body#{number}, compiled; run by a jitted driver:\n"
                         + _driver_source(kernel.body, False, kernel.range_flag, len(kernel.constants))
                         + kernel.source)
    stats = {"backend": "numba", "loops": {"mode": "compiled apart, the code around them interpreted",
                                           "bodies": len(loops.kernels),
                                           "compiled": sum(k is not None for k in loops.kernels.values()),
                                           "seconds": loops.seconds, "interpreted": loops.failures}}
    return runner, "\n\n".join(parts), stats
