"""Numba's runtime library (NRT) loaded from graphc's kernel cache instead of compiled in every process.

Owns: `cache_runtime_library()` (the hook), `runtime_key(ir_text, codegen)` and
`runtime_path(codegen)`. Imports: numba and llvmlite, lazily; graphc.backend.cache
and .state. Entry point: runtime.Linking.install, which every graphc compile and
cached load passes before Numba initializes its runtime.

Why: a process's first compile, and its first load of cached machine code,
initialize Numba's runtime (`rtsys.initialize`): Numba builds a small LLVM
module (atomic reference counts, `NRT_decref`, the abort for unresolved
symbols) and runs LLVM's O3 pipeline and code generator on it, 17-19 ms in
every process that runs graphc's compiled code, before the first kernel of
every cold compile and in every warm start (0.06 -> 0.05 s for the 16-layer
MLP step, docs/benchmarks.md table 49). Its machine code depends only on the
IR Numba generates, the versions of Numba, llvmlite and LLVM, the optimisation
level and the host CPU, so graphc keeps it beside its own kernels
(cache.kernels_dir: once per installation, or per user of a shared one; in
NUMBA_CACHE_DIR when that is set, as graphc's kernels are) and loads it the
way Numba loads any cached library, from its object code plus the bitcode
other libraries link in: ~3 ms.

One file per Numba, llvmlite and CPU (`runtime_path`), holding the full key:
a digest of the IR text (without the object ids Numba 0.65 puts in constant
names, new in every process) and everything above. A file whose key differs,
whose checksum does not match, or that LLVM does not load is compiled afresh
and overwritten. Should anything here fail, or this Numba lack a method the
hook uses, Numba's own `compile_nrt_functions` runs: the worst case is
Numba's behaviour.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

from .state import installed_once

_MAGIC = b"graphc-nrt-2\n"
_LENGTHS = struct.Struct("<QQQQ")  # key, name, object code, bitcode for linking
_PROCESS_IDS = re.compile(r'(@"?[\w.$]*?)\.\d{8,}')  # a global named after an object's id
_CHECK = 16  # bytes of the payload's sha256, after the lengths: damage never reaches LLVM
_LIBRARY_METHODS = ("enable_object_caching", "add_ir_module", "finalize", "serialize_using_object_code")


def _versions(codegen: Any) -> str:
    import llvmlite
    import llvmlite.binding as llvm
    import numba

    return "\0".join((_MAGIC.decode(), numba.__version__, llvmlite.__version__,
                      repr(tuple(llvm.llvm_version_info)), repr(codegen.magic_tuple())))


def runtime_key(ir_text: str, codegen: Any) -> str:
    """The cache key of the runtime library compiled from `ir_text` by `codegen` (hex).

    Numba names some constants after a Python object's id (`@".const.pickledata.140270..."`,
    Numba 0.65), different in every process; names are internal to the library's machine
    code, and the constant's bytes stay in the text, so the key reads them without the number.
    """
    import numba

    text = _PROCESS_IDS.sub(r"\1", ir_text)
    parts = (_versions(codegen), repr(numba.config.OPT), text)  # type: ignore[attr-defined]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def runtime_path(codegen: Any) -> list[Path]:
    """Where this Numba's runtime library is cached for this CPU: where it is written first,
    then a shared installation's read-only copy, if that is elsewhere."""
    import numba

    from .. import cache

    name = f"nrt-{hashlib.sha256(_versions(codegen).encode()).hexdigest()[:16]}.bin"
    if numba.config.CACHE_DIR:  # type: ignore[attr-defined]
        return [Path(numba.config.CACHE_DIR) / name]  # type: ignore[attr-defined]
    mine = cache.kernels_dir()[0] / name
    package = cache.package_kernels_dir() / name
    return [mine] if package == mine else [mine, package]


def _encode(key: str, state: tuple[str, str, tuple[bytes, bytes]]) -> bytes:
    name, _, (code, bitcode) = state
    label, tag = name.encode(), key.encode()
    payload = tag + label + code + bitcode
    return (_MAGIC + _LENGTHS.pack(len(tag), len(label), len(code), len(bitcode))
            + hashlib.sha256(payload).digest()[:_CHECK] + payload)


def _decode(data: bytes) -> tuple[str, tuple[str, str, tuple[bytes, bytes]]] | None:
    """(key, state) as `_encode` wrote them, or None for a file that is torn, damaged or not ours."""
    head = len(_MAGIC) + _LENGTHS.size + _CHECK
    if not data.startswith(_MAGIC) or len(data) < head:
        return None
    sizes = _LENGTHS.unpack_from(data, len(_MAGIC))
    payload = data[head:]
    if sum(sizes) != len(payload) or hashlib.sha256(payload).digest()[:_CHECK] != data[head - _CHECK:head]:
        return None
    ends = [sum(sizes[:i + 1]) for i in range(4)]
    key = payload[:ends[0]].decode()
    return key, (payload[ends[0]:ends[1]].decode(), "object",
                 (payload[ends[1]:ends[2]], payload[ends[2]:]))


def _load(key: str, paths: list[Path], codegen: Any) -> Any:
    for path in paths:
        try:
            found = _decode(path.read_bytes())
        except OSError:
            continue
        if found is None or found[0] != key:
            continue
        try:
            return codegen.unserialize_library(found[1])
        except Exception:  # noqa: BLE001 - LLVM refused it: compile afresh (and overwrite it)
            continue
    return None


def _save(key: str, path: Path, library: Any) -> None:
    from .. import cache

    try:
        cache.write_atomic(path, _encode(key, library.serialize_using_object_code()))
        path.chmod(0o644)  # every user of a shared installation may read it
    except Exception:  # noqa: BLE001 - an unwritable cache costs the next process the compile only
        pass


@installed_once("runtime_cache")
def cache_runtime_library() -> bool:
    """Make Numba's runtime initialization load its library from graphc's cache when it can.

    Wraps the internal `nrtdynmod.compile_nrt_functions(ctx)` (what
    `rtsys.initialize` calls once per process): the IR is built as Numba
    builds it (`create_nrt_module`), then loaded by its key, else compiled as
    Numba's function does (with object caching on) and saved. Has no effect
    once the runtime is initialized. Idempotent; returns whether the hook applied.
    """
    from numba.core import codegen as numba_codegen
    from numba.core.runtime import nrtdynmod

    create: Any = getattr(nrtdynmod, "create_nrt_module", None)
    original: Any = getattr(nrtdynmod, "compile_nrt_functions", None)
    library_class = getattr(numba_codegen, "CPUCodeLibrary", None)
    if not (create is not None and original is not None
            and all(hasattr(library_class, method) for method in _LIBRARY_METHODS)
            and hasattr(getattr(numba_codegen, "JITCPUCodegen", None), "unserialize_library")):
        return False

    def compile_nrt_functions(ctx: Any) -> Any:
        try:
            ir_module, library = create(ctx)
            codegen = ctx.codegen()
            key = runtime_key(str(ir_module), codegen)
            paths = runtime_path(codegen)
        except Exception:  # noqa: BLE001 - whatever moved: Numba's own compile
            return original(ctx)
        found = _load(key, paths, codegen)
        if found is not None:
            return found
        library.enable_object_caching()
        library.add_ir_module(ir_module)
        library.finalize()
        _save(key, paths[0], library)
        return library

    compile_nrt_functions.__wrapped__ = original  # type: ignore[attr-defined]
    nrtdynmod.compile_nrt_functions = compile_nrt_functions
    return True
