"""The Numba hooks (graphc/backend/numba_hooks.py) are active and do what they claim.

Each test fails loudly when a Numba release moves an internal a hook relies on,
instead of graphc silently getting slower. The references are Numba's own
records: the LLVM IR of the compiled function (is the kernel inlined?) and the
dispatcher's overloads (one compile for every literal size?).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

numba = pytest.importorskip("numba")

from graphc.backend import numba_hooks  # noqa: E402
from graphc.backend.runtime import jitted  # noqa: E402


def test_linking_hook_is_active_and_inlines_kernels() -> None:
    x = gc.input("x", shape=("n",))
    f = gc.compile([x], gc.sum(gc.exp(x)))
    value = np.linspace(-2.0, 2.0, 11)
    np.testing.assert_allclose(f(value), np.exp(value).sum(), rtol=1e-14)
    assert numba_hooks.HOOKS.get("linking"), "Numba's CPUCodeLibrary._get_module_for_linking moved"


def test_function_attribute_is_written_on_the_function_not_its_return_value() -> None:
    """llvmlite 0.47 put `add_function_attribute`'s attribute on the return value;
    the text form must give a module LLVM's verifier accepts, on every llvmlite."""
    import llvmlite.binding as llvm

    text = ('define i32 @f(ptr noalias nocapture writeonly initializes((0, 8)) %p, i32 %x) {\n'
            '  ret i32 %x\n}\n')
    module = llvm.parse_assembly(text)
    for attribute in ("alwaysinline", "noinline"):
        copy = numba_hooks.with_function_attribute(module, attribute)
        function = copy.get_function("f")
        assert any(attribute in str(a) for a in function.attributes), str(copy)


def test_function_attribute_keeps_a_linked_callees_own_inlining() -> None:
    """A module that already holds a `noinline` callee (linked into a part) must not get
    `alwaysinline` on it too: LLVM rejects both ("incompatible"), which broke an unrolled
    HMM compiled with parallel=True."""
    import llvmlite.binding as llvm

    text = ("define i32 @callee(i32 %x) #0 {\n  ret i32 %x\n}\n"
            "define i32 @eager(i32 %x) alwaysinline {\n  ret i32 %x\n}\n"
            "define i32 @plain(i32 %x) {\n  %y = call i32 @callee(i32 %x)\n  ret i32 %y\n}\n"
            "attributes #0 = { noinline }\n")
    module = llvm.parse_assembly(text)
    for attribute, other in (("alwaysinline", "noinline"), ("noinline", "alwaysinline")):
        copy = numba_hooks.with_function_attribute(module, attribute)  # verifies
        kept = {name: " ".join(str(a) for a in copy.get_function(name).attributes)
                for name in ("callee", "eager", "plain")}
        assert "noinline" in kept["callee"] and "alwaysinline" not in kept["callee"], kept
        assert "alwaysinline" in kept["eager"] and "noinline" not in kept["eager"], kept
        assert attribute in kept["plain"] and other not in kept["plain"], kept


def test_helpers_compile_once_for_every_literal_size() -> None:
    empty = jitted("empty")
    assert numba_hooks.HOOKS.get("unliteral_calls"), "Dispatcher.get_call_template moved"

    @numba.njit
    def two_sizes(n: int) -> float:
        return empty((n, 3), np.float64).shape[1] + empty((n, 5), np.float64).shape[1]

    assert two_sizes(2) == 8
    signatures = [s for s in empty.signatures if len(s) and isinstance(s[0], numba.types.BaseTuple)]
    assert all(not isinstance(t, numba.types.Literal) for s in signatures for t in s[0]), signatures


def test_slice_assignment_errors_compile_no_string_formatting() -> None:
    """A mismatched slice assignment still raises ValueError naming both shapes, through the
    cheap stub (numba_hooks.install_shape_errors), not Numba's f-string formatter."""
    from numba.np import arrayobj

    jitted("empty")  # any graphc compile path installs the hooks
    assert numba_hooks.install_shape_errors(), "numba.np.arrayobj.raise_with_shape_context moved"
    assert arrayobj.raise_with_shape_context.__module__ == numba_hooks.__name__

    @numba.njit
    def assign(out: np.ndarray, row: np.ndarray) -> np.ndarray:
        for i in range(out.shape[0]):
            out[i] = row
        return out

    np.testing.assert_array_equal(assign(np.zeros((2, 3)), np.arange(3.0)), [np.arange(3.0)] * 2)
    with pytest.raises(ValueError, match="different shape") as info:
        assign(np.zeros((2, 3)), np.arange(4.0))
    assert info.value.args[1:] == ((3,), (4,))


_BLAS_DEFERRED = r"""
import sys
import numpy as np
import graphc as gc
from graphc.backend import numba_hooks

x = gc.input("x", shape=("n", 4))
w = gc.input("w", shape=(4,))
f = gc.compile([x, w], gc.sum(gc.tanh(x * w) ** 2))  # no BLAS in compiled code
xv, wv = np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0.5, -0.5, 4)
assert abs(f(xv, wv) - np.sum(np.tanh(xv * wv) ** 2)) < 1e-12
assert numba_hooks.HOOKS.get("blas_deferred"), "numba.np.linalg.ensure_blas moved"
assert "numba.np.arraymath" in sys.modules, "no kernel was compiled"
assert "scipy.linalg" not in sys.modules, "Numba's set-up imported scipy.linalg"
from numba.np import arraymath, linalg
assert arraymath.ensure_blas is linalg.ensure_blas, "the deferred check was left in place"
assert linalg.ensure_blas.__module__ == "numba.np.linalg"
linalg.ensure_blas()  # the real check passes here, so arraymath must have recorded BLAS
assert arraymath._HAVE_BLAS is True
import numba

@numba.njit
def dot(a, b):
    return np.dot(a, b)

np.testing.assert_array_equal(dot(xv, xv.T), xv @ xv.T)  # BLAS in the user's code still works
assert "scipy.linalg" in sys.modules
print("ok")
"""


def test_numba_set_up_defers_scipy_linalg_until_blas_is_used(tmp_path) -> None:
    """A fresh process that compiles graphc kernels never imports scipy.linalg
    (numba_hooks.defer_blas_import); compiled BLAS calls still import it and work."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _BLAS_DEFERRED], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_a_helper_calls_another_helper_jitted_and_inlined() -> None:
    """library.matmul_small calls matmul_small_into by its plain name: runtime binds the
    jitted callee, and linking inlines it (one copy of the loops, no call per product)."""
    from graphc.backend import library, runtime

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(jitted("matmul_small")(a, b), a @ b, rtol=1e-14)
    assert "matmul_small_into" in runtime.CALLED_BY_HELPERS
    fresh = numba.njit(cache=False, error_model="numpy")(runtime._calling_jitted(library.matmul_small))
    np.testing.assert_allclose(fresh(a, b), a @ b, rtol=1e-14)
    ir = "\n".join(fresh.inspect_llvm().values())
    assert "matmul_small_into" in ir  # linked in ...
    assert not [line for line in ir.splitlines() if " call " in line and "matmul_small_into" in line]
    with pytest.raises(numba.core.errors.TypingError):  # ... which the plain function cannot be
        numba.njit(cache=False)(library.matmul_small)(a, b)


def test_an_installer_runs_once_and_a_missing_internal_answers_false() -> None:
    from graphc.backend.numba_hooks.state import HOOKS, installed_once

    runs = []

    @installed_once("test_only_present")
    def present(argument: int) -> bool:
        runs.append(argument)
        return True

    @installed_once("test_only_missing")
    def missing() -> bool:
        from numba.core import no_such_internal  # noqa: F401  (another Numba's layout)
        return True

    try:
        assert present(1) and present(2) and runs == [1]  # later calls read the record
        assert missing() is False and HOOKS["test_only_missing"] is False
    finally:
        HOOKS.pop("test_only_present", None)
        HOOKS.pop("test_only_missing", None)
