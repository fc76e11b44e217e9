"""Every op in the registry, lowered by the numba backend, against the NumPy backend.

All cases (each op's `samples`, plus broadcasting shapes for elementwise ops,
plus the gradient of a weighted sum of each differentiable case) go into ONE
compiled function, so Numba compiles once per session; the disk cache
(GRAPHC_CACHE_DIR, see conftest fixture below) makes reruns cheap.

Numba's cost is one kernel per fused group (~0.5 s of CPU each; 177 kernels,
87 s, when every case ran on it). The broadcasting variants of an elementwise
op (the 2nd, 3rd, ... shape of ELEMENTWISE_SHAPES) differ from its first shape
only in the loops around the op's scalar code, which codegen writes the same
way for every op: they run on Numba for the ops in BROADCAST_ON_NUMBA (every
arity, kinked and smooth), and for the others the NumPy backend is checked
against the op's NumPy reference called directly (`op.impl`). Every op still
runs on Numba against the NumPy backend, forward and gradient, at least once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc import dtypes
from graphc.ir import OPS, REAL, Node, Sample, apply

ELEMENTWISE_SHAPES = {
    1: [((3, 4),), ((),), ((2, 1, 3),)],
    2: [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1), (1, 3)), ((), (3,))],
    3: [((3, 4), (4,), ()), ((2, 1), (1, 3), (2, 3))],
}


def _cases() -> list[tuple[str, Any, Sample]]:
    cases = []
    for name, op in sorted(OPS.items()):
        if op.arity == 0:
            continue
        samples = list(op.samples)
        if op.elementwise and op.arity in ELEMENTWISE_SHAPES and not samples:
            samples = [Sample(shapes) for shapes in ELEMENTWISE_SHAPES[op.arity]]
        for number, sample in enumerate(samples):
            cases.append((f"{name}_{number}", op, sample))
    return cases


CASES = _cases()

# Elementwise ops whose broadcasting variants also run on Numba (see the module docstring).
BROADCAST_ON_NUMBA = {"add", "exp", "where", "maximum", "divide", "log", "clip"}


def _on_numba(label: str, op: Any) -> bool:
    derived = op.elementwise and op.arity in ELEMENTWISE_SHAPES and not op.samples
    return not derived or label.endswith("_0") or op.name in BROADCAST_ON_NUMBA


NUMBA_CASES = {label for label, op, _ in CASES if _on_numba(label, op)}


def _values(op: Any, sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    values = []
    for position, shape in enumerate(sample.shapes):
        dtype = np.dtype(sample.dtypes[position] if sample.dtypes else "float64")
        domain = op.domain[position] if position < len(op.domain) else REAL
        if dtype.kind in "iu":  # labels and the like: in range (one_hot refuses others)
            values.append(rng.integers(0, 4, size=shape).astype(dtype))
        else:
            values.append(domain.sample(rng, shape).astype(dtype))
    return values


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    """Build every case and its gradient; compile the NumPy backend once for all of them and
    Numba once for NUMBA_CASES; run once. The rest: their forward value by `op.impl` directly."""
    rng = np.random.default_rng(7)
    inputs: list[Node] = []
    outputs: list[Node] = []
    feed: list[np.ndarray] = []
    labels: list[str] = []
    on_numba: list[bool] = []  # per output
    numba_inputs: list[Node] = []
    numba_feed: list[np.ndarray] = []
    direct: dict[str, np.ndarray] = {}
    for label, op, sample in CASES:
        values = _values(op, sample, rng)
        nodes = [gc.input(f"{label}_in{j}", v.shape, v.dtype) for j, v in enumerate(values)]
        out = apply(op, *nodes, **sample.attrs)
        case_inputs, case_feed, case_outputs, case_labels = list(nodes), list(values), [out], [label]
        wrt = [n for n in nodes if dtypes.is_float(n.dtype)]
        numba = label in NUMBA_CASES
        if not numba:
            direct[label] = np.asarray(op.impl(*values, **sample.attrs))
        elif op.differentiable and op.vjp is not None and dtypes.is_float(out.dtype) and wrt:
            weight = gc.input(f"{label}_weight", out.shape, out.dtype)
            case_inputs.append(weight)
            case_feed.append(rng.uniform(-1, 1, size=np.shape(np.empty(
                tuple(int(s) for s in out.shape)))).astype(out.dtype))
            grads = gc.grad(gc.sum(out * weight), wrt)
            case_outputs += grads
            case_labels += [f"{label} d/d{n.name}" for n in wrt]
        inputs += case_inputs
        feed += case_feed
        outputs += case_outputs
        labels += case_labels
        on_numba += [numba] * len(case_outputs)
        if numba:
            numba_inputs += case_inputs
            numba_feed += case_feed
    numba_f = gc.compile(numba_inputs, [o for o, n in zip(outputs, on_numba) if n], simplify=False)
    numpy_f = gc.compile(inputs, outputs, backend="numpy", simplify=False)
    numba_results = iter(numba_f(*numba_feed))
    return {"labels": labels, "numpy": numpy_f(*feed), "direct": direct,
            "numba": [next(numba_results) if n else None for n in on_numba],
            "source": numba_f.source}


# Ops whose numba lowering runs another LAPACK build (Numba calls SciPy's, NumPy its own) or
# another algorithm (blocked triangular solves): float32 results agree to float32 rounding.
OTHER_ALGORITHM = {"cholesky", "solve", "solve_triangular", "inv", "slogdet", "eigh"}


@pytest.mark.parametrize("label", [c[0] for c in CASES])
def test_numba_matches_numpy(contract: dict[str, Any], label: str) -> None:
    found = False
    for name, got, want in zip(contract["labels"], contract["numba"], contract["numpy"]):
        if name != label and not name.startswith(label + " "):
            continue
        found = True
        if got is None:  # a broadcasting variant checked by the fast reference (module docstring)
            got = contract["direct"][label]
        assert got.shape == want.shape and got.dtype == want.dtype, name
        loose = got.dtype == np.float32 and label.rsplit("_", 1)[0] in OTHER_ALGORITHM
        np.testing.assert_allclose(got, want, rtol=1e-5 if loose else 1e-12, atol=1e-7 if loose else 1e-14,
                                   err_msg=name)
    assert found


def test_erf_is_public_in_both_namespaces_and_matches_scipy() -> None:
    """gc.erf (added as the proof that an op is declared in one place) against scipy.special.erf
    and its analytic derivative 2/sqrt(pi) exp(-x^2), on both backends."""
    import math

    import scipy.special

    assert gc.special.erf is gc.erf
    x = gc.input("x", shape=("n",))
    y = gc.sum(gc.erf(x))
    outputs = [gc.erf(x), gc.grad(y, x)]
    value = np.linspace(-3.0, 3.0, 41)
    for backend in ("numpy", "numba"):
        got_erf, got_grad = gc.compile([x], outputs, backend=backend)(value)
        np.testing.assert_allclose(got_erf, scipy.special.erf(value), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(got_grad, 2 / math.sqrt(math.pi) * np.exp(-value ** 2),
                                   rtol=1e-14)


def test_arcsinh_matches_numpy_its_derivative_and_finite_differences() -> None:
    """gc.arcsinh (added to count the files a new elementwise op touches, docs/adding_an_op.md)
    against np.arcsinh, the analytic derivative 1/sqrt(1+x^2) and central differences, on both
    backends, in float32 too, through np.arcsinh on a tensor and under gc.vmap."""
    x = gc.input("x", shape=("n",))
    outputs = [gc.arcsinh(x), gc.grad(gc.sum(gc.arcsinh(x)), x), np.arcsinh(x)]
    value = np.linspace(-30.0, 30.0, 61)
    step = 1e-6
    central = (np.arcsinh(value + step) - np.arcsinh(value - step)) / (2 * step)
    for backend in ("numpy", "numba"):
        got, grad, dispatched = gc.compile([x], outputs, backend=backend)(value)
        np.testing.assert_allclose(got, np.arcsinh(value), rtol=1e-15, atol=0)
        np.testing.assert_allclose(dispatched, got, rtol=0, atol=0)
        np.testing.assert_allclose(grad, 1 / np.sqrt(1 + value ** 2), rtol=1e-14)
        np.testing.assert_allclose(grad, central, rtol=1e-7)
    x32 = gc.input("x32", shape=(5,), dtype="float32")
    small = np.linspace(-2, 2, 5, dtype=np.float32)
    (got32,) = gc.compile([x32], [gc.arcsinh(x32)])(small)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, np.arcsinh(small), rtol=1e-6)
    rows = gc.input("rows", shape=(3, 4))
    batched = gc.vmap(lambda r: gc.arcsinh(r) * 2.0)(rows)
    table = np.arange(12.0).reshape(3, 4) - 6
    np.testing.assert_allclose(gc.compile([rows], [batched], backend="numpy")(table)[0],
                               2 * np.arcsinh(table), rtol=1e-15)
