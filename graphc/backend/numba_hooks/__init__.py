"""The only package that touches Numba internals: hooks, each with a feature check.

Owns: `unliteral_calls(dispatcher)` (helpers typed without literal sizes),
`install_linking(classify)` (how LLVM links graphc's kernels into a caller:
alwaysinline, noinline, or Numba's default), `install_shape_errors()` (slice
assignments without a compiled string formatter), `guard_cache(dispatcher,
fault)` (a damaged or foreign cache entry of a lazily compiled kernel), the
kernel cache locator and `defer_blas_import()` (Numba's set-up without
scipy.linalg); the disk-cache hooks live in .caching, the cheaper cold
compile of generated functions (`lean_options`, `lean_compile`) in .lean,
`ready_to_fork()` (set-up done and locks held around a fork) in .forking, and
`cache_runtime_library()` (Numba's runtime library from graphc's cache) in
.runtime_cache, all re-exported here. Imports: numba and llvmlite, lazily. Entry points: the functions
above and `HOOKS`, the record of which hooks are active on this Numba
(tests/test_backend_numba_hooks.py fails loudly when a Numba release moves
what a hook relies on).

Why hooks at all: Numba has no public API for either job. The measured gains
are in each docstring; without a hook graphc stays correct and gets slower,
so a missing internal disables the hook instead of failing. STYLE.md names this
module as the one exception to "no monkeypatching".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .caching import disable_disk_cache, guard_cache, install_kernel_locator, light_cache_loads
from .forking import ready_to_fork
from .lean import install_lean_wrappers, lean_compile, lean_options
from .runtime_cache import cache_runtime_library
from .state import HOOKS, installed_once

__all__ = [
    "HOOKS", "cache_runtime_library", "defer_blas_import", "disable_disk_cache", "guard_cache",
    "install_kernel_locator", "install_lean_wrappers", "install_linking", "install_shape_errors",
    "lean_compile", "lean_options", "light_cache_loads", "ready_to_fork", "started_layer",
    "threading_layer", "unliteral_calls", "with_function_attribute",
]

_LINKED = "_graphc_linked"  # attribute on a CPUCodeLibrary: {attribute: module with it}


def unliteral_calls(dispatcher: Any) -> bool:
    """Type a helper's calls with literals removed, so one compile serves every size.

    Numba types `empty((n, 512), np.float32)` as a call with
    `Tuple(int64, Literal[int](512))`, so every static size a graph used was a
    new compile of the helper (0.3-0.6 s each: 5 of the 8 s of an MLP's first
    compile on a fresh installation). With the literals removed one machine
    code version serves every size, and the disk cache (and `graphc warmup`)
    covers graphs of any size. Wraps `Dispatcher.get_call_template` on this
    one dispatcher object (not the class). Returns whether the hook applied.
    """
    from numba.core import types

    original: Any = getattr(dispatcher, "get_call_template", None)
    HOOKS["unliteral_calls"] = original is not None and hasattr(types, "unliteral")
    if not HOOKS["unliteral_calls"]:
        return False

    def get_call_template(args: Any, kws: Any) -> Any:
        return original(tuple(types.unliteral(a) for a in args),
                        {key: types.unliteral(value) for key, value in kws.items()})

    dispatcher.get_call_template = get_call_template
    return True


def with_function_attribute(module: Any, attribute: str) -> Any:
    """A copy of an llvmlite module whose defined functions carry `attribute`.

    Written into the IR text and parsed back rather than through
    `ValueRef.add_function_attribute`: llvmlite 0.47 (Numba 0.65) attaches that
    attribute to the return value, which LLVM's verifier rejects
    ("Attribute 'alwaysinline' does not apply to function return values").
    The text form means the same on every llvmlite. A define line ends with
    `{`; function attributes may be listed there beside attribute groups. A
    function that already has an inlining attribute (a callee linked into this
    module with its own, e.g. a `noinline` kernel inside a part) keeps it:
    adding the other made LLVM fail with "Attributes 'noinline and
    alwaysinline' are incompatible" (an unrolled HMM with `parallel=True`).
    """
    import re

    import llvmlite.binding as llvm

    text = str(module)
    groups = dict(re.findall(r"^attributes #(\d+) = \{(.*)\}$", text, re.MULTILINE))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("define ") and line.endswith("{"):
            attributes = " ".join([line, *(groups.get(g, "") for g in re.findall(r"#(\d+)", line))])
            if re.search(r"\b(?:alwaysinline|noinline)\b", attributes):
                continue  # a callee linked in with its own decision keeps it (both: LLVM rejects)
            lines[i] = f"{line[:-1].rstrip()} {attribute} {{"
    copy = llvm.parse_assembly("\n".join(lines) + "\n")
    copy.verify()
    return copy


@installed_once("linking")
def install_linking(classify: Callable[[str], str | None]) -> bool:
    """Link each Numba library with the function attribute `classify(library name)` returns.

    Numba links every callee's LLVM module into its caller and optimizes the
    result, leaving inlining to LLVM's cost model, which keeps graphc's
    kernels (range reduction + polynomials) as calls: the loop then runs one
    element at a time. `alwaysinline` lets it vectorize (elementwise workload:
    68 -> 25 ms). Inlining in Numba's IR instead (`inline="always"`) costs
    ~0.2 s of compile per call site (10-op chain: 2.8 s against 0.9 s here).
    `noinline` keeps the parts of a split function, and the kernels of graphs
    with many call sites, as calls (128 calls of sin_f64 in one loop compile in
    9.0 s inlined, 1.9 s as calls). `classify` returns "alwaysinline",
    "noinline" or None (Numba's default). Wraps the internal
    `CPUCodeLibrary._get_module_for_linking`; without it compile keeps
    Numba's default inlining (correct, slower). Installed once per process.
    """
    from numba.core import codegen as numba_codegen

    original = getattr(numba_codegen.CPUCodeLibrary, "_get_module_for_linking", None)
    if original is None:
        return False

    def module_for_linking(library: Any) -> Any:
        module = original(library)
        attribute = classify(library.name)
        if attribute is None:
            return module
        linked = library.__dict__.setdefault(_LINKED, {})
        if attribute not in linked:  # the shared module is fixed once finalized
            linked[attribute] = with_function_attribute(module, attribute)
        return linked[attribute]

    numba_codegen.CPUCodeLibrary._get_module_for_linking = module_for_linking  # type: ignore[method-assign]
    return True


def threading_layer() -> tuple[str, str | None]:
    """Numba's threading layer (launched if it was not yet) and, for omp, its vendor.

    Why: concurrency.guard must know whether parallel calls are thread-safe (workqueue is not)
    and fork-safe (GNU OpenMP is not). Numba has no public way to launch its threads or to name
    the OpenMP vendor; without these internals the layer is "unknown" and every call is guarded.
    Tested by tests/test_concurrency.py and tests/test_backend_numba_hooks.py.
    """
    import numba
    from numba.np.ufunc import parallel

    try:
        parallel._launch_threads()
        layer = numba.threading_layer()
    except (AttributeError, ValueError):  # a Numba without these internals
        return "unknown", None
    if layer != "omp":
        return layer, None
    from numba.np.ufunc import omppool  # type: ignore[attr-defined]

    return layer, getattr(omppool, "openmp_vendor", None)


def started_layer() -> tuple[str, str | None] | None:
    """Numba's threading layer if this process (or the one it was forked from) started it,
    else None; never imports or launches anything (it runs in a fork handler).

    Why: the user's own `parallel=True` code may start GNU OpenMP before graphc compiles
    anything parallel; a child forked after that must not enter the layer either.
    """
    import sys

    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is None or not getattr(parallel, "_is_initialized", False):
        return None
    layer = getattr(parallel, "_threading_layer", None)
    if not isinstance(layer, str):
        return None
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return layer, getattr(omppool, "openmp_vendor", None) if layer == "omp" else None


@installed_once("shape_errors")
def install_shape_errors() -> bool:
    """Slice assignment from an array raises its shape mismatch without formatting strings.

    Why: Numba's CPU implementation of the mismatch error (`ValueError:
    cannot assign slice of shape (3,) from input of shape (4,)`) builds the
    text with f-strings, `str(int)` and `str.join`, which Numba compiles from
    scratch in every process that compiles a slice assignment (`out[i] =
    row`): 3-5 s of a fresh installation's first GP or conv net, most of
    what its helpers cost (measured: a helper with one such assignment
    compiled in 16.6 s against 3.3 s, loaded machine). The replacement raises
    the same ValueError with the two shapes as arguments (Numba's dynamic
    exceptions: Python formats them when the error happens). `fancy_setslice`
    resolves the module-level stub `numba.np.arrayobj.raise_with_shape_context`
    each time it lowers; this puts another stub there, with a cheap CPU
    overload. Process-wide: a user's own jitted slice assignment compiled
    after graphc's first compile gets this form of the message too. Without
    the stub (another Numba) compile stays correct and slower. Idempotent.
    """
    from numba.core.extending import overload
    from numba.np import arrayobj

    if not hasattr(arrayobj, "raise_with_shape_context"):
        return False

    def raise_with_shape_context(src_shapes: Any, index_shape: Any) -> None:
        raise NotImplementedError  # only its overload below is ever called (in compiled code)

    @overload(raise_with_shape_context, target="CPU")
    def _cheap(src_shapes: Any, index_shape: Any) -> Any:
        def impl(src_shapes: Any, index_shape: Any) -> None:
            raise ValueError("cannot assign slice from input of a different shape "
                             "(the slice's shape, the input's shape)", index_shape, src_shapes)
        return impl

    arrayobj.raise_with_shape_context = raise_with_shape_context
    return True


def _cython_blas_present() -> bool:
    """Whether SciPy ships `scipy.linalg.cython_blas`, found without importing scipy.linalg."""
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("scipy")
    except (ImportError, ValueError):
        return False
    suffixes = (*importlib.machinery.EXTENSION_SUFFIXES, ".py")
    for root in (spec.submodule_search_locations or []) if spec else []:
        linalg = Path(root) / "linalg"
        if any((linalg / f"cython_blas{suffix}").exists() for suffix in suffixes):
            return True
    return False


@installed_once("blas_deferred")
def defer_blas_import() -> bool:
    """Numba's set-up imports its array math without importing scipy.linalg.

    Why: Numba's first compile in a process imports `numba.np.arraymath`, which
    checks at import time that BLAS is available by importing
    `scipy.linalg.cython_blas` (and so all of scipy.linalg): 0.15-0.19 s of
    CPU, 0.3-0.45 s of wall on a loaded machine, ~40% of Numba's target set-up,
    in every fresh process that compiles a kernel, although graphc's kernels
    never call BLAS from compiled code (matrix products run in the graph
    function). This replaces `numba.np.linalg.ensure_blas` (the name arraymath
    binds at import) with a check that the extension file is present plus
    Numba's integer-width check, for ONE call: that call (arraymath's import,
    which comes first: a compile's set-up imports arraymath before it types
    anything) puts Numba's function back in both modules, so every later
    compile that uses BLAS (np.dot in the user's own jitted code) imports
    scipy.linalg as before; compiled code loads BLAS from it at run time
    either way. Importing `numba.np.linalg` here costs 55-79 ms (it pulls in
    arrayobj, charseq and unicode), so the hook waits for a process's first
    compile (deferred.before_compiling). Only difference: a broken SciPy
    whose cython_blas file is present but fails to import counts as "BLAS
    available" (its error then appears when code uses BLAS, not earlier).
    Does nothing if arraymath is already imported or without `ensure_blas`
    (then Numba's own path). Idempotent.
    """
    import sys

    if "numba.np.arraymath" in sys.modules:
        return False
    from numba.np import linalg

    original: Any = getattr(linalg, "ensure_blas", None)
    if original is None:
        return False

    def ensure_blas() -> None:
        linalg.ensure_blas = original
        arraymath = sys.modules.get("numba.np.arraymath")  # partly imported: the caller
        if arraymath is not None and getattr(arraymath, "ensure_blas", None) is ensure_blas:
            arraymath.ensure_blas = original  # type: ignore[attr-defined]
        if not _cython_blas_present():
            raise ImportError("scipy 0.16+ is required for linear algebra")
        check = getattr(linalg, "_check_lapack_int_width", None)
        if check is not None:
            check()

    linalg.ensure_blas = ensure_blas
    return True
