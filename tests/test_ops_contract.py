"""Registry-driven contract tests: every op in graphc.ir.OPS against NumPy.

For each registered op (leaves excepted) and each case:
  (a) the node's static shape equals the shape of NumPy's result,
  (b) the node's dtype equals the dtype of the op's NumPy `impl` on real
      arrays, and of the independent reference below,
  (c) the reference interpreter's value equals an independent NumPy
      computation (the REFERENCES table, written here, not the op's `impl`).

Cases come from the declarations: an elementwise op is tried on broadcasting
shape combinations of ranks 0-3 and several dtypes, with values drawn from
its `domain`; every op's `samples` are tried too (in float64, float32 and int32).
Adding an op adds its cases; an op without a REFERENCES entry fails
`test_every_op_has_a_reference`, so a new op must get one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import conv_reference
import numpy as np
import pytest
import scipy.linalg
import random_reference
import scipy.special

import graphc as gc
from graphc import ir
from graphc.interpret import evaluate

# Ops holding a loop body (graphc/control) are tested against Python loops in tests/test_scan.py:
# no generic sample can build their body, so the registry suites skip them like the leaves.
LEAVES = {"input", "constant", "scan", "while_loop"}


# ------------------------------------------------------------ references

def _index(parts: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A normalized getitem index (("int", i) / ("slice", a, b, c) / ("new",)) as Python."""
    kinds = {"int": lambda p: p[1], "new": lambda p: None, "slice": lambda p: slice(*p[1:])}
    return tuple(kinds[p[0]](p) for p in parts)


def _scatter(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    out[_index(index)] = g
    return out


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting by hand: sum leading axes, then stretched size-1 axes."""
    while x.ndim > len(shape):
        x = x.sum(axis=0, dtype=x.dtype)
    for axis, size in enumerate(shape):
        if size == 1 and x.shape[axis] != 1:
            x = x.sum(axis=axis, keepdims=True, dtype=x.dtype)
    return x


def _expand_dims(x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    shape = list(x.shape)
    for a in sorted(axis):
        shape.insert(a, 1)
    return x.reshape(shape)


def _multiply_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    product = a * b
    return np.where(a == 0, np.zeros_like(product), product)


def _symmetric(a: np.ndarray) -> np.ndarray:
    return (a + np.swapaxes(a, -1, -2)) / 2


def _eigh_packed(a: np.ndarray) -> np.ndarray:
    """scipy's eigh (the same LAPACK driver as NumPy's, so the same eigenvector signs), packed."""
    w, v = np.vectorize(lambda m: scipy.linalg.eigh(m, driver="evd"), signature="(n,n)->(n),(n,n)")(
        _symmetric(a))
    out = np.zeros(a.shape[:-2] + (2,) + a.shape[-2:], a.dtype)
    out[..., 0, 0, :], out[..., 1, :, :] = w, v
    return out


def _triangular(a: np.ndarray, b: np.ndarray, lower: bool, unit: bool) -> np.ndarray:
    n = a.shape[-1]
    part = a * np.tri(n, n, -1 if unit else 0, dtype=bool) if lower else \
        a * ~np.tri(n, n, 0 if unit else -1, dtype=bool)
    return np.linalg.solve(part + (np.eye(n, dtype=a.dtype) if unit else 0), b)


def _diag_embed(v: np.ndarray, offset: int, rows: int, columns: int) -> np.ndarray:
    flat = [np.diag(row, offset)[:rows, :columns] for row in v.reshape(-1, v.shape[-1])]
    return np.stack(flat).reshape(v.shape[:-1] + (rows, columns))


def _float_of(x: np.ndarray) -> np.dtype:
    return x.dtype if x.dtype.kind == "f" else np.dtype("float64")


def _arg_reference(function: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """np.argmax over several axes: a loop over the kept positions, the flat index of the rest."""
    def reference(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        kept = [a for a in range(x.ndim) if a not in axis]
        out = np.zeros([x.shape[a] for a in kept], np.int64)
        for position in np.ndindex(*out.shape):
            index: list[Any] = [slice(None)] * x.ndim
            for a, p in zip(kept, position):
                index[a] = p
            out[position] = function(x[tuple(index)])
        return out.reshape([1 if a in axis else x.shape[a] for a in range(x.ndim)]) if keepdims else out
    return reference


_SECOND_VERSION_REFERENCES: dict[str, Callable[..., Any]] = {
    "erfc": lambda x: scipy.special.erfc(x).astype(_float_of(x)),
    "gammaln": lambda x: scipy.special.gammaln(x).astype(_float_of(x)),
    "digamma": lambda x: scipy.special.psi(x).astype(_float_of(x)),
    "polygamma": lambda x, n: scipy.special.polygamma(n, x).astype(_float_of(x)),
    "logit": lambda x: scipy.special.logit(x).astype(_float_of(x)),
    "log_ndtr": lambda x: scipy.special.log_ndtr(x).astype(_float_of(x)),
    "xlogy": lambda x, y: _xlogy(*(np.asarray(v, np.result_type(x, y, 1.0)) for v in (x, y))),
    "logaddexp": np.logaddexp, "floor": np.floor, "ceil": np.ceil, "round": np.around,
    "mod": np.remainder,
    "prod": lambda x, axis, keepdims: np.multiply.reduce(x, axis=axis, keepdims=keepdims,
                                                         dtype=_sum_dtype(x)),
    "argmax": _arg_reference(np.argmax), "argmin": _arg_reference(np.argmin),
    "cumsum": lambda x, axis: np.add.accumulate(x, axis=axis[0], dtype=_sum_dtype(x)),
    "argsort": lambda x: np.argsort(x, axis=-1, kind="mergesort"),
    "iota": lambda x, axis: np.arange(x.shape[axis[0]]),
}


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(x == 0, np.zeros((), x.dtype), x * np.log(np.where(x == 0, 1, y)))


def _sum_dtype(x: np.ndarray) -> np.dtype:
    return x.dtype if x.dtype.kind == "f" else np.dtype("int64")


def _gather(x: np.ndarray, idx: np.ndarray, axis: int, batch: int) -> np.ndarray:
    """np.take, once per shared leading (batch) position."""
    if batch == 0:
        return np.take(x, idx, axis=axis)
    return np.stack([_gather(x[k], idx[k], axis - 1, batch - 1) for k in range(x.shape[0])])


def _scatter_add(values: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], axis: int,
                 batch: int) -> np.ndarray:
    """np.add.at into zeros, once per shared leading (batch) position."""
    if batch:
        return np.stack([_scatter_add(values[k], idx[k], shape[1:], axis - 1, batch - 1)
                         for k in range(shape[0])])
    out = np.zeros(shape, values.dtype)
    np.add.at(out, (slice(None),) * axis + (idx,), values)
    return out


REFERENCES: dict[str, Callable[..., Any]] = {
    # elementwise
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "multiply_no_nan": _multiply_no_nan,
    "negative": np.negative, "power": np.power, "square": lambda a: a * a, "sqrt": np.sqrt,
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "arctan": np.arctan,
    "erf": scipy.special.erf, "arcsinh": np.arcsinh,
    "sigmoid": scipy.special.expit, "relu": lambda a: a * (a > 0),
    "softplus": lambda a: np.logaddexp(0, a),
    "abs": np.absolute, "sign": np.sign, "maximum": np.fmax, "minimum": np.fmin,
    "where": np.where, "clip": np.clip,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
    # casts and fills
    "astype": lambda x, dtype: x.astype(dtype),
    "zeros_like": lambda x, dtype: np.zeros(x.shape, dtype),
    "ones_like": lambda x, dtype: np.ones(x.shape, dtype),
    "stop_gradient": lambda x: x.copy(),
    "one_hot": lambda labels, depth, dtype: np.eye(depth, dtype=dtype)[labels],
    # shape
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, axes: x.transpose(axes),
    "broadcast_to": lambda x, shape: x + np.zeros(shape, x.dtype),
    "sum_to": _sum_to,
    "expand_dims": _expand_dims,
    "squeeze": lambda x, axis: x.reshape([s for i, s in enumerate(x.shape) if i not in axis]),
    "concatenate": lambda *arrays, axis: np.concatenate(arrays, axis=axis),
    "getitem": lambda x, index: x[_index(index)],
    "scatter": _scatter,
    "gather": _gather, "scatter_add": _scatter_add,  # indexing with integer tensors
    "check_exponent": lambda x: x.copy(),  # raises only for negative values (tests/test_indexing.py)
    "matmul": lambda a, b: np.einsum("...ij,...jk->...ik" if a.ndim > 1 and b.ndim > 1 else
                                     "i,...ij->...j" if a.ndim == 1 and b.ndim > 1 else
                                     "...ij,j->...i" if b.ndim == 1 and a.ndim > 1 else "i,i->",
                                     a, b),
    # linear algebra (graphc/ops/matrix.py, decompositions.py)
    "band": lambda x, k, lower: x * (np.tri(*x.shape[-2:], k, dtype=bool) if lower
                                     else ~np.tri(*x.shape[-2:], k - 1, dtype=bool)),
    "diagonal": lambda x, offset: np.diagonal(x, offset, -2, -1), "diag_embed": _diag_embed,
    "cholesky": np.vectorize(lambda a: scipy.linalg.cholesky(_symmetric(a), lower=True),
                             signature="(n,n)->(n,n)"),
    "solve": np.vectorize(scipy.linalg.solve, signature="(n,n),(n,k)->(n,k)"),
    "solve_triangular": _triangular, "eigh": _eigh_packed,
    "inv": np.vectorize(scipy.linalg.inv, signature="(n,n)->(n,n)"),
    "slogdet": lambda a: np.stack([np.sign(np.linalg.det(a)), np.log(np.abs(np.linalg.det(a)))], -1),
    # reductions
    "size": lambda x, axis, dtype: np.array(math.prod(x.shape[a] for a in axis), dtype=dtype),
    "sum": lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: np.amax(x, axis=axis, keepdims=keepdims),
    "min": lambda x, axis, keepdims: np.amin(x, axis=axis, keepdims=keepdims),
    "logsumexp": lambda x, axis, keepdims: scipy.special.logsumexp(x, axis=axis, keepdims=keepdims),
    "softmax": lambda x, axis: scipy.special.softmax(x, axis=axis),
    "log_softmax": lambda x, axis: scipy.special.log_softmax(x, axis=axis),
    # special functions, rounding, statistics, scans (second version)
    **_SECOND_VERSION_REFERENCES,
    # convolution and pooling: direct loops (tests/conv_reference.py)
    **conv_reference.REFERENCES,
    # random (tests/random_reference.py: threefry on Python ints, SciPy's ndtri)
    "random_split": random_reference.split, "random_uniform": random_reference.uniform,
    "random_normal": random_reference.normal,
    # gc.custom_vjp's node: the value of its first input (the rest feed the user's rule)
    "custom_call": lambda value, *arguments, rule: value.copy(),
}

# Inputs whose dtype is fixed whatever the case's dtypes (where's condition).
FIXED_INPUT_DTYPES: dict[str, dict[int, str]] = {"where": {0: "bool"}}
# Integer domains that differ from the rounded float domain (NumPy refuses
# integers to negative integer powers).
INTEGER_DOMAINS: dict[str, dict[int, ir.Interval]] = {"power": {1: ir.Interval(0.0, 2.0)},
                                                      "logit": {0: ir.Interval(0.0, 1.0)}}

# Ops that refuse integer input on purpose (NumPy/SciPy would compute in float64).
FLOAT_ONLY = {"softmax", "log_softmax"}

# ------------------------------------------------------------ case generation

BASE_SHAPES: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 1), (2, 3), (1, 2, 3), (4, 1, 1))
DTYPES_BY_ARITY: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("float64",), ("float32",), ("int32",), ("int64",)),
    2: (("float64", "float64"), ("float32", "float32"), ("float32", "float64"),
        ("int64", "int64"), ("int32", "int64"), ("int32", "float32")),
    3: (("float64", "float64", "float64"), ("float32", "float32", "float32"),
        ("float32", "float64", "float32"), ("int64", "int64", "int64"),
        ("int32", "float64", "int64")),
}


def shape_combinations(arity: int) -> list[tuple[tuple[int, ...], ...]]:
    """Every arity-tuple of BASE_SHAPES for arity <= 2; a fixed spread of them for 3."""
    combos = list(itertools.product(BASE_SHAPES, repeat=arity))
    if arity >= 3:
        combos = combos[::11]
    return combos


@dataclass
class Case:
    op: ir.Op
    dtypes: tuple[str, ...]
    shape_sets: list[tuple[tuple[int, ...], ...]]
    attrs: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.op.name}-{'-'.join(self.dtypes)}{self.label}"


def cases() -> list[Case]:
    found: list[Case] = []
    for name, op in sorted(ir.OPS.items()):
        if name in LEAVES:
            continue
        if op.elementwise and not any(s.attrs for s in op.samples):
            assert op.arity is not None, f"elementwise op {name} must have a fixed arity"
            for dtypes in DTYPES_BY_ARITY[op.arity]:
                found.append(Case(op, dtypes, shape_combinations(op.arity)))
        for number, sample in enumerate(op.samples):
            variants = [sample.dtypes] if sample.dtypes else [
                (dtype,) * len(sample.shapes) for dtype in ("float64", "float32", "int32")]
            for dtypes in variants:
                found.append(Case(op, tuple(dtypes), [sample.shapes], dict(sample.attrs),
                                  label=f"-sample{number}"))
    return found


CASES = cases()


def sample_values(case: Case, position: int, dtype: np.dtype, shape: tuple[int, ...],
                  rng: np.random.Generator) -> np.ndarray:
    """Values valid for the op's input `position`, drawn from its declared domain."""
    op = case.op
    interval = op.domain[position] if position < len(op.domain) else ir.REAL
    if dtype.kind == "b":
        return interval.sample(rng, shape) > (interval.low + interval.high) / 2
    if dtype.kind == "f":
        return interval.sample(rng, shape).astype(dtype)
    if not op.domain:  # integer operands of a sample (labels, ...): small non-negative ints
        return rng.integers(0, 4, size=shape).astype(dtype)
    interval = INTEGER_DOMAINS.get(op.name, {}).get(position, interval)
    low, high = math.ceil(interval.low), math.floor(interval.high)
    values = rng.integers(low, high + 1, size=shape)
    if interval.avoid is not None:
        values = np.where(values == interval.avoid, high if high != interval.avoid else low, values)
    return np.asarray(values).astype(dtype)


def case_dtypes(case: Case) -> list[np.dtype]:
    fixed = FIXED_INPUT_DTYPES.get(case.op.name, {})
    return [np.dtype(fixed.get(i, d)) for i, d in enumerate(case.dtypes)]


def tolerance(dtype: np.dtype) -> dict[str, float]:
    return {"rtol": 2e-6, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


# ------------------------------------------------------------------ tests

def test_every_op_has_a_reference() -> None:
    missing = sorted(set(ir.OPS) - LEAVES - set(REFERENCES))
    assert not missing, (
        f"ops {missing} have no independent NumPy reference: add them to REFERENCES in {__file__}")
    stale = sorted(set(REFERENCES) - set(ir.OPS))
    assert not stale, f"REFERENCES names ops that are not registered: {stale}"


def test_every_op_has_cases() -> None:
    covered = {case.op.name for case in CASES}
    uncovered = sorted(set(ir.OPS) - LEAVES - covered)
    assert not uncovered, (
        f"ops {uncovered} are neither elementwise nor declare samples: give them ir.Sample cases")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_numpy(case: Case, rng: np.random.Generator) -> None:
    op, reference = case.op, REFERENCES.get(case.op.name)
    if reference is None:
        pytest.fail(f"op {op.name} has no entry in REFERENCES")
    dtypes = case_dtypes(case)
    checked = 0
    for number, shape_set in enumerate(case.shape_sets):
        inputs = [gc.input(f"x{i}", shape=s, dtype=d) for i, (s, d) in enumerate(zip(shape_set, dtypes))]
        try:
            np.broadcast_shapes(*shape_set) if op.elementwise else None
        except ValueError:
            with pytest.raises(gc.ShapeError, match=op.name):
                ir.apply(op, *inputs, **case.attrs)
            continue
        if op.name in FLOAT_ONLY and any(d.kind != "f" for d in dtypes):
            with pytest.raises(gc.DTypeError, match=f"{op.name}.*float"):
                ir.apply(op, *inputs, **case.attrs)
            checked += 1
            continue
        arrays = [sample_values(case, i, d, s, rng) for i, (s, d) in enumerate(zip(shape_set, dtypes))]
        with np.errstate(all="ignore"):
            expected = np.asarray(reference(*arrays, **case.attrs))
            impl_dtype = np.asarray(op.impl(*arrays, **case.attrs)).dtype
        node = ir.apply(op, *inputs, **case.attrs)
        where = f"{op.name}{tuple(shape_set)} {[str(d) for d in dtypes]} {case.attrs}"
        assert node.shape == expected.shape, f"{where}: shape rule {node.shape} vs NumPy {expected.shape}"
        assert node.dtype == impl_dtype, f"{where}: dtype rule {node.dtype} vs impl {impl_dtype}"
        assert node.dtype == expected.dtype, f"{where}: dtype rule {node.dtype} vs NumPy {expected.dtype}"
        if number == 0:  # the public path once per case: compile(..., backend="numpy")
            value = np.asarray(gc.compile(inputs, node, backend="numpy")(*arrays))
        else:
            [value] = evaluate([node], dict(zip(inputs, arrays)))
        assert value.shape == expected.shape and value.dtype == expected.dtype, where
        np.testing.assert_allclose(value, expected, err_msg=where, **tolerance(value.dtype))
        checked += 1
    assert checked, f"{case.id}: no shape combination broadcasts"


@pytest.mark.parametrize("name", sorted(n for n, op in ir.OPS.items() if op.elementwise and n not in LEAVES
                                        and (op.arity or 0) >= 2))
def test_elementwise_op_refuses_mismatched_shapes(name: str) -> None:
    op = ir.OPS[name]
    assert op.arity is not None
    shapes_ = [(3,)] + [(4,)] * (op.arity - 1)
    inputs = [gc.input(f"x{i}", shape=s, dtype="bool" if FIXED_INPUT_DTYPES.get(name, {}).get(i) else
                       "float64") for i, s in enumerate(shapes_)]
    with pytest.raises(gc.ShapeError, match=r"\[3\].*\[4\]"):
        ir.apply(op, *inputs)
