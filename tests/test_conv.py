"""gc.nn convolution and pooling, gc.nn.convolve / gc.nn.correlate: values, gradients, vmap, errors.

References are independent of graphc's implementation: direct loops over the
definition (tests/conv_reference.py) for conv and pooling, scipy.signal for
convolve/correlate, central differences for gradients, a Python loop over
examples for vmap. The NumPy backend runs every case; the Numba backend runs
the same graphs gathered into a few compiled functions (compiles are slow).
"""

from __future__ import annotations

from typing import Any

import conv_reference as ref
import numpy as np
import pytest
import scipy.signal

import graphc as gc

# (input shape, weight shape, keyword arguments): stride, padding, dilation and groups combined
CONV2D_CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 6, 5), (4, 3, 3, 3), {}),
    ((2, 3, 6, 5), (4, 3, 3, 2), {"padding": "same"}),
    ((1, 2, 7, 7), (3, 2, 2, 2), {"padding": "same"}),  # even kernel: the odd pad goes after
    ((2, 2, 7, 6), (2, 2, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 2, 9, 8), (2, 2, 3, 2), {"stride": (2, 3), "padding": "same"}),
    ((2, 4, 8, 7), (6, 2, 3, 3), {"groups": 2, "dilation": (2, 1)}),
    ((1, 4, 8, 8), (4, 1, 3, 3), {"groups": 4, "padding": (1, 2), "stride": (1, 2)}),
    ((1, 2, 6, 6), (2, 2, 2, 3), {"padding": ((2, 0), (1, 3)), "dilation": 2}),
    ((1, 3, 5, 5), (2, 3, 5, 5), {}),  # kernel as large as the image
]
IDS = [f"case{i}" for i in range(len(CONV2D_CASES))]


def _geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], kw: dict[str, Any]) -> dict[str, Any]:
    """The explicit geometry the reference loop needs, from PyTorch-style arguments."""
    def pair(v: Any) -> tuple[int, int]:
        return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]
    stride, dilation = pair(kw.get("stride", 1)), pair(kw.get("dilation", 1))
    padding = kw.get("padding", 0)
    if padding == "same":
        pads = []
        for size, k, s, d in zip(x_shape[2:], w_shape[2:], stride, dilation):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        padding = tuple(pads)
    elif isinstance(padding, int):
        padding = ((padding, padding),) * 2
    elif isinstance(padding[0], int):
        padding = tuple((p, p) for p in padding)
    return {"stride": stride, "padding": padding, "dilation": dilation,
            "groups": kw.get("groups", 1)}


def _values(rng: np.random.Generator, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.standard_normal(s) for s in shapes]


# ------------------------------------------------------------------- values

@pytest.mark.parametrize("x_shape, w_shape, kw", CONV2D_CASES, ids=IDS)
def test_conv2d_matches_a_direct_loop(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                                      kw: dict[str, Any], rng: np.random.Generator) -> None:
    x, w, b = gc.input("x", x_shape), gc.input("w", w_shape), gc.input("b", (w_shape[0],))
    xv, wv, bv = _values(rng, x_shape, w_shape, (w_shape[0],))
    got = gc.compile([x, w, b], gc.nn.conv2d(x, w, b, **kw), backend="numpy")(xv, wv, bv)
    expected = ref.conv(xv, wv, **_geometry(x_shape, w_shape, kw)) + bv[:, None, None]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    if kw.get("padding") == "same" and kw.get("stride", 1) == 1:
        assert got.shape[2:] == x_shape[2:]


def test_conv2d_symbolic_batch_and_float32(rng: np.random.Generator) -> None:
    x = gc.input("x", ("n", 2, 5, 5), "float32")
    w = gc.input("w", (3, 2, 3, 3), "float32")
    y = gc.nn.conv2d(x, w, padding="same")
    assert y.shape == ("n", 3, 5, 5) and y.dtype == np.float32
    xv, wv = (v.astype(np.float32) for v in _values(rng, (4, 2, 5, 5), (3, 2, 3, 3)))
    got = gc.compile([x, w], y, backend="numpy")(xv, wv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref.conv(xv.astype(float), wv.astype(float), (1, 1),
                                             ((1, 1), (1, 1)), (1, 1), 1), rtol=1e-5, atol=1e-5)
    mixed = gc.nn.conv2d(x, gc.input("w64", (3, 2, 3, 3)))
    assert mixed.dtype == np.float64  # NumPy's promotion of float32 and float64


@pytest.mark.parametrize("kw", [{}, {"padding": "same"}, {"stride": 2, "padding": 2, "dilation": 2},
                                {"groups": 2, "padding": (1,)}])
def test_conv1d_matches_a_direct_loop(kw: dict[str, Any], rng: np.random.Generator) -> None:
    x, w = gc.input("x", (2, 4, 9)), gc.input("w", (2, 4 // kw.get("groups", 1), 3))
    xv, wv = _values(rng, x.shape, w.shape)
    got = gc.compile([x, w], gc.nn.conv1d(x, w, **kw), backend="numpy")(xv, wv)
    kw2 = {k: ((1, v) if isinstance(v, int) and k != "groups" else v) for k, v in kw.items()}
    if kw.get("padding") == "same":
        kw2["padding"] = ((0, 0), (1, 1))
    elif "padding" in kw:
        p = kw["padding"][0] if isinstance(kw["padding"], tuple) else kw["padding"]
        kw2["padding"] = ((0, 0), (p, p))
    expected = ref.conv(xv[:, :, None], wv[:, :, None], **_geometry((2, 4, 1, 9), (2, 2, 1, 3), kw2))
    np.testing.assert_allclose(got, expected[:, :, 0], rtol=1e-12, atol=1e-12)


POOL_CASES = [((2, 3, 6, 6), 2, None, 0), ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1)),
              ((2, 1, 5, 5), 3, 1, 1)]


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CASES)
def test_pooling_matches_a_direct_loop(shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any,
                                       rng: np.random.Generator) -> None:
    x = gc.input("x", shape)
    xv = rng.standard_normal(shape)
    f = gc.compile([x], [gc.nn.max_pool2d(x, kernel, stride, padding),
                         gc.nn.avg_pool2d(x, kernel, stride, padding)], backend="numpy")
    got_max, got_avg = f(xv)
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    s = k if stride is None else (stride, stride) if isinstance(stride, int) else stride
    p = (padding, padding) if isinstance(padding, int) else padding
    np.testing.assert_array_equal(got_max, ref.max_pool2d(xv, k, s, p))
    ones = np.full((shape[1], 1, *k), 1.0 / (k[0] * k[1]))  # zeros in the padding count
    expected_avg = ref.conv(xv, ones, s, ((p[0], p[0]), (p[1], p[1])), (1, 1), shape[1])
    np.testing.assert_allclose(got_avg, expected_avg, rtol=1e-12, atol=1e-12)


def test_max_pool_propagates_nan_and_routes_ties_to_the_first() -> None:
    x = gc.input("x", (1, 1, 2, 4))
    xv = np.array([[[[1.0, np.nan, 2.0, 2.0], [0.0, 3.0, 2.0, 2.0]]]])
    pooled = gc.nn.max_pool2d(x, 2)
    value, gradient = gc.compile([x], [pooled, gc.grad(gc.sum(pooled), x)], backend="numpy")(xv)
    assert np.isnan(value[0, 0, 0, 0]) and value[0, 0, 0, 1] == 2.0
    np.testing.assert_array_equal(gradient, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])


SIGNALS = [((7,), (3,)), ((5,), (5,)), ((4,), (6,)), ((6, 5), (3, 2)), ((3, 4), (4, 5)), ((5, 4), (2, 4))]


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("a_shape, v_shape", SIGNALS)
def test_convolve_and_correlate_match_scipy_signal(a_shape: tuple[int, ...], v_shape: tuple[int, ...],
                                                    mode: str, rng: np.random.Generator) -> None:
    a, v = gc.input("a", a_shape), gc.input("v", v_shape)
    av, vv = _values(rng, a_shape, v_shape)
    f = gc.compile([a, v], [gc.nn.convolve(a, v, mode), gc.nn.correlate(a, v, mode)], backend="numpy")
    convolved, correlated = f(av, vv)
    np.testing.assert_allclose(convolved, scipy.signal.convolve(av, vv, mode, method="direct"),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(correlated, scipy.signal.correlate(av, vv, mode, method="direct"),
                               rtol=1e-12, atol=1e-12)
    assert not hasattr(gc, "convolve")  # scipy's semantics: not np.convolve's top-level name


def test_convolve_of_integers_and_constants() -> None:
    a = gc.input("a", (5,), "int64")
    out = gc.nn.convolve(a, [1, -2, 1], mode="same")
    assert out.dtype == np.float64  # computed in floating point
    values = np.array([1, 4, 9, 16, 25])
    got = gc.compile([a], out, backend="numpy")(values)
    np.testing.assert_array_equal(got, scipy.signal.convolve(values, [1, -2, 1], "same"))


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("x_shape, w_shape, kw", CONV2D_CASES[:8], ids=IDS[:8])
def test_conv2d_gradients_match_finite_differences(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                                                   kw: dict[str, Any], rng: np.random.Generator) -> None:
    x, w, b = gc.input("x", x_shape), gc.input("w", w_shape), gc.input("b", (w_shape[0],))
    y = gc.nn.conv2d(x, w, b, **kw)
    loss = gc.sum(gc.tanh(y) * gc.constant(rng.standard_normal(tuple(y.shape))))
    xv, wv, bv = _values(rng, x_shape, w_shape, (w_shape[0],))
    gc.check_grad(loss, [x, w, b], {"x": xv, "w": wv, "b": bv}, rtol=1e-6, atol=1e-8)


def test_second_order_through_the_conv_family(rng: np.random.Generator) -> None:
    """grad of (gradient . v): conv_transpose and conv_weight_grad differentiated again."""
    x, w = gc.input("x", (2, 4, 6, 5)), gc.input("w", (4, 2, 3, 2))
    y = gc.nn.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    loss = gc.sum(gc.sin(y))
    dx, dw = gc.grad(loss, [x, w])
    vx, vw = (gc.constant(rng.standard_normal(tuple(t.shape))) for t in (dx, dw))
    second = gc.sum(dx * vx) + gc.sum(dw * vw)
    xv, wv = _values(rng, (2, 4, 6, 5), (4, 2, 3, 2))
    gc.check_grad(second, [x, w], {"x": xv, "w": wv}, rtol=1e-5, atol=1e-7)


def test_hessian_through_conv_and_pooling(rng: np.random.Generator) -> None:
    """gc.hessian (a vmap of jvp over a basis: the weights batched, folded into groups) vs differences."""
    x, w = gc.input("x", (2, 2, 4, 4)), gc.input("w", (2, 1, 2, 2))
    loss = gc.sum(gc.tanh(gc.nn.max_pool2d(gc.nn.conv2d(x, w, groups=2, padding=1), 2)))
    xv, wv = _values(rng, (2, 2, 4, 4), (2, 1, 2, 2))
    f = gc.compile([x, w], [gc.hessian(loss, w), gc.grad(loss, w)], backend="numpy")
    hessian = f(xv, wv)[0]
    eps, numeric = 1e-6, np.zeros_like(hessian)
    for index in np.ndindex(wv.shape):
        step = np.zeros_like(wv)
        step[index] = eps
        numeric[(...,) + index] = (f(xv, wv + step)[1] - f(xv, wv - step)[1]) / (2 * eps)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-7)


def test_pooling_gradients_match_finite_differences(rng: np.random.Generator) -> None:
    x = gc.input("x", (2, 2, 5, 6))
    loss = (gc.sum(gc.nn.max_pool2d(x, (3, 2), (1, 2), 1) ** 2)
            + gc.sum(gc.exp(gc.nn.avg_pool2d(x, 2, padding=1))))
    gc.check_grad(loss, x, {"x": rng.standard_normal((2, 2, 5, 6))})
    # second order: the max-pool gradient is linear in the cotangent, piecewise constant in x
    first = gc.grad(loss, x)
    gc.check_grad(gc.sum(first * first), x, {"x": rng.standard_normal((2, 2, 5, 6))},
                  rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve_gradients(mode: str, rng: np.random.Generator) -> None:
    a, v = gc.input("a", (6, 5)), gc.input("v", (3, 2))
    loss = gc.sum(gc.tanh(gc.nn.convolve(a, v, mode))) + gc.sum(gc.nn.correlate(v, a, mode) ** 2)
    gc.check_grad(loss, [a, v], {"a": rng.standard_normal((6, 5)), "v": rng.standard_normal((3, 2))})


# --------------------------------------------------------------------- vmap

def test_vmap_over_inputs_weights_or_both_matches_a_loop(rng: np.random.Generator) -> None:
    batch = 3
    xs, ws = rng.standard_normal((batch, 2, 4, 6, 5)), rng.standard_normal((batch, 6, 2, 3, 2))

    def layer(x: gc.Tensor, w: gc.Tensor) -> gc.Tensor:
        pooled = gc.nn.max_pool2d(gc.nn.conv2d(x, w, padding="same", groups=2), 2, padding=1)
        return gc.nn.avg_pool2d(pooled, (1, 2))

    cases = {(0, 0): (xs, ws), (0, None): (xs, ws[0]), (None, 0): (xs[0], ws), (1, 2): (
        np.moveaxis(xs, 0, 1), np.moveaxis(ws, 0, 2))}
    inputs, outputs, expectations = [], [], []
    for (ax, aw), (xv, wv) in cases.items():
        x, w = gc.input(f"x{len(inputs)}", xv.shape), gc.input(f"w{len(inputs)}", wv.shape)
        inputs += [(x, xv), (w, wv)]
        outputs.append(gc.vmap(layer, in_axes=(ax, aw))(x, w))
        a, k = gc.input("a", (2, 4, 6, 5)), gc.input("k", (6, 2, 3, 2))
        single = gc.compile([a, k], layer(a, k), backend="numpy")
        expectations.append(np.stack([
            single(xv if ax is None else np.take(xv, i, ax), wv if aw is None else np.take(wv, i, aw))
            for i in range(batch)]))
    got = gc.compile([t for t, _ in inputs], outputs, backend="numpy")(*[v for _, v in inputs])
    for value, expected in zip(got, expectations):
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)


def test_per_example_gradients_by_vmap(rng: np.random.Generator) -> None:
    w = gc.input("w", (3, 1, 3, 3))
    x = gc.input("x", (5, 1, 1, 6, 6))

    def loss(example: gc.Tensor) -> gc.Tensor:
        return gc.sum(gc.relu(gc.nn.conv2d(example, w, padding=1)) ** 2)

    per_example = gc.vmap(lambda e: gc.grad(loss(e), w))(x)
    xv, wv = rng.standard_normal((5, 1, 1, 6, 6)), rng.standard_normal((3, 1, 3, 3))
    got = gc.compile([x, w], per_example, backend="numpy")(xv, wv)
    e = gc.input("e", (1, 1, 6, 6))
    single = gc.compile([e, w], gc.grad(loss(e), w), backend="numpy")
    np.testing.assert_allclose(got, np.stack([single(xv[i], wv) for i in range(5)]), rtol=1e-12)


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("build, pattern", [
    (lambda: gc.nn.conv2d(gc.input("x", (1, 3, 5, 5)), gc.input("w", (2, 4, 3, 3))),
     r"conv2d\(f64\[1,3,5,5\], f64\[2,4,3,3\]\).*3 channels.*4 per group"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 4, 5, 5)), gc.input("w", (3, 2, 3, 3)), groups=2),
     r"conv2d.*3 output channels cannot be split into 2 groups"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, 2, 5)), gc.input("w", (1, 1, 3, 3))),
     r"conv2d.*kernel height 3.*larger than the padded input height 2"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, 5, 5)), gc.input("w", (1, 1, 3, 3)), dilation=3),
     r"kernel height 3 \(dilated: 7\)"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 5, 5)), gc.input("w", (1, 1, 3, 3))),
     r"conv2d.*rank 4 \(N, C, H, W\), got \[1,5,5\]"),
    (lambda: gc.nn.conv1d(gc.input("x", (1, 2, 5)), gc.input("w", (1, 2, 3, 3))),
     r"conv1d.*weights must have rank 3"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, 5, 5)), gc.input("w", (2, 1, 3, 3)), gc.input("b", (3,))),
     r"bias must have shape \[2\].*got \[3\]"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, "h", 5)), gc.input("w", (1, 1, 3, 3))),
     r"static channel and spatial sizes"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, 5, 5)), gc.input("w", (1, 1, 3, 3)), stride=0),
     r"stride must be >= 1"),
    (lambda: gc.nn.conv2d(gc.input("x", (1, 1, 5, 5), "int64"), gc.input("w", (1, 1, 3, 3))),
     r"needs float tensors"),
    (lambda: gc.nn.max_pool2d(gc.input("x", (1, 1, 5, 5)), 2, padding=2),
     r"max_pool2d.*padding 2 is more than half the kernel height 2"),
    (lambda: gc.nn.avg_pool2d(gc.input("x", (1, 1, 2, 5)), 3),
     r"avg_pool2d.*window height 3 is larger than the padded input height 2"),
    (lambda: gc.nn.convolve(gc.input("a", (4, 3)), gc.input("v", (3, 4)), mode="valid"),
     r"convolve.*at least as large as the other on every axis"),
    (lambda: gc.nn.correlate(gc.input("a", (4,)), gc.input("v", (3, 4))),
     r"correlate.*must both be 1-D or both 2-D"),
])
def test_shape_errors_name_the_function_and_the_sizes(build: Any, pattern: str) -> None:
    with pytest.raises((gc.ShapeError, gc.DTypeError), match=pattern) as info:
        build()
    assert "test_conv.py" in str(info.value)  # the user's line


def test_bad_padding_or_mode_is_an_argument_error() -> None:
    x, w = gc.input("x", (1, 1, 5, 5)), gc.input("w", (1, 1, 3, 3))
    with pytest.raises(gc.ArgumentError, match="padding must be 'valid', 'same'"):
        gc.nn.conv2d(x, w, padding="full")
    with pytest.raises(gc.ArgumentError, match="mode must be 'full', 'valid' or 'same'"):
        gc.nn.convolve(gc.input("a", (3,)), gc.input("v", (2,)), mode="circular")


# ------------------------------------------------------------------- numba

def test_numba_backend_equals_numpy_backend(rng: np.random.Generator) -> None:
    """All the above op variants in one compiled function (one compile) against the interpreter."""
    pytest.importorskip("numba")
    inputs, outputs, values = [], [], []
    for number, (x_shape, w_shape, kw) in enumerate(CONV2D_CASES[1:8:2]):
        x, w = gc.input(f"x{number}", (f"n{number}",) + x_shape[1:]), gc.input(f"w{number}", w_shape)
        y = gc.nn.conv2d(x, w, **kw)
        loss = gc.sum(gc.tanh(y))
        outputs += [y, *gc.grad(loss, [x, w])]
        inputs += [x, w]
        values += _values(rng, x_shape, w_shape)
    x = gc.input("p", ("m", 2, 7, 5))
    pooled = gc.nn.max_pool2d(x, (3, 2), (2, 1), 1) + gc.nn.avg_pool2d(x, 2, 1, 1)[:, :, :4, :6]
    first = gc.grad(gc.sum(pooled ** 2), x)
    outputs += [pooled, first, gc.grad(gc.sum(first * first), x)]
    inputs.append(x)
    values.append(rng.standard_normal((3, 2, 7, 5)))
    a, v = gc.input("a", (9,)), gc.input("v", (4,))
    outputs += [gc.nn.convolve(a, v), gc.nn.correlate(a, v, "same")]
    inputs += [a, v]
    values += _values(rng, (9,), (4,))
    xs, ws = gc.input("xs", (3, 2, 4, 5, 5)), gc.input("ws", (3, 4, 2, 2, 2))  # vmap: batch into groups

    def layer(x: gc.Tensor, w: gc.Tensor) -> gc.Tensor:
        return gc.sum(gc.nn.conv2d(x, w, stride=2, groups=2) ** 2)
    outputs += list(gc.vmap(lambda x, w: gc.grad(layer(x, w), [x, w]))(xs, ws))
    inputs += [xs, ws]
    values += _values(rng, (3, 2, 4, 5, 5), (3, 4, 2, 2, 2))
    expected = gc.compile(inputs, outputs, backend="numpy")(*values)
    got = gc.compile(inputs, outputs)(*values)
    for number, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-11, err_msg=f"output {number}")


def test_numba_float32_and_nan(rng: np.random.Generator) -> None:
    pytest.importorskip("numba")
    x, w = gc.input("x", ("n", 1, 4, 4), "float32"), gc.input("w", (2, 1, 3, 3), "float32")
    y = gc.nn.max_pool2d(gc.nn.conv2d(x, w, padding="same"), 2)
    outputs = [y, *gc.grad(gc.sum(y), [x, w])]
    xv, wv = (v.astype(np.float32) for v in _values(rng, (2, 1, 4, 4), (2, 1, 3, 3)))
    xv[1, 0, 0, 0] = np.nan
    expected = gc.compile([x, w], outputs, backend="numpy")(xv, wv)
    got = gc.compile([x, w], outputs)(xv, wv)
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
