"""Dtype promotion follows NumPy 2 (NEP 50): Python scalars are weak.

Every case is checked three ways: the built node's dtype, the dtype of the
value the NumPy backend returns, and what NumPy 2 itself gives for the same
expression on real arrays and Python scalars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc import dtypes

# (id, expression, operand dtypes, the dtype NEP 50 prescribes)
CASES: list[tuple[str, Callable[..., Any], tuple[str, ...], str]] = [
    ("f32*2.0", lambda x: x * 2.0, ("float32",), "float32"),
    ("2.0*f32", lambda x: 2.0 * x, ("float32",), "float32"),
    ("f32+1", lambda x: x + 1, ("float32",), "float32"),
    ("f32/3", lambda x: x / 3, ("float32",), "float32"),
    ("f32**2", lambda x: x ** 2, ("float32",), "float32"),
    ("f32+f64", lambda x, y: x + y, ("float32", "float64"), "float64"),
    ("f64*f32", lambda x, y: x * y, ("float64", "float32"), "float64"),
    ("i32+1.5", lambda x: x + 1.5, ("int32",), "float64"),
    ("i32*2", lambda x: x * 2, ("int32",), "int32"),
    ("i32+i64", lambda x, y: x + y, ("int32", "int64"), "int64"),
    ("i64+f32", lambda x, y: x + y, ("int64", "float32"), "float64"),
    ("i32+f32", lambda x, y: x + y, ("int32", "float32"), "float64"),
    ("i32/i32", lambda x, y: x / y, ("int32", "int32"), "float64"),
    ("i64*True", lambda x: x * True, ("int64",), "int64"),
    ("bool+bool", lambda x, y: gc.add(x, y) if isinstance(x, gc.Tensor) else np.add(x, y),
     ("bool", "bool"), "bool"),
    ("bool+1", lambda x: x + 1, ("bool",), "int64"),
    ("f32<0.5", lambda x: x < 0.5, ("float32",), "bool"),
    ("i32>=f64", lambda x, y: x >= y, ("int32", "float64"), "bool"),
    ("f32-sum", lambda x: x.sum(), ("float32",), "float32"),
    ("f32-mean", lambda x: x.mean(), ("float32",), "float32"),
    ("i32-sum", lambda x: x.sum(), ("int32",), "int64"),
    ("i32-max", lambda x: x.max(), ("int32",), "int32"),
    ("f32-exp", lambda x: gc.exp(x) if isinstance(x, gc.Tensor) else np.exp(x), ("float32",), "float32"),
    ("i32-sqrt", lambda x: gc.sqrt(x) if isinstance(x, gc.Tensor) else np.sqrt(x), ("int32",), "float64"),
    ("f32-maximum-0", lambda x: gc.maximum(x, 0) if isinstance(x, gc.Tensor) else np.maximum(x, 0),
     ("float32",), "float32"),
    ("f32@f32", lambda x, y: x @ y, ("float32", "float32"), "float32"),
    ("f32@f64", lambda x, y: x @ y, ("float32", "float64"), "float64"),
    ("f32-where-scalars", lambda x: gc.where(x > 0, x, 0.0) if isinstance(x, gc.Tensor)
     else np.where(x > 0, x, 0.0), ("float32",), "float32"),
]


@pytest.mark.parametrize("expression, operand_dtypes, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_promotion_matches_numpy_2(expression: Callable[..., Any], operand_dtypes: tuple[str, ...],
                                   expected: str) -> None:
    arrays = [np.arange(1, 5).reshape(2, 2).astype(d) for d in operand_dtypes]
    numpy_dtype = np.asarray(expression(*arrays)).dtype
    assert numpy_dtype == np.dtype(expected), "NumPy itself disagrees with the case's expectation"
    inputs = [gc.input(f"x{i}", shape=(2, 2), dtype=d) for i, d in enumerate(operand_dtypes)]
    node = expression(*inputs)
    assert node.dtype == numpy_dtype
    value = gc.compile(inputs, node, backend="numpy")(*arrays)
    assert value.dtype == numpy_dtype
    np.testing.assert_allclose(value, expression(*arrays), rtol=1e-6)


def test_python_scalar_keeps_float32_through_a_chain() -> None:
    x = gc.input("x", shape=(3,), dtype="float32")
    y = (x * 2.0 + 1) / 3.0 - 0.5
    assert y.dtype == np.float32


def test_typed_scalar_constants_are_strong() -> None:
    x = gc.input("x", shape=(3,), dtype="float32")
    assert (x * np.float64(2.0)).dtype == np.result_type(np.ones(3, np.float32), np.float64(2.0))
    assert (x * gc.constant(2.0, dtype="float64")).dtype == np.float64
    assert (x * gc.constant(2.0)).dtype == np.float32  # an untyped Python number stays weak


def test_weak_scalars_alone_follow_numpy_defaults() -> None:
    assert (gc.constant(2) + 1).dtype == np.dtype("int64")
    assert (gc.constant(2) * 1.5).dtype == np.dtype("float64")


@pytest.mark.parametrize("spelling, expected", [
    ("float32", "float32"), (np.float64, "float64"), (np.dtype("int32"), "int32"),
    ("int64", "int64"), (bool, "bool"), ("bool", "bool"), ("f4", "float32"),
])
def test_dtype_spellings(spelling: Any, expected: str) -> None:
    assert dtypes.as_dtype(spelling) == np.dtype(expected)
    assert gc.input("x", dtype=spelling).dtype == np.dtype(expected)


def test_short_names() -> None:
    assert [dtypes.short_name(np.dtype(d)) for d in ("float32", "float64", "int32", "int64", "bool")] \
        == ["f32", "f64", "i32", "i64", "bool"]


def test_promote_matches_result_type() -> None:
    for a in dtypes.SUPPORTED:
        for b in dtypes.SUPPORTED:
            assert dtypes.promote([(a, False), (b, False)]) == np.result_type(a, b)
            weak = dtypes.weak_exemplar(b)
            assert dtypes.promote([(a, False), (b, True)]) == np.result_type(a, weak)
