"""gc.scan and gc.while_loop against Python loops of the same body (numpy backend).

Values, VJP (finite differences and the unrolled graph's gradient), JVP,
grad of grad, vmap, hessian, reverse, length-only and zero-length loops,
several carry shapes and dtypes, and the build-time errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def rnn_step(W, U):
    def step(c, x):
        h = gc.tanh(c @ W + x @ U)
        return h, (h * h).sum()
    return step


def numpy_rnn(c, xs, Wv, Uv, reverse=False):
    ys = np.zeros(len(xs))
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        c = np.tanh(c @ Wv + xs[t] @ Uv)
        ys[t] = (c * c).sum()
    return c, ys


@pytest.fixture
def rnn():
    W = gc.input("W", (3, 3))
    U = gc.input("U", (2, 3))
    xs = gc.input("xs", ("T", 2))
    c0 = gc.input("c0", (3,))
    values = {W: RNG.normal(size=(3, 3)) * 0.6, U: RNG.normal(size=(2, 3)),
              xs: RNG.normal(size=(7, 2)), c0: RNG.normal(size=3)}
    return W, U, xs, c0, values


@pytest.mark.parametrize("reverse", [False, True])
def test_values_match_a_python_loop(rnn, reverse):
    W, U, xs, c0, v = rnn
    c, ys = gc.scan(rnn_step(W, U), c0, xs, reverse=reverse)
    f = gc.compile([W, U, xs, c0], [c, ys], backend="numpy")
    got_c, got_ys = f(v[W], v[U], v[xs], v[c0])
    want_c, want_ys = numpy_rnn(v[c0], v[xs], v[W], v[U], reverse)
    np.testing.assert_allclose(got_c, want_c, rtol=1e-12)
    np.testing.assert_allclose(got_ys, want_ys, rtol=1e-12)
    assert f(v[W], v[U], v[xs][:3], v[c0])[1].shape == (3,)  # a named number of steps


def unrolled(step, c, xs_value_rows):
    ys = []
    for row in xs_value_rows:
        c, y = step(c, row)
        ys.append(y)
    return c, gc.stack(ys)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_matches_finite_differences_and_the_unrolled_graph(rnn, reverse):
    W, U, long, c0, v = rnn
    xs = gc.input("xs5", (5, 2))
    weights = gc.constant(np.arange(1.0, 6.0))
    c, ys = gc.scan(rnn_step(W, U), c0, xs, reverse=reverse)
    loss = (ys * weights).sum() + (c * c).sum()
    values = {W: v[W], U: v[U], xs: v[long][:5], c0: v[c0]}
    for wrt in (W, U, xs, c0):
        gc.check_grad(loss, wrt, values)
    rows = [xs[t] for t in range(5)]
    cu, ysu = unrolled(rnn_step(W, U), c0, rows[::-1] if reverse else rows)
    ysu = ysu[::-1] if reverse else ysu
    loss_unrolled = (ysu * weights).sum() + (cu * cu).sum()
    f = gc.compile([W, U, xs, c0], gc.grad(loss, [W, U, xs, c0]), backend="numpy")
    g = gc.compile([W, U, xs, c0], gc.grad(loss_unrolled, [W, U, xs, c0]), backend="numpy")
    for a, b in zip(f(*values.values()), g(*values.values())):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_jvp_and_grad_of_grad(rnn):
    W, U, xs, c0, v = rnn
    c, ys = gc.scan(rnn_step(W, U), c0, xs)
    loss = ys.sum() + c.sum()
    tangent = RNG.normal(size=(3, 3))
    t = gc.jvp(loss, W, gc.constant(tangent))
    f = gc.compile([W, U, xs, c0], [loss, t], backend="numpy")
    eps = 1e-6
    up = f(v[W] + eps * tangent, v[U], v[xs], v[c0])[0]
    down = f(v[W] - eps * tangent, v[U], v[xs], v[c0])[0]
    np.testing.assert_allclose(f(v[W], v[U], v[xs], v[c0])[1], (up - down) / (2 * eps), rtol=1e-6)
    g = gc.grad(loss, W)
    gc.check_grad((g * g).sum(), W, v, rtol=1e-4)
    gc.check_grad((g * g).sum(), U, v, rtol=1e-4)


def test_vmap_of_scan_batches_the_body(rnn):
    W, U, _, c0, v = rnn
    batch = gc.input("batch", (4, 6, 2))

    def model(x):
        c, ys = gc.scan(rnn_step(W, U), c0, x)
        return ys.sum() + c.sum()

    f = gc.compile([W, U, batch, c0], gc.vmap(model)(batch), backend="numpy")
    data = RNG.normal(size=(4, 6, 2))
    got = f(v[W], v[U], data, v[c0])
    for i in range(4):
        c, ys = numpy_rnn(v[c0], data[i], v[W], v[U])
        np.testing.assert_allclose(got[i], ys.sum() + c.sum(), rtol=1e-12)


def test_hessian_composes():
    w = gc.input("w", (3,))
    xs = gc.input("xs", (4, 3))
    _, ys = gc.scan(lambda c, x: (c * gc.sin(w) + x, (c * c).sum()), w, xs)
    loss = ys.sum()
    H = gc.compile([w, xs], gc.hessian(loss, w), backend="numpy")
    g = gc.compile([w, xs], gc.grad(loss, w), backend="numpy")
    wv, xv, eps = RNG.normal(size=3), RNG.normal(size=(4, 3)), 1e-5
    numeric = np.stack([(g(wv + eps * e, xv) - g(wv - eps * e, xv)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(H(wv, xv), numeric, rtol=1e-6, atol=1e-8)


def test_length_only_nested_carry_and_none_ys():
    a = gc.input("a", ())

    def step(carry, _):
        (x, n), total = carry
        return ((x * a, n + 1), total + x), None

    (final, steps), ys = gc.scan(step, ((gc.constant(1.0), gc.constant(0)), gc.constant(0.0)), length=5)
    assert ys is None
    f = gc.compile([a], [final[0], final[1], steps], backend="numpy")
    x, n, total = f(np.array(2.0))
    assert (float(x), int(n), float(total)) == (32.0, 5, 31.0)
    assert np.asarray(n).dtype == np.int64
    gc.check_grad(steps, a, {a: np.array(1.3)})


def test_float32_carry_and_weak_init_adopt_the_body_dtype():
    xs = gc.input("xs", (6, 2), dtype="float32")
    c, ys = gc.scan(lambda c, x: (c + x.sum(), c * 2), 0.0, xs)
    assert c.dtype == np.float32 and ys.dtype == np.float32
    f = gc.compile([xs], [c, ys], backend="numpy")
    data = RNG.normal(size=(6, 2)).astype(np.float32)
    got_c, got_ys = f(data)
    np.testing.assert_allclose(got_c, data.sum(), rtol=1e-5)
    np.testing.assert_allclose(got_ys, 2 * np.concatenate([[0], np.cumsum(data.sum(1))[:-1]]), rtol=1e-5)


def test_zero_length_scan_is_defined():
    xs = gc.input("xs", ("T", 3))
    c0 = gc.input("c0", (3,))
    c, ys = gc.scan(lambda c, x: (c + x, gc.outer(c, x)), c0, xs)
    loss = c.sum() + ys.sum()
    f = gc.compile([xs, c0], [c, ys, gc.grad(loss, c0)], backend="numpy")
    got_c, got_ys, got_g = f(np.zeros((0, 3)), np.arange(3.0))
    np.testing.assert_array_equal(got_c, np.arange(3.0))
    assert got_ys.shape == (0, 3, 3)
    np.testing.assert_array_equal(got_g, np.ones(3))


def test_loop_invariant_work_is_hoisted_out_of_the_body():
    W = gc.input("W", (3, 3))
    xs = gc.input("xs", (4, 3))
    c, _ = gc.scan(lambda c, x: (gc.tanh((W * 2.0) @ c) + x, None), gc.constant(np.ones(3)), xs)
    body = c.attr["body"]
    assert [n.op.name for n in body.nodes()].count("multiply") == 0  # W * 2 is computed outside
    assert c.inputs[-1].op.name == "multiply"


def test_build_time_errors_name_the_carry_and_the_line():
    xs = gc.input("xs", (4, 3))
    c0 = gc.input("c0", (3,))
    with pytest.raises(gc.ShapeError, match=r"carry has shape \[3\] in init but the body returns "
                                            r"shape \[3,3\].*test_scan.py"):
        gc.scan(lambda c, x: (gc.outer(c, x), None), c0, xs)
    with pytest.raises(gc.DTypeError, match=r"carry\[1\] has dtype i64"):
        gc.scan(lambda c, x: ((c[0], c[1] * 0.5), None), (c0, gc.constant(0)), xs)
    with pytest.raises(gc.GraphcError, match="must return a pair"):
        gc.scan(lambda c, x: c, c0, xs)
    with pytest.raises(gc.GraphcError, match="give xs or length"):
        gc.scan(lambda c, x: (c, None), c0)
    with pytest.raises(gc.ShapeError, match="different lengths"):
        gc.scan(lambda c, x: (c, None), c0, (xs, gc.input("ys", (5,))))


def test_while_loop_values_and_gradient_when_bounded():
    x = gc.input("x", ())

    def cond(c):
        return c[0] < 100.0

    def body(c):
        return c[0] * x, c[1] + 1

    init = (gc.constant(1.0), gc.constant(0))
    value, count = gc.while_loop(cond, body, init)
    f = gc.compile([x], [value, count], backend="numpy")
    assert [float(v) for v in f(np.array(3.0))] == [243.0, 5.0]
    with pytest.raises(gc.NotDifferentiableError, match="max_steps"):
        gc.grad(value, x)
    bounded, _ = gc.while_loop(cond, body, init, max_steps=30)
    g = gc.compile([x], [bounded, gc.grad(bounded, x)], backend="numpy")
    v, d = g(np.array(3.0))
    assert float(v) == 243.0 and np.isclose(float(d), 5 * 3.0**4)


def test_printing_nests_the_body_and_dot_draws_a_cluster():
    pydot = pytest.importorskip("pydot")
    xs = gc.input("xs", (4, 3))
    c, ys = gc.scan(lambda c, x: (c * x, c.sum()), gc.constant(np.ones(3)), xs)
    text = gc.format_graph([c, ys])
    assert text.count("body#") == 3 and "  body#" in text and "    -> " in text
    dot = gc.to_dot([c, ys])
    names = [g.get_name() for g in pydot.graph_from_dot_data(dot)[0].get_subgraph_list()]
    assert any(name.strip('"').startswith("cluster_body#") for name in names)


def test_a_graph_with_a_scan_pickles_and_caches():
    import pickle

    xs = gc.input("xs", (4, 3))
    c, _ = gc.scan(lambda c, x: (c * x, None), gc.constant(np.ones(3)), xs)
    body = pickle.loads(pickle.dumps(c.attr["body"]))
    assert [n.op.name for n in body.nodes()] == [n.op.name for n in c.attr["body"].nodes()]
    f = gc.compile([xs], c, backend="numpy")
    data = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(f))(data), data.prod(0))


@pytest.mark.parametrize("reverse", [False, True])
def test_checkpointed_gradients_equal_the_saved_ones(reverse):
    xs = gc.input("xs", (23, 2))
    W = gc.input("W", (3, 3))
    U = gc.input("U", (2, 3))
    c0 = gc.input("c0", (3,))
    values = [RNG.normal(size=(23, 2)), RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=(2, 3)),
              RNG.normal(size=3)]
    results, saved = [], []
    for every in (None, 5, 23, 40):
        c, ys = gc.scan(rnn_step(W, U), c0, xs, reverse=reverse, checkpoint=every)
        loss = (ys * gc.constant(np.arange(23.0))).sum() + (c * c).sum()
        f = gc.compile([xs, W, U, c0], [loss, *gc.grad(loss, [xs, W, U, c0])], backend="numpy")
        results.append(f(*values))
        saved.append(f.stats["saved_bytes"])
    for result in results[1:]:
        for a, b in zip(result, results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # Unchecked: the carries and the step's tanh (a residual, not recomputed; the backward step
    # needs only tanh's output, not the two products behind it); checkpointed: every k-th carry only.
    assert saved == [2 * 23 * 3 * 8, 5 * 3 * 8, 1 * 3 * 8, 1 * 3 * 8]


def test_checkpoint_errors():
    c0 = gc.input("c0", (3,))
    with pytest.raises(gc.ShapeError, match="static number of steps"):
        gc.scan(lambda c, x: (c * x, None), c0, gc.input("xs", ("T", 3)), checkpoint=4)
    xs = gc.input("xs", (8, 3))
    c, _ = gc.scan(lambda c, x: (gc.sin(c) * x, None), c0, xs, checkpoint=4)
    g = gc.grad(c.sum(), c0)
    with pytest.raises(gc.NotDifferentiableError, match="checkpoint=None"):
        gc.grad(g.sum(), c0)


def test_jacobians_of_scan_outputs_by_both_modes():
    xs = gc.input("xs", (4, 3))
    w = gc.input("w", (3,))
    c, ys = gc.scan(lambda c, x: (gc.sin(c * w) + x, c.sum()), w, xs)
    values = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    g = gc.compile([xs, w], [ys, c], backend="numpy")
    eps = 1e-6
    for which, out in enumerate((ys, c)):
        numeric = np.stack([(g(values[0], values[1] + eps * u)[which]
                             - g(values[0], values[1] - eps * u)[which]) / (2 * eps)
                            for u in np.eye(3)], -1)
        for jacobian in (gc.jacfwd(out, w), gc.jacrev(out, w)):
            got = gc.compile([xs, w], jacobian, backend="numpy")(*values)
            np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def _tanh_op(expensive):
    """tanh as a user's op record, differing only in `expensive` (name unique per flag)."""
    def vjp(g, out, a):
        return (g * (1 - out * out),)
    return gc.Op(f"tanh_expensive_{expensive}", label="tanh", arity=1, elementwise=True,
                  shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: inputs[0].dtype,
                  impl=np.tanh, scalar="math.tanh({0})", vjp=vjp, expensive=expensive)


def test_scan_vjp_saves_what_the_op_record_calls_expensive():
    """Op.expensive decides: an expensive op's per-step output is saved, a cheap one recomputed."""
    xs = gc.input("xs", (7, 3))
    c0 = gc.input("c0", (3,))
    values = [RNG.normal(size=(7, 3)), RNG.normal(size=3)]
    results, saved = [], []
    for expensive in (True, False):
        op = _tanh_op(expensive)
        c, _ = gc.scan(lambda c, x, op=op: (gc.apply(op, c * x + x), None), c0, xs)
        loss = (c * c).sum()
        f = gc.compile([xs, c0], [loss, *gc.grad(loss, [xs, c0])], backend="numpy")
        results.append(f(*values))
        saved.append(f.stats["saved_bytes"])
    # A Python loop and its hand-written gradient are the reference.
    c, cs = values[1], []
    for x in values[0]:
        cs.append(c)
        c = np.tanh(c * x + x)
    g, g_xs = 2 * c, np.zeros((7, 3))
    for t in reversed(range(7)):
        d = g * (1 - np.tanh(cs[t] * values[0][t] + values[0][t]) ** 2)
        g_xs[t] = d * (cs[t] + 1)
        g = d * values[0][t]
    for result in results:
        np.testing.assert_allclose(result[0], (c * c).sum(), rtol=1e-12)
        np.testing.assert_allclose(result[1], g_xs, rtol=1e-12)
        np.testing.assert_allclose(result[2], g, rtol=1e-12)
    # expensive: the carries and the op's output; cheap: the carries only (the output is
    # recomputed from the carry and x).
    assert saved == [2 * 7 * 3 * 8, 7 * 3 * 8]
