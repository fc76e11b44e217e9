"""A graph lowered before: its generated code and schedule facts from the cache, without codegen.

Why: a warm start of a graph this cache has compiled before (the same model in a
new process) loads the simplified graph (api.py `_simplified`) and the machine
code, but scheduled and generated the module again: ~0.15 s of a 64-layer
MLP's ~0.35 s, plus importing the code generator (~20 modules). Lowering is a
pure function of the simplified graph and the options, so its result is kept
under a key of exactly those, and a hit skips `lower` and never imports
codegen, policy or the interpreter's tables.

The key (`key`) covers: every input's name, shape and dtype (an input no output
reaches is still a parameter of the generated function), the simplified graph
as records (serialize.value_digest: ops, attributes, shapes and named sizes,
dtypes, values, names, source lines), the output names, `parallel`, `kernels`,
graphc's source and NumPy's version (serialize.code_version), what generated code links in and Numba's version
(cache.code_version), Python's version, the GRAPHC_* settings that steer code
generation, and the tunables of the lowering modules this process has loaded
(`tunables`: their UPPERCASE constants and which function each name holds, so
a monkeypatched threshold or function is a different key, never a stale hit;
modules a lowering of ours imported count as their source while unchanged, so
the key is the same before and after a process's first lowering), and the
settings graphc's op modules declare (`declared_settings`: each module's
`LOWERING_SETTINGS` names the constants its lowering records read, e.g.
graphc.ops.linalg's SMALL_MATMUL, the size below which a product is loops; their
values now, always: every such module is imported by `import graphc`, so the key
does not depend on what the process imported or did before).
An entry (`graphs/lowered-<key>.pickle`) is sealed like a saved graph
(signed.py: HMAC under the per-user key, checked before unpickling) and holds
plain data only: `Generated`'s and each kernel's fields as dicts, so loading
it imports no graphc class; a hit rebuilds them as records with the same
attributes (`Record`). A graph whose constants are large is not kept (the
entry would copy them; lowering is cheap next to moving them).

Imports: serialize, signed, cache, lower (Lowered); the standard library.
Entry points: `loaded`, `key`, `load`, `remember`, `save`, called by jit.prepare;
`declared_values` and `apply_values` carry the declared settings to the compile worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np

from .. import serialize
from ..ir import Node
from . import cache, signed
from .lower import Lowered

PREFIX = "lowered-"  # signed.graph_path(PREFIX + key): beside the simplified graphs
MAX_CONSTANT_BYTES = 16 << 20  # larger constants: not kept (see the module docstring)
# Modules whose settings shape the generated code: these, and the modules of these packages.
LOWERING_MODULES = frozenset({
    "graphc.backend.codegen", "graphc.backend.policy", "graphc.backend.schedule",
    "graphc.backend.lower", "graphc.backend.workspace", "graphc.backend.interpreter",
    "graphc.backend.library", "graphc.backend.runtime", "graphc.backend.scan_codegen",
    "graphc.backend.scan_buffers", "graphc.backend.blas_threads", "graphc.lowering", "graphc.printing"})
LOWERING_PACKAGES = ("graphc.backend.codegen.", "graphc.backend.interpreter.", "graphc.backend.library_")
# GRAPHC_* settings that only say where things go or when compiling happens.
NOT_CODE = ("GRAPHC_CACHE_DIR", "GRAPHC_CACHE_LIMIT", "GRAPHC_KERNEL_CACHE_DIR", "GRAPHC_TIERED",
            "GRAPHC_FORK_COMPILE")
_SIMPLE = (bool, int, float, str, bytes, type(None))
# Registries graphc fills as it works, not settings: which helpers another helper calls
# (filled as helpers are jitted: machine-code linkage, not generated text) and the emitter
# of loops (registered when scan_codegen is first imported). In the key they made the
# same graph another key after the process jitted gemm_into or compiled a loop.
STATE = frozenset({("graphc.backend.runtime", "CALLED_BY_HELPERS"),
                   ("graphc.backend.codegen.statements", "NESTED")})


class Record(types.SimpleNamespace):
    """A loaded `Generated` or kernel: the same attributes, no class of the code generator."""


def _fingerprint(value: Any) -> Any:
    """What of a module attribute may change the generated code, the same in every process
    (a set's order follows the process's string hashing: sorted here)."""
    if isinstance(value, types.ModuleType):
        return None
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return tuple(_fingerprint(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(repr(_fingerprint(item)) for item in value))
    if isinstance(value, dict):
        return tuple(sorted(repr((_fingerprint(k), _fingerprint(v))) for k, v in value.items()))
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return (module, name) if isinstance(name, str) else type(value).__qualname__


def _lowering_modules() -> list[str]:
    return sorted(n for n in list(sys.modules)
                  if n in LOWERING_MODULES or n.startswith(LOWERING_PACKAGES))


def _module_marks(name: str) -> list[tuple[str, Any]]:
    items = []
    for attribute, value in sorted(vars(sys.modules[name]).items()):
        if not attribute.startswith("__") and (attribute.isupper() or callable(value)) \
                and (name, attribute) not in STATE:
            mark = _fingerprint(value)
            if mark is not None:
                items.append((attribute, mark))
    return items


# Per-process: lowering modules first imported by a lowering of ours, as they were then.
_PRISTINE: dict[str, list[tuple[str, Any]]] = {}


def tunables() -> list[tuple[str, list[tuple[str, Any]]]]:
    """The lowering modules loaded now that may differ from their source: each with its
    UPPERCASE constants and the function or class each of its names holds.

    A module not loaded yet has its source's values (serialize.code_version covers
    them), and so has one a lowering of ours imported (`remember`) while it still
    looks as it did then; those are left out, so the key is the same before and
    after the first lowering of a process. Any other loaded module (imported by
    the caller, who may have changed it: a test's monkeypatch) is in the key as it is.
    """
    found = []
    for name in _lowering_modules():
        marks = _module_marks(name)
        if _PRISTINE.get(name) != marks:
            found.append((name, marks))
    return found


SETTINGS = "LOWERING_SETTINGS"  # the declaration's name in an op module
SIMPLIFY_SETTINGS = "SIMPLIFY_SETTINGS"  # the same for constants the simplifier's passes read


def declared_settings(declaration: str = SETTINGS) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Every loaded graphc module that declares `declaration` (LOWERING_SETTINGS: the names
    of its constants a lowering reads; SIMPLIFY_SETTINGS: those a simplifier pass reads),
    with those constants' values now. A module's constant read when its ops are lowered (a
    size threshold in a record's template function) is not one of the lowering modules
    `tunables` watches: without this, changing it at run time (gc.ops.linalg.SMALL_MATMUL =
    0) was a hit with the code of the old value; api._simplified keys the simplified graph
    by the simplifier's settings alike."""
    found = []
    for name, module in sorted(item for item in list(sys.modules.items()) if item[0].startswith("graphc.")):
        values = getattr(module, "__dict__", {})  # a dict lookup: ~30 us for graphc's ~150 modules
        if isinstance(values.get(declaration), tuple):
            found.append((name, [(setting, _fingerprint(values.get(setting)))
                                 for setting in values[declaration]]))
    return found


Settings = list[tuple[str, str, Any]]  # (module, constant, value) of declared settings


def declared_values() -> Settings:
    """The values of every declared setting (LOWERING_SETTINGS and SIMPLIFY_SETTINGS) now,
    for the compile worker (backend/compile_worker.py): a user who changed one at run time
    (gc.ops.linalg.SMALL_MATMUL = 0) must get a Numba tier lowered as the NumPy tier and an
    untiered compile would be, not one lowered under the worker's defaults."""
    found = []
    for declaration in (SETTINGS, SIMPLIFY_SETTINGS):
        for name, module in sorted(i for i in list(sys.modules.items()) if i[0].startswith("graphc.")):
            values = getattr(module, "__dict__", {})
            if isinstance(values.get(declaration), tuple):
                found += [(name, setting, values.get(setting)) for setting in values[declaration]]
    return found


def apply_values(settings: Settings) -> None:
    """Set declared settings to the values `declared_values` gave in another process
    (each job of the compile worker carries all of them, so one job's values never
    leak into the next job's lowering)."""
    import importlib

    for name, setting, value in settings:
        if not name.startswith("graphc."):
            continue  # only graphc's own modules declare settings
        module = importlib.import_module(name)
        if setting in getattr(module, SETTINGS, ()) + getattr(module, SIMPLIFY_SETTINGS, ()):
            setattr(module, setting, value)


def loaded() -> frozenset[str]:
    """The lowering modules loaded now (before a lowering: see `remember`)."""
    return frozenset(_lowering_modules())


def remember(before: frozenset[str]) -> None:
    """After a lowering: the lowering modules it imported, as they are now (pristine)."""
    for name in _lowering_modules():
        if name not in before and name not in _PRISTINE:
            _PRISTINE[name] = _module_marks(name)


def key(inputs: Sequence[Node], outputs: Sequence[Node], names: Sequence[str | None] | None,
        parallel: bool, kernels: bool | None) -> str | None:
    """The name of this lowering in the cache, or None if the graph cannot be named."""
    settings = sorted((k, v) for k, v in os.environ.items()
                      if k.startswith("GRAPHC_") and k not in NOT_CODE)
    # every input, used or not: the generated function takes each as a parameter (its name),
    # while the records name only the inputs an output reaches
    signature = [(i.name, repr(tuple(i.shape)), i.dtype.str) for i in inputs]
    context = repr((list(names or ()), parallel, kernels, serialize.code_version(),
                    cache.code_version(), sys.version_info[:3], settings, tunables(), declared_settings(),
                    signature))
    try:
        return serialize.value_digest(inputs, outputs, context)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None  # an attribute pickle cannot hold: lower as usual


def _plain(value: Any) -> Any:
    """A dataclass as a dict of its fields (kernels included), with its class's name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"class": type(value).__name__, "fields": fields}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _record(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"class", "fields"}:
        return Record(**{k: _record(v) for k, v in value["fields"].items()})
    if isinstance(value, list):
        return [_record(item) for item in value]
    return value


def save(name: str | None, lowered: Lowered) -> None:
    """Keep `lowered` under `name` (a full or unwritable disk, or no user key, only costs time)."""
    generated = lowered.generated
    if name is None or sum(c.nbytes for c in generated.constants) > MAX_CONSTANT_BYTES:
        return
    payload = {"generated": _plain(generated), "groups": lowered.groups, "nodes": lowered.nodes,
               "one_thread": lowered.one_thread, "may_alias": lowered.may_alias}
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return
    signed.save_graph(PREFIX + name, data)


_ADOPTED: list[str] = []  # the caller's lowering the compile worker's job compiles (`adopting`)


@contextlib.contextmanager
def adopting(name: str | None) -> Iterator[None]:
    """In the compile worker, around one job: `load` tries the caller's lowering `name`
    first. The worker then compiles exactly the code the caller generated and will load,
    without lowering the graph again (~0.1-0.2 s of its critical path): its own key
    differs from the caller's whenever the two processes loaded other lowering modules
    before lowering (`tunables`), or the caller changed one at run time. Without the
    entry (not saved: large constants, a full disk) the worker lowers as usual. Only the
    job's first `load` may adopt it (the job's own graph): a graph lowered later in the
    same job (none is today) looks up its own name only."""
    _ADOPTED[:] = [name] if name else []
    try:
        yield
    finally:
        _ADOPTED.clear()


def load(name: str | None, outputs: Sequence[Node]) -> Lowered | None:
    """The lowering kept under `name`, or None (no entry, not authentic, or not one of ours)."""
    if _ADOPTED:
        found = _load(_ADOPTED.pop(), outputs)  # once: the job's own graph is lowered first
        if found is not None:
            return found
    return _load(name, outputs)


def _load(name: str | None, outputs: Sequence[Node]) -> Lowered | None:
    if name is None:
        return None
    data = signed.load_graph(PREFIX + name)  # authenticated (HMAC) before anything is unpickled
    if data is None:
        return None
    try:
        payload = pickle.loads(data)  # noqa: S301 - sealed by this user's processes
        generated = _record(payload["generated"])
        if not isinstance(generated, Record) or len(payload["may_alias"]) != len(outputs) or \
                not all(isinstance(c, np.ndarray) for c in generated.constants):
            return None
        return Lowered(None, cast(Any, generated), {"schedule": 0.0, "codegen": 0.0},
                       groups=int(payload["groups"]), nodes=int(payload["nodes"]),
                       one_thread=bool(payload["one_thread"]),
                       may_alias=tuple(bool(a) for a in payload["may_alias"]))
    except Exception:  # noqa: BLE001 - an entry of another version: lower again
        return None
