"""Numba's runtime library (NRT) loaded from graphc's kernel cache instead of compiled in every process.

Owns: `cache_runtime_library()` (the hook) and `runtime_key(ir_text, codegen)`.
Imports: numba internals, lazily; graphc.backend.cache and .state. Entry
point: runtime.Linking.install, which every graphc compile and cached load
passes before Numba initializes its runtime.

Why: a process's first compile, and its first load of cached machine code,
initialize Numba's runtime (`rtsys.initialize`): Numba builds a small LLVM
module (atomic reference counts, `NRT_decref`, the abort for unresolved
symbols) and runs LLVM's O3 pipeline and code generator on it, 17-19 ms in
every process that runs graphc's compiled code. That is a third of a warm
start (a graph whose kernels are in the disk cache) and sits before the first
kernel of every cold compile. Its machine code depends only on the IR Numba
generates, Numba's and llvmlite's versions and the host CPU, so graphc keeps it
once per installation beside its own kernels (cache.kernels_dir, filled by a
first compile or `graphc warmup`) and loads it the way Numba loads any cached
library, from its object code plus the bitcode that other libraries link in:
~3 ms. The key digests the IR text itself with the versions and the CPU
(Numba's `magic_tuple`), so any change to them compiles afresh; a file whose
checksum does not match, or that LLVM does not load, is replaced by a fresh
compile. Without the internals this
relies on, Numba compiles its runtime as before.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

from .state import HOOKS

_MAGIC = b"graphc-nrt-1\n"
_LENGTHS = struct.Struct("<QQQ")  # name, object code, bitcode for linking
_PROCESS_IDS = re.compile(r'(@"?[\w.$]*?)\.\d{8,}')  # a global named after an object's id
_CHECK = 16  # bytes of the payload's sha256, after the lengths: damage never reaches LLVM


def runtime_key(ir_text: str, codegen: Any) -> str:
    """The cache key of the runtime library compiled from `ir_text` by `codegen` (hex).

    Numba names some constants after a Python object's id (`@".const.pickledata.140270..."`,
    Numba 0.65), different in every process; names are internal to the library's machine
    code, so the key reads them without the number.
    """
    import llvmlite
    import numba

    text = _PROCESS_IDS.sub(r"\1", ir_text)
    parts = (_MAGIC.decode(), numba.__version__, llvmlite.__version__, repr(codegen.magic_tuple()),
             text)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _paths(key: str) -> list[Path]:
    from .. import cache

    mine = cache.kernels_dir()[0] / f"nrt-{key}.bin"
    package = cache.package_kernels_dir() / mine.name  # a shared install's warm copy
    return [mine] if package == mine else [mine, package]


def _encode(state: tuple[str, str, tuple[bytes, bytes]]) -> bytes:
    name, _, (code, bitcode) = state
    label = name.encode()
    payload = label + code + bitcode
    return (_MAGIC + _LENGTHS.pack(len(label), len(code), len(bitcode))
            + hashlib.sha256(payload).digest()[:_CHECK] + payload)


def _decode(data: bytes) -> tuple[str, str, tuple[bytes, bytes]] | None:
    """The state `_encode` wrote, or None for a file that is torn, damaged or not ours."""
    head = len(_MAGIC) + _LENGTHS.size + _CHECK
    if not data.startswith(_MAGIC) or len(data) < head:
        return None
    sizes = _LENGTHS.unpack_from(data, len(_MAGIC))
    payload = data[head:]
    if sum(sizes) != len(payload) or hashlib.sha256(payload).digest()[:_CHECK] != data[head - _CHECK:head]:
        return None
    name_end = sizes[0]
    code_end = name_end + sizes[1]
    return payload[:name_end].decode(), "object", (payload[name_end:code_end], payload[code_end:])


def _load(key: str, codegen: Any) -> Any:
    for path in _paths(key):
        try:
            state = _decode(path.read_bytes())
        except OSError:
            continue
        if state is None:
            continue
        try:
            return codegen.unserialize_library(state)
        except Exception:  # noqa: BLE001 - a damaged file: compile afresh (and replace it)
            continue
    return None


def _save(key: str, library: Any) -> None:
    from .. import cache

    path = _paths(key)[0]
    try:
        cache.write_atomic(path, _encode(library.serialize_using_object_code()))
        path.chmod(0o644)  # as Numba's own cache files: every user of a shared install reads it
    except Exception:  # noqa: BLE001 - an unwritable cache costs the next process the compile only
        pass


def cache_runtime_library() -> bool:
    """Make Numba's runtime initialization load its library from graphc's cache when it can.

    Wraps the internal `nrtdynmod.compile_nrt_functions(ctx)` (what
    `rtsys.initialize` calls once per process): the IR is built as Numba
    builds it, then loaded from the cache by its key, else compiled as
    Numba does (with object caching on) and saved. Has no effect once the
    runtime is initialized. Idempotent; returns whether the hook applied.
    """
    if "runtime_cache" in HOOKS:
        return HOOKS["runtime_cache"]
    try:
        from numba.core.runtime import nrtdynmod
    except ImportError:
        HOOKS["runtime_cache"] = False
        return False
    create: Any = getattr(nrtdynmod, "create_nrt_module", None)
    HOOKS["runtime_cache"] = create is not None and hasattr(nrtdynmod, "compile_nrt_functions")
    if not HOOKS["runtime_cache"]:
        return False

    def compile_nrt_functions(ctx: Any) -> Any:
        ir_module, library = create(ctx)
        codegen = ctx.codegen()
        try:
            key: str | None = runtime_key(str(ir_module), codegen)
        except Exception:  # noqa: BLE001 - a codegen without magic_tuple: Numba's compile
            key = None
        found = _load(key, codegen) if key else None
        if found is not None:
            return found
        if key:
            library.enable_object_caching()
        library.add_ir_module(ir_module)
        library.finalize()
        if key:
            _save(key, library)
        return library

    compile_nrt_functions.__wrapped__ = nrtdynmod.compile_nrt_functions  # type: ignore[attr-defined]
    nrtdynmod.compile_nrt_functions = compile_nrt_functions
    return True
