"""What generated code imports: graphc's kernels and helpers, jitted on first use.

Owns: `jitted(name)` and the PEP 562 `__getattr__` that let a generated module
write `from graphc.backend.runtime import exp_f64, empty`; `JIT_OPTIONS`, the
Numba options every graphc function is compiled with; `LINKING`, how each
Numba library links into its caller (kernels alwaysinline, parts noinline);
`COMPILE_CLOCK`, the time lazily compiled functions spent compiling.
Imports: kernels and library (plain Python), numba_hooks; numba lazily. It
imports nothing that imports it (the block interpreter's generated module and
its C entry point, backend/interpreter/, sit above it), so there is no cycle.

`error_model="numpy"` makes x/0 give inf/nan like NumPy instead of raising,
and keeps division branch-free so loops vectorize.
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from . import kernels, library, numba_hooks
from .numba_hooks import blas as numba_blas
from .numba_hooks import deferred

JIT_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy"}
FLOAT_SUFFIXES = ("f64", "f32")
SCALAR_KERNELS = tuple(f"{name}_{suffix}" for name in kernels.KERNEL_NAMES for suffix in FLOAT_SUFFIXES)
REDUCED_KERNELS = tuple(kernels.REDUCED_RANGE)  # sin_reduced_f64, ...: no libm branch
CALLED = "_call"  # `exp_f64_call`: the same kernel, linked noinline (see Linking)
CALLED_BY_HELPERS: set[str] = set()  # helpers another helper calls, inlined there (_calling_jitted)


class Linking:
    """Which function attribute each Numba library gets when linked into a caller.

    Parts of a split function are `noinline` (so `graph` never becomes one
    huge function); kernels `alwaysinline` (so loops vectorize), except while
    a graph with more than codegen.OUTLINE_KERNEL_CALLS kernel call sites is
    being compiled: then `noinline`, which compiles much faster. jit.py sets
    `outline_kernels` under Numba's compiler lock, the only time linking runs.
    """

    def __init__(self) -> None:
        self.outline_kernels = False

    def attribute(self, library_name: str) -> str | None:
        part = "_part" in library_name and library_name.rsplit("_part", 1)[1].isdigit()
        kernel = library_name in SCALAR_KERNELS or library_name in REDUCED_KERNELS
        if part or (kernel and self.outline_kernels):
            return "noinline"
        # helpers are tiny: LLVM inlines them anyway, except one another helper calls (its loops)
        return "alwaysinline" if kernel or library_name in CALLED_BY_HELPERS else None

    def install(self) -> None:
        # every compile path of graphc passes here; a process that only loads cached
        # machine code never pays for these two (numba_hooks/deferred.py)
        deferred.before_compiling(numba_hooks.defer_blas_import,  # before numba.np.arraymath
                                  numba_hooks.install_shape_errors)
        numba_hooks.install_linking(self.attribute)
        numba_hooks.cache_runtime_library()  # before Numba's runtime first initializes
        deferred.cheap_array_typeof()  # a first call's typeof without importing numpy.ma

    @contextmanager
    def kernels_outlined(self, outlined: bool) -> Iterator[None]:
        self.install()
        self.outline_kernels = outlined
        try:
            yield
        finally:
            self.outline_kernels = False


LINKING = Linking()


class CompileClock:
    """Seconds spent compiling (or loading from the disk cache) graphc's lazily compiled functions.

    Why: in kernel mode the shared kernels, and the helpers the plain-Python
    graph function calls, compile on the graph's first call, after
    `gc.compile` returned; jit.py reads this clock around that call so
    `f.stats["seconds"]["numba"]` shows the cost. `watch(dispatcher)` wraps
    the dispatcher's `compile` (public, called by Numba for every new
    signature); nested compiles (a kernel typing its helpers) count once.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def watch(self, dispatcher: Any) -> Any:
        compile_ = dispatcher.compile

        def timed(signature: Any) -> Any:
            if self._depth:
                return compile_(signature)
            start = time.perf_counter()
            self._depth += 1
            try:
                return compile_(signature)
            finally:
                self._depth -= 1
                self.seconds += time.perf_counter() - start

        dispatcher.compile = timed
        return dispatcher


COMPILE_CLOCK = CompileClock()


class _Jitted:
    """The numba-compiled kernels and helpers, each compiled once per process (then cached)."""

    def __init__(self) -> None:
        self.functions: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name in self.functions:
            return self.functions[name]
        if name in SCALAR_KERNELS or name in REDUCED_KERNELS:
            function = getattr(kernels, name)
        elif name.endswith(CALLED) and name[:-len(CALLED)] in SCALAR_KERNELS:
            function = getattr(kernels, name[:-len(CALLED)])
        elif name in library.HELPERS:
            function = _calling_jitted(library.helper(name))
        elif name == "carray":  # for the interpreter's C entry points
            import numba

            return numba.carray
        else:  # before importing numba: `from .runtime import x` probes __path__ here
            raise AttributeError(name)
        import numba

        LINKING.install()
        numba_hooks.install_kernel_locator()  # where graphc's own machine code is cached
        # lean like generated code (numba_hooks/lean.py): nothing takes graphc's own functions as
        # first-class values, so no cfunc wrapper; ~15% of each compile on a fresh installation
        compiled = numba.njit(**JIT_OPTIONS, **numba_hooks.lean_options())(function)
        compile_lean(compiled)
        numba_hooks.light_cache_loads(compiled)  # a warm start loads it without Numba's set-up
        if name in library.HELPERS:
            numba_hooks.unliteral_calls(compiled)
        if name in library.ANY_LAYOUT:
            any_layout(compiled)
        self.functions[name] = COMPILE_CLOCK.watch(compiled)
        return compiled


def compile_lean(dispatcher: Any, outlined: bool = False) -> None:
    """Each compile of `dispatcher` runs in `numba_hooks.lean_compile()` (its wrappers skip
    LLVM's function pre-pass; the module pipeline still optimises them) and, if `outlined`,
    links the scalar kernels `noinline` (LINKING). For generated functions (backend/jit.py)
    and graphc's own helpers: a helper compiled while a generated function is typed is
    inside one already; one a plain-Python graph function calls (kernel mode) is not."""
    compile_ = dispatcher.compile

    def compile_in_lean_mode(signature: Any) -> Any:
        with numba_hooks.lean_compile(), ExitStack() as stack:
            if outlined:
                stack.enter_context(LINKING.kernels_outlined(True))
            return compile_(signature)

    dispatcher.compile = compile_in_lean_mode


def any_layout(dispatcher: Any) -> None:
    """Type the helper's calls from compiled code with every array argument of layout "A", so one
    machine code version per dtype serves C, F and strided operands: Numba converts an array
    to layout A at the call. For helpers that read strides themselves (library.ANY_LAYOUT):
    each C/F combination was a compile of its own (gemm_into: ~1.1 s on a fresh installation).
    Wraps `get_call_template` on this one dispatcher (after numba_hooks.unliteral_calls)."""
    from numba.core import types as numba_types

    original = dispatcher.get_call_template

    def get_call_template(args: Any, kws: Any) -> Any:
        return original(tuple(a.copy(layout="A") if isinstance(a, numba_types.Array) else a
                              for a in args), kws)

    dispatcher.get_call_template = get_call_template


def _calling_jitted(function: Any) -> Any:
    """`function` with the helpers it calls bound to their jitted versions.

    Why: Numba types a call to a global plain-Python function as an error, and
    a helper that calls another (library.matmul_small allocates and calls
    matmul_small_into) keeps one copy of the loops. The copy shares the code
    object, so Numba's disk cache finds it as before; keep a callee in the
    caller's file, as Numba invalidates a cached caller only when its own
    source file changes. Linking inlines the callee (LLVM's cost model kept the
    loops as a call: 3x3 @ 3x2 products 5-15% slower). library_blas's
    `cblas_sgemm`/`cblas_dgemm` (plain Python there) become Numba external
    functions of symbols registered first (numba_hooks/blas.py).
    """
    import dis

    names = {i.argval for i in dis.get_instructions(function) if i.opname == "LOAD_GLOBAL"}
    callees = names & set(library.HELPERS)
    external = names & set(numba_blas.NAMES.values())
    if not callees and not external:
        return function
    if external:  # library_blas's gemm calls: their symbols exist before code calling them loads
        numba_blas.register()
    CALLED_BY_HELPERS.update(callees)
    bound = dict(function.__globals__, **{name: jitted(name) for name in sorted(callees)},
                 **{name: numba_blas.externals()[name] for name in sorted(external)})
    copy = types.FunctionType(function.__code__, bound, function.__name__, function.__defaults__,
                              function.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = (function.__qualname__, function.__module__,
                                                        function.__doc__)
    return copy


# Per-process: library helpers jitted once per process, shared by every function.
_JITTED = _Jitted()


def jitted(name: str) -> Any:
    """The numba-compiled kernel or helper `name` (`exp_f64`, `exp_f64_call`, `empty`, `carray`)."""
    return _JITTED.get(name)


def __getattr__(name: str) -> Any:
    """`from graphc.backend.runtime import exp_f64` in generated modules (PEP 562)."""
    try:
        return jitted(name)
    except AttributeError:
        pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
