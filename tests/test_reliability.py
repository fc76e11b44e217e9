"""Issue 19's cases: each a wrong number, a crash or a plain error once, now a test.

References are NumPy itself, finite differences, or the exact answer worked out by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special

import graphc as gc


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_clip_gradient_when_low_exceeds_high(backend: str) -> None:
    """NumPy's clip gives `high` everywhere when low > high: only `high` gets a gradient."""
    x, low, high = gc.input("x", shape=(5,)), gc.input("low"), gc.input("high")
    y = gc.sum(gc.clip(x, low, high) * gc.constant(np.arange(1.0, 6.0)))
    f = gc.compile([x, low, high], [y, *gc.grad(y, [x, low, high])], backend=backend)
    values = np.array([-1.0, 0.5, 1.5, 2.5, 3.0])
    value, dx, dlow, dhigh = f(values, 2.0, 1.0)
    np.testing.assert_allclose(value, np.sum(np.clip(values, 2.0, 1.0) * np.arange(1.0, 6.0)))
    np.testing.assert_array_equal(dx, np.zeros(5))
    assert dlow == 0.0 and dhigh == 15.0
    # and the ordinary case still routes each element to x, low or high
    value, dx, dlow, dhigh = f(values, 0.0, 2.0)
    np.testing.assert_array_equal(dx, [0.0, 2.0, 3.0, 0.0, 0.0])
    assert dlow == 1.0 and dhigh == 9.0


def test_clip_gradient_matches_finite_differences_with_crossed_bounds() -> None:
    x, low, high = gc.input("x", shape=(4,)), gc.input("low"), gc.input("high")
    y = gc.sum(gc.clip(x, low, high) ** 2)
    gc.check_grad(y, [x, low, high], {x: np.array([-1.0, 0.3, 1.7, 4.0]), low: 2.0, high: 1.0})
    gc.check_grad(y, [x, low, high], {x: np.array([-1.0, 0.3, 1.7, 4.0]), low: 0.0, high: 3.0})


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("scale", [1e17, 1e308])
def test_log_softmax_of_huge_equal_logits(backend: str, scale: float) -> None:
    from scipy import special
    x = gc.input("x", shape=(2, 3))
    f = gc.compile([x], gc.log_softmax(x, axis=-1), backend=backend)
    values = np.array([[scale] * 3, [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(f(values), special.log_softmax(values, axis=-1), rtol=1e-12)


def test_graphs_built_on_many_threads_keep_their_size_equalities() -> None:
    """Each node records the equalities its own shape rule found, whatever other threads do."""
    import threading

    lost: list[int] = []

    def build(thread: int) -> None:
        a = gc.input("a", shape=(f"n{thread}",))
        b = gc.input("b", shape=(f"m{thread}",))
        for _ in range(1500):
            node = a + b
            if len(node.constraints) != 1 or {str(s) for s in node.constraints[0]} != {
                    f"n{thread}", f"m{thread}"}:
                lost.append(thread)

    threads = [threading.Thread(target=build, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not lost


def test_a_size_equality_from_another_thread_is_still_checked_at_call_time() -> None:
    import threading

    results: list[Exception | None] = []

    def build_and_call() -> None:
        x, y = gc.input("x", shape=("n",)), gc.input("y", shape=("m",))
        nodes = [x + y for _ in range(300)]
        f = gc.compile([x, y], nodes[-1], backend="numpy")
        try:
            f(np.ones(3), np.ones(4))
            results.append(None)
        except gc.InputError as exc:
            results.append(exc)

    threads = [threading.Thread(target=build_and_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(isinstance(r, gc.InputError) for r in results)


def test_integer_to_a_negative_constant_power_is_refused_while_building() -> None:
    x = gc.input("x", shape=(3,), dtype="int64")
    with pytest.raises(gc.DTypeError, match="negative integer powers.*test_reliability.py"):
        x ** -1  # noqa: B018
    with pytest.raises(gc.DTypeError, match="negative integer powers"):
        gc.power(x, np.array([1, -2, 3]))
    np.testing.assert_array_equal(gc.compile([x], x ** 2, backend="numpy")(np.arange(3)), [0, 1, 4])
    y = gc.input("y", shape=(3,))
    np.testing.assert_allclose(gc.compile([y], y ** -1, backend="numpy")(np.arange(1.0, 4.0)),
                               [1.0, 0.5, 1 / 3])


# ---------------------------------------------------------------- memory safety

OUT_OF_BOUNDS = {
    # name: (build y from x: f64[n], the array that is too short)
    "past the end": (lambda x: x[5] * 1.0, np.arange(3.0)),
    "negative past the start": (lambda x: x[-5] * 1.0, np.arange(3.0)),
    "far past the end": (lambda x: x[10**8] * 1.0, np.arange(3.0)),
    "empty array": (lambda x: x[0] * 1.0, np.zeros(0)),
    "max over an empty axis": (lambda x: gc.max(x), np.zeros(0)),
    "min over an empty axis": (lambda x: x.min(), np.zeros(0)),
}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", sorted(OUT_OF_BOUNDS))
def test_static_index_on_a_symbolic_axis_is_checked_per_call(case: str, backend: str) -> None:
    build, short = OUT_OF_BOUNDS[case]
    x = gc.input("x", shape=("n",))
    f = gc.compile([x], build(x), backend=backend)
    with pytest.raises(gc.InputError, match=r"(out of bounds|empty axis).*dimension 'n' = \d+ "
                       r".*at least.*test_reliability.py"):
        f(short)
    if case == "far past the end":
        return
    long = np.arange(1.0, 12.0)
    expected = {"past the end": long[5], "negative past the start": long[-5], "empty array": long[0],
                "max over an empty axis": long.max(), "min over an empty axis": long.min()}[case]
    np.testing.assert_allclose(f(long), expected)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradient_scatter_of_an_index_is_checked_even_without_the_read(backend: str) -> None:
    x = gc.input("x", shape=("n",))
    y = x[5] * 3.0
    f = gc.compile([x], gc.grad(y, x), backend=backend)
    with pytest.raises(gc.InputError, match="index 5"):
        f(np.arange(3.0))
    np.testing.assert_array_equal(f(np.zeros(7)), [0, 0, 0, 0, 0, 3.0, 0])


def test_static_sizes_are_still_refused_while_building() -> None:
    with pytest.raises(gc.ShapeError, match="out of bounds"):
        gc.input("x", shape=(3,))[5]  # noqa: B018
    with pytest.raises(gc.ShapeError, match="at least 1"):
        gc.max(gc.input("e", shape=(0, 2)), axis=0)


# ------------------------------------------------------- every valid array accepted

def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.setflags(write=False)
    return array


VALID_ARRAYS = {
    "every other element": lambda: np.arange(20.0)[::2],
    "reversed": lambda: np.arange(10.0)[::-1],
    "a column": lambda: np.arange(30.0).reshape(10, 3)[:, 1],
    "read-only": lambda: _read_only(np.arange(10.0)),
    "frombuffer": lambda: np.frombuffer(np.arange(10.0).tobytes()),
    "Fortran order": lambda: np.asfortranarray(np.arange(10.0)),
}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", sorted(VALID_ARRAYS))
def test_views_and_read_only_arrays_are_accepted(case: str, backend: str) -> None:
    x = gc.input("x", shape=("n",))
    f = gc.compile([x], [gc.sum(x * x), gc.grad(gc.sum(x * x), x)], backend=backend)
    value = VALID_ARRAYS[case]()
    total, gradient = f(value)
    np.testing.assert_allclose(total, np.sum(value * value))
    np.testing.assert_allclose(gradient, 2 * value)
    total, _ = f(x=value)  # the keyword (general) path too
    np.testing.assert_allclose(total, np.sum(value * value))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_strided_and_read_only_matrices_and_memory_maps(backend: str, tmp_path: Any) -> None:
    a = gc.input("a", shape=("n", 3))
    f = gc.compile([a], gc.sum(a @ np.arange(3.0)), backend=backend)
    path = tmp_path / "data.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    for value in (np.arange(24.0).reshape(8, 3)[::2], np.asfortranarray(np.arange(12.0).reshape(4, 3)),
                  np.load(path, mmap_mode="r"), _read_only(np.ones((2, 3)))):
        np.testing.assert_allclose(f(value), np.sum(np.asarray(value) @ np.arange(3.0)))


# ------------------------------------------------ cases the audit (docs/reliability.md) added

LOGISTIC_BY_HAND = {
    "1/(1+exp(-z))": lambda z: 1 / (1 + gc.exp(-z)),
    "exp(z)/(1+exp(z))": lambda z: gc.exp(z) / (1 + gc.exp(z)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(LOGISTIC_BY_HAND))
def test_bare_hand_written_logistic_has_the_sigmoid_gradient_far_out(name: str, dtype: str) -> None:
    """Not under a log: the naive gradient is inf/inf = nan at |z| >> 0 (e^800 overflows);
    graphc rewrites the expression to sigmoid first, so value and gradient are expit's."""
    z = gc.input("z", shape=(6,), dtype=dtype)
    p = LOGISTIC_BY_HAND[name](z)
    f = gc.compile([z], [p, gc.grad(gc.sum(p), z)], backend="numpy")
    values = np.array([-800.0, -60.0, -3.0, 0.5, 60.0, 800.0], dtype=dtype)
    value, gradient = f(values)
    expit = special.expit(values.astype(np.float64))
    assert value.dtype == np.dtype(dtype) and np.all(np.isfinite(gradient))
    np.testing.assert_allclose(value, expit, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(gradient, expit * (1 - expit), rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("declared, value, shown", [
    ("int32", np.array([1, 2**32 + 1]), "4294967297 does not fit int32"),
    ("int64", np.array([2**63], dtype=np.uint64), "9223372036854775808 does not fit int64"),
])
def test_data_that_does_not_fit_is_refused_on_numba_too(declared: str, value: np.ndarray,
                                                        shown: str) -> None:
    """tests/test_errors.py has every case on the NumPy backend; the numba fast path too."""
    x = gc.input("x", shape=(None,), dtype=declared)
    f = gc.compile([x], x * 2)
    with pytest.raises(gc.InputError, match=f"input 'x': value {shown}"):
        f(value)
    np.testing.assert_array_equal(f(np.array([3, -4])), [6, -8])


@pytest.mark.parametrize("depth", [2**61, 2**62])
def test_one_hot_of_an_impossible_depth_says_how_much_memory(depth: int) -> None:
    labels = gc.input("labels", shape=("n",), dtype="int64")
    with pytest.raises(gc.ShapeError, match=r"one_hot.*EB of memory"):
        gc.one_hot(labels, depth)
