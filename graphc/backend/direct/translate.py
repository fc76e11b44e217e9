"""Python functions of the fused-loop subset -> LLVM IR, typed as Numba types them.

Owns: `Translator`, which turns one Python function (a fused kernel's source,
or a scalar kernel or helper it calls, from their own source) into an
`ir.Function` of given parameter types, and `translate_kernel`; the
statements are here, values in expressions.py and calls.py. Why: a fused
kernel is straight-line arithmetic in `for ... in range` loops over arrays;
LLVM compiles it in well under half of Numba's time when it gets the IR
directly (docs/codegen.md, "The direct path"). What it accepts: assignments
to locals and array elements, `+= -= *=`, range loops, `if`, returns; numbers
of the five types of signature.py; + - * / << >> & | ^, comparisons,
`and`/`or`/`not`, conditional expressions; calls of np.float64/np.float32/
np.int64/np.int32, `.view`, np.divide, abs, min/max of integers, math.sqrt
and of graphc's plain-Python helpers and scalar kernels.
Anything else raises `Unsupported`, and Numba compiles the kernel.
Each construct gets the instruction Numba's lowering emits for it (array
indices wrap around when negative, float `!=` is unordered, `/` of integers
is a float division), so a kernel gives Numba's bits.
"""

from __future__ import annotations

import ast
import linecache
import textwrap
from collections.abc import Callable
from typing import Any

from llvmlite import ir

from .expressions import I64, Expressions, nonnegative_literal
from .scalars import LLVM_TYPES, STORED, convert
from .signature import Array, Type, Unsupported

SCALAR_KERNELS = "graphc.backend.kernels"  # the module whose functions Numba links in- or outlined
_SOURCES: dict[Any, ast.FunctionDef] = {}  # a helper's parsed source, once per process


def function_ast(function: Callable[..., Any]) -> ast.FunctionDef:
    """The parsed definition of a plain-Python helper (read once per process).

    Only the function's own lines are parsed (from its first line to the next
    line at column 0): inspect.getsource tokenizes the rest of the file, which
    for kernels.py took longer than translating a kernel.
    """
    if function not in _SOURCES:
        code = function.__code__
        lines = linecache.getlines(code.co_filename)
        first = code.co_firstlineno - 1
        end = next((n for n in range(first + 1, len(lines))
                    if lines[n][:1] not in ("", " ", "\t", "\n", "#")), len(lines))
        tree = ast.parse(textwrap.dedent("".join(lines[first:end])))
        if not (tree.body and isinstance(tree.body[0], ast.FunctionDef)
                and tree.body[0].name == function.__name__):
            raise Unsupported(f"the source of {function.__name__}")
        _SOURCES[function] = tree.body[0]
    return _SOURCES[function]


class Translator:
    """The LLVM functions of one module: a kernel and the helpers it calls (one each per types)."""

    def __init__(self, module: ir.Module, inline: bool) -> None:
        self.module, self.inline = module, inline
        self.helpers: dict[tuple[Any, tuple[str, ...], bool], tuple[ir.Function, str]] = {}
        self.active: set[Any] = set()

    def helper(self, function: Callable[..., Any], types: tuple[str, ...],
               outlined: bool) -> tuple[ir.Function, str]:
        """The LLVM function of `function` for scalar argument `types`, and its return type."""
        key = (function, types, outlined)
        if key not in self.helpers:
            if function in self.active:
                raise Unsupported(f"recursive {function.__name__}")
            self.active.add(function)
            name = f"{function.__name__}.{'.'.join(types)}{'.outlined' if outlined else ''}"
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [LLVM_TYPES[t] for t in types]),
                             name)
            fn.linkage = "internal"
            if function.__module__ == SCALAR_KERNELS:  # linked as Numba links them (runtime.Linking)
                fn.attributes.add("noinline" if outlined or not self.inline else "alwaysinline")
            body = Body(self, fn, function_ast(function), list(types), function.__globals__)
            body.run()
            if body.returned is None:
                raise Unsupported(f"{function.__name__} returns nothing")
            fn.ftype = ir.FunctionType(LLVM_TYPES[body.returned], fn.ftype.args)
            fn.type = fn.ftype.as_pointer()  # llvmlite prints these: set before any call is made
            fn.return_value = ir.values.ReturnValue(fn, fn.ftype.return_type)
            self.active.discard(function)
            self.helpers[key] = (fn, body.returned)
        return self.helpers[key]


def translate_kernel(translator: Translator, source: str, name: str,
                     types: list[Type], namespace: dict[str, Any]) -> tuple[ir.Function, list[str]]:
    """The kernel `name` of `source` as `void name(params..., results*...)`: each array
    parameter is its data pointer then its shape; returns (function, result types)."""
    tree = ast.parse(source)
    definition = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if definition is None:
        raise Unsupported(f"no function {name}")
    results = _kernel_results(definition)
    arguments: list[ir.Type] = []
    for kind in types:
        arguments += [STORED[kind.dtype].as_pointer()] + [I64] * _words(kind) \
            if isinstance(kind, Array) else [LLVM_TYPES[kind]]
    pointers = [ir.IntType(8).as_pointer()] * results
    fn = ir.Function(translator.module, ir.FunctionType(ir.VoidType(), arguments + pointers), name)
    fn.linkage = "internal"
    body = Body(translator, fn, definition, types, namespace, results=results)
    body.run()
    return fn, body.result_types


def _words(kind: Array) -> int:
    """The integers after an array's data pointer: its shape, and its strides if not C."""
    return kind.ndim * (2 if kind.layout == "A" else 1)


def _kernel_results(definition: ast.FunctionDef) -> int:
    last = definition.body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Tuple)):
        raise Unsupported("a kernel ends with `return (...)`")
    return len(last.value.elts)


class Body(Expressions):
    """The translation of one function body into `fn` (parameters first become locals)."""

    def __init__(self, translator: Translator, fn: ir.Function, definition: ast.FunctionDef,
                 types: list[Type], namespace: dict[str, Any], results: int | None = None) -> None:
        self.translator, self.fn, self.definition, self.namespace = translator, fn, definition, namespace
        self.results = results  # a kernel: how many scalars it returns through pointers
        self.result_types: list[str] = []
        self.returned: str | None = None
        entry = fn.append_basic_block("entry")
        self.allocas = ir.IRBuilder(entry)
        self.builder = ir.IRBuilder(fn.append_basic_block("body"))
        self.locals: dict[str, tuple[ir.Value, str]] = {}
        self.arrays: dict[str, tuple[ir.Value, list[ir.Value], str, list[ir.Value] | None]] = {}
        names = [a.arg for a in definition.args.args]
        if definition.args.vararg or definition.args.kwarg or len(names) != len(types) \
                or definition.args.defaults or definition.args.kwonlyargs:
            raise Unsupported("parameters")
        values = iter(fn.args)
        for name, kind in zip(names, types):
            if isinstance(kind, Array):
                pointer = next(values)
                shape = [next(values) for _ in range(kind.ndim)]
                strides = [next(values) for _ in range(kind.ndim)] if kind.layout == "A" else None
                self.arrays[name] = (pointer, shape, kind.dtype, strides)
            else:
                self.assign(name, next(values), kind)
        self.result_pointers = list(values)
        assigned = {t.id for n in ast.walk(definition) for t in _targets(n)
                    if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        self.counters = {n.target.id for n in ast.walk(definition) if isinstance(n, ast.For)
                         and isinstance(n.target, ast.Name)} - assigned - set(names)  # >= 0: no wraparound

    def run(self) -> None:
        self.statements(self.definition.body)
        if not self.builder.block.is_terminated:
            if self.results is None:
                raise Unsupported("a helper that may end without return")
            self.builder.ret_void()
        self.allocas.branch(self.fn.blocks[1])

    # ---- statements

    def statements(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            if self.builder.block.is_terminated:
                raise Unsupported("code after return")
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            self.store(node.targets[0], *self.expression(node.value))
        elif isinstance(node, ast.AugAssign):
            current = ast.copy_location(ast.Name(node.target.id, ast.Load()), node) \
                if isinstance(node.target, ast.Name) else \
                ast.Subscript(node.target.value, node.target.slice, ast.Load()) \
                if isinstance(node.target, ast.Subscript) else None
            if current is None:
                raise Unsupported("augmented assignment")
            self.store(node.target, *self.binary(node.op, current, node.value))
        elif isinstance(node, ast.For):
            self.loop(node)
        elif isinstance(node, ast.If):
            self.branch(node)
        elif isinstance(node, ast.Return):
            self.give(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            pass  # a docstring
        else:
            raise Unsupported(type(node).__name__)

    def assign(self, name: str, value: ir.Value, kind: str) -> None:
        if name in self.arrays:
            raise Unsupported(f"rebinding array {name}")
        if name not in self.locals:
            self.locals[name] = (self.allocas.alloca(LLVM_TYPES[kind], name=name), kind)
        slot, known = self.locals[name]
        if known != kind:
            raise Unsupported(f"{name} is {known} and {kind}")
        self.builder.store(value, slot)

    def store(self, target: ast.expr, value: ir.Value, kind: str) -> None:
        if isinstance(target, ast.Name):
            self.assign(target.id, value, kind)
        elif isinstance(target, ast.Subscript):
            pointer, dtype = self.element(target)
            converted = convert(self.builder, value, kind, dtype)
            self.builder.store(self.builder.zext(converted, STORED["b1"]) if dtype == "b1" else converted,
                               pointer)
        else:
            raise Unsupported("assignment target")

    def loop(self, node: ast.For) -> None:
        call = node.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"
                and isinstance(node.target, ast.Name) and not node.orelse and 1 <= len(call.args) <= 2
                and "range" not in self.namespace):
            raise Unsupported("a loop other than `for name in range(...)`")
        bounds = [self.integer(a) for a in call.args]
        start, stop = (ir.Constant(I64, 0), bounds[0]) if len(bounds) == 1 else bounds
        if node.target.id in self.counters and len(bounds) == 2 and not nonnegative_literal(call.args[0]):
            self.counters.discard(node.target.id)  # its start may be negative
        counter = self.allocas.alloca(I64, name=node.target.id + ".next")
        self.builder.store(start, counter)
        test, body, done = (self.fn.append_basic_block(n) for n in ("test", "loop", "done"))
        self.builder.branch(test)
        self.builder.position_at_end(test)
        index = self.builder.load(counter)
        self.builder.cbranch(self.builder.icmp_signed("<", index, stop), body, done)
        self.builder.position_at_end(body)
        self.assign(node.target.id, index, "i8")
        self.builder.store(self.builder.add(index, ir.Constant(I64, 1)), counter)
        self.statements(node.body)
        if not self.builder.block.is_terminated:
            self.builder.branch(test)
        self.builder.position_at_end(done)

    def branch(self, node: ast.If) -> None:
        condition = self.truth(node.test)
        then, otherwise, after = (self.fn.append_basic_block(n) for n in ("then", "else", "endif"))
        self.builder.cbranch(condition, then, otherwise)
        for block, statements in ((then, node.body), (otherwise, node.orelse)):
            self.builder.position_at_end(block)
            self.statements(statements)
            if not self.builder.block.is_terminated:
                self.builder.branch(after)
        self.builder.position_at_end(after)

    def give(self, node: ast.Return) -> None:
        if self.results is not None:  # a kernel: `return (r0, ...)` -> its result pointers
            elements = node.value.elts if isinstance(node.value, ast.Tuple) else None
            if elements is None or len(elements) != self.results or self.result_types:
                raise Unsupported("a kernel's return")
            for element, pointer in zip(elements, self.result_pointers):
                value, kind = self.expression(element)
                if kind not in LLVM_TYPES:
                    raise Unsupported("a returned array")
                self.result_types.append(kind)
                self.builder.store(value, self.builder.bitcast(pointer, LLVM_TYPES[kind].as_pointer()))
            self.builder.ret_void()
            return
        if node.value is None:
            raise Unsupported("a bare return")
        value, kind = self.expression(node.value)
        if self.returned not in (None, kind):
            raise Unsupported(f"returns {self.returned} and {kind}")
        self.returned = kind
        self.builder.ret(value)


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return [t for target in node.targets for t in ast.walk(target)]
    if isinstance(node, ast.AugAssign):
        return [node.target]
    return []
