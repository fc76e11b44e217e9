"""Cheaper cold Numba compiles of graphc's generated functions: no cfunc wrapper, no wrapper pre-passes.

Owns: `lean_options()` (extra `numba.njit` options for graphc's generated
functions), `install_lean_wrappers()` (the hooks on Numba's function-level
optimisation, its CPython wrapper and its cached type annotation) and
`lean_compile()` (the context in which they apply, with Python's cyclic
garbage collector paused).
Imports: numba and llvmlite internals, lazily; graphc/collector.py. Entry
points: the three functions above, used by backend/jit.py and
runtime.compile_lean around every compile of a fused kernel, a re-rolled
loop, a scan loop body, a one-function graph and graphc's own helpers.

Why: a cold compile of a small fused kernel costs ~0.2 s of CPU, and a deep
MLP's first compile is mostly such kernels (3 at 16 layers) plus Numba's
set-up. Two parts of each compile do nothing for graphc:

- Numba lowers, optimises and emits a *cfunc wrapper* for every function
  (`cfunc._ZN...`), used only when the function is passed as a first-class
  function value to other jitted code. graphc calls its kernels from Python
  (through the CPython wrapper) or links them into jitted callers (through
  the native function); neither uses the cfunc wrapper. `no_cfunc_wrapper`
  (a Numba target option) leaves it out.
- Numba runs LLVM's function-level pipeline on each function of a new module
  before linking (`CPUCodeLibrary._optimize_functions`), then the full
  module pipeline (O3) over everything. For the CPython wrapper (the boxing
  and unboxing of every argument: as large as the kernel itself, named
  `_ZN7cpython...`) the first run is redundant: the module pipeline
  optimises it anyway. Skipping it
  leaves the kernel function's own code identical (its function passes still
  run, which is what shapes its loops; tests/test_backend_lean_compile.py
  compares the optimised IR with and without).

Measured (2026-12-07, one process, the 16-layer MLP's loss kernel compiled
afresh 8 times per variant, CPU time, busy machine): 0.31 s -> 0.28 s without
the cfunc wrapper -> 0.24-0.25 s with both. Without the internals each part
checks for, graphc gets Numba's default compile (correct, slower).

Two more parts of each compile serve nobody on the critical path of a cold
graph: LLVM's optimisation of the CPython wrapper (~7 ms a kernel, for ~3 ns
a call per array argument) and the type annotation Numba renders into every
cache entry (1-3 ms a kernel). Within `lean_compile()` the wrapper is built
`noinline optnone` and the entry holds a one-line annotation
(`_install_unoptimized_wrappers`, `_install_short_annotations`).

Another cost is Python's own: a compile allocates ~36,000 container objects
per small kernel (Numba IR, types, llvmlite instructions), and the cyclic
collector, triggered every 700 allocations, walks them again and again, with
a full collection over every object the process holds (numba, numpy, the
user's data) now and then. `lean_compile()` pauses the collector for the
compile (graphc/collector.py, as simplify and lowering do): a compile's
garbage is then collected once, after it (16-layer MLP step, cold, one
process: 0.61 -> 0.55 s; docs/benchmarks.md, table 48). Only on the main
thread: a compile in another thread runs beside the user's code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from ... import collector
from .state import HOOKS, installed_once

# the names Numba gives a function's wrappers: `cfunc.<mangled>`, `cpython.<qualname>` mangled
_WRAPPERS = ("cfunc.", "cpython.", "_ZN7cpython")
_ACTIVE = [0]  # lean_compile() depth (one thread at a time: it holds Numba's compiler lock)
_OWNER = [0]  # the thread inside lean_compile(): `_inside()`


def lean_options() -> dict[str, Any]:
    """`{"no_cfunc_wrapper": True}` where this Numba's CPU target has the option, else `{}`."""
    if "no_cfunc_wrapper" not in HOOKS:
        try:
            from numba.core.cpu import CPUTargetOptions
        except ImportError:
            HOOKS["no_cfunc_wrapper"] = False
        else:
            HOOKS["no_cfunc_wrapper"] = hasattr(CPUTargetOptions, "no_cfunc_wrapper")
    return {"no_cfunc_wrapper": True} if HOOKS["no_cfunc_wrapper"] else {}


@installed_once("lean_wrappers")
def install_lean_wrappers() -> bool:
    """Within `lean_compile()`, skip the function-level pre-pass on Numba's wrapper functions.

    Wraps the internal `CPUCodeLibrary._optimize_functions(ll_module)`; outside
    `lean_compile()` (a user's own jitted code) it is Numba's. Within it, the
    loop is Numba's own (a function pass manager per defined function) minus
    the functions named `cpython.*` / `cfunc.*`. Should this Numba's pass
    manager API differ (not a `(manager, builder)` pair), Numba's function
    runs. Installed once per process; returns whether the hook applied.
    Installs the wrapper and annotation hooks below too (each on its own).
    """
    _install_unoptimized_wrappers()
    _install_short_annotations()
    from numba.core import codegen as numba_codegen

    library_class: Any = numba_codegen.CPUCodeLibrary
    original: Any = getattr(library_class, "_optimize_functions", None)
    if original is None or not hasattr(getattr(numba_codegen, "JITCPUCodegen", None),
                                       "_function_pass_manager"):
        return False

    def optimize_functions(library: Any, ll_module: Any) -> None:
        if not _inside():
            return original(library, ll_module)
        functions = [f for f in ll_module.functions
                     if not f.is_declaration and not f.name.startswith(_WRAPPERS)]
        managers = []
        for _ in functions:
            pair = library._codegen._function_pass_manager()
            if not (isinstance(pair, tuple) and len(pair) == 2):
                return original(library, ll_module)  # another pass-manager API: Numba's loop
            managers.append(pair)
        ll_module.data_layout = library._codegen._data_layout
        for function, (manager, builder) in zip(functions, managers):
            with library._recorded_timings.record(f"Function passes on {function.name!r}", builder):
                manager.run(function, builder)
        return None

    library_class._optimize_functions = optimize_functions
    return True


@installed_once("unoptimized_wrappers")
def _install_unoptimized_wrappers() -> bool:
    """Within `lean_compile()`, Numba's CPython wrapper is built `noinline optnone`.

    Wraps the internal `PyCallWrapper.build()` (it returns the wrapper's
    llvmlite function first). LLVM's module pipeline then leaves the wrapper
    alone and instruction selection takes its fast path: ~7 ms less per
    kernel (the 16-layer MLP's forward kernel compiled afresh: 0.085 -> 0.078 s
    of CPU), and a call from Python ~3 ns slower per array argument (410 ->
    416 ns with 4), which is the unboxing done by unoptimised code. The
    kernel function itself is not touched. Elsewhere (a user's own jitted
    code) the wrapper is Numba's.
    Whether the hook applied is HOOKS["unoptimized_wrappers"].
    """
    from llvmlite.ir.values import FunctionAttributes
    from numba.core.callwrapper import PyCallWrapper

    original: Any = getattr(PyCallWrapper, "build", None)
    known = getattr(FunctionAttributes, "_known", ())  # llvmlite refuses attributes it lacks
    if original is None or not {"noinline", "optnone"} <= set(known):
        return False

    def build(self: Any) -> Any:
        built = original(self)
        wrapper = built[0] if isinstance(built, tuple) and built else None
        attributes = getattr(wrapper, "attributes", None)
        if _inside() and isinstance(attributes, FunctionAttributes):
            attributes.add("noinline")  # LLVM accepts optnone only beside noinline
            attributes.add("optnone")
        return built

    PyCallWrapper.build = build  # type: ignore[method-assign]
    return True


# What Numba's disk cache keeps for `inspect_types()` of a graphc compile (see below).
SHORT_ANNOTATION = ("graphc keeps no type annotation of its generated functions in the cache "
                    "(graphc/backend/numba_hooks/lean.py); njit the function with cache=False "
                    "and call inspect_types() to see one")


@installed_once("short_annotations")
def _install_short_annotations() -> bool:
    """Within `lean_compile()`, Numba's cache entry holds a one-line type annotation.

    Wraps the internal `TypeAnnotation.__str__`, which Numba calls only to
    print annotations (`inspect_types()`, NUMBA_DUMP_ANNOTATION) and to store
    the text in each cache entry (`CompileResult._reduce`). The text is the
    function's source re-read with `inspect` and tokenized, line by line with
    the type of every variable: 1-3 ms per kernel saved (3 ms for the first,
    which compiles tokenize's patterns), on the critical path of a cold
    graph. Nothing of graphc reads it; a kernel compiled in this process
    still prints its full annotation (the hook applies only inside the
    compile), and so does every compile while Numba is asked to dump them.
    Whether the hook applied is HOOKS["short_annotations"].
    """
    from numba.core import config
    from numba.core.annotations.type_annotations import TypeAnnotation

    original: Any = getattr(TypeAnnotation, "__str__", None)
    if original is None:
        return False

    def annotation(self: Any) -> str:
        if _inside() and not getattr(config, "ANNOTATE", False) \
                and not getattr(config, "HTML", None):
            return SHORT_ANNOTATION
        return str(original(self))

    TypeAnnotation.__str__ = annotation  # type: ignore[method-assign]
    return True


@contextmanager
def lean_compile() -> Iterator[None]:
    """Numba compiles started inside skip their wrappers' function pre-pass, build the
    CPython wrapper unoptimised and cache a one-line type annotation, with the cyclic
    collector paused if this is the main thread (see above).

    Takes Numba's compiler lock first, so a user's compile on another thread
    never runs while the flag is set.
    """
    from numba.core.compiler_lock import global_compiler_lock

    install_lean_wrappers()
    # Only on the main thread: a compile in another thread (the thread tier's, a user's worker)
    # may last seconds while the main thread runs the user's code, whose garbage cycles a
    # process-wide pause would keep; an exit there would also restart a collector the user
    # turned off meanwhile.
    pause = collector.paused() if threading.current_thread() is threading.main_thread() \
        else nullcontext()
    with global_compiler_lock, pause:
        _ACTIVE[0] += 1
        _OWNER[0] = threading.get_ident()
        try:
            yield
        finally:
            _ACTIVE[0] -= 1


def _inside() -> bool:
    """Whether this thread is inside `lean_compile()`. The wrapper and pre-pass hooks run
    under Numba's compiler lock, so only the owner can reach them while `_ACTIVE` is set;
    a type annotation is also printed without it (a user's `inspect_types()` on another
    thread while graphc compiles), hence the owner's thread id."""
    return bool(_ACTIVE[0]) and _OWNER[0] == threading.get_ident()
