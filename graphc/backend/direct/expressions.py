"""Expressions of the fused-loop subset -> LLVM IR (the part of translate.Body that computes).

Owns: `Expressions`, the base of translate.Body: constants, names, array
elements (negative indices wrap around, as in Numba), operators with
Numba's typing (scalars.promote), comparisons (float `!=` unordered),
short-circuit `and`/`or`, conditional expressions evaluating one side.
Calls go to calls.py.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np
from llvmlite import ir

from . import calls
from .scalars import FLOATS, INTEGERS, LLVM_TYPES, STORED, constant, convert, promote, unify
from .signature import Unsupported

I64 = LLVM_TYPES["i8"]
_ARITHMETIC = {ast.Add: ("fadd", "add"), ast.Sub: ("fsub", "sub"), ast.Mult: ("fmul", "mul")}
_BITS = {ast.LShift: "shl", ast.RShift: "ashr", ast.BitAnd: "and_", ast.BitOr: "or_",
         ast.BitXor: "xor"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class Expressions:
    """What a function body needs to compute values; translate.Body sets these attributes."""

    builder: ir.IRBuilder
    fn: ir.Function
    namespace: dict[str, Any]
    locals: dict[str, tuple[ir.Value, str]]
    arrays: dict[str, tuple[ir.Value, list[ir.Value], str, list[ir.Value] | None]]
    counters: set[str]
    translator: Any

    def expression(self, node: ast.expr) -> tuple[ir.Value, str]:
        if isinstance(node, ast.Constant):
            return constant(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.locals:
                slot, kind = self.locals[node.id]
                return self.builder.load(slot), kind
            if node.id in self.arrays:
                raise Unsupported(f"array {node.id} used as a value")
            return constant(self.namespace.get(node.id, _MISSING))
        if isinstance(node, ast.Attribute):
            return constant(self.attribute(node))
        if isinstance(node, ast.BinOp):
            return self.binary(node.op, node.left, node.right)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise Unsupported("a chained comparison")
            return self.compare(node.ops[0], node.left, node.comparators[0]), "b1"
        if isinstance(node, ast.BoolOp):
            return self.boolean(node), "b1"
        if isinstance(node, ast.IfExp):
            return self.choose(node.test, node.body, node.orelse)
        if isinstance(node, ast.Subscript):
            pointer, dtype = self.element(node)
            value = self.builder.load(pointer)
            return (self.builder.icmp_unsigned("!=", value, ir.Constant(STORED["b1"], 0)), "b1") \
                if dtype == "b1" else (value, dtype)
        if isinstance(node, ast.Call):
            return calls.call(self, node)
        raise Unsupported(type(node).__name__)

    def attribute(self, node: ast.Attribute) -> Any:
        """The object `module.name` stands for (np.float64, math.sqrt, np.inf...)."""
        if not isinstance(node.value, ast.Name) or node.value.id in self.locals \
                or node.value.id in self.arrays:
            raise Unsupported("an attribute of a value")
        owner = self.namespace.get(node.value.id)
        if owner is not np and owner is not math:
            raise Unsupported(f"{node.value.id}.{node.attr}")
        return getattr(owner, node.attr)

    def integer(self, node: ast.expr) -> ir.Value:
        value, kind = self.expression(node)
        if kind != "i8":
            raise Unsupported(f"{kind} where an integer is needed")
        return value

    def truth(self, node: ast.expr) -> ir.Value:
        value, kind = self.expression(node)
        if kind != "b1":
            raise Unsupported("a condition that is not a comparison")
        return value

    def binary(self, op: ast.operator, left_node: ast.expr, right_node: ast.expr) -> tuple[ir.Value, str]:
        left, lkind = self.expression(left_node)
        right, rkind = self.expression(right_node)
        b = self.builder
        if type(op) in _ARITHMETIC:
            kind = promote(lkind, rkind)
            kind = "i8" if kind == "b1" else kind  # True + True is 2
            float_op, int_op = _ARITHMETIC[type(op)]
            left, right = convert(b, left, lkind, kind), convert(b, right, rkind, kind)
            return getattr(b, float_op if kind in FLOATS else int_op)(left, right), kind
        if isinstance(op, ast.Div):
            kind = promote(lkind, rkind)
            kind = "f8" if kind not in FLOATS else kind
            return b.fdiv(convert(b, left, lkind, kind), convert(b, right, rkind, kind)), kind
        if type(op) in _BITS:
            kind = promote(lkind, rkind)
            if kind == "i8" or (kind == "b1" and not isinstance(op, (ast.LShift, ast.RShift))):
                left, right = convert(b, left, lkind, kind), convert(b, right, rkind, kind)
                return getattr(b, _BITS[type(op)])(left, right), kind
        raise Unsupported(f"{type(op).__name__} of {lkind} and {rkind}")

    def unary(self, node: ast.UnaryOp) -> tuple[ir.Value, str]:
        value, kind = self.expression(node.operand)
        if isinstance(node.op, ast.UAdd) and kind in FLOATS:
            return value, kind
        if isinstance(node.op, ast.USub) and kind in FLOATS:
            return self.builder.fneg(value), kind
        if isinstance(node.op, ast.USub) and kind in (*INTEGERS, "b1"):  # -int32 and -True are int64
            return self.builder.neg(convert(self.builder, value, kind, "i8")), "i8"
        if isinstance(node.op, ast.Not) and kind == "b1":
            return self.builder.not_(value), kind
        raise Unsupported(f"{type(node.op).__name__} of {kind}")

    def compare(self, op: ast.cmpop, left_node: ast.expr, right_node: ast.expr) -> ir.Value:
        if type(op) not in _COMPARE:
            raise Unsupported(type(op).__name__)
        left, lkind = self.expression(left_node)
        right, rkind = self.expression(right_node)
        kind = promote(lkind, rkind)
        left, right = convert(self.builder, left, lkind, kind), convert(self.builder, right, rkind, kind)
        symbol = _COMPARE[type(op)]
        if kind in FLOATS:
            ordered = symbol != "!="  # Python's != is true for NaN: LLVM's une
            compare = self.builder.fcmp_ordered if ordered else self.builder.fcmp_unordered
            return compare(symbol, left, right)
        return (self.builder.icmp_unsigned if kind == "b1" else self.builder.icmp_signed)(symbol, left, right)

    def boolean(self, node: ast.BoolOp) -> ir.Value:
        """`a and b` / `a or b` of comparisons, short-circuit like Python (b may not be safe to read)."""
        value = self.truth(node.values[0])
        for operand in node.values[1:]:
            before = self.builder.block
            more, after = self.fn.append_basic_block("more"), self.fn.append_basic_block("decided")
            if isinstance(node.op, ast.And):
                self.builder.cbranch(value, more, after)
            else:
                self.builder.cbranch(value, after, more)
            self.builder.position_at_end(more)
            other = self.truth(operand)
            last = self.builder.block
            self.builder.branch(after)
            self.builder.position_at_end(after)
            phi = self.builder.phi(LLVM_TYPES["b1"])
            phi.add_incoming(value, before)
            phi.add_incoming(other, last)
            value = phi
        return value

    def choose(self, test: ast.expr, yes: ast.expr, no: ast.expr) -> tuple[ir.Value, str]:
        """`yes if test else no`: only the chosen side is evaluated, as in Python."""
        condition = self.truth(test)
        then, otherwise, after = (self.fn.append_basic_block(n) for n in ("yes", "no", "chosen"))
        self.builder.cbranch(condition, then, otherwise)
        sides = []
        for block, node in ((then, yes), (otherwise, no)):
            self.builder.position_at_end(block)
            value, kind = self.expression(node)
            sides.append((value, kind, self.builder.block))  # nested choices end in another block
        kind = unify(sides[0][1], sides[1][1])
        incoming = []
        for value, side_kind, end in sides:  # each side converted where it was computed
            self.builder.position_at_end(end)
            incoming.append((convert(self.builder, value, side_kind, kind), self.builder.block))
            self.builder.branch(after)
        self.builder.position_at_end(after)
        phi = self.builder.phi(LLVM_TYPES[kind])
        for value, block in incoming:
            phi.add_incoming(value, block)
        return phi, kind

    def element(self, node: ast.Subscript) -> tuple[ir.Value, str]:
        """The address of `array[i, j, ...]` (every index given; negative ones wrap around)."""
        if not isinstance(node.value, ast.Name) or node.value.id not in self.arrays:
            raise Unsupported("indexing something other than an array parameter")
        data, shape, dtype, strides = self.arrays[node.value.id]
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(indices) != len(shape) or not shape:
            raise Unsupported("indexing that is not one element")
        b = self.builder
        offset: ir.Value = ir.Constant(I64, 0)
        for axis, (index_node, size) in enumerate(zip(indices, shape)):
            index = self.integer(index_node)
            if not (isinstance(index_node, ast.Name) and index_node.id in self.counters) \
                    and not nonnegative_literal(index_node):
                negative = b.icmp_signed("<", index, ir.Constant(I64, 0))
                index = b.select(negative, b.add(index, size), index)
            offset = b.add(b.mul(offset, size), index) if strides is None \
                else b.add(offset, b.mul(index, strides[axis]))  # in bytes
        if strides is not None:
            byte = b.gep(b.bitcast(data, ir.IntType(8).as_pointer()), [offset], inbounds=True)
            return b.bitcast(byte, data.type), dtype
        return self.builder.gep(data, [offset], inbounds=True), dtype



def nonnegative_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value >= 0


_MISSING = object()  # a name the function's namespace lacks: constant() rejects it
