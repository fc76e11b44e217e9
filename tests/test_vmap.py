"""gc.vmap: JAX's semantics, checked against a Python loop over the examples.

Covers in_axes/out_axes forms, output structures, batch sizes that are static,
named or None, composition with grad/jvp/vmap, compiling on both backends, the
node count not growing with the batch, and the errors for bad use.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import ir

RNG = np.random.default_rng(14)


def run(inputs: list[gc.Tensor], outputs: object, values: list[np.ndarray],
        backend: str = "numpy") -> object:
    return gc.compile(inputs, outputs, backend=backend)(*values)


def loop(fn, arrays: list[np.ndarray], axes: list[int | None], size: int) -> list[np.ndarray]:
    """fn on each example (numpy), results stacked on axis 0: the reference."""
    results = []
    for i in range(size):
        args = [a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(arrays, axes)]
        results.append(fn(*args))
    return np.stack(results)


# ------------------------------------------------------------------ semantics

@pytest.mark.parametrize("in_axes", [0, 1, -1, (1, None), [0, None]])
def test_in_axes_forms_match_a_loop(in_axes: object) -> None:
    a_value = RNG.standard_normal((4, 4))
    w_value = RNG.standard_normal((4, 3))
    a, w = gc.input("a", (4, 4)), gc.input("w", (4, 3))
    got_axes = [in_axes, in_axes] if not isinstance(in_axes, (tuple, list)) else list(in_axes)
    if got_axes[1] is not None:  # w batched too: a batch axis of size 4 where in_axes says
        shape = [4, 3]
        shape.insert(got_axes[1] % 3, 4)
        w, w_value = gc.input("w", tuple(shape)), RNG.standard_normal(shape)
    out = gc.vmap(lambda x, v: gc.tanh(x @ v), in_axes=in_axes)(a, w)
    got = run([a, w], out, [a_value, w_value])
    axes = [got_axes[0] % 2, None if got_axes[1] is None else got_axes[1] % 3]
    expected = loop(lambda x, v: np.tanh(x @ v), [a_value, w_value], axes, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("out_axes", [0, 1, 2, -1])
def test_out_axes_moves_the_batch_axis(out_axes: int) -> None:
    x = gc.input("x", (5, 2, 3))
    out = gc.vmap(lambda e: gc.exp(e) * 2, out_axes=out_axes)(x)
    value = RNG.standard_normal((5, 2, 3))
    expected = np.moveaxis(np.exp(value) * 2, 0, out_axes)
    assert out.shape == expected.shape
    np.testing.assert_allclose(run([x], out, [value]), expected, rtol=1e-14)


def test_tuple_list_and_nested_outputs_and_arguments() -> None:
    x, y = gc.input("x", (3, 4)), gc.input("y", (4, 3))

    def fn(pair: tuple[gc.Tensor, gc.Tensor]) -> list[object]:
        first, second = pair
        return [first.sum(), (first * second, gc.max(second))]

    out = gc.vmap(fn, in_axes=((0, 1),), out_axes=[0, (1, 0)])((x, y))
    assert isinstance(out, list) and isinstance(out[1], tuple)
    xv, yv = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 3))
    total, product, peak = gc.compile([x, y], [out[0], *out[1]], backend="numpy")(xv, yv)
    np.testing.assert_allclose(total, xv.sum(1))
    np.testing.assert_allclose(product, (xv * yv.T).T)
    np.testing.assert_allclose(peak, yv.max(0))


def test_unbatched_output_is_repeated_and_out_axes_none_keeps_it() -> None:
    x, w = gc.input("x", (6, 2)), gc.input("w", (2,))
    repeated, kept = gc.vmap(lambda e: (w * 3, w * 3), out_axes=(1, None))(x)
    assert repeated.shape == (2, 6) and kept.shape == (2,)
    value = np.array([1.0, -2.0])
    got = gc.compile([x, w], [repeated, kept], backend="numpy")(np.zeros((6, 2)), value)
    np.testing.assert_array_equal(got[0], np.repeat((value * 3)[:, None], 6, axis=1))
    np.testing.assert_array_equal(got[1], value * 3)


@pytest.mark.parametrize("size", [("B", 3), (None, 3)])
def test_named_and_unknown_batch_sizes(size: tuple[object, int]) -> None:
    x = gc.input("x", size)
    W = gc.input("W", (3, 2))
    out = gc.vmap(lambda e: gc.softmax(e @ W))(x)
    assert out.shape[1] == 2 and not isinstance(out.shape[0], int)
    f = gc.compile([x, W], out, backend="numpy")
    w_value = RNG.standard_normal((3, 2))
    for n in (1, 7):
        value = RNG.standard_normal((n, 3))
        z = value @ w_value
        expected = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        np.testing.assert_allclose(f(value, w_value), expected, rtol=1e-12)


def test_keyword_arguments_are_batched_on_axis_0() -> None:
    x, y = gc.input("x", (4, 2)), gc.input("y", (4, 2))
    out = gc.vmap(lambda a, b: a - b)(x, b=y)
    xv, yv = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 2))
    np.testing.assert_allclose(run([x, y], out, [xv, yv]), xv - yv)


# ----------------------------------------------------------------- composition

def logistic_loss(w: gc.Tensor, x: gc.Tensor, y: gc.Tensor) -> gc.Tensor:
    margin = x @ w
    return gc.softplus(margin) - y * margin


def test_vmap_of_grad_gives_per_example_gradients() -> None:
    n, d = 9, 4
    X, Y, w = gc.input("X", (n, d)), gc.input("Y", (n,)), gc.input("w", (d,))
    per_example = gc.vmap(lambda x, y: gc.grad(logistic_loss(w, x, y), w))(X, Y)
    assert per_example.shape == (n, d)
    xv, yv, wv = RNG.standard_normal((n, d)), (RNG.uniform(size=n) > 0.5) * 1.0, RNG.standard_normal(d)
    got = run([X, Y, w], per_example, [xv, yv, wv])
    p = 1 / (1 + np.exp(-(xv @ wv)))
    np.testing.assert_allclose(got, (p - yv)[:, None] * xv, rtol=1e-12)


def test_grad_of_vmap_equals_gradient_of_the_batched_loss() -> None:
    n, d = 6, 3
    X, Y, w = gc.input("X", (n, d)), gc.input("Y", (n,)), gc.input("w", (d,))
    losses = gc.vmap(lambda x, y: logistic_loss(w, x, y))(X, Y)
    gradient = gc.grad(gc.mean(losses), w)
    xv, yv, wv = RNG.standard_normal((n, d)), (RNG.uniform(size=n) > 0.5) * 1.0, RNG.standard_normal(d)
    p = 1 / (1 + np.exp(-(xv @ wv)))
    np.testing.assert_allclose(run([X, Y, w], gradient, [xv, yv, wv]), xv.T @ (p - yv) / n, rtol=1e-12)


def test_vmap_of_vmap_is_a_double_loop() -> None:
    x = gc.input("x", (3, 4, 5))
    v = gc.input("v", (5,))
    inner = gc.vmap(lambda row: gc.logsumexp(row * v))
    out = gc.vmap(inner, in_axes=1, out_axes=1)(x)
    value, vv = RNG.standard_normal((3, 4, 5)), RNG.standard_normal(5)
    expected = np.log(np.exp(value * vv).sum(-1))
    np.testing.assert_allclose(run([x, v], out, [value, vv]), expected, rtol=1e-12)


def test_vmap_of_jvp_gives_jacobian_columns() -> None:
    x = gc.input("x", (3,))
    tangents = gc.input("T", (4, 3))
    columns = gc.vmap(lambda t: gc.jvp(gc.sin(x) * x.sum(), x, t))(tangents)
    xv, tv = RNG.standard_normal(3), RNG.standard_normal((4, 3))
    jac = np.diag(np.cos(xv)) * xv.sum() + np.sin(xv)[:, None]
    np.testing.assert_allclose(run([x, tangents], columns, [xv, tv]), tv @ jac.T, rtol=1e-12)


def test_vmap_of_hessian_gives_per_example_hessians() -> None:
    X = gc.input("X", (4, 3))
    H = gc.vmap(lambda x: gc.hessian(gc.sum(gc.sin(x) * x[0]), x))(X)
    assert H.shape == (4, 3, 3)
    xv = RNG.standard_normal((4, 3))

    def analytic(x: np.ndarray) -> np.ndarray:
        h = np.diag(-np.sin(x) * x[0])
        h[0, :] += np.cos(x)
        h[:, 0] += np.cos(x)
        return h

    np.testing.assert_allclose(run([X], H, [xv]), np.stack([analytic(x) for x in xv]), rtol=1e-12)


def test_node_count_does_not_depend_on_the_batch_size() -> None:
    def build(n: int) -> int:
        X, w = gc.input("X", (n, 20)), gc.input("w", (20,))
        grads = gc.vmap(lambda x: gc.grad(gc.sum(gc.tanh(x * w) ** 2), w))(X)
        return len(ir.toposort([grads]))
    assert build(2) == build(2000)


def test_vmapped_graph_compiles_with_numba() -> None:
    pytest.importorskip("numba")
    X, Y, w = gc.input("X", ("n", 3)), gc.input("Y", ("n",)), gc.input("w", (3,))
    per_example = gc.vmap(lambda x, y: gc.grad(logistic_loss(w, x, y), w))(X, Y)
    xv, yv, wv = RNG.standard_normal((5, 3)), np.ones(5), RNG.standard_normal(3)
    got = run([X, Y, w], per_example, [xv, yv, wv], backend="numba")
    p = 1 / (1 + np.exp(-(xv @ wv)))
    np.testing.assert_allclose(got, (p - yv)[:, None] * xv, rtol=1e-12)


# ---------------------------------------------------------------------- errors

def test_in_axes_out_of_range_names_the_argument() -> None:
    x, y = gc.input("x", (3,)), gc.input("y", (3, 2))
    with pytest.raises(gc.ShapeError, match=r"in_axes 2 is out of range for argument 1 \('y'\)"):
        gc.vmap(lambda a, b: a * b.sum(), in_axes=(0, 2))(x, y)


def test_batch_sizes_that_differ_are_refused() -> None:
    x, y = gc.input("x", (3, 2)), gc.input("y", (2, 4))
    with pytest.raises(gc.ShapeError, match=r"batch sizes differ.*argument 0 \('x'\).*size 3.*"
                                            r"argument 1 \('y'\).*size 4"):
        gc.vmap(lambda a, b: a.sum() + b.sum(), in_axes=(0, 1))(x, y)
    a, b = gc.input("a", ("n", 2)), gc.input("b", ("m", 2))
    with pytest.raises(gc.ShapeError, match="batch sizes differ"):
        gc.vmap(lambda p, q: p + q)(a, b)


def test_a_named_batch_next_to_a_static_one_is_checked_per_call() -> None:
    X = gc.input("X", ("n", 3))
    f = gc.compile([X], gc.vmap(lambda x, c: x * c)(X, np.ones((4, 3))), backend="numpy")
    np.testing.assert_array_equal(f(np.full((4, 3), 2.0)), np.full((4, 3), 2.0))
    with pytest.raises(gc.InputError, match="'n' = 5.*size 4 must be equal"):
        f(np.ones((5, 3)))


def test_in_axes_structure_must_match_the_arguments() -> None:
    x = gc.input("x", (3,))
    with pytest.raises(gc.GraphcError, match="in_axes has 2 entries but the function was called "
                                             "with 1 positional"):
        gc.vmap(lambda a: a, in_axes=(0, 0))(x)
    with pytest.raises(gc.GraphcError, match=r"in_axes for argument 0 has 2 entries but 3 entries"):
        gc.vmap(lambda t: t[0], in_axes=((0, 0),))((x, x, x))
    with pytest.raises(gc.GraphcError, match="entries must be ints or None"):
        gc.vmap(lambda a: a, in_axes="0")


def test_all_unbatched_and_out_axes_none_on_a_batched_output_are_refused() -> None:
    x = gc.input("x", (3,))
    with pytest.raises(gc.GraphcError, match="at least one batched argument"):
        gc.vmap(lambda a: a, in_axes=None)(x)
    with pytest.raises(gc.GraphcError, match="out_axes is None for output 0"):
        gc.vmap(lambda a: a * 2, out_axes=None)(x)


def test_the_vmap_page_runs_as_written() -> None:
    """Every python block of docs/vmap.md, in order, in one namespace (as a reader runs them)."""
    from pathlib import Path
    page = (Path(__file__).resolve().parent.parent / "docs" / "vmap.md").read_text()
    blocks = [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/vmap.md", "exec"), namespace)  # noqa: S102 - the page's own code


def test_named_batch_through_slices_and_a_nested_hessian_compiles_with_numba() -> None:
    """Per-example Rosenbrock gradients and Hessians (getitem, scatter, concatenate, reshape, an
    inner vmap) with a named batch size: numba and numpy agree, and both match scipy."""
    pytest.importorskip("numba")
    from scipy.optimize import rosen_der, rosen_hess

    X = gc.input("X", ("B", 5))

    def per_example(x: gc.Tensor) -> tuple[gc.Tensor, gc.Tensor]:
        value = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        joined = gc.concatenate([gc.grad(value, x), gc.reshape(gc.outer(x, x), (-1,))])
        return joined, gc.hessian(value, x)

    outputs = list(gc.vmap(per_example)(X))
    xv = RNG.standard_normal((7, 5))
    compiled = gc.compile([X], outputs, backend="numba")(xv)
    reference = gc.compile([X], outputs, backend="numpy")(xv)
    for got, expected in zip(compiled, reference):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(compiled[0][:, :5], np.stack([rosen_der(x) for x in xv]), rtol=1e-12)
    np.testing.assert_allclose(compiled[0][:, 5:], np.stack([np.outer(x, x).ravel() for x in xv]))
    np.testing.assert_allclose(compiled[1], np.stack([rosen_hess(x) for x in xv]), rtol=1e-12)
