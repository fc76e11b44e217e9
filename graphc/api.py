"""User verbs that wire the stages together: `compile` and the `Function` it returns.

`compile` checks the inputs/outputs a user hands it, picks a backend and
returns a `Function` whose `__call__` validates arguments (count, dtype,
shape, named sizes) before running. Imports: everything below (layer L5).
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import calling, interpret, notices, printing, serialize
from .autodiff import gradient_name
from .errors import GraphcError, api_boundary, user_origin
from .ir import Graph, Node, toposort
from .ops import as_tensor
from .simplify import simplify_graph

Runner = Callable[[list[np.ndarray], dict[str, int]], list[np.ndarray]]


@dataclass
class Function:
    """A compiled graph: call it with arrays, read `.source`, `.graph`, `.stats`."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    structure: str  # "single", "list" or "tuple": how the call returns outputs
    backend: str
    runner: Runner
    source_text: str | Callable[[], str]  # a function: made on first read (tiered start)
    stats: dict[str, Any] = field(default_factory=dict)
    # Builds the checked fast __call__ from the general path (calling.py,
    # make_fast_call); None: every call takes the general path.
    fast: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None
    requirements: list[calling.Requirement] | None = None  # size equalities to check per call
    # How compile built it (backend, names, tiered, parallel): what a pickle
    # carries, with the graph, to build it again in another process.
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.requirements is None:
            self.requirements = calling.collect_constraints(self.outputs)
        self._constraints = self.requirements
        self._install_fast()

    def _install_fast(self) -> None:
        if self.fast is not None:
            # Python looks __call__ up on the type: a class of its own lets this
            # Function's call be the generated function itself, no wrapper frame.
            call = self.fast(self._general)
            self.__class__ = type("Function", (Function,), {
                "__call__": staticmethod(call), "__module__": __name__,
                "__doc__": Function.__doc__})

    def switch_to(self, runner: Runner, fast: Callable[[Callable[..., Any]], Callable[..., Any]]
                  | None) -> None:
        """The tiered start's switch (backend/tiered_process.py): from now on calls run the
        compiled code through its fast call, exactly as a Function compiled without tiers."""
        self.runner, self.fast = runner, fast
        self._install_fast()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._general(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the graph and the options, not machine code: the receiving process
        compiles again through the disk cache (graphc/portable.py), so a Function
        travels to multiprocessing, joblib and Dask workers."""
        from . import portable

        settle = getattr(self.runner, "settle", None)
        if settle is not None:  # a tiered start: let the worker finish, so the receiver loads
            settle()
        return portable.rebuild, (portable.state_of(self),)

    def _general(self, *args: Any, **kwargs: Any) -> Any:
        """Any call: arguments by position or name, converted and checked (calling.py)."""
        values = calling.order_arguments(self.inputs, args, kwargs)
        arrays = [calling.coerce(node, value) for node, value in zip(self.inputs, values)]
        binding = calling.bind(self.inputs, arrays, self._constraints)
        results = self.runner(arrays, binding)
        if self.structure == "single":
            return results[0]
        return tuple(results) if self.structure == "tuple" else list(results)

    @property
    def source(self) -> str:
        """The generated code (numba backend) or the printed graph (numpy backend)."""
        if not isinstance(self.source_text, str):
            self.source_text = self.source_text()
        return self.source_text

    @property
    def graph(self) -> Any:
        """The optimized graph as a networkx.DiGraph (outputs keyed by their names: d_W, ...)."""
        from .viz import to_networkx

        return to_networkx(self)

    def __repr__(self) -> str:
        names = ", ".join(str(i.name) for i in self.inputs)
        count = len(self.outputs)
        outputs = f"{count} output{'' if count == 1 else 's'}"
        return f"<graphc.Function ({names}) -> {outputs}, backend={self.backend}>"


def _simplified(inputs: tuple[Node, ...], outputs: Sequence[Node],
                on_miss: Callable[[], None] | None = None) -> tuple[tuple[Node, ...], dict[str, Any]]:
    """simplify_graph's result, kept in the cache directory under the graph's digest.

    A fresh process compiling the graph it compiled before loads the
    simplified graph (~10 ms for 3000 nodes) instead of simplifying again
    (~0.2 s): most of what stands between a warm start and its first result
    (serialize.py). The key covers the graph as built (ops, values, names,
    source lines), graphc's own code, NumPy's version and the constants the
    simplifier's passes declare (SIMPLIFY_SETTINGS). An entry carries an
    HMAC under a per-user key kept outside the cache (backend/signed.py),
    checked before unpickling: one that fails it (forged, foreign, torn) or
    cannot be loaded is simplified again and rewritten; an unwritable
    directory only costs time. `on_miss` is called before simplifying a graph
    the cache does not hold (the tiered start's early worker: _compile).
    """
    from .backend import signed
    from .backend.lowered_cache import SIMPLIFY_SETTINGS, declared_settings

    start = time.perf_counter()
    try:  # the simplifier's declared constants too: a user may change one at run time
        key = serialize.digest(inputs, outputs, _code_version() + repr(declared_settings(SIMPLIFY_SETTINGS)))
    except (pickle.PicklingError, TypeError, AttributeError):  # an attr pickle cannot hold
        simplified, outcome = simplify_graph(Graph(inputs, tuple(outputs)))
        return tuple(simplified.outputs), dict(outcome.as_dict(), cached=False)
    payload = signed.load_graph(key)  # authenticated (HMAC) before anything is unpickled
    if payload is not None:
        try:
            loaded, report = serialize.loads(payload, inputs)
        except Exception:  # noqa: BLE001, S110 - a stale entry: simplify again
            pass
        else:
            return tuple(loaded), dict(report, cached=True, seconds=time.perf_counter() - start)
    if on_miss is not None:
        on_miss()
    simplified, outcome = simplify_graph(Graph(inputs, tuple(outputs)))
    report = outcome.as_dict()
    try:
        signed.save_graph(key, serialize.dumps(inputs, simplified.outputs, report))
    except (pickle.PicklingError, TypeError, AttributeError):
        pass  # a graph pickle cannot hold: compiling still works
    return tuple(simplified.outputs), dict(report, cached=False)


def _code_version() -> str:
    """graphc's source and NumPy's version: a simplified graph depends on both."""
    return serialize.code_version()


def _normalize_inputs(inputs: Any) -> tuple[Node, ...]:
    items = [inputs] if isinstance(inputs, Node) else list(inputs)
    seen: dict[str, Node] = {}
    for item in items:
        if not isinstance(item, Node) or item.op.name != "input":
            raise GraphcError(f"compile's inputs must be gc.input tensors, got {item!r}")
        if item.name in seen and seen[item.name] is not item:
            raise GraphcError(f"two different inputs are named {item.name!r}")
        if item.name in seen:
            raise GraphcError(f"input {item.name!r} is listed twice")
        seen[str(item.name)] = item
    return tuple(items)


def _normalize_outputs(outputs: Any) -> tuple[tuple[Node, ...], str]:
    if isinstance(outputs, (list, tuple)):
        if not outputs:
            raise GraphcError("compile needs at least one output; got an empty "
                              f"{type(outputs).__name__}")
        structure = "tuple" if isinstance(outputs, tuple) else "list"
        return tuple(as_tensor(o) for o in outputs), structure
    return (as_tensor(outputs),), "single"


def _output_names(names: Any, outputs: tuple[Node, ...]) -> list[str | None]:
    """One name per output: the user's, else `d_<input>` for a gradient, else None."""
    given = [None] * len(outputs) if names is None else [names] if isinstance(names, str) else list(names)
    if len(given) != len(outputs):
        raise GraphcError(f"compile got {len(given)} names for {len(outputs)} outputs")
    for name in given:
        if name is not None and not isinstance(name, str):
            raise GraphcError(f"compile's names must be strings or None, got {name!r}")
    return [name if name is not None else gradient_name(node) for name, node in zip(given, outputs)]


def _check_closed(inputs: tuple[Node, ...], outputs: tuple[Node, ...]) -> None:
    declared = set(inputs)
    for node in toposort(outputs):
        if node.op.name == "input" and node not in declared:
            raise GraphcError(
                f"the outputs depend on input {node.name!r} (built at {node.origin}), "
                "which is not in compile's inputs list")


def numpy_runner(inputs: tuple[Node, ...], outputs: tuple[Node, ...]) -> Runner:
    """The NumPy backend's call (also the tiered start's first tier). A graph with a matrix
    product OpenBLAS would thread runs with one BLAS thread on a busy machine, as the numba
    backend does (backend/blas_threads.py): with two threads spinning against other load the
    MLP classifier of issue 17 took 46-113 ms per call here, with one 4-6 ms."""
    def run(arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        results = interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding)
        return [np.array(r, copy=True) if r.base is not None or not r.flags.writeable else r
                for r in results]
    from .backend import blas_threads  # imports no numba

    if blas_threads.wants_one_thread(toposort(outputs)):
        return blas_threads.one_thread(run)  # type: ignore[no-any-return]
    return run


def compile(inputs: Any, outputs: Any, *, backend: str = "numba",  # noqa: A001
            simplify: bool = True, names: Any = None, tiered: bool | str | None = None,
            parallel: bool = False, verbose: bool | None = None) -> Function:
    """Compile a graph into a callable: one call returns every output.

    The graph is simplified first (graphc.simplify) unless simplify=False;
    `f.stats["simplify"]` then holds node counts and times per pass.
    `names` optionally names the outputs in the generated source; by default a
    gradient from gc.grad/gc.vjp is named after its input (`d_W`).
    `tiered` (numba backend): None (the default) starts tiered when the machine
    code is not cached yet: calls run the NumPy interpreter while a worker
    process Numba-compiles, then switch (graphc/backend/tiered_process.py); a
    warm cache loads at once. True always tiers, False never (compile before
    returning), "thread" compiles in a thread instead (backend/tiered.py).
    The environment variable GRAPHC_TIERED=0 turns the default off.
    `parallel=True` (numba backend) runs the outer loop of each fused group
    that allows it with `prange` on all cores: about 2x on 2 cores for large
    arrays, but compile takes ~30% longer and each call ~2 us more,
    so it is for big inputs (docs/codegen.md, "Parallel loops").
    A compile that takes more than a second says so, once, with what it is
    compiling and how long it took (graphc/notices.py: INFO records of the
    "graphc" logger, on stderr when logging is not configured);
    `verbose=True` reports every compile, `verbose=False` none.
    """
    where = user_origin()

    def what() -> str:
        roots = [o for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])
                 if isinstance(o, Node)]
        count = len(roots) if isinstance(outputs, (list, tuple)) else 1
        return notices.describe(len(toposort(roots)), count, backend, where)

    resolved = _tiered_default(tiered) if backend == "numba" else False

    def first_kernels() -> bool:
        if backend != "numba" or resolved is not False:  # cold kernels: the default tiers
            return False
        from .backend.cache import kernels_cached

        return not kernels_cached()

    quiet = resolved is True or resolved == "thread"
    with notices.announce(what, first_kernels, False if quiet else verbose) as note:
        function = _compile(inputs, outputs, backend=backend, simplify=simplify, names=names,
                            tiered=tiered, parallel=parallel)
        if function.stats.get("cache_hit"):
            note.details = "machine code from the cache"
    return function


def _compile(inputs: Any, outputs: Any, *, backend: str, simplify: bool, names: Any,
             tiered: bool | str | None, parallel: bool) -> Function:
    """compile() without its notices."""
    input_nodes = _normalize_inputs(inputs)
    output_nodes, structure = _normalize_outputs(outputs)
    _check_closed(input_nodes, output_nodes)
    # Taken from the graph as built: a rewrite may drop the node that implied
    # n == m (x + zeros_like(y)), but the call must still be rejected.
    requirements = calling.collect_constraints(output_nodes)
    names = _output_names(names, output_nodes)
    stats: dict[str, Any] = {"output_names": [  # for pictures (graphc.viz)
        given if given is not None else gradient_name(node)
        for given, node in zip(list(names), output_nodes)]}
    # A graph new to the cache will likely go to a compile worker: start it now, so that
    # its start-up overlaps simplifying and lowering (backend/compile_workers.speculate).
    early = backend == "numba" and _tiered_default(tiered) in (None, True)
    if simplify:
        output_nodes, stats["simplify"] = _simplified(input_nodes, output_nodes,
                                                      _speculate if early else None)
    options = {"backend": backend, "names": names, "tiered": tiered, "parallel": parallel}
    try:
        return build(input_nodes, output_nodes, structure, requirements, stats, options)
    finally:
        if early:
            from .backend import compile_workers

            compile_workers.retract()  # started early, but the graph did not need it


def _speculate() -> None:
    """Start the tiered start's compile worker early (when the cache can take its work)."""
    from .backend import compile_workers

    if _cache_is_shared():
        compile_workers.speculate()


def build(input_nodes: tuple[Node, ...], output_nodes: tuple[Node, ...], structure: str,
          requirements: list[calling.Requirement], stats: dict[str, Any],
          options: dict[str, Any]) -> Function:
    """The Function for a finished (simplified) graph: compile's last step, and what
    an unpickled Function is rebuilt with (graphc/portable.py)."""
    backend, names = options["backend"], options["names"]
    tiered, parallel = options["tiered"], options["parallel"]
    from .control.scan import saved_bytes

    saved = saved_bytes(output_nodes)  # carries loops keep for a reverse pass (docs/scan.md)
    if saved is not None:
        stats["saved_bytes"] = saved
    if backend == "numpy":
        source = printing.format_graph(output_nodes, input_nodes)
        return Function(input_nodes, output_nodes, structure, backend,
                        numpy_runner(input_nodes, output_nodes), source, stats,
                        requirements=requirements, options=options)
    if backend == "numba" and _holds_loops(output_nodes):  # docs/scan.md "Backends"
        compile_with_loops = _loop_compiler()
        runner, source_text, loop_stats, fast = compile_with_loops(
            input_nodes, output_nodes, names, structure, requirements, parallel)
        stats.update(loop_stats)
        return Function(input_nodes, output_nodes, structure, backend, runner, source_text,
                        stats, fast, requirements=requirements, options=options)
    tiered = _tiered_default(tiered) if backend == "numba" else tiered
    if backend == "numba" and tiered is not False and tiered != "thread":
        return _process_tiered(input_nodes, output_nodes, structure, requirements, stats,
                               options, force=tiered is True)
    if backend == "numba" and tiered == "thread":
        from .backend.tiered import compile_tiered

        tiered_runner, make_source = compile_tiered(
            input_nodes, output_nodes, names, structure, requirements,
            numpy_runner(input_nodes, output_nodes), stats, parallel)
        return Function(input_nodes, output_nodes, structure, backend, tiered_runner,
                        make_source, stats, None, requirements, options)
    if backend == "numba":
        from .backend.jit import compile_graph

        compiled = compile_graph(input_nodes, output_nodes, names, structure, requirements, parallel)
        stats.update(compiled.stats.as_dict())
        return Function(input_nodes, output_nodes, structure, backend, compiled.runner,
                        compiled.source, stats, compiled.fast, requirements, options)
    raise GraphcError(f"unknown backend {backend!r}; expected 'numba' or 'numpy'")


def _loop_compiler() -> Any:
    """backend/scan_loops.compile_with_loops. Its import brings the code generator and the
    loop emitter: recorded as graphc imported them, so a graph's lowered-cache key
    (backend/lowered_cache.tunables) is the same whether or not the process compiled a loop."""
    from .backend import lowered_cache

    before = lowered_cache.loaded()
    from .backend.scan_loops import compile_with_loops

    lowered_cache.remember(before)
    return compile_with_loops


def _holds_loops(outputs: tuple[Node, ...]) -> bool:
    """backend/scan_loops.holds_loops without importing scan_loops (and the loop code
    generator it brings, ~10-20 ms of a cold process) for the graphs that hold no loop."""
    from .lowering import Loop

    return any(isinstance(node.op.lowering, Loop) for node in toposort(outputs))


def _tiered_default(tiered: bool | str | None) -> bool | str | None:
    """`tiered` as given, or for None what GRAPHC_TIERED says (0/false/off: never,
    1/process: always, thread: the thread tier; unset: auto)."""
    if tiered not in (None, True, False, "thread", "process"):
        raise GraphcError(f"compile's tiered must be None, True, False or 'thread', got {tiered!r}")
    if tiered is None:
        setting = os.environ.get("GRAPHC_TIERED", "").strip().lower()
        if setting in ("0", "false", "off", "no"):
            return False
        if setting in ("1", "true", "on", "yes", "process"):
            return True
        if setting == "thread":
            return "thread"
    return True if tiered == "process" else tiered


def _cache_is_shared() -> bool:
    """Whether the configured cache directory is the one compiled code goes to. When it is
    untrusted or unwritable (backend/trust.py), code goes to a private per-process directory
    that a worker process cannot fill for us, and its locks would sit in a directory others
    control: compile here instead, as tiered=False does."""
    from .backend import cache, trust

    configured = cache.cache_dir()
    return trust.directory(configured) == Path(os.path.abspath(configured.expanduser()))


def _process_tiered(input_nodes: tuple[Node, ...], output_nodes: tuple[Node, ...],
                    structure: str, requirements: list[calling.Requirement],
                    stats: dict[str, Any], options: dict[str, Any], force: bool) -> Function:
    """The tiered start in a worker process (backend/tiered_process.py); a graph whose
    machine code is cached loads at once (today's path), and one the direct path compiles
    in a fraction of a second compiles here, unless `force` (tiered=True)
    (docs/codegen.md, "Tiered start in a process")."""
    from .backend.jit import finish, prepare
    from .backend.tiered_process import ProcessTier, compiles_quickly, is_warm

    prepared = prepare(input_nodes, output_nodes, options["names"], options["parallel"],
                       load=False)
    if (not force and (is_warm(prepared) or compiles_quickly(prepared))) or not _cache_is_shared():
        compiled = finish(prepared, structure, requirements)
        stats.update(compiled.stats.as_dict())
        return Function(input_nodes, output_nodes, structure, "numba", compiled.runner,
                        compiled.source, stats, compiled.fast, requirements, options)
    before = dict(stats)  # the simplifier's report and output names
    runner = ProcessTier(prepared, structure, requirements,
                         numpy_runner(input_nodes, output_nodes), stats)
    function = Function(input_nodes, output_nodes, structure, "numba", runner, runner.source,
                        stats, None, requirements, options)
    runner.on_switch = function.switch_to
    from .portable import state_of

    try:
        runner.start(state_of(function))
    except (GraphcError, OSError):  # a value pickle cannot hold, no temporary directory:
        # the worker cannot get the graph; compile here, as tiered=False does
        compiled = finish(prepared, structure, requirements)
        stats.clear()
        stats.update(before, **compiled.stats.as_dict())
        return Function(input_nodes, output_nodes, structure, "numba", compiled.runner,
                        compiled.source, stats, compiled.fast, requirements, options)
    return function


# A graphc error from compile reaches the user with the user's frames only.
compile = api_boundary(compile)  # noqa: A001
