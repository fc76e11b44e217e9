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

import importlib.metadata
import importlib.util
import pickle
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import interpret
from ..errors import GraphcError
from ..ir import Node
from . import blocks, cache, kernels, library
from .codegen import REDUCED_KERNELS, SCALAR_KERNELS, Generated, fresh, generate

_jitted: dict[str, Any] = {}
JIT_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy"}


def jitted(name: str) -> Any:
    """The numba-compiled version of a kernel or helper (compiled once per process, cached).

    A kernel (`exp_f64`) is linked into the generated function `alwaysinline`
    (see _install_outlining), so LLVM sees straight-line arithmetic and
    vectorizes the loop; `exp_f64_call` is the same kernel linked `noinline`,
    for graphs with so many call sites that inlining would make compile slow.
    """
    if name not in _jitted:
        options = dict(JIT_OPTIONS)
        if name in SCALAR_KERNELS or name in REDUCED_KERNELS:
            function = getattr(kernels, name)
        elif name.endswith("_call") and name[:-len("_call")] in SCALAR_KERNELS:
            function = getattr(kernels, name[:-len("_call")])
        elif name in library.HELPERS:
            function = getattr(library, name)
        elif name in INTERPRETERS:
            _jitted[name] = _interpreter(name.rsplit("_", 1)[1])
            return _jitted[name]
        elif name == "carray":  # for the interpreter's C entry points
            import numba

            return numba.carray
        else:  # before importing numba: `from .compile import x` probes __path__ here
            raise AttributeError(name)
        import numba

        cache.install_kernel_locator(numba)  # where graphc's own machine code is cached
        _jitted[name] = numba.njit(**options)(function)
        if name in library.HELPERS:
            _without_literals(_jitted[name])
    return _jitted[name]


def _without_literals(dispatcher: Any) -> None:
    """Compile a helper for `int64`, not for each literal size generated code passes it.

    Numba types `empty((n, 512), np.float32)` as a call with
    `Tuple(int64, Literal[int](512))`, so every static size a graph uses was
    a new compile of the helper (0.3-0.6 s each: 5 of the 8 s of an MLP's first
    compile on a fresh installation). Calls are typed with the literals
    removed, so one machine-code version serves every size, and the disk
    cache (and `graphc warmup`) covers graphs of any size.
    """
    from numba.core import types

    original = dispatcher.get_call_template

    def get_call_template(args: Any, kws: Any) -> Any:
        return original(tuple(types.unliteral(a) for a in args),
                        {key: types.unliteral(value) for key, value in kws.items()})

    dispatcher.get_call_template = get_call_template


INTERPRETERS = ("interpret_f64", "interpret_f32")
_entries: list[Any] = []  # the interpreters' C entry points (their machine code must stay alive)


def _interpreter(suffix: str) -> Any:
    """`interpret_f64(program, registers, count)` for generated code: a call of a C symbol.

    The block interpreter (graphc/backend/interpreter.py, see blocks.py) is a
    Numba cfunc with cache=True, registered with LLVM under the fixed name
    `graphc_interpret_f64`. Generated functions call that symbol instead of
    linking the interpreter in: linked in, its body would be optimized and
    compiled again inside every graph (~0.5 s each); by name, the call is one
    instruction, and a graph's cached machine code finds the symbol in any
    process that imported the interpreter first (the generated module's
    import of this name does that).
    """
    import llvmlite.binding
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from . import interpreter

    _install_outlining()  # kernels inline into the interpreter's loops
    cache.install_kernel_locator(numba)  # where graphc's own machine code is cached
    run = f"run_{suffix}"
    if not isinstance(getattr(interpreter, run), numba.core.dispatcher.Dispatcher):
        setattr(interpreter, run, numba.njit(**JIT_OPTIONS)(getattr(interpreter, run)))
    scalar = {"f64": types.float64, "f32": types.float32}[suffix]
    signature = types.int64(types.CPointer(types.int32), types.int64, types.CPointer(scalar),
                            types.int64, types.int64, types.int64)
    entry = numba.cfunc(signature, cache=True, error_model="numpy")(
        getattr(interpreter, f"entry_{suffix}"))
    _entries.append(entry)
    symbol = f"graphc_interpret_{suffix}"
    llvmlite.binding.add_symbol(symbol, entry.address)

    def interpret(typingctx: Any, program: Any, registers: Any, count: Any) -> Any:
        if not (isinstance(program, types.Array) and program.dtype == types.int32
                and program.ndim == 2 and program.layout == "C"
                and isinstance(registers, types.Array) and registers.dtype == scalar
                and registers.ndim == 2 and registers.layout == "C"
                and isinstance(count, types.Integer)):
            return None
        result = types.int64(program, registers, count)

        def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
            code = context.make_array(signature.args[0])(context, builder, arguments[0])
            values = context.make_array(signature.args[1])(context, builder, arguments[1])
            instructions = cgutils.unpack_tuple(builder, code.shape)[0]
            rows, width = cgutils.unpack_tuple(builder, values.shape)
            count = context.cast(builder, arguments[2], signature.args[2], types.int64)
            word = ir.IntType(64)
            function_type = ir.FunctionType(word, [
                ir.IntType(32).as_pointer(), word,
                context.get_value_type(scalar).as_pointer(), word, word, word])
            function = cgutils.get_or_insert_function(builder.module, function_type, symbol)
            return builder.call(function, [code.data, instructions, values.data, rows, width,
                                           count])

        return result, codegen

    interpret.__name__ = f"interpret_{suffix}"
    return intrinsic(interpret)


# How LLVM links libraries into their caller (see _install_outlining): parts
# noinline; kernels alwaysinline, except noinline while a graph with more than
# OUTLINE_KERNEL_CALLS kernel call sites (`exp_f64_call`) is being compiled.
_outline = {"kernels": False}
_outlining_installed = False


def _install_outlining() -> None:
    """Mark linked-in kernels `alwaysinline` (or `noinline`) and parts `noinline`.

    Numba links every callee's LLVM module into its caller and optimizes the
    result, leaving inlining to LLVM's cost model, which keeps the kernels
    (range reduction + polynomials) as calls: the loop then runs one element
    at a time. `alwaysinline` lets it vectorize (elementwise workload: 68 ->
    25 ms). Inlining in Numba's IR instead (`inline="always"`) costs ~0.2 s of
    compile per call site (10-op chain: 2.8 s against 0.9 s here). In a graph
    with many call sites the kernels are `noinline`: 128 calls of sin_f64 in
    one loop compile in 9.0 s inlined, 1.9 s as calls (1000-op chain + grad
    41.5 s -> 37 s). Parts stay calls so `graph` never becomes one huge
    function. This wraps a Numba internal (CPUCodeLibrary._get_module_for_linking);
    without it compile falls back to Numba's default inlining (correct, slower).
    """
    global _outlining_installed
    if _outlining_installed:
        return
    from numba.core import codegen as numba_codegen

    original = getattr(numba_codegen.CPUCodeLibrary, "_get_module_for_linking", None)
    _outlining_installed = True
    if original is None:  # a Numba without this internal hook: keep its default inlining
        return

    def module_for_linking(code_library: Any) -> Any:
        module = original(code_library)
        name = code_library.name
        part = "_part" in name and name.rsplit("_part", 1)[1].isdigit()
        kernel = name in SCALAR_KERNELS or name in REDUCED_KERNELS
        if part or (kernel and _outline["kernels"]):
            attribute = "noinline"
        elif kernel:
            attribute = "alwaysinline"
        else:  # helpers (select, ...) are tiny: LLVM inlines them anyway
            return module
        module = module.clone()
        for function in module.functions:
            if not function.is_declaration:
                function.add_function_attribute(attribute)
        return module

    numba_codegen.CPUCodeLibrary._get_module_for_linking = (  # type: ignore[method-assign]
        module_for_linking)


def __getattr__(name: str) -> Any:
    """`from graphc.backend.compile import exp_f64` in generated modules (PEP 562)."""
    try:
        return jitted(name)
    except AttributeError:
        pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_versions: list[str] = []


def _library_version() -> str:
    """Generated code links the helpers in, so their text is part of the cache key.

    Numba's version is read from its installed metadata, not by importing it:
    a tiered start must not wait for `import numba` (~0.4 s).
    """
    if not _versions:
        texts = [Path(module.__file__).read_text() for module in (kernels, library, blocks)
                 if module.__file__]
        texts.append(blocks.INTERPRETER_PATH.read_text())
        _versions.append(cache.digest("".join(texts) + importlib.metadata.version("numba")))
    return _versions[0]


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
                  output_names: Sequence[str | None] | None = (),
                  structure: str = "list", requirements: Sequence[Any] | None = None,
                  parallel: bool = False,
                  ) -> tuple[Callable[..., Any], str, dict[str, Any], Callable[..., Any] | None]:
    """Schedule, generate, cache and jit: returns (runner, source, stats, fast call).

    `requirements` are the size equalities the fast call checks (by default the
    graph's own); compile passes those of the graph as the user built it, which
    simplification may have rewritten away.
    """
    prepared = prepare(inputs, outputs, output_names, parallel)
    runner, stats, fast = finish(prepared, structure, requirements)
    return runner, prepared.generated.source, stats, fast


class Prepared:
    """The generated module, written (and imported unless deferred), before Numba compiles it.

    tiered.py uses the split, deferring the import too: importing the module
    imports its helpers, which imports numba.
    """

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node], plan: Any,
                 generated: Generated, path: Path, found: bool, module: Any,
                 times: dict[str, float]) -> None:
        self.inputs, self.outputs, self.plan, self.generated = inputs, outputs, plan, generated
        self.path, self.found, self.module, self.times = path, found, module, times


def prepare(inputs: Sequence[Node], outputs: Sequence[Node],
            output_names: Sequence[str | None] | None = (), parallel: bool = False,
            load: bool = True) -> Prepared:
    """Schedule, generate, write to the cache and (if `load`) import: no Numba compile yet."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    plan = blocks.schedule_for(inputs, outputs)
    times["schedule"] = time.perf_counter() - start

    start = time.perf_counter()
    generated = generate(plan, output_names, parallel=parallel)
    key = generated.source + _library_version()  # helpers are linked in: part of the key
    times["codegen"] = time.perf_counter() - start

    start = time.perf_counter()
    path, found = cache.store(generated.source, key)
    module = _load(path, cache.module_name(key)) if load else None
    times["import"] = time.perf_counter() - start
    return Prepared(inputs, outputs, plan, generated, path, found, module, times)


def finish(prepared: Prepared, structure: str = "list",
           requirements: Sequence[Any] | None = None,
           ) -> tuple[Callable[..., Any], dict[str, Any], Callable[..., Any] | None]:
    """Numba-compile a prepared module (or load its machine code): (runner, stats, fast call)."""
    import numba

    times = dict(prepared.times)
    if prepared.module is None:  # deferred by prepare(load=False)
        start = time.perf_counter()
        prepared.module = _load(prepared.path, prepared.path.stem)
        times["import"] += time.perf_counter() - start
    inputs, outputs, generated, module, path = (prepared.inputs, prepared.outputs,
                                                prepared.generated, prepared.module,
                                                prepared.path)
    start = time.perf_counter()
    signature = tuple(
        [_numba_type(i.dtype, i.ndim) for i in inputs]
        + [_numba_type(c.dtype, c.ndim) for c in generated.constants])
    options = dict(JIT_OPTIONS, parallel=generated.parallel)
    for number in range(generated.parts if generated.parts > 1 else 0):
        part = f"{generated.function_name}_part{number}"
        setattr(module, part, numba.njit(**options)(getattr(module, part)))
    function = getattr(module, generated.function_name)
    _install_outlining()
    with numba.core.compiler_lock.global_compiler_lock:  # _outline is read while linking
        _outline["kernels"] = not generated.kernels_inlined
        try:
            try:
                dispatcher = numba.njit(signature, **options)(function)
            except (EOFError, OSError, ValueError, TypeError, pickle.UnpicklingError):
                cache.forget_compiled(path)  # unreadable machine code: compile afresh
                dispatcher = numba.njit(signature, **options)(function)
        except numba.core.errors.TypingError as exc:
            raise GraphcError(
                f"numba could not compile the generated code ({path}): {exc}") from exc
        finally:
            _outline["kernels"] = False
    times["numba"] = time.perf_counter() - start
    hits = dispatcher.stats.cache_hits
    stats = {
        "backend": "numba",
        "cache_hit": bool(sum(hits.values())) if hasattr(hits, "values") else bool(hits),
        "source_cached": prepared.found,
        "cache_path": str(path),
        "seconds": times,
        "groups": sum(1 for u in prepared.plan.units if not isinstance(u, Node)),
        "parts": generated.parts,
        "nodes": len(prepared.plan.order),
        "kernels_outlined": not generated.kernels_inlined,
        "interpreted_groups": generated.interpreted,
        "instructions": generated.instructions,
        "parallel": generated.parallel,
    }
    fast = make_fast_call(dispatcher, inputs, outputs, generated.constants, structure,
                          requirements, generated.range_flag)
    stats["fast_call"] = fast is not None
    return make_runner(dispatcher, inputs, outputs, generated), stats, fast


def make_runner(dispatcher: Any, inputs: Sequence[Node], outputs: Sequence[Node],
                generated: Generated) -> Callable[[list[np.ndarray], dict[str, int]],
                                                  list[np.ndarray]]:
    """Call the jitted function; rank-0 values travel as scalars, outputs never alias inputs."""
    scalar_inputs = [i for i, node in enumerate(inputs) if node.ndim == 0]
    constants = list(generated.constants)
    scalar_outputs = [(i, node.dtype) for i, node in enumerate(outputs) if node.ndim == 0]
    may_alias = [i for i, node in enumerate(outputs) if node.ndim > 0 and _may_alias(node)]
    duplicates = [i for i, node in enumerate(outputs) if node in outputs[:i] and node.ndim > 0]
    flagged = generated.range_flag

    def run(arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        arguments: list[Any] = list(arrays)
        for i in scalar_inputs:
            arguments[i] = arrays[i][()]
        results = list(dispatcher(*arguments, *constants))
        if flagged and results.pop():
            return exactly(inputs, outputs, arrays, binding)
        for i, dtype in scalar_outputs:
            results[i] = np.array(results[i], dtype=dtype)
        for i in may_alias:
            if any(np.may_share_memory(results[i], a) for a in (*arrays, *constants)):
                results[i] = results[i].copy()
        for i in duplicates:
            results[i] = results[i].copy()
        return results

    return run


def exactly(inputs: Sequence[Node], outputs: Sequence[Node], arrays: list[np.ndarray],
            binding: dict[str, int]) -> list[np.ndarray]:
    """The outputs by the NumPy interpreter: the rare call where a sin/cos argument
    exceeded the reduced kernels' range (|x| > ~8e5), so libm must do the reduction."""
    results = interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding)
    return [np.array(r, copy=True) for r in results]


def _may_alias(node: Node) -> bool:
    """Leaves, views and some kernels may return (a view of) an argument; loops never do."""
    return not fresh(node)



def make_fast_call(dispatcher: Any, inputs: Sequence[Node], outputs: Sequence[Node],
                   constants: Sequence[np.ndarray], structure: str,
                   requirements: Sequence[Any] | None = None,
                   range_flag: bool = False) -> Callable[..., Any] | None:
    """A builder of the Function's `__call__`: straight-line code for the common call.

    `make_fast_call(...)(general)` is a function of the inputs, passed
    positionally as exact arrays, that checks what `calling.bind` would (type,
    dtype, rank, static sizes, named sizes agreeing, the graph's size
    equalities) and calls the jitted function. Anything else (keywords, a
    list, a wrong dtype or count) goes to `general(*args, **kwargs)`, the
    checked path that converts or raises the precise InputError; so does a
    call whose sin/cos needed libm (`range_flag`), which general recomputes.
    Being the whole call (no wrapper around it) saves ~0.3 us per call.
    """
    from ..calling import collect_constraints

    if any(node.ndim > 0 and _may_alias(node) for node in outputs) or \
            len(set(outputs)) != len(outputs):
        return None  # outputs that may alias an argument need the runner's checks
    names = [f"a{i}" for i in range(len(inputs))]
    checks: list[str] = []
    bound: dict[str, str] = {}
    for index, (name, node) in enumerate(zip(names, inputs)):
        checks.append(f"type({name}) is ndarray and {name}.dtype is dtype{index} "
                      f"and {name}.ndim == {node.ndim}"
                      + (f" and {name}.flags.c_contiguous" if node.ndim > 1 else ""))
        for axis, size in enumerate(node.shape):
            actual = f"{name}.shape[{axis}]"
            if isinstance(size, int):
                checks.append(f"{actual} == {size}")
            elif size.factors[0] in bound:
                checks.append(f"{actual} == {bound[size.factors[0]]}")
            else:
                bound[size.factors[0]] = actual
    for left, right, _ in (collect_constraints(outputs) if requirements is None else requirements):
        sides = []
        for size in (left, right):
            if isinstance(size, int):
                sides.append(str(size))
            elif all(f in bound for f in size.factors):
                sides.append(" * ".join([str(size.coefficient)] + [bound[f] for f in size.factors]))
            else:
                return None  # a size no input binds: leave it to the general path
        checks.append(f"{sides[0]} == {sides[1]}")
    arguments = [f"{n}[()]" if node.ndim == 0 else n for n, node in zip(names, inputs)]
    arguments += [f"c{i}" for i in range(len(constants))]
    finish = [f"array(r[{i}], dtype_out{i})" if node.ndim == 0 else f"r[{i}]"
              for i, node in enumerate(outputs)]
    result = {"single": finish[0], "tuple": "(" + ", ".join(finish) + ",)"}.get(
        structure, "[" + ", ".join(finish) + "]")
    given = ", ".join(names)
    passed = (f"*[a for a in ({given},) if a is not MISSING], *rest" if names else "*rest")
    fallback = f"general({passed}, **named)"
    flag_check = f"        if r[{len(outputs)}]:\n            return {fallback}\n" if range_flag else ""
    source = (f"def bind(general):\n"
              f"    def call({', '.join([n + '=MISSING' for n in names] + ['*rest'])}, **named):\n"
              f"        if not rest and not named and {' and '.join(checks) or 'True'}:\n"
              f"            r = jitted({', '.join(arguments)})\n"
              + textwrap.indent(flag_check, "    ") +
              f"            return {result}\n"
              f"        return {fallback}\n"
              f"    return call\n")
    scope: dict[str, Any] = {"ndarray": np.ndarray, "array": np.array, "jitted": dispatcher,
                             "MISSING": _MISSING}
    scope.update({f"dtype{i}": node.dtype for i, node in enumerate(inputs)})
    scope.update({f"dtype_out{i}": node.dtype for i, node in enumerate(outputs)})
    scope.update({f"c{i}": value for i, value in enumerate(constants)})
    exec(compile(source, "<graphc fast call>", "exec"), scope)
    return scope["bind"]  # type: ignore[no-any-return]


_MISSING = object()  # an input the caller did not pass positionally
