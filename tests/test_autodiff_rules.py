"""Every differentiable op in the registry: its VJP rule against central differences.

Cases come from the op declarations themselves (graphc.ir.OPS): elementwise
ops are sampled on their `domain` with broadcasting shapes of rank 0 to 3,
other ops on their `samples`. For each case the symbolic VJP is compared
with central differences of the op's NumPy reference, the inner-product
identity <J t, c> = <t, J^T c> ties gc.jvp to gc.vjp, unary elementwise ops
are differentiated twice, and everything is repeated in float32.

Declaring an op is enough to have it tested here; an op with a float output
and no VJP rule fails unless it is listed in NOT_DIFFERENTIABLE with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from autodiff_support import backend_fixture, run  # noqa: F401 - the `backend` fixture

import graphc as gc
from graphc import ir

# Ops whose output is float but which have no derivative rule on purpose: name -> why.
NOT_DIFFERENTIABLE: dict[str, str] = {}

# Ops with a rule whose result is deliberately not the derivative of the NumPy reference.
NOT_THE_DERIVATIVE = {
    "stop_gradient": "blocks the gradient by definition; its value is the identity",
    "custom_call": "its rule is a user's (gc.custom_vjp), not the derivative of its value (input 0)",
}

ELEMENTWISE_SHAPES = {
    1: [((),), ((3,),), ((2, 3),), ((2, 1, 3),)],
    2: [((), ()), ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((1, 2, 3), (2, 1))],
    3: [((), (), ()), ((2, 3), (3,), ()), ((3,), (2, 1), (2, 3)), ((2, 1, 3), (1, 4, 1), (3,))],
}


@dataclass
class Case:
    """One call of an op: input shapes, dtypes, attrs, and values sampled in its domain."""

    op: ir.Op
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.op.name}-{'x'.join(str(list(s)) for s in self.shapes)}-{self.seed}"

    def values(self, float_dtype: str = "float64") -> list[np.ndarray]:
        rng = np.random.default_rng(1000 + self.seed)
        arrays = []
        for position, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes)):
            if self.op.domain and position < len(self.op.domain):
                interval = self.op.domain[position]
            else:
                interval = ir.REAL
            if dtype == "bool":
                arrays.append(rng.uniform(-1, 1, size=shape) > 0)
            elif dtype.startswith("int"):
                arrays.append(rng.integers(0, 3, size=shape).astype(dtype))
            else:
                arrays.append(interval.sample(rng, shape).astype(float_dtype))
        return arrays

    def build(self, float_dtype: str = "float64") -> tuple[list[gc.Tensor], gc.Tensor]:
        inputs = [gc.input(f"a{k}", shape, float_dtype if dtype.startswith("float") else dtype)
                  for k, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes))]
        return inputs, ir.apply(self.op, *inputs, **self.attrs)


def cases_of(op: ir.Op) -> list[Case]:
    """The contract-test calls of one op, from its declaration."""
    if op.arity == 0:
        return []
    if op.samples:
        return [Case(op, s.shapes, s.dtypes or ("float64",) * len(s.shapes), dict(s.attrs), seed)
                for seed, s in enumerate(op.samples)]
    if op.elementwise and op.arity in ELEMENTWISE_SHAPES:
        dtypes = ("bool", "float64", "float64") if op.name == "where" else ("float64",) * op.arity
        return [Case(op, shapes, dtypes, {}, seed)
                for seed, shapes in enumerate(ELEMENTWISE_SHAPES[op.arity])]
    return []


def float_output(op: ir.Op) -> bool:
    cases = cases_of(op)
    return any(np.dtype(case.build()[1].dtype).kind == "f" for case in cases)


def missing_rules(ops: Mapping[str, ir.Op]) -> list[str]:
    """Ops with a float output and no VJP rule that are not declared non-differentiable."""
    return sorted(name for name, op in ops.items()
                  if op.vjp is None and name not in NOT_DIFFERENTIABLE and float_output(op))


def differentiable_cases() -> list[Case]:
    found = []
    for _, op in sorted(ir.OPS.items()):
        if op.vjp is None or op.name in NOT_THE_DERIVATIVE:
            continue
        for case in cases_of(op):
            _, out = case.build()
            if out.dtype.kind == "f" and any(d.startswith("float") for d in case.dtypes):
                found.append(case)
    return found


CASES = differentiable_cases()
UNARY = [c for c in CASES if c.op.elementwise and not c.op.samples and c.op.arity == 1]


def numeric_vjp(case: Case, arrays: list[np.ndarray], cotangent: np.ndarray, position: int,
                eps: float) -> np.ndarray:
    """d <cotangent, op(arrays)> / d arrays[position] by central differences of op.impl in float64."""
    wide = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    point = wide[position]
    result = np.zeros(point.shape)
    for flat in range(point.size):
        totals = []
        for step in (eps, -eps):
            nudged = point.copy().reshape(-1)
            nudged[flat] += step
            args = list(wide)
            args[position] = nudged.reshape(point.shape)
            with np.errstate(all="ignore"):
                value = np.asarray(case.op.impl(*args, **case.attrs), dtype=np.float64)
            totals.append(float(np.sum(cotangent * value)))
        result.reshape(-1)[flat] = (totals[0] - totals[1]) / (2 * eps)
    return result


def difference_step(case: Case) -> tuple[float, float]:
    """(eps, absolute tolerance) for central differences of the op's float64 reference.

    An op whose float64 call still rounds its result to float32 (astype) is
    differenced over a wider step and compared more loosely.
    """
    _, out = case.build()
    return (1e-6, 1e-7) if out.dtype == np.float64 else (1e-2, 1e-4)


def float_positions(case: Case) -> list[int]:
    return [k for k, d in enumerate(case.dtypes) if d.startswith("float")]


# ------------------------------------------------------------------- coverage

def test_every_float_op_has_a_rule_or_a_reason() -> None:
    assert missing_rules(ir.OPS) == []


def test_missing_rule_is_detected() -> None:
    """The coverage check above can fail: an op with a float output and no rule is reported."""
    fake = ir.Op("fake_cbrt", shape=lambda inputs: inputs[0].shape,
                 dtype=lambda inputs: inputs[0].dtype, impl=np.cbrt, arity=1,
                 elementwise=True, domain=(ir.REAL,))
    assert missing_rules({"fake_cbrt": fake}) == ["fake_cbrt"]


def test_every_op_is_exercised() -> None:
    """Every non-leaf op has contract cases (a domain-sampled elementwise op or samples)."""
    untested = sorted(name for name, op in ir.OPS.items() if op.arity != 0 and not cases_of(op)
                      and name not in ("scan", "while_loop"))  # loop bodies: tests/test_scan.py
    assert untested == []
    assert {c.op.name for c in CASES} >= {"add", "matmul", "sum", "log_softmax", "getitem", "where"}


# ------------------------------------------------------------ first order

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vjp_matches_central_differences(case: Case, backend: str) -> None:
    inputs, out = case.build()
    arrays = case.values()
    cotangent_value = np.random.default_rng(case.seed).standard_normal(
        tuple(int(s) for s in out.shape)).astype(out.dtype)
    cotangent = gc.input("cotangent", out.shape, out.dtype)
    positions = float_positions(case)
    pulled = gc.vjp(out, [inputs[k] for k in positions], cotangent)
    for k, p in zip(positions, pulled):
        assert p.shape == inputs[k].shape and p.dtype == inputs[k].dtype
    results = run(inputs + [cotangent], pulled, arrays + [cotangent_value], backend)
    eps, tolerance = difference_step(case)
    for k, got in zip(positions, results):
        expected = numeric_vjp(case, arrays, cotangent_value.astype(np.float64), k, eps)
        np.testing.assert_allclose(got, expected, rtol=10 * tolerance, atol=tolerance,
                                   err_msg=f"{case.id}: VJP for input {k}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_jvp_and_vjp_are_transposes(case: Case, backend: str) -> None:
    """<J t, c> = <t, J^T c> with random t and c: jvp and vjp describe the same Jacobian."""
    inputs, out = case.build()
    arrays = case.values()
    rng = np.random.default_rng(100 + case.seed)
    positions = float_positions(case)
    wrt = [inputs[k] for k in positions]
    tangents = [gc.input(f"t{k}", inputs[k].shape) for k in positions]
    tangent_values = [rng.standard_normal(case.shapes[k]) for k in positions]
    cotangent = gc.input("cotangent", out.shape, out.dtype)
    cotangent_value = rng.standard_normal(tuple(int(s) for s in out.shape))
    forward = gc.jvp(out, wrt, tangents)
    assert forward.shape == out.shape
    pulled = gc.vjp(out, wrt, cotangent)
    results = run(inputs + tangents + [cotangent], [forward] + pulled,
                  arrays + tangent_values + [cotangent_value], backend)
    left = float(np.sum(results[0] * cotangent_value))
    right = sum(float(np.sum(t * p)) for t, p in zip(tangent_values, results[1:]))
    eps, tolerance = difference_step(case)
    assert left == pytest.approx(right, rel=100 * tolerance ** 1.5, abs=tolerance ** 1.5)
    # and the JVP is the directional derivative itself
    direction = sum(numeric_directional(case, arrays, k, t, eps)
                    for k, t in zip(positions, tangent_values))
    np.testing.assert_allclose(results[0], direction, rtol=10 * tolerance, atol=tolerance)


def numeric_directional(case: Case, arrays: list[np.ndarray], position: int,
                          tangent: np.ndarray, eps: float) -> np.ndarray:
    """(f(x + eps t) - f(x - eps t)) / 2 eps for input `position` alone."""
    wide = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    outputs = []
    for step in (eps, -eps):
        args = list(wide)
        args[position] = wide[position] + step * tangent
        with np.errstate(all="ignore"):
            outputs.append(np.asarray(case.op.impl(*args, **case.attrs), dtype=np.float64))
    return (outputs[0] - outputs[1]) / (2 * eps)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vjp_in_float32(case: Case, backend: str) -> None:
    """The same rules in float32: results stay float32 and match float64 differences loosely."""
    inputs, out = case.build("float32")
    arrays = case.values("float32")
    cotangent_value = np.random.default_rng(case.seed).standard_normal(
        tuple(int(s) for s in out.shape)).astype(out.dtype)
    cotangent = gc.input("cotangent", out.shape, out.dtype)
    positions = float_positions(case)
    pulled = gc.vjp(out, [inputs[k] for k in positions], cotangent)
    results = run(inputs + [cotangent], pulled, arrays + [cotangent_value], backend)
    for k, got in zip(positions, results):
        assert got.dtype == np.float32, f"{case.id}: gradient dtype {got.dtype}"
        eps = max(1e-5, difference_step(case)[0])
        expected = numeric_vjp(case, arrays, cotangent_value.astype(np.float64), k, eps)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4,
                                   err_msg=f"{case.id}: float32 VJP for input {k}")


# ----------------------------------------------------------- second order

@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.id)
def test_second_derivative_of_unary_ops(case: Case, backend: str) -> None:
    """grad of grad equals central differences of the (symbolic) first derivative."""
    (x,), out = case.build()
    (point,) = case.values()
    first = gc.grad(gc.sum(out), x)
    second = gc.grad(gc.sum(first), x)
    function = gc.compile([x], [first, second], backend=backend)
    eps = 1e-5
    plus, _ = function(point + eps)
    minus, _ = function(point - eps)
    _, got = function(point)
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-7)
