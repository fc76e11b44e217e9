"""Store, import and Numba-compile a lowered graph: `compile_graph -> Compiled`.

Owns: writing the generated module to the disk cache and importing it
(`prepare`, which takes a graph's lowering from lowered_cache.py when this
cache lowered the same graph before), `numba.njit(signature, cache=True,
error_model="numpy")` on its function (`finish`), and the typed results
`Prepared`, `Compiled` and `CompileStats` (`CompileStats.as_dict()` is what
`f.stats` shows). Imports: lowered_cache, cache, runtime (JIT_OPTIONS,
LINKING), calling (the runner and fast call); lower (and with it the code
generator) only on a miss; numba lazily. Entry point: `compile_graph`, used by
`graphc.api.compile`; tiered.py uses `prepare`/`finish` separately.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import calling
from ..errors import GraphcError
from ..ir import Node
from . import (
    blas_threads,
    cache,
    concurrency,
    fork_compile,
    lowered_cache,
    numba_hooks,
    recovery,
    reroll_guard,
)
from .direct.kernel import CLOCK as DIRECT_CLOCK
from .direct.kernel import stand_in_for
from .runtime import COMPILE_CLOCK, JIT_OPTIONS, LINKING, compile_lean

if TYPE_CHECKING:
    from .lower import Lowered


@dataclass(frozen=True)
class CompileStats:
    """What a Numba compile did: `f.stats` is `as_dict()` (plus the simplifier's record)."""

    cache_hit: bool  # Numba's machine code came from its disk cache
    source_cached: bool  # the generated module was already in graphc's cache
    cache_path: str
    seconds: dict[str, float]  # schedule, codegen, import, numba
    groups: int  # fused loop nests
    parts: int  # njit functions the body is split into
    nodes: int
    kernels_outlined: bool
    interpreted_groups: int
    instructions: int
    parallel: bool
    fast_call: bool
    kernels: int = 0  # kernel mode: shared fused kernels the graph calls (0: one njit function)
    kernels_new: int = 0  # of which this cache had no module yet
    lowered_cached: bool = False  # schedule and code came from lowered_cache (no codegen ran)

    def as_dict(self) -> dict[str, Any]:
        # `seconds` itself, not a copy: in kernel mode the first call adds the kernels' compile
        return {"backend": "numba", **asdict(self), "seconds": self.seconds}


@dataclass
class Prepared:
    """The generated module, written (and imported unless deferred), before Numba compiles it.

    tiered.py defers the import too: importing the module imports its
    helpers, which imports numba.
    """

    inputs: Sequence[Node]
    outputs: Sequence[Node]
    lowered: Lowered
    path: Path
    found: bool  # the source file was already in the cache
    module: Any
    seconds: dict[str, float]
    kernels: list[tuple[Any, Path, bool]] = field(default_factory=list)  # (Kernel, path, found)
    name: str | None = None  # the lowering's name in the cache (lowered_cache.key)

    @property
    def generated(self) -> Any:
        return self.lowered.generated


@dataclass(frozen=True)
class Compiled:
    """A compiled graph: the checked runner, the fast call builder (or None), and stats."""

    runner: calling.Runner
    fast: Callable[[Callable[..., Any]], Callable[..., Any]] | None
    source: str
    stats: CompileStats


def compile_graph(inputs: Sequence[Node], outputs: Sequence[Node],
                  output_names: Sequence[str | None] | None = (),
                  structure: str = "list", requirements: Sequence[Any] | None = None,
                  parallel: bool = False, kernels: bool | None = None) -> Compiled:
    """Lower, store, import and jit. `requirements` are the size equalities the
    fast call checks (by default the graph's own); api.compile passes those of
    the graph as the user built it, which simplification may have rewritten away.
    `kernels`: kernel mode on/off (None: codegen decides; warmup.py forces it off)."""
    return finish(prepare(inputs, outputs, output_names, parallel, kernels=kernels), structure,
                  requirements)


def prepare(inputs: Sequence[Node], outputs: Sequence[Node],
            output_names: Sequence[str | None] | None = (), parallel: bool = False,
            load: bool = True, kernels: bool | None = None) -> Prepared:
    """Lower (or find the lowering in the cache), write to the cache and (if `load`) import:
    no Numba compile yet."""
    start = time.perf_counter()
    before = lowered_cache.loaded()
    name = lowered_cache.key(inputs, outputs, output_names, parallel, kernels)
    lowered = lowered_cache.load(name, outputs)
    looked = time.perf_counter() - start
    if lowered is None:
        from .lower import lower

        lowered = lower(inputs, outputs, output_names, parallel, kernels)
        saving = time.perf_counter()
        lowered_cache.remember(before)  # what this lowering imported: as its source has it
        lowered_cache.save(name, lowered)
        looked += time.perf_counter() - saving
    lowered.seconds["lowered_cache"] = looked
    start = time.perf_counter()
    key = lowered.generated.source + cache.code_version()  # helpers are linked in: part of the key
    path, found = cache.store(lowered.generated.source, key)
    stored = []
    for kernel in lowered.generated.kernels:
        stored.append((kernel, *_store_kernel(kernel)))
    module = _load(path, cache.module_name(key)) if load else None
    seconds = dict(lowered.seconds, **{"import": time.perf_counter() - start})
    return Prepared(inputs, outputs, lowered, path, found, module, seconds, stored, name)


def _store_kernel(kernel: Any) -> tuple[Path, bool]:
    """A shared kernel's module in the cache, keyed by its text alone (and the linked code)."""
    return cache.store(kernel.source, kernel.source + cache.code_version())


def loop_functions(function_name: str, names: Any) -> list[str]:
    """scan_codegen.loop_functions: the generated loop functions among a module's names.

    Only a graph that holds loops has them, and those compile through scan_loops, which
    imports scan_codegen; importing it here would import the code generator (scan_codegen
    registers its emitter there), which a graph whose lowering came from the cache
    (lowered_cache.py) does without.
    """
    scan_codegen = sys.modules.get(f"{__package__}.scan_codegen")
    return [] if scan_codegen is None else scan_codegen.loop_functions(function_name, names)  # type: ignore[no-any-return]


def _load(path: Path, name: str) -> Any:
    return cache.load_module(path, name)  # a damaged .pyc is removed, not a traceback


def _numba_type(dtype: np.dtype, ndim: int) -> Any:
    from numba import from_dtype, types

    scalar = from_dtype(np.dtype(dtype))
    return scalar if ndim == 0 else types.Array(scalar, ndim, "C")


def _jit(prepared: Prepared) -> Any:
    """The Numba dispatcher of the prepared module's function, compiled for its signature."""
    import numba

    generated, module, path = prepared.generated, prepared.module, prepared.path
    signature = tuple([_numba_type(i.dtype, i.ndim) for i in prepared.inputs]
                      + [_numba_type(c.dtype, c.ndim) for c in generated.constants])
    options = _options(parallel=generated.parallel)
    parts = [f"{generated.function_name}_part{n}" for n in range(generated.parts)
             if generated.parts > 1] + loop_functions(generated.function_name, vars(module))
    originals = {part: getattr(module, part) for part in parts}
    function = getattr(module, generated.function_name)

    def build(use_cache: bool) -> Any:  # recovery.jit retries it without the disk cache
        for part in parts:
            setattr(module, part, numba.njit(**dict(options, cache=use_cache))(originals[part]))
        # numba.njit(signature) without compiling in the decorator: a warm load skips
        # Numba's full target set-up (numba_hooks.light_cache_loads)
        dispatcher = numba.njit(**dict(options, cache=use_cache))(function)
        numba_hooks.light_cache_loads(dispatcher)
        dispatcher.compile(signature)
        dispatcher.disable_compile()
        return dispatcher

    # Linking reads LINKING.outline_kernels; it runs under Numba's compiler lock.
    with numba.core.compiler_lock.global_compiler_lock, numba_hooks.lean_compile(), \
            LINKING.kernels_outlined(not generated.kernels_inlined):
        try:
            return recovery.jit(build, path, module, parts, fatal=(numba.core.errors.TypingError,))
        except numba.core.errors.TypingError as exc:
            raise GraphcError(
                f"numba could not compile the generated code ({path}): {exc}") from exc


_SHARED: dict[str, Any] = {}  # kernel name -> its Numba dispatcher, once per process


def _options(**extra: Any) -> dict[str, Any]:
    """`numba.njit` options of a generated function: JIT_OPTIONS without the cfunc wrapper.

    Why: numba_hooks/lean.py (nothing calls generated code as a first-class
    function value; each kernel compiled on a cold cache saves ~10% of its time).
    """
    return dict(JIT_OPTIONS, **numba_hooks.lean_options(), **extra)


def _shared_kernel(kernel: Any, path: Path) -> Any:
    """The dispatcher of a shared fused kernel; it compiles (or loads) on its first call.

    A kernel with many scalar-kernel call sites links them `noinline` (see
    runtime.LINKING): its compile holds Numba's lock with the flag set.
    """
    if kernel.name in _SHARED:
        return _SHARED[kernel.name]
    import numba

    module = _load(path, path.stem)
    calls = getattr(kernel, "calls", None)  # a re-rolled loop (codegen/reroll.py): its kernels first
    for callee in calls or ():
        setattr(module, callee, _SHARED[callee])
    try:
        recovery.numba_can_cache(path)  # else Numba would cache in its own per-user directory
        use_cache = True
    except OSError as exc:
        recovery.give_up(path, exc)
        use_cache = False
    dispatcher = numba.njit(**_options(cache=use_cache))(getattr(module, kernel.name))
    numba_hooks.unliteral_calls(dispatcher)  # a rerolled loop's `f(20, ...)`: the Python call's compile
    # order matters: the guard wraps the light load, so a foreign entry is caught either way
    numba_hooks.light_cache_loads(dispatcher)
    recovery.guard_lazy(dispatcher, path, module)  # a damaged or foreign cache entry: compile
    recovery.lazy(dispatcher, path, numba_hooks.disable_disk_cache,
                  fatal=(numba.core.errors.TypingError,))
    compile_lean(dispatcher, outlined=not kernel.inline)
    _SHARED[kernel.name] = COMPILE_CLOCK.watch(dispatcher)
    if calls is not None:  # called from Python only; a loop Numba cannot type runs as Python
        _SHARED[kernel.name] = reroll_guard.guarded(dispatcher, getattr(module, kernel.name))
        return _SHARED[kernel.name]
    return dispatcher


class _FirstCall:
    """The kernel-mode graph function; its first call (which compiles the kernels) is timed.

    `seconds` is the graph's `f.stats["seconds"]`: the first call adds the time
    Numba spent compiling or loading the kernels and helpers it needed to
    `numba` (with the time spent waiting for kernels a forked child compiled,
    backend/fork_compile.py; that child's own compile time is
    `numba_second_core`), and its whole duration as `first_call`.
    `new`: (name, dispatcher, scalars returned) of each kernel with no machine code yet.
    """

    def __init__(self, function: Callable[..., Any], seconds: dict[str, float],
                 module: Any = None, new: Sequence[tuple[str, Any, int]] = ()) -> None:
        self.function, self.seconds, self.timed = function, seconds, False
        self.module, self.new = module, list(new)

    def __call__(self, *arguments: Any) -> Any:
        if self.timed:
            return self.function(*arguments)
        start, compiling, direct = time.perf_counter(), COMPILE_CLOCK.seconds, DIRECT_CLOCK["seconds"]
        job = fork_compile.start(self.module, self.new, self.function, arguments) \
            if fork_compile.wanted(len(self.new)) else None
        forking = time.perf_counter() - start  # Numba's set-up (counted in `numba`) and the fork
        undo = job.guard([dispatcher for _, dispatcher, _ in self.new]) if job else None
        try:
            return self.function(*arguments)
        finally:
            if job is not None and undo is not None:
                undo()
                self.seconds["numba_second_core"] = job.child_seconds()
                compiling -= job.waited + forking
                job.finish()
            self.seconds["numba"] = self.seconds.get("numba", 0.0) \
                + COMPILE_CLOCK.seconds - compiling
            if DIRECT_CLOCK["seconds"] > direct:  # kernels the direct path compiled or loaded
                self.seconds["direct"] = DIRECT_CLOCK["seconds"] - direct
            self.seconds["first_call"] = time.perf_counter() - start
            self.timed = True


def _numba_kernel(kernel: Any, path: Path) -> Any:
    """A direct kernel's Numba dispatcher, made when a call needs it: maybe long after the
    link, so its module is stored again if the cache directory lost it meanwhile."""
    if not path.exists():
        path, _ = _store_kernel(kernel)
    return _shared_kernel(kernel, path)


def _link_kernels(prepared: Prepared, seconds: dict[str, float]) -> Any:
    """Kernel mode: put each shared kernel's dispatcher in the graph module; the Python function."""
    loops = loop_functions(prepared.generated.function_name, vars(prepared.module))
    called = {c for kernel, _, _ in prepared.kernels for c in getattr(kernel, "calls", None) or ()}
    direct = {kernel.name: stand_in for kernel, path, _ in prepared.kernels  # a re-rolled loop's
              if not loops and kernel.name not in called  # callees are Numba's (compiled code calls them)
              and (stand_in := stand_in_for(kernel, path, _numba_kernel)) is not None}
    for kernel, _, _ in prepared.kernels:
        if kernel.name in direct:
            direct[kernel.name].install(prepared.module)
    if len(direct) == len(prepared.kernels):  # no Numba compile at all: not even its import
        return _FirstCall(getattr(prepared.module, prepared.generated.function_name), seconds,
                          prepared.module, [])
    LINKING.install()
    import numba

    for name in loops:
        original = getattr(prepared.module, name)
        dispatcher = numba.njit(**_options())(original)
        numba_hooks.light_cache_loads(dispatcher)
        compile_lean(dispatcher)
        setattr(prepared.module, name, COMPILE_CLOCK.watch(dispatcher))
    # The child's run would compile a loop again (scans: loops; re-rolled steps: `calls`).
    forkable = not loops and all(getattr(kernel, "calls", None) is None for kernel, _, _ in prepared.kernels)
    new = []  # kernels a forked child may compile (fork_compile)
    for kernel, path, found in prepared.kernels:
        if kernel.name in direct:
            continue
        dispatcher = _shared_kernel(kernel, path)
        setattr(prepared.module, kernel.name, dispatcher)
        if forkable and not found and _caches(dispatcher):  # its machine code reaches us by the cache
            new.append((kernel.name, dispatcher, kernel.returns))
    return _FirstCall(getattr(prepared.module, prepared.generated.function_name), seconds,
                      prepared.module, new)


def _caches(dispatcher: Any) -> bool:
    """Whether the kernel's machine code goes to Numba's disk cache (not where the directory
    is unwritable: recovery.numba_can_cache), the one way a forked child's compile helps us."""
    try:
        from numba.core.caching import NullCache
    except ImportError:  # another Numba: the child's compiles may still help
        return True
    return not isinstance(getattr(dispatcher, "_cache", None), NullCache)


def import_numba() -> None:
    """Import numba and nothing of graphc (the process tier imports it in a thread after its
    first result, so that the switch does not: backend/tiered_process.py)."""
    import numba  # noqa: F401


def finish(prepared: Prepared, structure: str = "list",
           requirements: Sequence[Any] | None = None) -> Compiled:
    """Numba-compile a prepared module (or load its machine code)."""
    seconds = dict(prepared.seconds)
    if prepared.module is None:  # deferred by prepare(load=False)
        start = time.perf_counter()
        prepared.module = _load(prepared.path, prepared.path.stem)
        seconds["import"] += time.perf_counter() - start
    start = time.perf_counter()
    dispatcher = _link_kernels(prepared, seconds) if prepared.kernels else _jit(prepared)
    seconds["numba"] = time.perf_counter() - start
    generated, inputs, outputs = prepared.generated, prepared.inputs, prepared.outputs
    hits = dispatcher.stats.cache_hits if not prepared.kernels else \
        all(found for _, _, found in prepared.kernels)
    if not generated.parallel and prepared.lowered.one_thread:
        dispatcher = blas_threads.one_thread(dispatcher)  # small products must not wait for spinners
    if generated.parallel:  # thread- and fork-safe on any threading layer
        dispatcher = concurrency.guard(dispatcher, *numba_hooks.threading_layer(), inputs, outputs,
                                       generated.range_flag)
    may_alias = list(prepared.lowered.may_alias)  # leaves, views, some kernels (codegen.fresh)
    fast = calling.make_fast_call(dispatcher, inputs, outputs, generated.constants, structure,
                                  requirements, generated.range_flag, may_alias)
    runner = calling.make_runner(dispatcher, inputs, outputs, generated.constants,
                                 generated.range_flag, may_alias)
    lowered = prepared.lowered
    stats = CompileStats(
        cache_hit=bool(sum(hits.values())) if hasattr(hits, "values") else bool(hits),
        source_cached=prepared.found, cache_path=str(prepared.path), seconds=seconds,
        groups=lowered.groups, parts=generated.parts,
        nodes=lowered.nodes, kernels_outlined=not generated.kernels_inlined,
        interpreted_groups=generated.interpreted, instructions=generated.instructions,
        parallel=generated.parallel, fast_call=fast is not None, kernels=len(prepared.kernels),
        kernels_new=sum(not found for _, _, found in prepared.kernels),
        lowered_cached=lowered.plan is None)
    return Compiled(runner, fast, _readable(prepared), stats)


def _readable(prepared: Prepared) -> str:
    """`f.source`: in kernel mode the kernels' modules first, then the graph's module."""
    texts = [f"# ---- kernel {kernel.name} (a module of its own in the cache)\n{kernel.source}"
             for kernel, _, _ in prepared.kernels]
    header = [f"# ---- {prepared.generated.function_name}, calling them\n"] if texts else []
    return "\n\n".join([*texts, "".join(header) + prepared.generated.source])
