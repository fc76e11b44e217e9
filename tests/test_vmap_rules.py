"""Registry-driven: every op's batching rule against a Python loop over the examples.

For each registered op (leaves excepted) and the contract cases of
tests/test_ops_contract.py (its samples; a spread of broadcasting shapes for
elementwise ops), the op is vmapped with the batch axis in several positions
(first, last, in the middle), with batched and unbatched operands mixed. The
result must equal the op's independent NumPy reference (test_ops_contract's
REFERENCES) applied to one example at a time and stacked. An op without a rule
fails `test_every_op_has_a_batching_rule` unless it is explicitly marked
unbatchable (batching.unbatchable), in which case vmap must say why.

The numpy backend runs every case; numba runs one case per op family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from test_ops_contract import (
    CASES,
    FLOAT_ONLY,
    LEAVES,
    REFERENCES,
    Case,
    case_dtypes,
    sample_values,
    tolerance,
)

import graphc as gc
from graphc import ir
from graphc.interpret import evaluate
from graphc.ops import batching

BATCH = 3
Pattern = tuple[int | None, ...]


def patterns(ranks: Sequence[int]) -> list[Pattern]:
    """Batch-axis positions per operand: all first, all last, middle, and one operand alone."""
    found: list[Pattern] = [tuple(0 for _ in ranks), tuple(ranks),
                            tuple((r + 1) // 2 for r in ranks)]
    for i, rank in enumerate(ranks):
        for axis in (0, rank):
            found.append(tuple(axis if j == i else None for j in range(len(ranks))))
    if len(ranks) > 1:  # mixed positions
        found.append(tuple(r if j % 2 else 0 for j, r in enumerate(ranks)))
    return list(dict.fromkeys(found))


def rule_cases() -> list[Case]:
    """The contract cases, thinned: elementwise ops keep two dtypes and a spread of shapes."""
    chosen: list[Case] = []
    for case in CASES:
        if case.label:  # a declared sample: keep float64 and int32 variants
            if case.dtypes[0] in ("float64", "int32") or case.op.name == "one_hot" \
                    or case.op.name.startswith("random_"):  # keys are int64
                chosen.append(case)
            continue
        if set(case.dtypes) != {"float64"} and case.dtypes[0] != "int32":
            continue
        shape_sets = [s for s in case.shape_sets if _broadcasts(s)][::9][:5]
        chosen.append(Case(case.op, case.dtypes, shape_sets, case.attrs, case.label))
    return chosen


def _broadcasts(shape_set: Sequence[tuple[int, ...]]) -> bool:
    try:
        np.broadcast_shapes(*shape_set)
    except ValueError:
        return False
    return True


RULE_CASES = rule_cases()


def check_case(case: Case, rng: np.random.Generator, backend: str = "numpy",
               only_first: bool = False) -> int:
    """vmap the op for every pattern and shape set; compare with the looped reference.

    Every pattern's graph goes into one compiled function, so numba compiles once per case.
    """
    op, reference = case.op, REFERENCES[case.op.name]
    dtypes = case_dtypes(case)
    if op.name in FLOAT_ONLY and any(d.kind != "f" for d in dtypes):
        return 0
    inputs: list[gc.Tensor] = []
    arrays: list[np.ndarray] = []
    outputs: list[gc.Tensor] = []
    expectations: list[tuple[np.ndarray, str]] = []
    for shape_set in case.shape_sets[:1] if only_first else case.shape_sets:
        for pattern in patterns([len(s) for s in shape_set]):
            mine, values = [], []
            for i, (shape, dtype, axis) in enumerate(zip(shape_set, dtypes, pattern)):
                examples = [sample_values(case, i, dtype, shape, rng) for _ in range(BATCH)]
                value = examples[0] if axis is None else np.stack(examples, axis=axis)
                mine.append(gc.input(f"x{len(inputs) + i}", value.shape, dtype))
                values.append(value)
            outputs.append(gc.vmap(lambda *xs: ir.apply(op, *xs, **case.attrs),
                                   in_axes=pattern)(*mine))
            with np.errstate(all="ignore"):
                expected = np.stack([
                    np.asarray(reference(*[a if ax is None else np.take(a, b, axis=ax)
                                           for a, ax in zip(values, pattern)], **case.attrs))
                    for b in range(BATCH)])
            where = f"{op.name}{tuple(shape_set)} {[str(d) for d in dtypes]} {case.attrs} axes {pattern}"
            expectations.append((expected, where))
            inputs += mine
            arrays += values
    if backend == "numpy":
        results = evaluate(outputs, dict(zip(inputs, arrays)))
    else:
        results = gc.compile(inputs, outputs, backend=backend)(*arrays)
    for got, (expected, where) in zip(results, expectations):
        got = np.asarray(got)
        assert got.shape == expected.shape, f"{where}: {got.shape} vs loop {expected.shape}"
        assert got.dtype == expected.dtype, f"{where}: {got.dtype} vs loop {expected.dtype}"
        np.testing.assert_allclose(got, expected, err_msg=where, **tolerance(got.dtype))
    return len(outputs)


# ------------------------------------------------------------------ tests

def test_every_op_has_a_batching_rule() -> None:
    missing = sorted(name for name, op in ir.OPS.items() if name not in LEAVES and op.batch is None)
    assert not missing, (
        f"ops {missing} have no batching rule: declare batch= on their Op (graphc/ops/batching.py "
        "has the factories), or batch=batching.unbatchable(reason)")


def test_every_op_is_covered_here() -> None:
    covered = {case.op.name for case in RULE_CASES}
    assert not sorted(set(ir.OPS) - LEAVES - covered)


@pytest.mark.parametrize("case", RULE_CASES, ids=lambda c: c.id)
def test_batching_rule_matches_a_loop(case: Case, rng: np.random.Generator) -> None:
    reason = getattr(case.op.batch, "unbatchable_reason", None)
    if reason is not None:
        shape_set = case.shape_sets[0]
        inputs = [gc.input(f"x{i}", (BATCH,) + s) for i, s in enumerate(shape_set)]
        with pytest.raises(gc.GraphcError, match=f"{case.op.name}.*{reason}"):
            gc.vmap(lambda *xs: ir.apply(case.op, *xs, **case.attrs))(*inputs)
        return
    checked = check_case(case, rng)
    assert checked or case.op.name in FLOAT_ONLY, f"{case.id}: nothing checked"


NUMBA_FAMILIES = ["add", "where", "astype", "sum", "logsumexp", "softmax", "matmul", "reshape",
                  "transpose", "broadcast_to", "sum_to", "expand_dims", "squeeze", "concatenate",
                  "getitem", "scatter", "one_hot"]


@pytest.mark.parametrize("name", NUMBA_FAMILIES)
def test_batching_rule_compiles_with_numba(name: str, rng: np.random.Generator) -> None:
    pytest.importorskip("numba")
    case = next(c for c in RULE_CASES if c.op.name == name and c.dtypes[0] == "float64" or
                c.op.name == name == "one_hot")
    assert check_case(case, rng, backend="numba", only_first=True)


# ------------------------------------------------------ ops without a rule

def _private_op(batch: Any) -> ir.Op:
    """An unregistered copy of `exp` with the given batch rule (the registry stays untouched)."""
    exp = ir.OPS["exp"]
    return ir.Op("my_exp", shape=exp.shape, dtype=exp.dtype, impl=exp.impl, arity=1, batch=batch)


def test_an_op_without_a_rule_is_a_clear_error() -> None:
    op = _private_op(None)
    x = gc.input("x", (4, 2))
    with pytest.raises(gc.GraphcError, match="my_exp has no batching rule.*test_vmap_rules.py"):
        gc.vmap(lambda e: ir.apply(op, e))(x)


def test_an_unbatchable_op_says_why() -> None:
    op = _private_op(batching.unbatchable("its result depends on the whole batch"))
    x = gc.input("x", (4, 2))
    with pytest.raises(gc.GraphcError, match="vmap of my_exp .*depends on the whole batch"):
        gc.vmap(lambda e: ir.apply(op, e))(x)
