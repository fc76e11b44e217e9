"""`interpret_f64(program, registers, count)` for generated code: a call of a C symbol.

Owns: the cfunc entry points of the block interpreter (interpreter/run.py)
and the Numba intrinsic that calls them by symbol name. Imports: runtime,
interpreter.run; numba and llvmlite lazily (public APIs only: cfunc,
intrinsic, llvmlite.binding.add_symbol). Entry point: `interpreter(suffix)`,
and PEP 562 `from graphc.backend.interpreter.link import interpret_f64`.

Why a C symbol: the interpreter is a Numba cfunc with cache=True, registered
with LLVM under the fixed name `graphc_interpret_f64`. Generated functions call
that symbol instead of linking the interpreter in: linked in, its body would be
optimized and compiled again inside every graph (~0.5 s each); by name, the
call is one instruction, and a graph's cached machine code finds the symbol in
any process that imported the interpreter first (the generated module's import
of this name does that).
"""

from __future__ import annotations

from typing import Any

from .. import numba_hooks, runtime
from . import run

INTERPRETERS = ("interpret_f64", "interpret_f32")


class _Entries:
    """The intrinsics made so far, and the cfuncs whose machine code must stay alive."""

    def __init__(self) -> None:
        self.intrinsics: dict[str, Any] = {}
        self.cfuncs: list[Any] = []


_ENTRIES = _Entries()


def _entry_point(suffix: str) -> str:
    """Compile `entry_<suffix>` as a C function and register its address as a symbol."""
    import llvmlite.binding
    import numba
    from numba import types

    runtime.LINKING.install()  # kernels inline into the interpreter's loops
    numba_hooks.install_kernel_locator()  # where graphc's own machine code is cached
    name = f"run_{suffix}"
    if not isinstance(getattr(run, name), numba.core.dispatcher.Dispatcher):
        setattr(run, name, numba.njit(**runtime.JIT_OPTIONS)(getattr(run, name)))
    scalar = {"f64": types.float64, "f32": types.float32}[suffix]
    signature = types.int64(types.CPointer(types.int32), types.int64, types.CPointer(scalar),
                            types.int64, types.int64, types.int64)
    entry = numba.cfunc(signature, cache=True, error_model="numpy")(getattr(run, f"entry_{suffix}"))
    _ENTRIES.cfuncs.append(entry)
    symbol = f"graphc_interpret_{suffix}"
    llvmlite.binding.add_symbol(symbol, entry.address)
    return symbol


def interpreter(suffix: str) -> Any:
    """The intrinsic `interpret_<suffix>(program, registers, count) -> int64`."""
    if suffix in _ENTRIES.intrinsics:
        return _ENTRIES.intrinsics[suffix]
    from numba import types
    from numba.extending import intrinsic

    symbol = _entry_point(suffix)
    scalar = {"f64": types.float64, "f32": types.float32}[suffix]

    def interpret(typingctx: Any, program: Any, registers: Any, count: Any) -> Any:
        if not (isinstance(program, types.Array) and program.dtype == types.int32
                and program.ndim == 2 and program.layout == "C"
                and isinstance(registers, types.Array) and registers.dtype == scalar
                and registers.ndim == 2 and registers.layout == "C"
                and isinstance(count, types.Integer)):
            return None
        return types.int64(program, registers, count), _call(symbol, scalar)

    interpret.__name__ = f"interpret_{suffix}"
    _ENTRIES.intrinsics[suffix] = intrinsic(interpret)
    return _ENTRIES.intrinsics[suffix]


def _call(symbol: str, scalar: Any) -> Any:
    """The intrinsic's code generator: unpack the arrays, call the C symbol."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

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
        return builder.call(function, [code.data, instructions, values.data, rows, width, count])

    return codegen


def __getattr__(name: str) -> Any:
    """`from graphc.backend.interpreter.link import interpret_f64` in generated modules."""
    if name in INTERPRETERS:
        return interpreter(name.rsplit("_", 1)[1])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
