"""A cheaper cold compile of graphc's generated functions (numba_hooks/lean.py, issue 17).

graphc compiles its fused kernels, loops and one-function graphs without
Numba's cfunc wrapper, skips LLVM's function-level pre-pass on the wrappers,
builds the CPython wrapper unoptimised and caches a one-line type annotation.
References: Numba's own records (the compiled library's functions, the pass
managers it runs, the optimised IR of the kernel function compiled with
Numba's default path) and the NumPy backend for the results.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_backend_kernel_mode import mlp, values

import graphc as gc

numba = pytest.importorskip("numba")

from graphc import collector as graphc_collector  # noqa: E402
from graphc.backend import jit, numba_hooks  # noqa: E402


def kernel(a0, a1, a2, a3):  # the shape of a fused kernel: loops over arrays, outputs in place
    for i0 in range(a0.shape[0]):
        for i1 in range(a0.shape[1]):
            r0 = np.tanh(a0[i0, i1] + a1[i1])
            a2[i0, i1] = r0
            a3[i1] = a3[i1] + (1.0 - r0 * r0)
    return ()


def arguments() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 3)), rng.standard_normal(3), np.empty((5, 3)), np.zeros(3)


def defined(dispatcher) -> dict[str, str]:
    """The defined functions of the one compiled overload, by role: kernel, cpython, cfunc."""
    library = dispatcher.overloads[dispatcher.signatures[0]].library
    found = {}
    for function in library._final_module.functions:
        if function.is_declaration or not function.name.startswith(("_ZN", "cpython.", "cfunc.")):
            continue
        role = ("cfunc" if function.name.startswith("cfunc.") else
                "cpython" if function.name.startswith(("cpython.", "_ZN7cpython")) else "kernel")
        found[role] = re.sub(r"@[\w.$]+", "@f", str(function))  # one text for any mangled name
    return found


def compiled(lean: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], int]:
    """`kernel` compiled afresh (no disk cache) the lean way or Numba's; pre-pass runs."""
    from numba.core import codegen

    runs = [0]
    original = codegen.JITCPUCodegen._function_pass_manager

    def counted(self, **options):
        runs[0] += 1
        return original(self, **options)

    monkeypatch.setattr(codegen.JITCPUCodegen, "_function_pass_manager", counted)
    options = dict(jit._options(cache=False)) if lean else {"cache": False, "error_model": "numpy"}
    dispatcher = numba.njit(**options)(kernel)
    if lean:
        with numba_hooks.lean_compile():
            dispatcher.compile(tuple(numba.typeof(a) for a in arguments()))
    else:
        dispatcher.compile(tuple(numba.typeof(a) for a in arguments()))
    expected = arguments()
    kernel(*expected)
    got = arguments()
    dispatcher(*got)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    monkeypatch.undo()
    return defined(dispatcher), runs[0]


def test_lean_compile_leaves_out_the_cfunc_wrapper_and_the_wrappers_prepass(monkeypatch) -> None:
    numba_hooks.install_lean_wrappers()
    assert numba_hooks.HOOKS.get("lean_wrappers"), "CPUCodeLibrary._optimize_functions moved"
    assert numba_hooks.lean_options() == {"no_cfunc_wrapper": True}, "Numba lost no_cfunc_wrapper"
    compiled(False, monkeypatch)  # Numba's set-up and the runtime's functions: compiled once
    default, default_runs = compiled(False, monkeypatch)
    lean, lean_runs = compiled(True, monkeypatch)
    assert set(default) == {"kernel", "cpython", "cfunc"}
    assert set(lean) == {"kernel", "cpython"}
    # Numba pre-passes every function of the new modules, declarations and both wrappers
    # included (a pass manager each); the lean compile only what it defines besides wrappers
    assert lean_runs == 1 and default_runs >= lean_runs + 2
    # what the kernel's loops compile to does not change
    assert lean["kernel"] == default["kernel"]


def wrapper_attributes(dispatcher) -> set[str]:
    """The LLVM attributes of the one compiled overload's CPython wrapper."""
    library = dispatcher.overloads[dispatcher.signatures[0]].library
    for function in library._final_module.functions:
        if not function.is_declaration and function.name.startswith(("cpython.", "_ZN7cpython")):
            return {word for attribute in function.attributes for word in attribute.decode().split()}
    raise AssertionError("no CPython wrapper in the library")


def test_a_lean_compiles_wrapper_is_unoptimized_and_a_users_is_numbas() -> None:
    """The kernel function itself is Numba's either way (the test above compares it)."""
    numba_hooks.install_lean_wrappers()
    assert numba_hooks.HOOKS.get("unoptimized_wrappers"), "numba.core.callwrapper.PyCallWrapper moved"
    dispatcher = numba.njit(**jit._options(cache=False))(kernel)
    with numba_hooks.lean_compile():
        dispatcher.compile(tuple(numba.typeof(a) for a in arguments()))
    assert {"noinline", "optnone"} <= wrapper_attributes(dispatcher)
    expected, got = arguments(), arguments()
    kernel(*expected)
    dispatcher(*got)  # the unoptimised unboxing passes the same arrays
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    users = numba.njit(cache=False)(kernel)
    users.compile(tuple(numba.typeof(a) for a in arguments()))
    assert not {"noinline", "optnone"} & wrapper_attributes(users)


SCALE = ("def scale(a0, a1):\n"
         "    for i in range(a0.shape[0]):\n"
         "        a1[i] = a0[i] * 2.0\n"
         "    return ()\n")


def cached_twice(tmp_path, monkeypatch, name: str):
    """`scale` from a module of its own, compiled lean with the disk cache, then loaded from
    that entry by a second dispatcher: (the first dispatcher, the second)."""
    import importlib
    import sys

    (tmp_path / f"{name}.py").write_text(SCALE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path / "numba-cache"))
    module = importlib.import_module(name)
    signature = (numba.float64[::1], numba.float64[::1])
    dispatchers = []
    for _ in range(2):
        dispatcher = numba.njit(**jit._options(cache=True))(module.scale)
        with numba_hooks.lean_compile():
            dispatcher.compile(signature)
        dispatchers.append(dispatcher)
    assert dispatchers[1].stats.cache_hits, "the entry was not saved"
    values, out = np.arange(4.0), np.zeros(4)
    dispatchers[1](values, out)
    np.testing.assert_array_equal(out, values * 2.0)
    return dispatchers[0].overloads[signature], dispatchers[1].overloads[signature]


def test_a_lean_compile_caches_a_one_line_type_annotation(tmp_path, monkeypatch) -> None:
    """The annotation Numba writes into each cache entry is the short text; the function's
    own annotation (inspect_types in the process that compiled it) stays Numba's."""
    compiled, loaded = cached_twice(tmp_path, monkeypatch, "lean_annotated")
    assert numba_hooks.HOOKS.get("short_annotations"), "numba's TypeAnnotation moved"
    assert "a0 = arg(0, name=a0)" in str(compiled.type_annotation)
    assert str(loaded.type_annotation) == numba_hooks.lean.SHORT_ANNOTATION


def test_asked_to_dump_annotations_numba_caches_the_whole_one(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(numba.core.config, "ANNOTATE", 1)  # NUMBA_DUMP_ANNOTATION=1
    _, loaded = cached_twice(tmp_path, monkeypatch, "lean_dumped")
    assert "a0 = arg(0, name=a0)" in str(loaded.type_annotation)
    capsys.readouterr()  # Numba printed it while compiling


def test_another_threads_annotation_is_numbas_while_graphc_compiles() -> None:
    """A user's `inspect_types()` on one thread while graphc compiles on another prints the
    full annotation: the short text is for the compiling thread only."""
    import threading

    users = numba.njit(cache=False)(kernel)
    users.compile(tuple(numba.typeof(a) for a in arguments()))
    inside, done = threading.Event(), threading.Event()

    def compile_elsewhere() -> None:
        with numba_hooks.lean_compile():
            inside.set()
            done.wait(60)

    worker = threading.Thread(target=compile_elsewhere)
    worker.start()
    try:
        assert inside.wait(60)
        text = str(users.overloads[users.signatures[0]].type_annotation)
    finally:
        done.set()
        worker.join()
    assert text != numba_hooks.lean.SHORT_ANNOTATION and "a0 = arg(0, name=a0)" in text


def test_a_users_own_function_keeps_numbas_compile(monkeypatch) -> None:
    inputs, outputs = mlp(7, 3)
    gc.compile(inputs, outputs)(*values(7, 3, batch=4))  # graphc compiled (or loaded) its kernels
    default, runs = compiled(False, monkeypatch)
    assert set(default) == {"kernel", "cpython", "cfunc"} and runs >= 3


def test_kernel_mode_kernels_compile_lean_and_match_the_numpy_backend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend.direct import kernel

    monkeypatch.setenv("GRAPHC_DIRECT", "0")  # the kernels Numba compiles (the direct path's: test_direct)
    monkeypatch.setattr(kernel, "STAND_INS", {})
    inputs, outputs = mlp(9, 4)
    f = gc.compile(inputs, outputs)
    assert f.stats["kernels"] >= 3
    arrays = values(9, 4, batch=7)
    got = f(*arrays)
    names = set(re.findall(r"^def (fused_\w+)\(", f.source, re.MULTILINE))
    assert names and names <= set(jit._SHARED)
    for name in names:
        assert jit._SHARED[name].targetoptions.get("no_cfunc_wrapper") is True
    for a, b in zip(got, gc.compile(inputs, outputs, backend="numpy")(*arrays)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_one_function_graph_compiled_lean_still_matches_the_numpy_backend() -> None:
    x = gc.input("x", ("n", 3))
    loss = gc.sum(gc.tanh(x * 1.5) ** 2)
    f = gc.compile([x], [loss, gc.grad(loss, x)])
    assert f.stats["kernels"] == 0  # one njit function
    value = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    for a, b in zip(f(value), gc.compile([x], [loss, gc.grad(loss, x)], backend="numpy")(value)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def _no_other_pause() -> None:
    """Wait for graphc's background compile threads an earlier test may have left (their pauses
    are process-wide), so the collector's state here is this test's own."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith("graphc") and thread is not threading.current_thread():
            thread.join(timeout=120)
    assert graphc_collector._state["depth"] == 0


def test_the_collector_is_paused_inside_a_compile_and_left_as_found() -> None:
    """The cyclic collector is off from the outermost lean compile's start to its end (a
    nested one leaves it off), then back as the caller had it: on stays on, off stays off."""
    import gc as collector

    _no_other_pause()
    seen = []

    def compile_and_record() -> None:
        dispatcher = numba.njit(**jit._options())(kernel)
        with numba_hooks.lean_compile():
            seen.append(collector.isenabled())
            with numba_hooks.lean_compile():
                seen.append(collector.isenabled())
            seen.append(collector.isenabled())
            dispatcher.compile(tuple(numba.typeof(a) for a in arguments()))

    was = collector.isenabled()
    try:
        collector.enable()
        compile_and_record()
        assert seen == [False, False, False] and collector.isenabled()
        seen.clear()
        collector.disable()
        compile_and_record()
        assert seen == [False, False, False] and not collector.isenabled()
    finally:
        (collector.enable if was else collector.disable)()


def test_an_exception_in_a_compile_still_resumes_the_collector() -> None:
    import gc as collector

    _no_other_pause()
    was = collector.isenabled()
    inside = []
    try:
        collector.enable()
        with pytest.raises(ValueError), numba_hooks.lean_compile():
            inside.append(collector.isenabled())
            raise ValueError("a compile failed")
        assert inside == [False] and collector.isenabled()
    finally:
        (collector.enable if was else collector.disable)()


def test_a_compile_on_another_thread_leaves_the_collector_running() -> None:
    """Another thread's compile (the thread tier's, a user's worker) runs beside the main
    thread's code: the collector stays on for it."""
    import gc as collector
    import threading

    _no_other_pause()
    was = collector.isenabled()
    inside = []

    def compile_elsewhere() -> None:
        with numba_hooks.lean_compile():
            inside.append(collector.isenabled())

    try:
        collector.enable()
        worker = threading.Thread(target=compile_elsewhere)
        worker.start()
        worker.join()
        assert inside == [True] and collector.isenabled()
    finally:
        (collector.enable if was else collector.disable)()
