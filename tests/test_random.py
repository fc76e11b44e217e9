"""gc.random: known answers, the same bits on both backends, statistics, independence, gradients.

References: the published threefry-2x32-20 known-answer vectors (Random123's
kat_vectors, also JAX's tests/random_test.py), values printed by JAX 0.10.2
(`jax.random.split/uniform` with jax_enable_x64, the command is in each test),
an independent Python-int threefry (tests/random_reference.py), SciPy's
distributions (Kolmogorov-Smirnov at fixed seeds: the tests can fail), and
finite differences for the reparameterised gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import random_reference
import scipy.stats

import graphc as gc
from graphc import threefry

# (key high, key low, counter high, counter low) -> (out high, out low): threefry2x32_20
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("given, expected", KNOWN_ANSWERS)
def test_threefry_known_answers(given: tuple[int, ...], expected: tuple[int, int]) -> None:
    k0, k1, c0, c1 = given
    word = int(threefry.threefry_word(np.uint64((k0 << 32) | k1), np.uint64((c0 << 32) | c1)))
    assert (word >> 32, word & 0xFFFFFFFF) == expected
    key = np.array([(k0 << 32) | k1], dtype=np.uint64).view(np.int64)  # the array driver too
    assert int(threefry.words(key, 1, np.uint64((c0 << 32) | c1))[0]) == (expected[0] << 32) | expected[1]
    assert random_reference.threefry2x32((k0, k1), (c0, c1)) == expected  # the reference too


def test_split_and_uniform_match_jax() -> None:
    # jax.random.split(jax.random.PRNGKey(0), 3) and jax.random.uniform(PRNGKey(0), (4,), float64)
    key = gc.input("key", dtype="int64")
    f = gc.compile([key], [gc.random.split(key, 3), gc.random.uniform(key, (4,))], backend="numpy")
    keys, values = f(np.int64(0))
    jax_keys = [[1797259609, 2579123966], [928981903, 3453687069], [4146024105, 2718843009]]
    assert keys.view(np.uint64).tolist() == [(a << 32) | b for a, b in jax_keys]
    assert values.tolist() == [0.41845711171638644, 0.21629545460551136, 0.9653214611189975,
                               0.5745005337275046]
    # jax.random.uniform(jax.random.PRNGKey(2**40 + 7), (3,), float32); split(PRNGKey(-1))
    g = gc.compile([key], [gc.random.uniform(key, (3,), "float32"), gc.random.split(key)],
                   backend="numpy")
    single, pair = g(np.int64(2**40 + 7))
    assert single.dtype == np.float32
    assert single.tolist() == [0.640317440032959, 0.788016676902771, 0.7414283752441406]
    assert g(np.int64(-1))[1].view(np.uint64).tolist() == [
        (1094285764 << 32) | 1314454335, (1355514454 << 32) | 2365093262]


def test_key_is_the_seed() -> None:
    assert int(gc.compile([], gc.random.key(42), backend="numpy")()) == 42
    assert int(gc.compile([], gc.random.key(2**64 - 1), backend="numpy")()) == -1
    with pytest.raises(gc.GraphcError, match="integer seed"):
        gc.random.key(1.5)


def _all_draws(key: gc.Tensor, x: gc.Tensor) -> list[gc.Tensor]:
    k1, k2, k3, k4 = (gc.random.split(key, 4)[i] for i in range(4))
    return [gc.random.split(key, 5), gc.random.normal(k1, x.shape), gc.random.normal(k2, (7,), "float32"),
            gc.random.uniform(k3, (2, 3), minval=-2.0, maxval=3.0),
            gc.random.uniform(k4, x.shape, "float32"), gc.random.bernoulli(k1, 0.3, (11,)),
            gc.random.normal(k2, ())]


def test_same_bits_on_both_backends() -> None:
    key = gc.input("key", dtype="int64")
    x = gc.input("x", shape=("n", 3))
    outputs = _all_draws(key, x)
    by_numpy = gc.compile([key, x], outputs, backend="numpy")
    by_numba = gc.compile([key, x], outputs, backend="numba")
    for seed, n in ((0, 4), (123456789, 1), (-5, 17)):
        arrays = (np.int64(seed), np.zeros((n, 3)))
        for got, expected in zip(by_numba(*arrays), by_numpy(*arrays)):
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert got.tobytes() == expected.tobytes(), (seed, n)


def test_matches_the_independent_reference() -> None:
    key = gc.input("key", dtype="int64")
    f = gc.compile([key], [gc.random.normal(key, (3, 4)), gc.random.uniform(key, (5,), "float32")],
                   backend="numpy")
    normal, uniform = f(np.int64(77))
    np.testing.assert_allclose(normal, random_reference.normal(np.int64(77), (3, 4), "float64"),
                               rtol=1e-14)
    assert np.array_equal(uniform, random_reference.uniform(np.int64(77), (5,), "float32"))


def test_a_draw_is_a_prefix_of_a_larger_one() -> None:
    """Element i of a draw hashes counter i: a named size changes how many, not which numbers."""
    key = gc.input("key", dtype="int64")
    x = gc.input("x", shape=("n", 3))
    f = gc.compile([key, x], gc.random.normal(key, x.shape), backend="numpy")
    small, large = f(np.int64(3), np.zeros((2, 3))), f(np.int64(3), np.zeros((5, 3)))
    assert np.array_equal(small, large[:2])


SEEDS = (0, 1, 2**33 + 5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_normal_statistics(seed: int, dtype: str) -> None:
    key = gc.input("key", dtype="int64")
    draws = gc.compile([key], gc.random.normal(key, (200_000,), dtype), backend="numpy")(np.int64(seed))
    assert draws.dtype == dtype
    n = draws.size
    assert abs(draws.mean()) < 4.5 / np.sqrt(n)
    assert abs(draws.var() - 1) < 4.5 * np.sqrt(2 / n)
    assert scipy.stats.kstest(draws, "norm").pvalue > 1e-4
    assert abs(scipy.stats.skew(draws)) < 4.5 * np.sqrt(6 / n)


@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_and_bernoulli_statistics(seed: int) -> None:
    key = gc.input("key", dtype="int64")
    k1, k2 = gc.random.split(key)[0], gc.random.split(key)[1]
    uniform = gc.random.uniform(k1, (100_000,), minval=-1.0, maxval=3.0)
    coins = gc.random.bernoulli(k2, gc.constant(np.array([0.1, 0.5, 0.9])), (50_000, 3))
    values, flips = gc.compile([key], [uniform, coins], backend="numpy")(np.int64(seed))
    assert values.min() >= -1.0 and values.max() < 3.0
    assert scipy.stats.kstest(values, scipy.stats.uniform(-1, 4).cdf).pvalue > 1e-4
    rates = flips.mean(axis=0)
    assert np.all(np.abs(rates - [0.1, 0.5, 0.9]) < 4.5 * np.sqrt(np.array([0.09, 0.25, 0.09]) / 50_000))


def test_split_keys_give_independent_streams() -> None:
    key = gc.input("key", dtype="int64")
    keys = gc.random.split(key, 8)
    streams = gc.stack([gc.random.normal(keys[i], (20_000,)) for i in range(8)])
    parent = gc.random.normal(key, (20_000,))
    rows, whole = gc.compile([key], [streams, parent], backend="numpy")(np.int64(11))
    correlations = np.corrcoef(np.vstack([rows, whole]))
    off_diagonal = correlations[~np.eye(9, dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 4.5 / np.sqrt(20_000)
    # two streams come from one distribution, and are not the same numbers
    assert scipy.stats.ks_2samp(rows[0], rows[1]).pvalue > 1e-4
    assert len(np.unique(rows)) == rows.size


def test_vmap_over_keys_draws_per_key() -> None:
    key = gc.input("key", dtype="int64")
    keys = gc.random.split(key, 4)
    batched = gc.vmap(lambda k: gc.random.normal(k, (3,)) * 2.0 + gc.random.uniform(k, ()))(keys)
    looped = gc.stack([gc.random.normal(keys[i], (3,)) * 2.0 + gc.random.uniform(keys[i], ())
                       for i in range(4)])
    for backend in ("numpy", "numba"):
        got, expected = gc.compile([key], [batched, looped], backend=backend)(np.int64(5))
        assert got.shape == (4, 3)
        np.testing.assert_array_equal(got, expected)
        assert len(np.unique(got[:, 0])) == 4


def test_reparameterised_gradient() -> None:
    """d/dmu and d/dsigma of a loss of mu + sigma * z with a fixed key: finite differences and by hand."""
    key = gc.input("key", dtype="int64")
    mu, sigma = gc.input("mu", shape=(5,)), gc.input("sigma", shape=(5,))
    target = np.linspace(-1, 1, 5)
    sample = mu + sigma * gc.random.normal(key, (5,))
    loss = gc.sum(gc.square(sample - target)) + gc.sum(gc.random.uniform(key, (5,), minval=mu,
                                                                           maxval=mu + sigma))
    values = {"key": np.int64(9), "mu": np.array([0.1, -0.3, 0.5, 1.0, 2.0]),
              "sigma": np.array([1.0, 0.5, 2.0, 0.3, 1.5])}
    gc.check_grad(loss, [mu, sigma], values)
    d_mu, d_sigma = gc.grad(loss, [mu, sigma])
    f = gc.compile([key, mu, sigma], [d_mu, d_sigma, gc.random.normal(key, (5,)),
                                      gc.random.uniform(key, (5,))], backend="numba")
    got_mu, got_sigma, z, u = f(values["key"], values["mu"], values["sigma"])
    residual = values["mu"] + values["sigma"] * z - target
    np.testing.assert_allclose(got_mu, 2 * residual + 1, rtol=1e-12)
    np.testing.assert_allclose(got_sigma, 2 * residual * z + u, rtol=1e-12)


def test_a_draw_with_a_constant_key_folds_to_the_same_numbers() -> None:
    key = gc.input("key", dtype="int64")
    folded = gc.compile([], gc.random.normal(gc.random.key(7), (4,)), backend="numba")()
    assert np.array_equal(folded, gc.compile([key], gc.random.normal(key, (4,)),
                                             backend="numpy")(np.int64(7)))


def test_build_time_errors_name_the_problem() -> None:
    x = gc.input("x", shape=(3,))
    with pytest.raises(gc.DTypeError, match=r"gc.random.normal: the key must be an int64 tensor, got f64"):
        gc.random.normal(x, (2,))
    keys = gc.input("keys", shape=(4,), dtype="int64")
    with pytest.raises(gc.ShapeError, match=r"one key \(rank 0\), got shape \[4\].*test_random.py"):
        gc.random.uniform(keys, (2,))
    key = keys[0]
    with pytest.raises(gc.DTypeError, match="float32 or float64, got int64"):
        gc.random.normal(key, (2,), "int64")
    with pytest.raises(gc.ShapeError, match="negative size -2"):
        gc.random.normal(key, (3, -2))
    with pytest.raises(gc.ShapeError, match="n must be at least 1"):
        gc.random.split(key, 0)
    with pytest.raises(gc.ShapeError, match="does not broadcast"):
        gc.random.bernoulli(key, gc.constant(np.ones(3) / 2), (4,))
    with pytest.raises(gc.GraphcError, match="cannot differentiate with respect to input 'keys'"):
        gc.grad(gc.sum(gc.random.normal(key, (2,))), keys)
