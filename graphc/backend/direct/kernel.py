"""A shared fused kernel compiled by the direct path: chosen at link time, typed at first call.

Owns: `accepted(kernel)` and `eligible` (the kernel's source and every helper
it calls use only what translate.py compiles: decided from the text, so a
kernel that is not goes to Numba and its forked compile as before),
`stand_in_for` with its registry `STAND_INS`, and `DirectKernel`, the
stand-in a graph module calls. Its first call reads the argument types (like
a Numba dispatcher), loads the kernel's object code from the cache or
translates and compiles it, and puts the compiled entry in every module that
holds the stand-in. Types the direct path does not take, or source it
refuses, put the Numba dispatcher there instead; an LLVM or JIT error does
too, with a RuntimeWarning. An entry called with other types than its own
hands the call back here (`other_types`): the entry of those types, compiled
on first need, or Numba's dispatcher.
"""

from __future__ import annotations

import ast
import functools
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .signature import Unsupported, signature, signature_text

# what a kernel may call besides graphc's scalar kernels and helpers (calls.py)
_BUILTINS = {"range", "abs", "min", "max"}
_MODULE_CALLS = {("np", "float64"), ("np", "float32"), ("np", "int64"), ("np", "int32"), ("np", "divide"),
                 ("math", "sqrt")}
_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.AugAssign, ast.For, ast.If,
          ast.Return, ast.Expr, ast.Name, ast.Load, ast.Store, ast.Constant, ast.Tuple, ast.Subscript,
          ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Call, ast.Attribute,
          ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Import, ast.ImportFrom, ast.alias)
CLOCK = {"seconds": 0.0}  # time spent translating, compiling and loading direct kernels
_CLOCK_LOCK = threading.Lock()


STAND_INS: dict[str, DirectKernel] = {}  # kernel name -> its stand-in, once per process


def stand_in_for(kernel: Any, path: Path, numba: Callable[[Any, Path], Any]) -> DirectKernel | None:
    """The direct path's stand-in for a shared kernel (codegen/outline.py's Kernel at `path`),
    or None where Numba compiles it: a re-rolled loop (it calls kernels from compiled code),
    GRAPHC_DIRECT=0, or a source that uses what translate.py does not compile.
    `numba(kernel, path)` makes the kernel's Numba dispatcher, for calls the direct path refuses."""
    if not enabled():  # read at each link: it also holds for kernels already known
        return None
    if kernel.name in STAND_INS:
        return STAND_INS[kernel.name]
    names = accepted(kernel)
    if names is None:
        return None
    STAND_INS[kernel.name] = DirectKernel(kernel.name, kernel.source, path, kernel.inline, names,
                                          lambda: numba(kernel, path), kernel.returns)
    return STAND_INS[kernel.name]


def accepted(kernel: Any) -> dict[str, Any] | None:
    """The names a shared kernel's source imports, if the direct path takes it (from its text:
    its types are known at its first call), else None."""
    if not enabled() or getattr(kernel, "calls", None) is not None:
        return None
    names = namespace(kernel.source)
    return names if names is not None and eligible(kernel.source, names) else None


def enabled() -> bool:
    """GRAPHC_DIRECT=0 (or false, no, off) turns the direct path off: every kernel compiles
    with Numba. Read at each link, so a change holds for the next graph compiled."""
    from .engine import layout

    setting = os.environ.get("GRAPHC_DIRECT", "1").strip().lower()
    return setting not in ("0", "false", "no", "off") and layout() is not None


def namespace(source: str) -> dict[str, Any] | None:
    """What the names of a kernel module's imports stand for (plain Python), or None if it
    imports something the direct path does not compile."""
    from .. import kernels, library, runtime
    from .calls import outlined

    names: dict[str, Any] = {"np": np, "math": math}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module == "graphc.backend.runtime":
            for alias in node.names:
                name = alias.name
                if name in runtime.SCALAR_KERNELS and _helper_ok(getattr(kernels, name)):
                    names[alias.asname or name] = getattr(kernels, name)
                elif name.endswith(runtime.CALLED) and name[:-len(runtime.CALLED)] in runtime.SCALAR_KERNELS \
                        and _helper_ok(getattr(kernels, name[:-len(runtime.CALLED)])):
                    names[alias.asname or name] = outlined(getattr(kernels, name[:-len(runtime.CALLED)]))
                elif name in library.HELPERS and _helper_ok(library.helper(name)):
                    names[alias.asname or name] = library.helper(name)
                else:
                    return None
        elif isinstance(node, ast.Import):
            if any(alias.name not in ("numpy", "math") for alias in node.names):
                return None
        elif not isinstance(node, ast.FunctionDef):
            return None
    return names


def eligible(source: str, names: dict[str, Any]) -> bool:
    """Whether every construct of `source` is one translate.py compiles (types aside)."""
    return _syntax_ok(ast.parse(source), names)


def _syntax_ok(tree: ast.AST, names: dict[str, Any]) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            return False
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute):
                owner = function.value
                if function.attr == "view":
                    continue
                if not (isinstance(owner, ast.Name) and (owner.id, function.attr) in _MODULE_CALLS):
                    return False
            elif not (isinstance(function, ast.Name) and (function.id in _BUILTINS or function.id in names)):
                return False
    return True


@functools.cache
def _helper_ok(function: Callable[..., Any]) -> bool:
    """Whether a helper's source (and its callees') is all translate.py compiles; False too
    where its source is not there to read (an installation of .pyc files only)."""
    from .translate import function_ast

    try:
        function_ast(function)
    except (Unsupported, OSError, SyntaxError):
        return False
    names = dict(function.__globals__)
    callees = [n.func.id for n in ast.walk(function_ast(function))
               if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names]
    return _syntax_ok(function_ast(function), names) and all(
        callable(names[c]) and _helper_ok(names[c]) for c in callees if c not in _BUILTINS)


class DirectKernel:
    """The stand-in for kernel `name` until its first call decides what serves it.

    Each argument signature gets its own compiled entry; an entry called with
    other types hands the call to `other_types`, which compiles the entry for
    those (or, for types the direct path does not take, uses Numba's dispatcher).
    """

    def __init__(self, name: str, source: str, path: Path, inline: bool, names: dict[str, Any],
                 numba: Callable[[], Any], returns: int = 0) -> None:
        self.name, self.source, self.path, self.inline, self.names = name, source, path, inline, names
        self.returns = returns  # scalars it returns (a forked compile's child stands in for it)
        self.numba = numba  # builds the kernel's Numba dispatcher
        self.modules: weakref.WeakSet[Any] = weakref.WeakSet()  # until the first call decides
        self.serving: Any = None
        self.entries: dict[str, Any] = {}  # signature text -> its entry (or Numba's dispatcher)
        self.dispatcher: Any = None
        self.lock = threading.RLock()

    def install(self, module: Any) -> None:
        with self.lock:
            setattr(module, self.name, self.serving if self.serving is not None else self)
            if self.serving is None:
                self.modules.add(module)

    def __call__(self, *arguments: Any) -> Any:
        with self.lock:  # two threads' first calls: one compile
            if self.serving is None:
                self.serving = self._serving(arguments)
                for module in list(self.modules):
                    setattr(module, self.name, self.serving)
                self.modules.clear()
        return self.serving(*arguments)

    def other_types(self, refused_by: str, *arguments: Any) -> Any:
        """A call the entry of signature `refused_by` refused: the entry of the call's types."""
        with self.lock:
            target = self._serving(arguments, refused_by)
        return target(*arguments)

    def _serving(self, arguments: tuple[Any, ...], refused_by: str | None = None) -> Any:
        types = signature(arguments)
        if types is None:
            return self._numba()
        key = signature_text(types)
        if key == refused_by:  # an entry refused its own types (an equal dtype, another descriptor)
            return self._numba()
        if key not in self.entries:
            self.entries[key] = self._entry(types, key)
        return self.entries[key]

    def _entry(self, types: list[Any], key: str) -> Any:
        start = time.perf_counter()
        try:
            from .compile import compile_kernel

            return compile_kernel(self.name, self.source, self.path, self.inline, self.names, types,
                                  functools.partial(self.other_types, key))
        except Unsupported:
            return self._numba()
        except Exception as exc:  # noqa: BLE001 - LLVM or the JIT failed: Numba compiles it
            warnings.warn(f"graphc's direct path could not compile kernel {self.name} "
                          f"({type(exc).__name__}: {exc}); Numba compiles it instead "
                          "(GRAPHC_DIRECT=0 sends every kernel to Numba)", RuntimeWarning, stacklevel=2)
            return self._numba()
        finally:
            with _CLOCK_LOCK:
                CLOCK["seconds"] += time.perf_counter() - start

    def _numba(self) -> Any:
        if self.dispatcher is None:
            self.dispatcher = self.numba()
        return self.dispatcher
