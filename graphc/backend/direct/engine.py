"""LLVM for the direct path: one JIT per process, object code on disk, Python callables.

Owns: `layout()` (the object offsets the entries read, checked against this
interpreter and NumPy: the direct path is off where they differ), `machine()`
(the process's one target machine and MCJIT, made under a lock), `optimize`
(LLVM's O3 pipeline with Numba's target machine and loop vectorizer
settings, so a kernel gets the machine code Numba would give it), `load`
(object code into the process, its runtime globals filled in, a
`builtin_function_or_method` around its entry, once per entry name),
`object_path` (objects.py's name for this CPU) and `read`/`save`, the sealed
object files. Why MCJIT with object files: a warm process
loads a kernel in about a millisecond without parsing or optimising IR.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .entry import C_API, RUNTIME_GLOBALS
from .objects import object_name

_METH_VARARGS = 1


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("method", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_KEEP: list[Any] = []  # method definitions, names and fallbacks the loaded kernels point to


@functools.cache
def layout() -> dict[str, int] | None:
    """The offsets the entries read, if this interpreter and NumPy have them (else None).

    They are CPython's and NumPy's public struct layouts (PyObject_HEAD,
    PyTupleObject, PyFloatObject, PyArrayObject_fields); reading them from
    live objects first keeps a build with another layout (a debug or
    free-threaded CPython) on the Numba path instead of misreading memory.
    """
    offsets = {"object_type": 8, "tuple_size": 16, "tuple_items": 24, "float_value": 16,
               "array_data": 16, "array_nd": 24, "array_dims": 32, "array_strides": 40, "array_descr": 56,
               "array_flags": 64, "descr_byteorder": 26, "descr_type_num": 28}
    free_threaded = not getattr(sys, "_is_gil_enabled", lambda: True)()
    if sys.maxsize != 2**63 - 1 or sys.byteorder != "little" or free_threaded \
            or hasattr(sys, "gettotalrefcount"):
        return None
    word = ctypes.c_void_p

    def read(obj: Any, offset: int, kind: Any = word) -> Any:
        return kind.from_address(id(obj) + offset).value

    probe = np.zeros((3, 5))
    items = (probe, 2.5)
    try:
        checks = [read(items, offsets["object_type"]) == id(tuple),
                  read(items, offsets["tuple_size"], ctypes.c_ssize_t) == 2,
                  read(items, offsets["tuple_items"]) == id(probe),
                  read(2.5, offsets["float_value"], ctypes.c_double) == 2.5,
                  read(np.float64(2.5), offsets["float_value"], ctypes.c_double) == 2.5,
                  read(np.float32(2.5), offsets["float_value"], ctypes.c_float) == 2.5,
                  read(probe, offsets["array_data"]) == probe.ctypes.data,
                  read(probe, offsets["array_nd"], ctypes.c_int) == 2,
                  read(probe, offsets["array_descr"]) == id(probe.dtype),
                  read(probe, offsets["array_flags"], ctypes.c_int) & 1 == 1,
                  (ctypes.c_ssize_t * 2).from_address(read(probe, offsets["array_dims"]))[:] == [3, 5],
                  (ctypes.c_ssize_t * 2).from_address(read(probe, offsets["array_strides"]))[:] == [40, 8],
                  read(probe.dtype, offsets["descr_type_num"], ctypes.c_int) == probe.dtype.num,
                  read(np.dtype(">f8"), offsets["descr_byteorder"], ctypes.c_char) == b">",
                  read(np.dtype("<f8"), offsets["descr_byteorder"], ctypes.c_char) != b">"]
    except (ValueError, TypeError, OverflowError):
        return None
    return offsets if all(checks) else None


class _Machine:
    """The process's LLVM: target machine (Numba's options), pass settings, JIT engine."""

    def __init__(self) -> None:
        import llvmlite.binding as llvm

        self.llvm = llvm
        try:  # llvmlite >= 0.45 initialises itself (and warns here)
            llvm.initialize()
        except RuntimeError:
            pass
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        for name in C_API:
            llvm.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value)
        target = llvm.Target.from_triple(llvm.get_process_triple())
        # as Numba's JIT codegen chooses them (numba/core/codegen.py, JITCPUCodegen), and
        # NUMBA_CPU_NAME / NUMBA_CPU_FEATURES as Numba reads them (e.g. "generic" for a cache
        # shared by machines of different CPUs)
        self.cpu = os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()
        self.features = os.environ.get("NUMBA_CPU_FEATURES") or (
            "" if os.environ.get("NUMBA_CPU_NAME") else llvm.get_host_cpu_features().flatten())
        arch = target.name
        reloc = "static" if arch.startswith("x86") else "pic" if arch.startswith("ppc") else "default"
        self.tm = target.create_target_machine(cpu=self.cpu, features=self.features, opt=3,
                                               reloc=reloc, codemodel="jitdefault", jit=True)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.tm)
        self.triple, self.data_layout = llvm.get_process_triple(), str(self.tm.target_data)
        self.loaded: dict[str, Any] = {}  # entry name -> its callable
        self.lock = threading.Lock()

    def optimize(self, text: str) -> bytes:
        """IR text -> object code: O3 with the loop vectorizer, as Numba configures it."""
        llvm = self.llvm
        module = llvm.parse_assembly(text)
        module.verify()
        options = llvm.create_pipeline_tuning_options()
        options.speed_level = 3
        options.loop_vectorization = True
        options.slp_vectorization = False
        builder = llvm.create_pass_builder(self.tm, options)
        builder.getModulePassManager().run(module, builder)
        return bytes(self.tm.emit_object(module))

    def load(self, code: bytes, entry: str, fallback: Any) -> Any:
        """The object code's `entry` as a Python callable, its globals pointing at this process's
        objects; `fallback` (the kernel's Numba dispatcher) takes calls of other types.
        An entry loads once per process (its symbols are the JIT's, process-wide)."""
        with self.lock:
            if entry not in self.loaded:
                self.loaded[entry] = self._load(code, entry, fallback)
            return self.loaded[entry]

    def _load(self, code: bytes, entry: str, fallback: Any) -> Any:
        self.engine.add_object_file(self.llvm.ObjectFileRef.from_data(code))
        self.engine.finalize_object()
        values = {"ndarray": np.ndarray, "int": int, "float": float, "float64": np.float64,
                  "float32": np.float32, "fallback": fallback}
        for name in RUNTIME_GLOBALS:
            address = self.engine.get_global_value_address(f"{entry}.{name}")
            ctypes.c_void_p.from_address(address).value = id(values[name])
        _KEEP.append(fallback)
        definition = _MethodDef(entry.encode(), self.engine.get_function_address(entry), _METH_VARARGS,
                                None)
        _KEEP.append(definition)
        make = ctypes.pythonapi.PyCFunction_NewEx
        make.restype, make.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
        return make(ctypes.addressof(definition), None, None)


_MACHINE: list[_Machine] = []
_MACHINE_LOCK = threading.Lock()


def machine() -> _Machine:
    """The process's one LLVM machine, made once even when two threads' first compiles race
    (a second MCJIT would free code that the first's callables still point to)."""
    if not _MACHINE:
        with _MACHINE_LOCK:
            if not _MACHINE:
                _MACHINE.append(_Machine())
    return _MACHINE[0]


def object_path(kernel_path: Path, signature: str) -> Path:
    """Where the object code of a kernel's module compiled for `signature` on this machine's
    CPU is cached (objects.py; the module's name keys graphc's and Numba's versions)."""
    tm = machine()
    return object_name(kernel_path, "|".join((signature, tm.cpu, tm.features)))


def _seal(code: bytes, entry: str) -> bytes:
    return hashlib.sha256(code + entry.encode()).digest()


def read(path: Path, entry: str) -> tuple[bytes | None, bool]:
    """(the cached object code of `entry` or None, whether a file was there but damaged or
    another kernel's).

    Each file ends with the SHA-256 of its code and the entry's name: loading
    bytes MCJIT cannot relocate would crash the process, and a file swapped
    with another kernel's would run the wrong code.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None, False
    code, seal = data[:-32], data[-32:]
    if len(data) > 32 and seal == _seal(code, entry):
        return code, False
    return None, True


def save(path: Path, code: bytes, entry: str) -> None:
    """Write atomically (another process may read it at once). An OSError is the caller's:
    a full or read-only cache costs a warning, not the compile (compile.py)."""
    from .. import trust
    from ..cache import write_atomic

    trust.make_private_directory(path.parent)  # 0700, like Numba's __pycache__ here
    write_atomic(path, code + _seal(code, entry))  # a temporary of its own per writer
