"""The calls a fused kernel makes, as Numba lowers them: casts, `.view`, abs, sqrt, helpers.

Owns: `call(body, node)`. Why a module of its own: each accepted call is a
small rule (which argument types, which instruction), and the list grows as
kernels need more; translate.py keeps the statements and operators.
"""

from __future__ import annotations

import ast
import math
import types
from typing import Any

import numpy as np
from llvmlite import ir

from .scalars import FLOATS, LLVM_TYPES, NUMPY_NAMES, convert, promote
from .signature import Unsupported

Body = Any  # translate.Body (not imported: it imports this module)

_CASTS = {np.float64: "f8", np.float32: "f4", np.int64: "i8", np.int32: "i4"}
_WIDTHS = {"f8": 64, "i8": 64, "f4": 32, "i4": 32}


def call(body: Body, node: ast.Call) -> tuple[ir.Value, str]:
    if node.keywords:
        raise Unsupported("keyword arguments")
    b = body.builder
    method = node.func
    if isinstance(method, ast.Attribute) and method.attr == "view" and len(node.args) == 1:
        value, kind = body.expression(method.value)  # np.float64(x).view(np.int64): the same bits
        target = _cast_target(body, node.args[0])
        if _WIDTHS.get(kind) != _WIDTHS.get(target) or kind == target:
            raise Unsupported(f"viewing {kind} as {target}")
        return b.bitcast(value, LLVM_TYPES[target]), target
    function = _callee(body, method)
    arguments = [body.expression(a) for a in node.args]
    if function in _CASTS and len(arguments) == 1:
        (value, kind), = arguments
        target = _CASTS[function]
        return convert(b, value, kind, target), target
    if function is abs and len(arguments) == 1:
        (value, kind), = arguments
        if kind in FLOATS:
            return b.call(_intrinsic(body, "llvm.fabs", kind), [value]), kind
        if kind == "i8":
            return b.select(b.icmp_signed("<", value, ir.Constant(LLVM_TYPES["i8"], 0)), b.neg(value),
                            value), kind
    if function is np.divide and len(arguments) == 2:
        (left, lkind), (right, rkind) = arguments
        kind = promote(lkind, rkind)
        kind = kind if kind in FLOATS else "f8"
        return b.fdiv(convert(b, left, lkind, kind), convert(b, right, rkind, kind)), kind
    if function is math.sqrt and len(arguments) == 1:
        (value, kind), = arguments
        target = "f4" if kind == "f4" else "f8"  # Numba: float32 -> float32, integers -> float64
        value = convert(b, value, kind, target)
        return b.call(_intrinsic(body, "llvm.sqrt", target), [value]), target
    if function in (min, max) and len(arguments) == 2 and all(k == "i8" for _, k in arguments):
        (left, _), (right, _) = arguments
        pick = b.icmp_signed("<" if function is min else ">", right, left)
        return b.select(pick, right, left), "i8"
    if isinstance(function, types.FunctionType):
        return _helper(body, function, arguments, outlined=False)
    if isinstance(function, _Outlined):
        return _helper(body, function.function, arguments, outlined=True)
    raise Unsupported(f"calling {ast.unparse(method)}")


class _Outlined:
    """A scalar kernel imported as `exp_f64_call`: the same function, linked noinline."""

    def __init__(self, function: types.FunctionType) -> None:
        self.function = function


def outlined(function: types.FunctionType) -> Any:
    return _Outlined(function)


def _helper(body: Body, function: types.FunctionType, arguments: list[tuple[ir.Value, str]],
            outlined: bool) -> tuple[ir.Value, str]:
    kinds = tuple(kind for _, kind in arguments)
    fn, returned = body.translator.helper(function, kinds, outlined)
    return body.builder.call(fn, [value for value, _ in arguments]), returned


def _callee(body: Body, node: ast.expr) -> Any:
    if isinstance(node, ast.Name):
        if node.id in body.locals or node.id in body.arrays:
            raise Unsupported(f"calling {node.id}")
        if node.id in body.namespace:
            return body.namespace[node.id]
        builtin = {"abs": abs, "min": min, "max": max}.get(node.id)
        if builtin is None:
            raise Unsupported(f"calling {node.id}")
        return builtin
    if isinstance(node, ast.Attribute):
        return body.attribute(node)
    raise Unsupported("calling an expression")


def _cast_target(body: Body, node: ast.expr) -> str:
    """The type code of `np.int64` (an attribute naming a NumPy scalar type)."""
    if isinstance(node, ast.Attribute):
        target = NUMPY_NAMES.get(node.attr)
        if target is not None and body.attribute(node) is getattr(np, node.attr):
            return target
    raise Unsupported(f"view as {ast.unparse(node)}")


def _intrinsic(body: Body, name: str, kind: str) -> ir.Function:
    suffix = {"f8": "f64", "f4": "f32"}[kind]
    full = f"{name}.{suffix}"
    module = body.translator.module
    if full in module.globals:
        return module.globals[full]
    return ir.Function(module, ir.FunctionType(LLVM_TYPES[kind], [LLVM_TYPES[kind]]), full)
