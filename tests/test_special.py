"""gc.special and the second-version NumPy math, against SciPy/NumPy, analytic derivatives, mpmath.

One compiled function per backend (a module fixture) computes every special
function and its gradient on ~10^6 points (10^4 on the numpy backend, whose
values are SciPy's by construction), so Numba compiles once. Bounds, in ulps
of SciPy's float64 result unless said otherwise (measured maxima in
docs/api.md, "Special functions"):

| function | region | bound |
|---|---|---|
| digamma | x > 0 | 8 ulp |
| digamma | x < 0 | 64 eps * (abs(digamma(1-x)) + abs(pi/tan(pi x))), against mpmath |
| polygamma(n), n = 1, 2, 3 | x > 0 | 16 ulp |
| log_ndtr | x <= 0 | 8 ulp; x > 0: 8 + 2 x^2 ulp (erfc's argument x/sqrt(2) is rounded) |
| logit, logaddexp, xlogy | all | 4 ulp |
| erfc (libm) | x in (-6, 6) | 1e-13 relative |
| gammaln (libm) | x > 0 | 1e-13 relative + 2e-15 absolute (near its roots 1 and 2) |
| all, float32 | | 4 float32 ulps of SciPy's float64 value |
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.special as sc

import graphc as gc

POINTS = {"numpy": 10_000, "numba": 1_000_000}


def _ulps(got: np.ndarray, want: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """|got - want| in units of the spacing of `want` in `dtype`; equal values (inf, NaN) are 0."""
    want_t = np.asarray(want).astype(dtype)
    same = (got == want_t) | (np.isnan(got) & np.isnan(want_t))
    spacing = np.spacing(np.abs(want_t)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        error = np.abs(got.astype(np.float64) - np.asarray(want, np.float64)) / spacing
    return np.where(same, 0.0, error)


def _inputs(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    third = size // 3
    return {
        "pos": np.concatenate([rng.uniform(0, 3, third), np.exp(rng.uniform(-20, 30, third)),
                               rng.uniform(0.9, 2.0, size - 2 * third)]),
        "real": np.concatenate([rng.uniform(-45, 10, size - third), -np.exp(rng.uniform(0, 300, third))]),
        "prob": np.concatenate([rng.uniform(0, 1, size - 2 * third), np.exp(rng.uniform(-40, 0, third)),
                                1 - np.exp(rng.uniform(-36, 0, third))]),
        "small": rng.uniform(-6, 6, size),
        "neg": np.concatenate([[-0.5040830082644554, -1.5, -1 + 1e-9, -1 - 1e-9, -5 + 1e-9, -5 - 1e-9],
                               -np.exp(rng.uniform(-5, 5, size - 6))]),
    }


MPMATH_POINTS = 1500


def _graph() -> tuple[list[gc.Tensor], dict[str, gc.Tensor]]:
    pos, real, prob, small, neg = (gc.input(n, shape=("n",)) for n in ("pos", "real", "prob", "small", "neg"))
    pos32, small32 = gc.input("pos32", shape=("n",), dtype="float32"), gc.input("small32", shape=("n",),
                                                                                   dtype="float32")
    values = {
        "digamma": gc.special.digamma(pos), "digamma_neg": gc.special.digamma(neg),
        "gammaln": gc.special.gammaln(pos),
        "polygamma1": gc.special.polygamma(1, pos), "polygamma2": gc.special.polygamma(2, pos),
        "polygamma3": gc.special.polygamma(3, pos), "log_ndtr": gc.special.log_ndtr(real),
        "logit": gc.special.logit(prob), "erfc": gc.special.erfc(small),
        "logaddexp": gc.logaddexp(real, small), "xlogy": gc.special.xlogy(small, pos),
        "digamma32": gc.special.digamma(pos32), "polygamma1_32": gc.special.polygamma(1, pos32),
        "log_ndtr32": gc.special.log_ndtr(small32), "erfc32": gc.special.erfc(small32),
        "gammaln32": gc.special.gammaln(pos32), "logit32": gc.special.logit(gc.sigmoid(small32)),
    }
    gradients = {
        "d_digamma": gc.grad(gc.sum(gc.special.digamma(pos)), pos),
        "d_gammaln": gc.grad(gc.sum(gc.special.gammaln(pos)), pos),
        "d_polygamma2": gc.grad(gc.sum(gc.special.polygamma(2, pos)), pos),
        "d_log_ndtr": gc.grad(gc.sum(gc.special.log_ndtr(real)), real),
        "d_logit": gc.grad(gc.sum(gc.special.logit(prob)), prob),
        "d_erfc": gc.grad(gc.sum(gc.special.erfc(small)), small),
    }
    gradients["d_xlogy_x"], gradients["d_xlogy_y"] = gc.grad(gc.sum(gc.special.xlogy(small, pos)),
                                                             [small, pos])
    values.update(gradients)
    return [pos, real, prob, small, neg, pos32, small32], values


@pytest.fixture(scope="module", params=["numpy", "numba"])
def special(request: pytest.FixtureRequest) -> dict[str, Any]:
    inputs, outputs = _graph()
    names = list(outputs)
    f = gc.compile(inputs, [outputs[n] for n in names], backend=request.param)
    arrays = _inputs(POINTS[request.param])
    arguments = [arrays["pos"], arrays["real"], arrays["prob"], arrays["small"], arrays["neg"],
                 arrays["pos"].astype(np.float32), arrays["small"].astype(np.float32)]
    results = dict(zip(names, f(*arguments)))
    return {"backend": request.param, "x": arrays, "got": results}


def _check(name: str, got: np.ndarray, want: np.ndarray, bound: Any, x: np.ndarray,
           dtype: Any = np.float64) -> None:
    error = _ulps(got, want, dtype)
    worst = int(np.argmax(error))
    limit = bound if np.isscalar(bound) else bound[worst]
    print(f"\n{name}: max {error[worst]:.2f} ulp over {x.size} points (at x={x[worst]!r})")
    assert np.all(error <= bound), (f"{name}: {error[worst]:.2f} ulp > {limit} at x={x[worst]!r}: "
                                    f"got {got[worst]!r}, SciPy {want[worst]!r}")


def test_float64_values_match_scipy(special: dict[str, Any]) -> None:
    x, got = special["x"], special["got"]
    _check("digamma", got["digamma"], sc.digamma(x["pos"]), 8, x["pos"])
    for n in (1, 2, 3):
        _check(f"polygamma({n})", got[f"polygamma{n}"], sc.polygamma(n, x["pos"]), 16, x["pos"])
    real = x["real"]
    _check("log_ndtr", got["log_ndtr"], sc.log_ndtr(real), np.where(real > 0, 8 + 2 * real**2, 8), real)
    _check("logit", got["logit"], sc.logit(x["prob"]), 4, x["prob"])
    _check("logaddexp", got["logaddexp"], np.logaddexp(real, x["small"]), 4, real)
    _check("xlogy", got["xlogy"], sc.xlogy(x["small"], x["pos"]), 4, x["small"])
    np.testing.assert_allclose(got["erfc"], sc.erfc(x["small"]), rtol=1e-13, atol=1e-300)
    # libm's lgamma near its roots 1 and 2: a few ulps of 1, not of the (small) result
    np.testing.assert_allclose(got["gammaln"], sc.gammaln(x["pos"]), rtol=1e-13, atol=2e-15)


def test_float32_values_match_scipy_in_float32(special: dict[str, Any]) -> None:
    x, got = special["x"], special["got"]
    pos32 = x["pos"].astype(np.float32).astype(np.float64)
    small32 = x["small"].astype(np.float32).astype(np.float64)
    for name, want, points in [("digamma32", sc.digamma(pos32), pos32),
                               ("polygamma1_32", sc.polygamma(1, pos32), pos32),
                               ("log_ndtr32", sc.log_ndtr(small32), small32),
                               ("erfc32", sc.erfc(small32), small32),
                               ("gammaln32", sc.gammaln(pos32), pos32)]:
        assert got[name].dtype == np.float32, name
        finite = np.abs(want) < np.finfo(np.float32).max
        _check(name, got[name][finite], want[finite], 4, points[finite], np.float32)


def test_gradients_are_the_analytic_derivatives(special: dict[str, Any]) -> None:
    x, got = special["x"], special["got"]
    pos, real, prob, small = x["pos"], x["real"], x["prob"], x["small"]
    np.testing.assert_allclose(got["d_digamma"], sc.polygamma(1, pos), rtol=1e-13)
    np.testing.assert_allclose(got["d_gammaln"], sc.digamma(pos), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["d_polygamma2"], sc.polygamma(3, pos), rtol=1e-13)
    with np.errstate(all="ignore"):
        inner = real > -30  # phi/Phi from SciPy directly; below, from its asymptotic series
        u = 1 / real**2
        expected = np.where(inner, np.exp(-0.5 * real**2 - sc.log_ndtr(real)) / np.sqrt(2 * np.pi),
                            -real / (1 - u + 3 * u**2 - 15 * u**3 + 105 * u**4))
        np.testing.assert_allclose(got["d_log_ndtr"][inner], expected[inner], rtol=1e-11)
        np.testing.assert_allclose(got["d_log_ndtr"][~inner], expected[~inner], rtol=1e-11)
        np.testing.assert_allclose(got["d_logit"], 1 / (prob * (1 - prob)), rtol=1e-13)
    np.testing.assert_allclose(got["d_erfc"], -2 / np.sqrt(np.pi) * np.exp(-small**2), rtol=1e-13)
    d_small, d_pos = got["d_xlogy_x"], got["d_xlogy_y"]
    np.testing.assert_allclose(d_small, np.log(pos), rtol=1e-13)
    np.testing.assert_allclose(d_pos, small / pos, rtol=1e-13)


def test_digamma_of_negative_arguments_against_mpmath(special: dict[str, Any]) -> None:
    """Near its negative roots digamma is ill-conditioned; the error is bounded by the terms' size."""
    if special["backend"] == "numpy":
        pytest.skip("the numpy backend's digamma is SciPy's")
    mpmath = pytest.importorskip("mpmath")
    x, got = special["x"]["neg"][:MPMATH_POINTS], special["got"]["digamma_neg"][:MPMATH_POINTS]
    with mpmath.workdps(40):
        truth = np.array([float(mpmath.digamma(mpmath.mpf(float(v)))) for v in x])
    scale = np.abs(sc.digamma(1 - x)) + np.abs(np.pi / np.tan(np.pi * x))
    error = np.abs(got - truth) / scale / np.finfo(float).eps
    print(f"\ndigamma, x < 0: max {error.max():.1f} eps * scale over {x.size} points")
    np.testing.assert_array_less(error, 64)


# --------------------------------------------------------------- edge values

EDGE_INPUTS = {
    "x": np.array([0.0, -0.0, -1.0, -2.5, 1e-300, np.inf, -np.inf, np.nan, 2.5, -3.5]),
    "t": np.array([-40.0, -1e5, -np.inf, np.inf, 40.0, 0.0, 6.0, -20.0, -20.5, 8.0]),
    "h": np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.25, 0.35, -2.675, 1e300, np.nan]),
}


@pytest.fixture(scope="module", params=["numpy", "numba"])
def edges(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    x, t, h = (gc.input(n, shape=(10,)) for n in ("x", "t", "h"))
    zero, one_zero = gc.input("zero", shape=(4,)), gc.input("one_zero", shape=(4,))
    outputs = {
        "digamma": gc.special.digamma(x), "polygamma1": gc.special.polygamma(1, x),
        "polygamma2": gc.special.polygamma(2, x), "gammaln": gc.special.gammaln(x),
        "log_ndtr": gc.special.log_ndtr(t), "d_log_ndtr": gc.grad(gc.sum(gc.special.log_ndtr(t)), t),
        "round": gc.round(h), "round1": gc.round(h, 1), "round_neg": gc.round(h * 100, -2),
        "d_round": gc.grad(gc.sum(gc.round(h * 3) + gc.floor(h) + gc.ceil(h)), h),
        "floor": gc.floor(h), "ceil": gc.ceil(h), "mod": t % 3.0, "mod_neg": gc.mod(t, -3.0),
        "rmod": 7.0 % h, "xlogy": gc.special.xlogy(zero, zero),
        "d_xlogy": gc.grad(gc.sum(gc.special.xlogy(gc.stop_gradient(zero), zero)), zero),
        "logaddexp": gc.logaddexp(t, t), "logaddexp2": gc.logaddexp2(t, 1.0),
        "prod": gc.prod(zero), "d_prod": gc.grad(gc.prod(zero), zero),
        "prod_one_zero": gc.grad(gc.prod(one_zero), one_zero),
    }
    names = list(outputs)
    f = gc.compile([x, t, h, zero, one_zero], [outputs[n] for n in names], backend=request.param)
    return dict(zip(names, f(EDGE_INPUTS["x"], EDGE_INPUTS["t"], EDGE_INPUTS["h"],
                             np.array([0.0, 2.0, 0.0, 3.0]), np.array([2.0, 0.0, 5.0, 3.0]))))


def test_special_values_at_poles_and_infinities(edges: dict[str, np.ndarray]) -> None:
    x, t = EDGE_INPUTS["x"], EDGE_INPUTS["t"]
    with np.errstate(all="ignore"):
        for name, want in [("digamma", sc.digamma(x)), ("polygamma1", sc.polygamma(1, x)),
                           ("polygamma2", sc.polygamma(2, x)), ("gammaln", sc.gammaln(x)),
                           ("log_ndtr", sc.log_ndtr(t))]:
            np.testing.assert_allclose(edges[name], want, rtol=1e-13, err_msg=name)


def test_log_ndtr_is_finite_far_in_the_tail_with_its_gradient(edges: dict[str, np.ndarray]) -> None:
    assert edges["log_ndtr"][0] == pytest.approx(-804.6084420137539, rel=1e-14)  # mpmath
    assert edges["log_ndtr"][1] == pytest.approx(sc.log_ndtr(-1e5), rel=1e-14)
    # d/dx log Phi(x) = phi/Phi(x); mpmath (50 digits) at -40: 40.0249688472072637...
    assert edges["d_log_ndtr"][0] == pytest.approx(40.02496884720726, rel=1e-12)
    assert np.isfinite(edges["d_log_ndtr"][[0, 1, 3, 4, 5, 6, 7, 8, 9]]).all()


def test_rounding_is_numpys_half_to_even_with_zero_gradient(edges: dict[str, np.ndarray]) -> None:
    h = EDGE_INPUTS["h"]
    np.testing.assert_array_equal(edges["round"], np.round(h))
    np.testing.assert_array_equal(edges["round1"], np.round(h, 1))
    np.testing.assert_array_equal(edges["round_neg"], np.round(h * 100, -2))
    np.testing.assert_array_equal(edges["floor"], np.floor(h))
    np.testing.assert_array_equal(edges["ceil"], np.ceil(h))
    np.testing.assert_array_equal(edges["round"][:5], [0.0, 2.0, 2.0, -0.0, -2.0])
    np.testing.assert_array_equal(edges["d_round"], np.zeros(10))


def test_mod_follows_the_divisors_sign(edges: dict[str, np.ndarray]) -> None:
    t, h = EDGE_INPUTS["t"], EDGE_INPUTS["h"]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(edges["mod"], np.mod(t, 3.0))
        np.testing.assert_array_equal(edges["mod_neg"], np.mod(t, -3.0))
        np.testing.assert_array_equal(edges["rmod"], np.mod(7.0, h))


def test_xlogy_at_zero_and_prod_with_zeros(edges: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(edges["xlogy"], [0.0, 2 * np.log(2), 0.0, 3 * np.log(3)])
    # d/dy x log y = x / y, and 0 where x == 0, even at y == 0 (here y == x)
    np.testing.assert_array_equal(edges["d_xlogy"], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(edges["prod"], 0.0)
    np.testing.assert_array_equal(edges["d_prod"], np.zeros(4))  # two zeros: every gradient is 0
    np.testing.assert_array_equal(edges["prod_one_zero"], [0.0, 30.0, 0.0, 0.0])


def test_logaddexp_of_equal_infinities(edges: dict[str, np.ndarray]) -> None:
    t = EDGE_INPUTS["t"]
    np.testing.assert_array_equal(edges["logaddexp"], np.logaddexp(t, t))
    np.testing.assert_allclose(edges["logaddexp2"], np.logaddexp2(t, 1.0), rtol=1e-14)
