"""One direct kernel, from its source and argument types to a Python callable.

Owns: `compile_kernel` (object code from the cache, else translate -> IR ->
optimise -> object, saved) and `module_ir`, the whole LLVM module of a
kernel (tests and `graphc` users read it through `kernel_ir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llvmlite import ir

from . import engine
from .entry import build_entry
from .signature import Type, Unsupported, signature_text
from .translate import Translator, translate_kernel


def module_ir(name: str, source: str, types: list[Type], names: dict[str, Any], inline: bool,
              entry: str) -> str:
    """The LLVM IR text of kernel `name` of `source` for argument `types`, with its entry."""
    layout = engine.layout()
    if layout is None:
        raise Unsupported("this interpreter's object layout")
    machine = engine.machine()
    module = ir.Module(name=entry)
    module.triple, module.data_layout = machine.triple, machine.data_layout
    translator = Translator(module, inline)
    core, results = translate_kernel(translator, source, name, types, names)
    build_entry(module, core, entry, types, results, layout)
    return str(module)


def compile_kernel(name: str, source: str, kernel_path: Path, inline: bool, names: dict[str, Any],
                   types: list[Type], fallback: Any) -> Any:
    """Kernel `name`'s entry for `types`: loaded from its cached object code or compiled now."""
    machine = engine.machine()
    path = engine.object_path(kernel_path, signature_text(types))
    entry = f"{name}.{path.name.removesuffix('.direct.o')}"  # one symbol per kernel module and signature
    code, damaged = engine.read(path, entry)
    if damaged:
        from .. import trust

        trust.warn_once(f"graphc could not use the cached machine code of {path} (damaged, or "
                        "another kernel's); compiling it again")
    if code is None:
        code = machine.optimize(module_ir(name, source, types, names, inline, entry))
        try:
            engine.save(path, code, entry)
        except OSError as exc:  # as when Numba cannot save: warn once, private directory
            from .. import recovery

            recovery.give_up(kernel_path, exc)
    return machine.load(code, entry, fallback)
