"""codegen/forms.py: an outlined unit's code is generated once per form and renamed for its other
sites. The reference is the emitters themselves: every graph here is generated twice, with the
reuse and with every unit emitted afresh, and the module and every kernel module must be the
same bytes; the deep MLP must actually reuse (else the test would pass with the reuse broken off).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.backend import policy
from graphc.backend.codegen import forms, generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compile_time  # noqa: E402  (benchmarks/ is not a package)


def generated(inputs, outputs, fresh: bool, monkeypatch) -> tuple[str, list[str], int]:
    """(module source, kernel sources, units reused) of the kernel-mode generation."""
    made: list[forms.Forms] = []
    init = forms.Forms.__init__

    def recording(self, generator):
        init(self, generator)
        made.append(self)
    with monkeypatch.context() as patch:
        patch.setattr(forms.Forms, "__init__", recording)
        if fresh:
            def emit_each(self, number, unit, emit):
                self.same += [None] * (number + 1 - len(self.same))
                emit()
            patch.setattr(forms.Forms, "emit", emit_each)
        result = generate(policy.schedule_for(inputs, outputs), (), kernels=True)
    return result.source, [k.source for k in result.kernels], sum(f.reused for f in made)


def simplified(inputs, outputs):
    return inputs, list(gc.compile(inputs, outputs, backend="numpy").outputs)


def assert_same(inputs, outputs, monkeypatch) -> int:
    reused_source, reused_kernels, reused = generated(inputs, outputs, False, monkeypatch)
    fresh_source, fresh_kernels, _ = generated(inputs, outputs, True, monkeypatch)
    assert reused_source == fresh_source
    assert reused_kernels == fresh_kernels
    return reused


@pytest.mark.parametrize("depth,width", [(6, 32), (3, 48)])
def test_the_benchmark_mlp_reuses_its_layers_code_byte_for_byte(monkeypatch, depth, width) -> None:
    inputs, outputs = simplified(*compile_time.mlp_graph(depth, width))
    reused = assert_same(inputs, outputs, monkeypatch)
    assert reused >= 2 * (depth - 2)  # each layer's forward and backward groups after the first


def test_layers_of_other_widths_dtypes_and_reductions(monkeypatch) -> None:
    x = gc.input("x", ("batch", 5), dtype="float32")
    sizes = [5, 7, 7, 3, 3]
    weights = [gc.input(f"W{i}", (a, b), dtype="float32") for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    h = x
    for W in weights:
        h = gc.sigmoid(h @ W) * 0.5 + gc.exp(-(h @ W) ** 2)
    loss = gc.logsumexp(h, axis=1).mean() + gc.max(h) + (h.sum(axis=0) ** 2).sum()
    inputs, outputs = simplified([x, *weights], [loss, *gc.grad(loss, weights)])
    assert assert_same(inputs, outputs, monkeypatch) >= 1


def test_a_value_named_like_an_op_label(monkeypatch) -> None:
    """A name that is also a fixed word of the text (an op's label) is never renamed into it."""
    x = gc.input("tanh", (4, 3))
    y = gc.input("exp", (4, 3))
    a = gc.tanh(gc.tanh(x) * 2.0 + 1.0)
    b = gc.tanh(gc.tanh(y) * 2.0 + 1.0)
    inputs, outputs = simplified([x, y], [a, b, (a * b).sum()])
    assert_same(inputs, outputs, monkeypatch)
    f = gc.compile(inputs, outputs, backend="numba")
    xv, yv = np.random.default_rng(0).normal(size=(2, 4, 3))
    want = [np.tanh(np.tanh(xv) * 2 + 1), np.tanh(np.tanh(yv) * 2 + 1)]
    for got, expected in zip(f(xv, yv), want + [(want[0] * want[1]).sum()]):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_float_attributes_that_compare_equal_but_print_differently_are_two_forms() -> None:
    """0.0 == -0.0, but code that holds one must not be reused for the other (repr tells them apart)."""
    assert forms._attribute_key(0.0) != forms._attribute_key(-0.0)
    assert forms._attribute_key((1, 0.5)) == forms._attribute_key((1, 0.5))
    assert forms._attribute_key(float("nan")) == forms._attribute_key(float("nan"))  # one text, one form
    assert forms._attribute_key(1) != forms._attribute_key(1.0)
