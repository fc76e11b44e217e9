"""The CPython entry of a direct kernel: check and unpack the call's arguments, call, box.

Owns: `build_entry`, the IR of `PyObject *entry(PyObject *self, PyObject *args)`
(METH_VARARGS), and `RUNTIME_GLOBALS`, the process addresses it compares
with (filled in by engine.py after loading: machine code is cached across
processes). Why not a Numba dispatcher: the graph function calls kernels
with the arrays it allocated, so one comparison per argument (exact type,
dtype number and byte order, rank, C-contiguous flag) replaces the dispatcher's
typing of each argument. A call that does not match the compiled types
calls `fallback(*args)`, the kernel's Numba dispatcher, so nothing is
ever read with the wrong type. Object layouts come from engine.LAYOUT,
which checks them against the running interpreter and NumPy first.
"""

from __future__ import annotations

from llvmlite import ir

from .scalars import LLVM_TYPES, STORED
from .signature import DTYPES, Array, Type, Unsupported

BYTE_PTR = ir.IntType(8).as_pointer()
I64, I32 = ir.IntType(64), ir.IntType(32)
# name -> what engine.py stores there (an object's address, in this process)
RUNTIME_GLOBALS = ("ndarray", "int", "float", "float64", "float32", "fallback")
C_API = {  # name -> (return, arguments)
    "PyLong_AsLongLong": (I64, [BYTE_PTR]),
    "PyFloat_AsDouble": (ir.DoubleType(), [BYTE_PTR]),
    "PyErr_Occurred": (BYTE_PTR, []),
    "PyTuple_New": (BYTE_PTR, [I64]),
    "PyTuple_SetItem": (I32, [BYTE_PTR, I64, BYTE_PTR]),
    "PyFloat_FromDouble": (BYTE_PTR, [ir.DoubleType()]),
    "PyLong_FromLongLong": (BYTE_PTR, [I64]),
    "PyBool_FromLong": (BYTE_PTR, [I64]),
    "PyObject_Call": (BYTE_PTR, [BYTE_PTR, BYTE_PTR, BYTE_PTR]),
    "Py_DecRef": (ir.VoidType(), [BYTE_PTR]),
}


def build_entry(module: ir.Module, core: ir.Function, name: str, types: list[Type],
                results: list[str], layout: dict[str, int]) -> None:
    """Add `name`, the METH_VARARGS entry calling `core`, and its runtime globals, to `module`."""
    entry = _Entry(module, name, layout)
    b, args = entry.b, entry.function.args[1]
    slots = [b.alloca(LLVM_TYPES[kind]) for kind in results]
    entry.require(b.icmp_signed("==", entry.field(args, layout["tuple_size"], I64),
                                ir.Constant(I64, len(types))))
    values: list[ir.Value] = []
    for index, kind in enumerate(types):
        values += entry.unpack(entry.field(args, layout["tuple_items"] + 8 * index, BYTE_PTR), kind)
    b.call(core, values + [b.bitcast(slot, BYTE_PTR) for slot in slots])
    b.ret(entry.box(results, slots))
    b.position_at_end(entry.mismatch)
    fallback = b.load(entry.cells["fallback"])
    b.ret(b.call(entry.api["PyObject_Call"], [fallback, args, ir.Constant(BYTE_PTR, None)]))
    b.position_at_end(entry.failed)
    b.ret(ir.Constant(BYTE_PTR, None))


class _Entry:
    """The entry function being built: its blocks, runtime globals and C-API declarations."""

    def __init__(self, module: ir.Module, name: str, layout: dict[str, int]) -> None:
        self.layout = layout
        self.cells = {g: _global(module, f"{name}.{g}") for g in RUNTIME_GLOBALS}
        self.api = {n: _declare(module, n, *signature) for n, signature in C_API.items()}
        self.function = ir.Function(module, ir.FunctionType(BYTE_PTR, [BYTE_PTR, BYTE_PTR]), name)
        self.b = ir.IRBuilder(self.function.append_basic_block("entry"))
        self.mismatch = self.function.append_basic_block("fallback")
        self.failed = self.function.append_basic_block("failed")

    def field(self, pointer: ir.Value, offset: int, kind: ir.Type) -> ir.Value:
        address = self.b.gep(pointer, [ir.Constant(I64, offset)], inbounds=True)
        return self.b.load(self.b.bitcast(address, kind.as_pointer()))

    def require(self, condition: ir.Value, otherwise: ir.Block | None = None) -> None:
        """Go on if `condition`, else the call goes to the fallback (or to `otherwise`)."""
        ok = self.function.append_basic_block("ok")
        self.b.cbranch(condition, ok, otherwise or self.mismatch)
        self.b.position_at_end(ok)

    def same(self, pointer: ir.Value, cell: str) -> ir.Value:
        return self.b.icmp_unsigned("==", pointer, self.b.load(self.cells[cell]))

    def unpack(self, item: ir.Value, kind: Type) -> list[ir.Value]:
        """The core's arguments for one Python argument (an array: data pointer, then shape)."""
        b, layout = self.b, self.layout
        type_ = self.field(item, layout["object_type"], BYTE_PTR)
        if isinstance(kind, Array):
            self.require(self.same(type_, "ndarray"))
            descr = self.field(item, layout["array_descr"], BYTE_PTR)  # an equal dtype may be another
            number = self.field(descr, layout["descr_type_num"], I32)  # object (unpickled): its number
            order = self.field(descr, layout["descr_byteorder"], ir.IntType(8))  # and byte order
            self.require(b.icmp_signed("==", number, ir.Constant(I32, DTYPES[kind.dtype].num)))
            self.require(b.icmp_unsigned("!=", order, ir.Constant(ir.IntType(8), ord(">"))))
            rank = self.field(item, layout["array_nd"], I32)
            self.require(b.icmp_signed("==", rank, ir.Constant(I32, kind.ndim)))
            # aligned (NPY_ARRAY_ALIGNED), and for a C entry C-contiguous (NPY_ARRAY_C_CONTIGUOUS)
            wanted = ir.Constant(I32, 0x100 | (1 if kind.layout == "C" else 0))
            flags = self.field(item, layout["array_flags"], I32)
            self.require(b.icmp_unsigned("==", b.and_(flags, wanted), wanted))
            data = self.field(item, layout["array_data"], STORED[kind.dtype].as_pointer())
            words = [self.field(item, layout["array_dims"], I64.as_pointer())]
            if kind.layout == "A":
                words.append(self.field(item, layout["array_strides"], I64.as_pointer()))
            return [data] + [b.load(b.gep(pointer, [ir.Constant(I64, k)], inbounds=True))
                             for pointer in words for k in range(kind.ndim)]
        if kind == "i8":
            self.require(self.same(type_, "int"))
            value = b.call(self.api["PyLong_AsLongLong"], [item])
            with b.if_then(b.icmp_signed("==", value, ir.Constant(I64, -1)), likely=False):
                error = b.call(self.api["PyErr_Occurred"], [])
                with b.if_then(b.icmp_unsigned("!=", error, ir.Constant(BYTE_PTR, None))):
                    b.branch(self.failed)
            return [value]
        if kind == "f8":  # a float and a NumPy float64 hold the double at the same offset
            self.require(b.or_(self.same(type_, "float"), self.same(type_, "float64")))
            return [self.field(item, layout["float_value"], ir.DoubleType())]
        if kind == "f4":
            self.require(self.same(type_, "float32"))
            return [self.field(item, layout["float_value"], ir.FloatType())]
        raise Unsupported(f"a {kind} argument")

    def box(self, results: list[str], slots: list[ir.Value]) -> ir.Value:
        """The tuple of the kernel's scalar results, as Numba boxes them (NULL, with Python's
        MemoryError set, if an allocation fails)."""
        b = self.b
        null = ir.Constant(BYTE_PTR, None)
        boxed = b.call(self.api["PyTuple_New"], [ir.Constant(I64, len(results))])
        self.require(b.icmp_unsigned("!=", boxed, null), self.failed)
        for index, (kind, slot) in enumerate(zip(results, slots)):
            value = b.load(slot)
            if kind in ("f8", "f4"):  # Numba boxes float32 as a Python float too
                double = b.fpext(value, ir.DoubleType()) if kind == "f4" else value
                item = b.call(self.api["PyFloat_FromDouble"], [double])
            elif kind in ("i8", "i4"):  # Numba boxes int32 as a Python int too
                wide = b.sext(value, I64) if kind == "i4" else value
                item = b.call(self.api["PyLong_FromLongLong"], [wide])
            elif kind == "b1":
                item = b.call(self.api["PyBool_FromLong"], [b.zext(value, I64)])
            else:
                raise Unsupported(f"returning {kind}")
            with b.if_then(b.icmp_unsigned("==", item, null), likely=False):
                b.call(self.api["Py_DecRef"], [boxed])
                b.branch(self.failed)
            b.call(self.api["PyTuple_SetItem"], [boxed, ir.Constant(I64, index), item])
        return boxed


def _global(module: ir.Module, name: str) -> ir.GlobalVariable:
    cell = ir.GlobalVariable(module, BYTE_PTR, name)
    cell.initializer = ir.Constant(BYTE_PTR, None)
    return cell


def _declare(module: ir.Module, name: str, returns: ir.Type, arguments: list[ir.Type]) -> ir.Function:
    return ir.Function(module, ir.FunctionType(returns, arguments), name)
