"""The direct path (graphc/backend/direct/): kernels compiled by LLVM give Numba's bits.

Each kernel here is compiled twice from the same source, by the direct path
and by Numba (error_model="numpy", as graphc compiles kernels), and run on
the same inputs (NaN, infinities, -0.0, large and tiny values); arrays and
returned scalars must be equal bit for bit. GRAPHC_DIRECT_CHECK=1
(tests/direct_check.py) does the same for every kernel of the whole suite.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from direct_check import same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backend.direct import engine
from graphc.backend.direct.compile import compile_kernel, module_ir
from graphc.backend.direct.kernel import eligible, namespace
from graphc.backend.direct.signature import Unsupported, signature

numba = pytest.importorskip("numba")
SPECIAL = np.array([0.0, -0.0, 1.0, -1.5, 2.0, 0.5, np.nan, np.inf, -np.inf, 1e-310, 1e300, -7.25, 3.0,
                    -3.0, 40.0, -40.0, 0.1, 710.0, -745.5, 1e-8])
_COUNTER = itertools.count()


def _module(tmp_path: Path, source: str) -> Any:
    path = tmp_path / f"graphc_direct_test_{next(_COUNTER)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module, path


def both(tmp_path: Path, body: str, arguments: list[Any], inline: bool = True) -> tuple[Any, Any]:
    """Run kernel `body` (the lines of `def kernel(...)`) directly and with Numba on copies."""
    source = textwrap.dedent(body).strip() + "\n"
    module, path = _module(tmp_path, source)
    names = namespace(source)
    assert names is not None and eligible(source, names)
    function = numba.njit(error_model="numpy")(module.kernel)
    types = signature(tuple(arguments))
    assert types is not None
    direct = compile_kernel("kernel", source, path, inline, names, types, function)
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in arguments]
    theirs = [a.copy() if isinstance(a, np.ndarray) else a for a in arguments]
    got, expected = direct(*mine), function(*theirs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert type(g) is type(e) and same_bits(g, e), (g, e)
    for m, t in zip(mine, theirs):
        if isinstance(m, np.ndarray):
            assert same_bits(m, t), (m, t)
    return got, mine


ELEMENTWISE = """
import numpy as np
import math
from graphc.backend.runtime import select, maximum, minimum, {kernel}


def kernel(n0, a0, a1, a2):
    r0 = np.float64(0)
    for i0 in range(n0):
        x = a0[i0]
        y = a1[i0]
        a2[i0] = {expression}
        r0 = r0 + a2[i0]
    return (r0,)
"""


@pytest.mark.parametrize("expression", [
    "x + y * 2.0 - x / y", "select(x == 0, 0.0, x * y)", "maximum(x, y) - minimum(x, y)",
    "abs(x) + math.sqrt(abs(y))", "x if x > y else -y", "(x if x != x else y) + 1",
    "np.float64(np.float64(x).view(np.int64) >> 3)", "np.float64(x < y or x != x)",
    "np.float64(x >= 1.0 and y <= 2.0)", "np.divide(x, y) - np.float64(np.int64(3.75))",
])
def test_float64_expressions_give_numbas_bits(tmp_path: Path, expression: str) -> None:
    source = ELEMENTWISE.format(kernel="exp_f64", expression=expression)
    x, y = np.repeat(SPECIAL, len(SPECIAL)), np.tile(SPECIAL, len(SPECIAL))
    both(tmp_path, source, [x.size, x, y, np.empty_like(x)])


@pytest.mark.parametrize("kernel", ["exp_f64", "log_f64", "log1p_f64", "expm1_f64", "tanh_f64",
                                    "sigmoid_f64", "softplus_f64"])
def test_float64_kernels_give_numbas_bits(tmp_path: Path, kernel: str) -> None:
    source = ELEMENTWISE.format(kernel=kernel, expression=f"{kernel}(x) + {kernel}(y)")
    x, y = np.repeat(SPECIAL, len(SPECIAL)), np.tile(SPECIAL, len(SPECIAL))
    both(tmp_path, source, [x.size, x, y, np.empty_like(x)])


@pytest.mark.parametrize("kernel", ["exp_f32", "log_f32", "tanh_f32", "sigmoid_f32", "expm1_f32",
                                    "log1p_f32", "softplus_f32"])
def test_float32_kernels_give_numbas_bits(tmp_path: Path, kernel: str) -> None:
    source = f"""
        import numpy as np
        from graphc.backend.runtime import {kernel}


        def kernel(n0, a0, a1):
            r0 = np.float32(0)
            for i0 in range(n0):
                r1 = {kernel}(a0[i0]) * np.float32(2.0)
                a1[i0] = r1
                r0 = r0 + r1
            return (r0,)
    """
    x = SPECIAL.astype(np.float32)
    got, _ = both(tmp_path, source, [x.size, x, np.empty_like(x)])
    assert isinstance(got[0], float)


def test_outlined_scalar_kernels_and_two_dimensional_broadcasting(tmp_path: Path) -> None:
    source = """
        import numpy as np
        from graphc.backend.runtime import exp_f64_call


        def kernel(n0, n1, a0, a1, a2, a3):
            for i0 in range(n0):
                for i1 in range(n1):
                    r0 = exp_f64_call(a0[i0, i1] - a1[i1])
                    a2[i0, i1] = r0
                    a3[i1] = a3[i1] + r0
            return ()
    """
    a = np.linspace(-3, 3, 12).reshape(3, 4)
    got, after = both(tmp_path, source, [3, 4, a, np.arange(4.0), np.empty((3, 4)), np.zeros(4)],
                      inline=False)
    assert got == ()
    np.testing.assert_allclose(after[4], np.exp(a - np.arange(4.0)))


def test_mixed_types_follow_numbas_promotion(tmp_path: Path) -> None:
    """int32 with int32 is int64, float32 with an integer float64, float32 with a bool float32."""
    source = """
        import numpy as np


        def kernel(n0, a0, a1, a2, a3, a4):
            r0 = np.float32(0)
            for i0 in range(n0):
                a3[i0] = a0[i0] * 3 + a1[i0] * a1[i0] - (a2[i0] + np.float32(0.1))
                a4[i0] = (a1[i0] << 20) + (a1[i0] & a1[i0]) - -a1[i0] + (a2[i0] > 0)
                r0 = r0 + a0[i0] * a2[i0]
            return (r0, a0[0] + 1, a0[0] * a2[0], a1[0] + a1[1], a0[0] / a0[1])
    """
    a0 = np.array([1.5, -2.25, 3.1, np.nan], np.float32)
    a1 = np.array([7, -3, 2**30, 5], np.int32)
    a2 = np.array([True, False, True, True])
    both(tmp_path, source, [4, a0, a1, a2, np.empty(4, np.float32), np.empty(4, np.int64)])


def test_negative_indices_wrap_around_and_integers_divide_as_floats(tmp_path: Path) -> None:
    source = """
        import numpy as np


        def kernel(n0, a0, a1, a2):
            r0 = 0
            for i0 in range(n0):
                a1[i0] = a0[i0 - 1] + a0[-1]
                a2[i0] = i0 / n0 + (i0 * 3 - 1) / 2
                r0 = r0 + (i0 << 2) - abs(i0 - 4) + min(i0, 2) + max(i0, 3)
            return (r0, r0 / n0, n0 > 3)
    """
    got, after = both(tmp_path, source, [6, np.arange(6.0), np.empty(6), np.empty(6)])
    assert after[2][0] == 5.0 + 5.0 and got[2] is True


def test_bool_and_integer_arrays(tmp_path: Path) -> None:
    source = """
        import numpy as np
        from graphc.backend.runtime import select


        def kernel(n0, a0, a1, a2, a3):
            for i0 in range(n0):
                a2[i0] = a0[i0] and a1[i0] > 2
                a3[i0] = select(a0[i0], a1[i0] * 2, -a1[i0]) + (a0[i0] + a0[i0])
            return ()
    """
    both(tmp_path, source, [5, np.array([True, False, True, True, False]), np.arange(5),
                            np.zeros(5, bool), np.zeros(5, np.int64)])


_LEAVES = st.sampled_from(["x", "y", "2.0", "-0.5", "1e-300"])
_EXPRESSIONS = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(st.sampled_from(["tanh_f64", "exp_f64", "log1p_f64", "abs"]), inner).map(
        lambda t: f"{t[0]}({t[1]})"),
    st.tuples(inner, inner).map(lambda t: f"select({t[0]} < {t[1]}, {t[0]}, {t[1]})"),
    st.tuples(inner, inner).map(lambda t: f"maximum({t[0]}, {t[1]})"),
), max_leaves=8)


@settings(max_examples=25, deadline=None)
@given(expression=_EXPRESSIONS)
def test_random_expressions_give_numbas_bits(tmp_path_factory: pytest.TempPathFactory,
                                             expression: str) -> None:
    source = ELEMENTWISE.format(kernel="tanh_f64, exp_f64, log1p_f64", expression=expression)
    x, y = np.repeat(SPECIAL, len(SPECIAL)), np.tile(SPECIAL, len(SPECIAL))
    both(tmp_path_factory.mktemp("random"), source, [x.size, x, y, np.empty_like(x)])


def _compiled_pair(tmp_path: Path) -> tuple[Any, list[Any]]:
    source = ELEMENTWISE.format(kernel="exp_f64", expression="x * y")
    module, path = _module(tmp_path, source)
    calls: list[Any] = []

    def fallback(*arguments: Any) -> Any:
        calls.append(arguments)
        return ("numba",)

    names = namespace(source)
    assert names is not None
    x = np.arange(4.0)
    types = signature((4, x, x, x))
    direct = compile_kernel("kernel", source, path, True, names, types, fallback)
    return direct, calls


@pytest.mark.parametrize("case", ["strided", "float32", "rank", "list", "subclass", "numpy int", "count"])
def test_calls_of_other_types_go_to_the_fallback(tmp_path: Path, case: str) -> None:
    direct, calls = _compiled_pair(tmp_path)
    x, out = np.arange(4.0), np.empty(4)
    arguments: list[Any] = {
        "strided": [4, np.ones((4, 2))[:, 0], x, out],
        "float32": [4, x.astype(np.float32), x, out],
        "rank": [4, np.ones((1, 4)), x, out],
        "list": [4, [0.0, 1.0, 2.0, 3.0], x, out],
        "subclass": [4, x.view(np.recarray), x, out],
        "numpy int": [np.int64(4), x, x, out],
        "count": [4, x, x],
    }[case]
    assert direct(*arguments) == ("numba",)
    assert len(calls) == 1
    assert direct(4, x, x, out)[0] == float(np.sum(x * x))  # the compiled types still run directly
    assert len(calls) == 1


def test_each_signature_gets_its_own_entry_and_strided_arrays_run_directly(tmp_path: Path) -> None:
    """A kernel called with C arrays, then with strided and reversed views: each signature
    compiles its own entry (strides read from the array), Numba is never asked."""
    from graphc.backend.direct.kernel import DirectKernel

    if os.environ.get("GRAPHC_DIRECT_CHECK") == "1":
        pytest.skip("GRAPHC_DIRECT_CHECK compiles every kernel with Numba too")
    source = ELEMENTWISE.format(kernel="tanh_f64", expression="tanh_f64(x) * y")
    _, path = _module(tmp_path, source)
    names = namespace(source)
    assert names is not None

    def numba_refused() -> Any:
        raise AssertionError("Numba was asked")

    kernel = DirectKernel("kernel", source, path, True, names, numba_refused)
    base = np.linspace(-2, 2, 24)
    cases = [(base[:6], base[6:12]), (base[::4], base[1::4]), (base[::-4], base[::4]),
             (np.asfortranarray(base.reshape(4, 6))[1], base[:6])]
    for x, y in cases:
        out, contiguous = np.empty(x.size)[::-1], np.empty(x.size)
        total = kernel(x.size, x, y, out)
        assert kernel(x.size, x.copy(), y.copy(), contiguous) == total  # bit for bit as contiguous
        assert same_bits(out, contiguous)
        np.testing.assert_allclose(out, np.tanh(x) * y, rtol=1e-14)
    # a layout-A entry takes C arrays too: no entry of its own for the contiguous copies
    assert sorted(kernel.entries) == ["i8,f8[1A],f8[1A],f8[1A]", "i8,f8[1A],f8[1C],f8[1A]",
                                      "i8,f8[1C],f8[1C],f8[1A]"]
    assert all(type(e).__name__ == "builtin_function_or_method" for e in kernel.entries.values())


def test_a_size_beyond_int64_raises_overflow_error(tmp_path: Path) -> None:
    direct, _ = _compiled_pair(tmp_path)
    x = np.arange(4.0)
    with pytest.raises(OverflowError):
        direct(2**70, x, x, x)


@pytest.mark.parametrize("body", [
    "a1[i0] = math.sin(a0[i0])",  # a libm call
    "a1[i0] = a0[i0] ** 2",  # a power
    "a1[i0] = a0[i0:i0 + 1].sum()",  # a method of a slice
    "a1[i0] = a0[i0] // 2.0",  # a floor division
])
def test_what_the_direct_path_does_not_compile_is_refused(tmp_path: Path, body: str) -> None:
    source = f"import numpy as np\nimport math\n\n\ndef kernel(n0, a0, a1):\n    for i0 in range(n0):\n" \
             f"        {body}\n    return ()\n"
    names = namespace(source)
    assert names is not None
    if not eligible(source, names):
        return  # refused from the text: Numba compiles it, with the forked compile
    x = np.arange(3.0)
    with pytest.raises(Unsupported):
        module_ir("kernel", source, signature((3, x, x)), names, True, "kernel.e")


def test_imports_outside_graphcs_runtime_are_not_eligible() -> None:
    assert namespace("import os\n\n\ndef kernel(n0):\n    return ()\n") is None
    assert namespace("from graphc.backend.runtime import empty\n\n\ndef kernel(n0):\n    return ()\n") is None


def test_this_interpreter_has_the_layout_the_entries_read() -> None:
    assert engine.layout() is not None


def _mlp(depth: int) -> tuple[Any, list[np.ndarray]]:
    x, y = gc.input("x", (64, 8)), gc.input("y", (64, 8))
    weights = [gc.input(f"W{i}", (8, 8)) for i in range(depth)]
    h = x
    for w in weights:
        h = gc.tanh(h @ w + 0.5)
    loss = gc.mean((h - y) ** 2)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((64, 8)) for _ in range(2)] + [rng.standard_normal((8, 8)) / 3
                                                                  for _ in range(depth)]
    return ([x, y, *weights], [loss, *gc.grad(loss, weights)]), values


def _served(f: Any) -> set[str]:
    """What serves each kernel of a compiled graph: "direct" (an LLVM entry) or "numba"."""
    from graphc.backend.direct.kernel import STAND_INS

    names = re.findall(r"# ---- kernel (fused_\w+)", f.source)
    assert names
    return {"direct" if type(STAND_INS[n].serving).__name__ == "builtin_function_or_method"
            or getattr(STAND_INS[n].serving, "checked", False) else "numba" for n in names}


def test_a_graphs_kernels_take_the_direct_path_and_agree_with_numpy() -> None:
    (inputs, outputs), values = _mlp(8)
    f = gc.compile(inputs, outputs, tiered=False)
    got = f(*values)
    assert f.stats["kernels"] >= 2 and _served(f) == {"direct"}
    reference = gc.compile(inputs, outputs, tiered=False, backend="numpy")(*values)
    for g, r in zip(got, reference):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_graphc_direct_0_compiles_every_kernel_with_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend.direct import kernel

    monkeypatch.setattr(kernel, "STAND_INS", {})
    monkeypatch.setenv("GRAPHC_DIRECT", "0")
    (inputs, outputs), values = _mlp(9)
    f = gc.compile(inputs, outputs, tiered=False)
    f(*values)
    assert f.stats["kernels"] >= 2 and not kernel.STAND_INS and "direct" not in f.stats["seconds"]


def test_two_threads_first_calls_compile_once() -> None:
    (inputs, outputs), values = _mlp(10)
    x, y, *weights = inputs
    loss = gc.sum(gc.sigmoid(x @ weights[0]) * y)  # new kernels
    f = gc.compile(inputs, [loss, *outputs[1:]], tiered=False)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(f(*values))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    for a, b in zip(*results):
        assert same_bits(a, b)
    assert _served(f) == {"direct"}


def test_a_second_process_loads_the_object_code(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        from graphc.backend.direct import compile as direct_compile
        translated = []
        original = direct_compile.module_ir
        direct_compile.module_ir = lambda *a: translated.append(a[0]) or original(*a)
        x = gc.input("x", (5, 3))
        weights = [gc.input(f"W{i}", (3, 3)) for i in range(8)]
        h = x
        for w in weights:
            h = gc.tanh(h @ w)
        loss = gc.sum(h * h)
        f = gc.compile([x, *weights], [loss, *gc.grad(loss, weights)], tiered=False)
        out = f(np.ones((5, 3)), *[np.eye(3) * 0.5] * 8)
        print(len(translated), f.stats["kernels"], repr(float(out[0])), repr(float(out[1].sum())))
    """)
    environment = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert int(runs[0][0]) == int(runs[0][1]) >= 2 and runs[1][0] == "0", runs
    assert runs[0][2:] == runs[1][2:]
    h = np.ones((5, 3))
    for _ in range(8):
        h = np.tanh(h @ (np.eye(3) * 0.5))
    assert float(runs[0][2]) == pytest.approx(float(np.sum(h * h)), rel=1e-14)
    assert list(tmp_path.glob("__pycache__/*.direct.o"))


_TWO_KERNELS = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_direct import ELEMENTWISE, _module
    from pathlib import Path
    from graphc.backend.direct.compile import compile_kernel
    from graphc.backend.direct.kernel import namespace
    from graphc.backend.direct.signature import signature
    x = np.arange(1.0, 5.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for number, expression in enumerate(("x * y", "x + y")):
            source = ELEMENTWISE.format(kernel="exp_f64", expression=expression)
            path = Path({directory!r}) / f"graphc_kernel_{{number}}.py"
            path.write_text(source)
            direct = compile_kernel("kernel", source, path, True, namespace(source),
                                    signature((4, x, x, x)), None)
            print(direct(4, x, x, np.empty(4))[0])
    print(len(caught))
""")


@pytest.mark.parametrize("fault", ["random bytes", "swapped", "truncated"])
def test_a_damaged_or_foreign_object_file_is_compiled_again(tmp_path: Path, fault: str) -> None:
    """Never loaded (MCJIT would crash on bad relocations, or run another kernel's code):
    each file's seal (SHA-256 of its code and its entry's name) is checked first, and a bad
    one is compiled again with a CacheWarning. Each run is a fresh process."""
    script = _TWO_KERNELS.format(tests=str(Path(__file__).parent), directory=str(tmp_path))

    def run() -> list[str]:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env=dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))).stdout.split()

    x = np.arange(1.0, 5.0)
    expected = [repr(float(np.sum(x * x))), repr(float(np.sum(x + x)))]
    assert run() == [*expected, "0"]
    first, second = sorted(tmp_path.glob("__pycache__/*.direct.o"))
    if fault == "random bytes":
        first.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif fault == "swapped":
        data = first.read_bytes()
        first.write_bytes(second.read_bytes())
        second.write_bytes(data)
    else:
        first.write_bytes(first.read_bytes()[:100])
    assert run() == [*expected, "2" if fault == "swapped" else "1"]  # a warning per file
    assert run() == [*expected, "0"]  # rewritten whole


def test_int32_results_are_python_ints_and_float32_sqrt_stays_float32(tmp_path: Path) -> None:
    source = """
        import numpy as np
        import math


        def kernel(n0, a0, a1, a2):
            for i0 in range(n0):
                a2[i0] = math.sqrt(a1[i0]) + math.sqrt(a0[i0])
            return (a0[0], a0[1] * 3, math.sqrt(a1[1]), a1[0] > 0)
    """
    a0 = np.array([147, -7, 2**31 - 1], np.int32)
    a1 = np.array([2.0, 3.0, 0.5], np.float32)
    got, _ = both(tmp_path, source, [3, a0, a1, np.empty(3, np.float32)])
    assert got[:2] == (147, -21) and type(got[0]) is int


def test_a_parameter_named_like_a_loop_counter_still_wraps_around(tmp_path: Path) -> None:
    source = """
        import numpy as np


        def kernel(n0, i0, a0, a1):
            a1[0] = a0[i0]
            for i0 in range(n0):
                a1[i0 + 1] = a0[i0]
            return ()
    """
    _, after = both(tmp_path, source, [2, -1, np.array([1.0, 2.0, 3.0]), np.zeros(3)])
    assert after[3][0] == 3.0


def test_an_unaligned_array_goes_to_numba_with_the_same_numbers(tmp_path: Path) -> None:
    direct, calls = _compiled_pair(tmp_path)
    raw = np.zeros(4 * 8 + 1, np.uint8)
    x = np.frombuffer(raw.data, np.float64, 4, offset=1)
    assert not x.flags.aligned
    assert direct(4, x, np.arange(4.0), np.empty(4)) == ("numba",) and len(calls) == 1


def test_a_helper_without_source_lines_is_not_eligible() -> None:
    from graphc.backend.direct.kernel import _helper_ok

    namespace_: dict[str, Any] = {}
    exec(compile("def lost(x):\n    return x + 1.0\n", "/nonexistent/lost.py", "exec"), namespace_)
    assert _helper_ok(namespace_["lost"]) is False


def test_an_llvm_failure_warns_and_numba_compiles_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend.direct import compile as direct_compile
    from graphc.backend.direct import kernel

    def broken(*arguments: Any) -> Any:
        raise RuntimeError("LLVM said no")

    monkeypatch.setattr(direct_compile, "compile_kernel", broken)
    monkeypatch.setattr(kernel, "STAND_INS", {})
    (inputs, outputs), values = _mlp(11)
    f = gc.compile(inputs, outputs, tiered=False)
    with pytest.warns(RuntimeWarning, match="could not compile kernel fused_.*LLVM said no"):
        got = f(*values)
    assert _served(f) == {"numba"}
    for g, r in zip(got, gc.compile(inputs, outputs, backend="numpy")(*values)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_graphc_direct_off_holds_for_kernels_already_known(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend.direct import kernel

    (inputs, outputs), values = _mlp(8)
    gc.compile(inputs, outputs, tiered=False)(*values)
    assert kernel.STAND_INS
    monkeypatch.setenv("GRAPHC_DIRECT", "off")
    known = next(iter(kernel.STAND_INS.values()))
    assert kernel.stand_in_for(_kernel_record(known), known.path, lambda *a: None) is None


def _kernel_record(stand_in: Any) -> Any:
    """A codegen Kernel record's fields, as stand_in_for reads them."""
    return type("Kernel", (), {"name": stand_in.name, "source": stand_in.source, "inline": True,
                               "returns": 0, "calls": None})()


def test_a_called_kernel_keeps_no_graph_module_alive() -> None:
    from graphc.backend.direct import kernel

    (inputs, outputs), values = _mlp(8)
    for _ in range(3):
        gc.compile(inputs, outputs, tiered=False)(*values)
    assert all(len(stand_in.modules) == 0 for stand_in in kernel.STAND_INS.values()
               if stand_in.serving is not None)


def test_an_object_file_of_another_direct_path_version_does_not_make_a_graph_warm(tmp_path: Path) -> None:
    from graphc.backend.direct import objects

    kernel_path = tmp_path / "graphc_abc.py"
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "graphc_abc.0123456789abcdef-0123456789abcdef.direct.o").write_bytes(b"x")
    assert not objects.has_object(kernel_path)
    objects.object_name(kernel_path, "f8").write_bytes(b"x")
    assert objects.has_object(kernel_path)


_RACE = textwrap.dedent("""
    import threading, numpy as np, graphc as gc
    graphs = []
    for scale in (2.0, 3.0):
        x = gc.input("x", (5, 3))
        weights = [gc.input(f"W{i}", (3, 3)) for i in range(8)]
        h = x
        for w in weights:
            h = gc.tanh(h @ w * scale)
        loss = gc.sum(h * h)
        graphs.append((gc.compile([x, *weights], [loss], tiered=False),
                       gc.compile([x, *weights], [loss], backend="numpy")))
    values = [np.ones((5, 3))] + [np.eye(3) * 0.3] * 8
    barrier, results = threading.Barrier(2), {}
    def first_call(index):
        barrier.wait()
        results[index] = graphs[index][0](*values)[0]
    threads = [threading.Thread(target=first_call, args=(i,)) for i in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(all(abs(results[i] - graphs[i][1](*values)[0]) < 1e-12 for i in range(2)))
""")


def test_two_threads_first_direct_compiles_share_one_jit(tmp_path: Path) -> None:
    """Two graphs' first calls in two threads of a fresh process (the JIT not made yet)."""
    for run in range(3):
        done = subprocess.run([sys.executable, "-c", _RACE], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / str(run))))
        assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr[-2000:]


def test_a_kernel_whose_module_vanished_still_reaches_numba(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Numba's dispatcher is made at the first call it serves, maybe after the cache directory
    was removed (a cleaner): the kernel's module is stored again first."""
    from graphc.backend import cache, jit
    from graphc.backend.direct import kernel

    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernel, "STAND_INS", {})
    monkeypatch.setattr(jit, "_SHARED", {})
    source = ELEMENTWISE.format(kernel="exp_f64", expression="x - y")
    path, _ = cache.store(source, source + cache.code_version())
    record = _kernel_record(kernel.DirectKernel("kernel", source, path, True, {}, lambda: None))
    stand_in = kernel.stand_in_for(record, path, jit._numba_kernel)
    assert stand_in is not None
    shutil.rmtree(tmp_path / "cache")
    x = np.arange(3, dtype=np.int64)  # int64 arrays where a float is read: Numba compiles it
    assert stand_in(3, [1.0, 2.0, 3.0], x, np.empty(3))[0] == pytest.approx(1.0 + 1.0 + 1.0)
