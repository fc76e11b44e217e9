"""Numba's runtime library loaded from graphc's kernel cache (numba_hooks/runtime_cache.py; issue 17).

Each case runs in a fresh process, where the runtime initializes: a process that has compiled
anything (this one) is past it. References: NumPy for the results, Numba's own runtime
statistics (every allocation freed), and which libraries LLVM compiled in the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

numba = pytest.importorskip("numba")

from graphc.backend.numba_hooks import runtime_cache  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, kernels: Path, graphs: Path, numba_cache: Path | None = None) -> list[str]:
    """Run `script` in a fresh process whose kernel cache (graphc's own) is `kernels`, and whose
    NUMBA_CACHE_DIR is `numba_cache` (unset if None)."""
    env = dict(os.environ, GRAPHC_KERNEL_CACHE_DIR=str(kernels), GRAPHC_CACHE_DIR=str(graphs),
               GRAPHC_TIERED="0", NUMBA_NRT_STATS="1",  # NUMBA_NRT_STATS: rtsys.get_allocation_stats
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NUMBA_CACHE_DIR", None)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


_RUNTIME = r"""
import os
from pathlib import Path
import numpy as np
import numba
from numba.core import codegen
from numba.core.runtime import rtsys
from graphc.backend import cache, numba_hooks

# this test's kernel cache only (not the package's copy, which an earlier run may have written)
cache.package_kernels_dir = lambda: Path(os.environ["GRAPHC_KERNEL_CACHE_DIR"])

finalized = []  # libraries LLVM optimised and emitted in this process
_finalize = codegen.CPUCodeLibrary.finalize
def finalize(library):
    finalized.append(library.name)
    return _finalize(library)
codegen.CPUCodeLibrary.finalize = finalize

assert numba_hooks.cache_runtime_library()

@numba.njit(cache=False)
def grown(n):  # allocates (NRT_MemInfo), keeps and drops references (NRT_incref / NRT_decref)
    a = np.empty(n)
    for i in range(n):
        a[i] = i * 0.5
    b = a
    c = np.concatenate((b, a[::-1]))
    return c.sum(), c

grown(1)  # compiles: the runtime initializes here
before = rtsys.get_allocation_stats()
total, array = grown(7)
del array
after = rtsys.get_allocation_stats()
reference = np.concatenate((np.arange(7) * 0.5, (np.arange(7) * 0.5)[::-1]))
assert total == reference.sum(), total
assert after.alloc - before.alloc == after.free - before.free, (before, after)  # nothing leaked
print("runtime-compiled" if "nrt" in finalized else "runtime-loaded")
"""


def test_the_runtime_library_compiles_once_then_loads_from_the_kernel_cache(tmp_path: Path) -> None:
    kernels, graphs = tmp_path / "kernels", tmp_path / "graphs"
    assert run(_RUNTIME, kernels, graphs) == ["runtime-compiled"]
    saved = list(kernels.glob("nrt-*.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 1000
    assert run(_RUNTIME, kernels, graphs) == ["runtime-loaded"]  # no LLVM work for it now
    assert list(kernels.glob("nrt-*.bin")) == saved


def test_with_numba_cache_dir_set_the_runtime_library_is_cached_there(tmp_path: Path) -> None:
    kernels, graphs, elsewhere = tmp_path / "kernels", tmp_path / "graphs", tmp_path / "numba"
    assert run(_RUNTIME, kernels, graphs, elsewhere) == ["runtime-compiled"]
    assert len(list(elsewhere.glob("nrt-*.bin"))) == 1 and not list(kernels.glob("nrt-*.bin"))
    assert run(_RUNTIME, kernels, graphs, elsewhere) == ["runtime-loaded"]


def test_a_damaged_or_foreign_runtime_file_is_compiled_afresh_and_overwritten(tmp_path: Path) -> None:
    kernels, graphs = tmp_path / "kernels", tmp_path / "graphs"
    run(_RUNTIME, kernels, graphs)
    (saved,) = kernels.glob("nrt-*.bin")
    good = saved.read_bytes()
    key, (name, kind, (code, bitcode)) = runtime_cache._decode(good)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    for damaged in (good[: len(good) // 2],  # torn: the lengths do not add up
                    bytes(flipped),  # a byte changed: the checksum does not match
                    runtime_cache._encode(key, (name, kind, (code, b"not bitcode"))),  # LLVM refuses it
                    runtime_cache._encode("0" * len(key), (name, kind, (code, bitcode)))):  # another key
        saved.write_bytes(damaged)
        assert run(_RUNTIME, kernels, graphs) == ["runtime-compiled"]
        assert runtime_cache._decode(saved.read_bytes())[0] == key
        assert run(_RUNTIME, kernels, graphs) == ["runtime-loaded"]


_GRAPH = r"""
import os
from pathlib import Path
import numpy as np
import graphc as gc
from numba.core import codegen
from graphc.backend import cache

cache.package_kernels_dir = lambda: Path(os.environ["GRAPHC_KERNEL_CACHE_DIR"])  # as _RUNTIME

finalized = []
_finalize = codegen.CPUCodeLibrary.finalize
def finalize(library):
    finalized.append(library.name)
    return _finalize(library)
codegen.CPUCodeLibrary.finalize = finalize

x = gc.input("x", shape=("n",))
f = gc.compile([x], gc.sum(gc.exp(x) * x))
value = np.linspace(-2.0, 2.0, 9)
assert abs(f(value) - np.sum(np.exp(value) * value)) < 1e-12
print("runtime-compiled" if "nrt" in finalized else "runtime-loaded")
"""


def test_gc_compile_installs_the_hook_before_numbas_runtime_starts(tmp_path: Path) -> None:
    """Through graphc's own entry point: the second fresh process (warm: its graph is in the disk
    cache) loads the runtime too."""
    kernels, graphs = tmp_path / "kernels", tmp_path / "graphs"
    assert run(_GRAPH, kernels, graphs) == ["runtime-compiled"]
    assert run(_GRAPH, kernels, graphs) == ["runtime-loaded"]


def test_runtime_files_are_told_apart_by_their_code_and_read_back_whole() -> None:
    from numba.core.registry import cpu_target

    codegen = cpu_target.target_context.codegen()
    one = runtime_cache.runtime_key("define void @f() {\n  ret void\n}\n", codegen)
    assert one == runtime_cache.runtime_key("define void @f() {\n  ret void\n}\n", codegen)
    assert one != runtime_cache.runtime_key("define void @g() {\n  ret void\n}\n", codegen)
    # a constant Numba names after an object's id (a new number in every process) is the same code
    named = '@".const.pickledata.{}" = internal constant [1 x i8] c"\\00"\n'
    assert runtime_cache.runtime_key(named.format(140270073574208), codegen) == \
        runtime_cache.runtime_key(named.format(140569457012928), codegen)
    state = ("nrt", "object", (b"\x7fELF" + bytes(100), b"BC\xc0\xde" + bytes(20)))
    data = runtime_cache._encode(one, state)
    assert runtime_cache._decode(data) == (one, state)
    assert runtime_cache._decode(data[:-1]) is None and runtime_cache._decode(b"x" + data[1:]) is None
    assert runtime_cache._decode(data[:-1] + bytes([data[-1] ^ 1])) is None  # the checksum
