"""Errors a user meets: build-time ShapeError/DTypeError and call-time InputError.

Build-time errors must name the op, the shapes/dtypes involved and the line
of *this file* that built the node; call-time errors must name the input,
what was expected and what came.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import graphc as gc

HERE = "test_errors.py"


def line_after(lines: int = 2) -> int:
    """The caller's line number plus `lines`: where the failing statement sits.

    The default skips a `with pytest.raises(...)` line.
    """
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + lines


def assert_located(error: BaseException, line: int, *fragments: str) -> None:
    message = str(error)
    assert f"{HERE}:{line}" in message, f"no {HERE}:{line} in {message!r}"
    for fragment in fragments:
        assert fragment in message, f"no {fragment!r} in {message!r}"


# ----------------------------------------------------------- exception classes

def test_exception_hierarchy() -> None:
    assert issubclass(gc.ShapeError, ValueError) and issubclass(gc.ShapeError, gc.GraphcError)
    assert issubclass(gc.DTypeError, TypeError) and issubclass(gc.DTypeError, gc.GraphcError)
    assert issubclass(gc.InputError, ValueError) and issubclass(gc.InputError, gc.GraphcError)
    assert issubclass(gc.GradientCheckError, AssertionError)
    assert issubclass(gc.GradientCheckError, gc.GraphcError)
    assert issubclass(gc.NotDifferentiableError, gc.GraphcError)
    assert issubclass(gc.GraphcError, Exception)


# --------------------------------------------------------------- build time

def test_matmul_of_mismatched_matrices() -> None:
    x = gc.input("x", shape=(3, 4))
    W = gc.input("W", shape=(5, 2))
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        x @ W
    assert_located(info.value, line, "matmul", "[3,4]", "[5,2]", "4", "5")


def test_adding_unbroadcastable_vectors() -> None:
    a = gc.input("a", shape=(3,))
    b = gc.input("b", shape=(4,))
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        gc.add(a, b)
    assert_located(info.value, line, "add", "[3]", "[4]", "broadcast")
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        a + b
    assert_located(info.value, line, "add")


def test_sum_over_a_missing_axis() -> None:
    m = gc.input("m", shape=(3, 4))
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        gc.sum(m, axis=5)
    assert_located(info.value, line, "sum", "[3,4]", "axis 5")
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        m.sum(axis=-3)
    assert_located(info.value, line, "sum", "[3,4]", "-3")


def test_reshape_to_an_incompatible_size() -> None:
    m = gc.input("m", shape=(3, 4))
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        gc.reshape(m, (5, 3))
    assert_located(info.value, line, "reshape", "[3,4]", "12", "(5, 3)")
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        m.reshape(5, -1)
    assert_located(info.value, line, "reshape", "12")
    with pytest.raises(gc.ShapeError, match="one unknown"):
        m.reshape(-1, -1)


@pytest.mark.parametrize("dtype", ["float16", "complex128", "nonsense", "uint8", object])
def test_input_with_an_unknown_dtype(dtype: object) -> None:
    line = line_after()
    with pytest.raises(gc.DTypeError) as info:
        gc.input("x", dtype=dtype)
    assert_located(info.value, line, "input", "float32", "float64", "int32", "int64", "bool")


def test_bad_input_shape_spec() -> None:
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        gc.input("x", shape=(3, -1))
    assert_located(info.value, line, "input", "-1")
    line = line_after()
    with pytest.raises(gc.GraphcError) as info:
        gc.input("not a name")
    assert_located(info.value, line, "identifier", "'not a name'")


@pytest.mark.parametrize("build, fragments", [
    (lambda x, v: gc.transpose(x, (0, 0)), ["transpose", "[3,4]", "permutation"]),
    (lambda x, v: gc.concatenate([x, v]), ["concatenate", "[3,4]", "[2]"]),
    (lambda x, v: x[5], ["getitem", "[3,4]", "out of bounds"]),
    (lambda x, v: x[1, 2, 3], ["getitem", "[3,4]", "too many indices"]),
    (lambda x, v: x[::0], ["getitem", "step"]),
    (lambda x, v: x[0.5], ["getitem", "static ints"]),
    (lambda x, v: gc.squeeze(x, 0), ["squeeze", "[3,4]", "size 3"]),
    (lambda x, v: gc.broadcast_to(x, (4, 5)), ["broadcast_to", "[3,4]", "[4,5]"]),
    (lambda x, v: gc.matmul(v, x), ["matmul", "[2]", "[3,4]"]),
    (lambda x, v: gc.dot(gc.stack([x, x]), x), ["dot", "rank"]),
    (lambda x, v: gc.expand_dims(x, 4), ["expand_dims", "[3,4]", "out of bounds"]),
    (lambda x, v: gc.where(x > 0, x, v), ["where", "[3,4]", "[2]"]),
    (lambda x, v: gc.softmax(x, axis=2), ["softmax", "[3,4]"]),
])
def test_other_shape_errors_name_the_op_and_shapes(build: object, fragments: list[str]) -> None:
    x = gc.input("x", shape=(3, 4))
    v = gc.input("v", shape=(2,))
    with pytest.raises(gc.ShapeError) as info:
        build(x, v)  # type: ignore[operator]
    assert_located(info.value, inspect.getsourcelines(build)[1], *fragments)  # type: ignore[arg-type]


def test_dtype_errors_name_the_op_and_dtypes() -> None:
    labels = gc.input("labels", shape=(3,), dtype="float64")
    line = line_after()
    with pytest.raises(gc.DTypeError) as info:
        gc.one_hot(labels, 4)
    assert_located(info.value, line, "one_hot", "f64[3]", "integer")
    counts = gc.input("counts", shape=(3,), dtype="int32")
    line = line_after()
    with pytest.raises(gc.DTypeError) as info:
        gc.softmax(counts)
    assert_located(info.value, line, "softmax", "i32[3]", "float")
    line = line_after()
    with pytest.raises(gc.DTypeError) as info:
        counts.astype("float16")
    assert_located(info.value, line, "astype", "float16")


def test_symbolic_sizes_that_differ_build_but_fail_at_call_time() -> None:
    x = gc.input("x", shape=("n", 3))
    y = gc.input("y", shape=("m", 3))
    line = line_after(1)
    total = x + y
    assert [str(s) for s in total.shape] in (["n", "3"], ["m", "3"])
    f = gc.compile([x, y], total, backend="numpy")
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), 2 * np.ones((2, 3)))
    with pytest.raises(gc.InputError) as info:
        f(np.ones((2, 3)), np.ones((4, 3)))
    assert_located(info.value, line, "'x'", "'y'", "2", "4", "add")


def test_tensors_have_no_truth_value() -> None:
    x = gc.input("x")
    with pytest.raises(TypeError, match="gc.where"):
        if x > 0:
            pass


# ---------------------------------------------------------------- call time

@pytest.fixture
def two_inputs() -> gc.Function:
    x = gc.input("x", shape=("n", 3))
    labels = gc.input("labels", shape=("n",), dtype="int64")
    return gc.compile([x, labels], gc.sum(x, axis=1) * labels, backend="numpy")


def good_arguments() -> tuple[np.ndarray, np.ndarray]:
    return np.ones((4, 3)), np.arange(4)


@pytest.mark.parametrize("args, kwargs, fragments", [
    ((np.ones((4, 3)),), {}, ["2 arguments", "missing labels"]),
    ((np.ones((4, 3)), np.arange(4), np.arange(4)), {}, ["2 arguments", "got 3"]),
    ((), {}, ["missing x, labels"]),
    ((np.ones((4, 2)), np.arange(4)), {}, ["'x'", "('n', 3)", "(4, 2)", "axis 1"]),
    ((np.ones(3), np.arange(4)), {}, ["'x'", "rank 2", "(3,)"]),
    ((np.ones((4, 3, 1)), np.arange(4)), {}, ["'x'", "rank 2", "(4, 3, 1)"]),
    ((np.ones((4, 3)), np.arange(5)), {}, ["'labels'", "5", "'n'", "4", "'x'"]),
    ((np.ones((4, 3)), np.arange(4.0)), {}, ["'labels'", "int64", "float64"]),
    ((np.ones((4, 3)), np.array(list("abcd"))), {}, ["'labels'", "int64", "<U1"]),
    ((np.ones((4, 3), complex), np.arange(4)), {}, ["'x'", "float64", "complex128"]),
    ((np.ones((4, 3)),), {"label": np.arange(4)}, ["unexpected keyword", "'label'", "x, labels"]),
    ((np.ones((4, 3)),), {"x": np.ones((4, 3))}, ["'x'", "twice"]),
])
def test_bad_calls_raise_input_error(two_inputs: gc.Function, args: tuple, kwargs: dict,
                                     fragments: list[str]) -> None:
    with pytest.raises(gc.InputError) as info:
        two_inputs(*args, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), f"no {fragment!r} in {info.value}"


def test_named_dim_shared_by_two_inputs() -> None:
    u = gc.input("u", shape=("n",))
    v = gc.input("v", shape=("n",))
    f = gc.compile([u, v], u * v, backend="numpy")
    with pytest.raises(gc.InputError, match=re.escape("input 'v': axis 0 has size 3, but dimension 'n' is 2 "
                                                      "(from input 'u')")):
        f(np.ones(2), np.ones(3))


def test_good_calls_after_bad_ones(two_inputs: gc.Function) -> None:
    x, labels = good_arguments()
    with pytest.raises(gc.InputError):
        two_inputs(x)
    expected = x.sum(axis=1) * labels
    np.testing.assert_array_equal(two_inputs(x, labels), expected)
    np.testing.assert_array_equal(two_inputs(labels=labels, x=x), expected)
    np.testing.assert_array_equal(two_inputs(x, labels=labels), expected)


def test_compile_rejects_bad_inputs_lists() -> None:
    x = gc.input("x", shape=(3,))
    y = gc.input("y", shape=(3,))
    with pytest.raises(gc.GraphcError, match="'y'.*not in compile's inputs"):
        gc.compile([x], x + y, backend="numpy")
    with pytest.raises(gc.GraphcError, match="gc.input"):
        gc.compile([x * 2], x, backend="numpy")
    with pytest.raises(gc.GraphcError, match="twice"):
        gc.compile([x, x], x, backend="numpy")
    with pytest.raises(gc.GraphcError, match="named 'x'"):
        gc.compile([x, gc.input("x", shape=(3,))], x, backend="numpy")
    with pytest.raises(gc.GraphcError, match="backend"):
        gc.compile([x], x, backend="tpu")


def test_none_size_meeting_a_named_size_is_checked_at_call_time() -> None:
    x = gc.input("x", shape=("n", 3))
    y = gc.input("y", shape=(None, 3))
    f = gc.compile([x, y], x + y, backend="numpy")
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), 2 * np.ones((2, 3)))
    with pytest.raises(gc.InputError, match=r"size declared None = 4 \(from input 'y'\).*'n' = 2"):
        f(np.ones((2, 3)), np.ones((4, 3)))


# ------------------------------------------------- mistakes found in review

def _ragged_call() -> None:
    W = gc.input("W", shape=(2, 2))
    gc.compile([W], gc.sum(W), backend="numpy")([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("mistake, error, words", [
    (lambda: gc.sign(gc.input("b", dtype="bool")), gc.DTypeError, "sign"),
    (lambda: gc.broadcast_to(gc.input("x", shape=(3,)), (-1, 3)), gc.ShapeError, "bad size -1"),
    (lambda: gc.input("x", shape=(3,)).reshape("3x"), gc.ShapeError, "identifier"),
    (_ragged_call, gc.InputError, "input 'W': could not make an array"),
])
def test_review_mistakes_get_clear_errors(mistake, error, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=words):
        mistake()


def test_numpy_integers_work_where_python_ints_do() -> None:
    W = gc.input("W", shape=(np.int64(3), 2))
    assert W.shape == (3, 2)
    assert gc.sum(W, axis=np.int64(1)).shape == (3,)
    assert gc.transpose(gc.input("v", shape=(3,)), 0).shape == (3,)


def test_simplifier_leaves_rules_that_do_not_apply_to_bool_constants() -> None:
    x = gc.input("x", shape=(3,))
    f = gc.compile([x], (-x) * np.array([True, False, True]), backend="numpy")
    np.testing.assert_array_equal(f(np.ones(3)), [-1.0, 0.0, -1.0])


# ------------------------------------------- a new user's first hour (issue 12)

def test_a_misspelt_keyword_names_the_public_function_and_suggests() -> None:
    x = gc.input("x", shape=(3, 4))
    line = line_after()
    with pytest.raises(gc.ArgumentError) as info:
        gc.sum(x, axes=1)
    assert isinstance(info.value, TypeError) and isinstance(info.value, gc.GraphcError)
    assert str(info.value).startswith(
        "sum() got an unexpected keyword argument 'axes'; did you mean 'axis'?")
    assert_located(info.value, line)
    with pytest.raises(gc.ArgumentError, match=r"mean\(\) got an unexpected keyword argument "
                                               r"'keepdim'; did you mean 'keepdims'\?"):
        gc.mean(x, keepdim=True)
    with pytest.raises(gc.ArgumentError, match=r"^softmax\(\) too many positional arguments"):
        gc.softmax(x, 1, 2)


def test_tensor_methods_and_conversions_give_graphc_errors() -> None:
    x = gc.input("x", shape=(3, 2))
    line = line_after()
    with pytest.raises(gc.ArgumentError) as info:
        x.sum(axes=1)
    assert str(info.value).startswith("Tensor.sum() got an unexpected keyword argument 'axes'; "
                                      "did you mean 'axis'?")
    assert_located(info.value, line)
    with pytest.raises(gc.ArgumentError, match=r"the signature is Tensor\.mean\(axis"):
        x.mean(0, True, 3)
    for convert in (float, int):
        with pytest.raises(gc.ConcretizationError, match="return it as an output"):
            convert(x)


def test_builders_present_their_public_names_and_signatures() -> None:
    import pydoc

    assert gc.sum.__name__ == "sum" and gc.max.__qualname__ == "max"
    assert list(inspect.signature(gc.sum).parameters) == ["x", "axis", "keepdims"]
    page = pydoc.render_doc(gc.sum, renderer=pydoc.plaintext)
    assert "sum_" not in page and "sum(x: Any, axis: Any = None" in page
    from graphc import ir

    for name, builder in ir.FUNCTIONS.items():
        assert not builder.__name__.endswith("_"), name
    assert "sum_" not in repr(gc.sum)


def _frames(error: BaseException) -> list[str]:
    import traceback

    return [frame.filename for frame in traceback.extract_tb(error.__traceback__)]


def test_graphc_frames_are_trimmed_from_build_errors() -> None:
    x = gc.input("x", shape=(3,))
    y = gc.input("y", shape=(4,))
    failing = [lambda: x + y, lambda: gc.add(x, y), lambda: gc.sum(x, axes=0), lambda: bool(x),
               lambda: gc.grad(x * 2.0, x), lambda: np.exp(x, out=np.empty(3)),
               lambda: gc.reshape(x, (5,)), lambda: x.T @ y]
    for build in failing:
        with pytest.raises(gc.GraphcError) as info:
            build()
        frames = _frames(info.value)
        assert frames[-1].endswith(HERE), frames
        assert not any("/graphc/" in f for f in frames), frames


def test_the_traceback_filter_can_be_turned_off() -> None:
    from graphc import errors

    x = gc.input("x", shape=(3,))
    errors.FILTER_TRACEBACKS = False
    try:
        with pytest.raises(gc.ShapeError) as info:
            x + gc.input("y", shape=(4,))
    finally:
        errors.FILTER_TRACEBACKS = True
    assert any("/graphc/" in f for f in _frames(info.value))


def test_grad_of_a_non_scalar_names_the_line_and_suggests_a_reduction() -> None:
    x = gc.input("x", shape=("n", 3))
    line = line_after()
    with pytest.raises(gc.ShapeError) as info:
        gc.grad(x * 2.0, x)
    assert_located(info.value, line, "grad needs a scalar y", "[n,3]", "gc.sum(y)", "gc.mean(y)")


@pytest.mark.parametrize("declared, value, fragments", [
    ("float32", np.array([1.0, 1e39, 2.0]), ["'x'", "1e+39", "overflows float32"]),
    ("float32", np.array([-1e300]), ["'x'", "overflows float32"]),
    ("int32", np.array([1, 2**32 + 1, 3]), ["'x'", "4294967297", "does not fit int32"]),
    ("int32", np.array([-2**31 - 1]), ["'x'", "does not fit int32"]),
    ("int64", np.array([2**63], dtype=np.uint64), ["'x'", "9223372036854775808", "does not fit int64"]),
])
def test_data_that_does_not_fit_the_input_dtype_is_refused(declared: str, value: np.ndarray,
                                                          fragments: list[str]) -> None:
    x = gc.input("x", shape=(None,), dtype=declared)
    f = gc.compile([x], x * 1, backend="numpy")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning either
        with pytest.raises(gc.InputError) as info:
            f(value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_data_that_fits_still_converts() -> None:
    x = gc.input("x", shape=(3,), dtype="float32")
    i = gc.input("i", shape=(2,), dtype="int32")
    f = gc.compile([x, i], [x * 1, i * 1], backend="numpy")
    got = f(np.array([1.0, np.inf, -3.0e38]), np.array([-2**31, 2**31 - 1], dtype=np.int64))
    np.testing.assert_array_equal(got[0], np.array([1.0, np.inf, -3.0e38], dtype=np.float32))
    np.testing.assert_array_equal(got[1], np.array([-2**31, 2**31 - 1], dtype=np.int32))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_one_hot_labels_out_of_range_raise_at_call_time(backend: str) -> None:
    labels = gc.input("labels", shape=("n",), dtype="int64")
    f = gc.compile([labels], gc.one_hot(labels, 4) * 2.0, backend=backend)
    np.testing.assert_array_equal(f(np.array([0, 3])), 2.0 * np.eye(4)[[0, 3]])
    for bad, shown in [(np.array([0, 4, 1]), "label 4"), (np.array([-1]), "label -1")]:
        with pytest.raises(gc.InputError) as info:
            f(bad)
        assert shown in str(info.value) and "out of range for 4 classes" in str(info.value)
        assert "numba" not in str(info.value).lower()


def test_compile_names_none_keeps_the_gradient_name() -> None:
    x = gc.input("x", shape=(3,))
    loss = gc.sum(x * x)
    f = gc.compile([x], [loss, gc.grad(loss, x)], names=["loss", None])
    assert "loss" in f.source and "d_x" in f.source, f.source
    with pytest.raises(gc.GraphcError, match="2 names for 1 outputs"):
        gc.compile([x], loss, names=["a", "b"], backend="numpy")


@pytest.mark.parametrize("mistake, error, words", [
    (lambda x: x + [[1, 2], [3]], gc.ShapeError, ["nested lists have different lengths"]),
    (lambda x: gc.compile([x], []), gc.GraphcError, ["at least one output"]),
    (lambda x: bool(x > 0), gc.ConcretizationError, ["truth value", "gc.where"]),
    (lambda x: [v for v in x], gc.ConcretizationError, ["not iterable"]),
    (lambda x: len(x), gc.ConcretizationError, ["symbolic"]),
    (lambda x: x + [x, x], gc.GraphcError, ["gc.stack"]),
    (lambda x: gc.one_hot(gc.input("l", ("n",), "int64"), 2**61), gc.ShapeError,
     ["one_hot", "EB of memory"]),
    (lambda x: gc.outer(gc.input("a", (10**6,)), gc.input("b", (10**6,))), gc.ShapeError,
     ["[1000000,1000000]", "8.0 TB of memory"]),
])
def test_build_time_mistakes_are_graphc_errors(mistake, error, words) -> None:  # type: ignore[no-untyped-def]
    x = gc.input("x", shape=("n",))
    with pytest.raises(error) as info:
        mistake(x)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert _frames(info.value)[-1].endswith(HERE)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_static_index_past_a_symbolic_axis_is_refused_at_call_time(backend: str) -> None:
    """x[5] of a length-3 x: NumPy raises IndexError; graphc must neither read nor write past it."""
    x = gc.input("x", shape=("n",))
    y = x[5] * 3.0
    cases = [(x[5] * 1.0, np.arange(3.0), "index 5"), (x[-5] * 1.0, np.arange(3.0), "index -5"),
             (x[0] * 1.0, np.zeros(0), "index 0"), (gc.grad(y, x), np.arange(3.0), "index 5")]
    for output, value, words in cases:
        f = gc.compile([x], output, backend=backend)
        with pytest.raises(gc.InputError) as info:
            f(value)
        assert words in str(info.value) and "out of bounds" in str(info.value), str(info.value)
        assert f"{HERE}:" in str(info.value)
    f = gc.compile([x], [x[2] * 1.0, x[-3] * 1.0, gc.grad(y, x)], backend=backend)
    got = f(np.arange(6.0))
    np.testing.assert_allclose(got[0], 2.0)
    np.testing.assert_allclose(got[1], 3.0)
    np.testing.assert_allclose(got[2], 3.0 * np.eye(6)[5])
