"""Accuracy and special-value tests for graphc.backend.kernels.

Each kernel is wrapped in ``numba.njit(inline="always")`` and applied in an
njit loop (the way graphc's fused loops use it) over ~2.5 million inputs per
precision: random bit patterns (log-uniform over the whole finite range, both
signs), dense grids over the interesting ranges, and special values.  Results
are compared with a long double (x87, 64-bit mantissa) evaluation of the same
function, which is correctly rounded for our purposes, and with NumPy /
SciPy in the input precision for special values.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

numba = pytest.importorskip("numba")
special = pytest.importorskip("scipy.special")

K = importlib.import_module("graphc.backend.kernels")

LD = np.longdouble
HAVE_LONG_DOUBLE = np.finfo(LD).nmant >= 63

# name -> (long double reference, NumPy/SciPy reference in the input dtype)
FUNCS = {
    "exp": (np.exp, np.exp),
    "log": (np.log, np.log),
    "log1p": (np.log1p, np.log1p),
    "expm1": (np.expm1, np.expm1),
    "tanh": (np.tanh, np.tanh),
    "sigmoid": (special.expit, special.expit),
    "softplus": (lambda x: np.logaddexp(x.dtype.type(0), x), lambda x: np.logaddexp(x.dtype.type(0), x)),
    "sin": (np.sin, np.sin),
    "cos": (np.cos, np.cos),
}

# Max error allowed, in ulps of the correctly rounded result.  The measured
# maxima (docs/kernels.md) are below these.
ULP_BOUND = {
    "exp": 1.5,
    "log": 1.5,
    "log1p": 1.5,
    "expm1": 2.5,
    "tanh": 3.0,
    "sigmoid": 3.0,
    "softplus": 2.0,
    "sin": 1.0,
    "cos": 1.0,
}

DTYPES = {"f64": np.float64, "f32": np.float32}
CASES = [(name, suffix) for name in ULP_BOUND for suffix in DTYPES]


def _special_values(dt: type) -> np.ndarray:
    """Zeros, infinities, NaN, denormals, range limits and their neighbours."""
    fi = np.finfo(dt)
    base = [
        0.0, 1.0, 2.0, 0.5, np.pi / 4, np.pi / 2, np.pi, 3 * np.pi / 4, 2 * np.pi,
        np.log(2) / 2, np.log(2), 1.5 * np.log(2), np.sqrt(2) / 2, np.sqrt(2),
        # exp/expm1 overflow and underflow thresholds (float64 and float32)
        709.782712893384, 709.7827128933841, 709.79, 710.0, 745.1332191019411,
        745.1332191019412, 746.0, 88.72283, 88.72284, 89.0, 103.97208, 103.97209,
        104.0, 36.0, 37.5, 40.0, 17.0, 20.0, 22.0, 50.0, 355.0, 1000.0,
        # sin/cos fast-path limits
        2.0**19 * np.pi / 2, 2.0**20, 2.0**28 * np.pi / 2, 4.2e8, 1e22,
        # tiny, denormal, huge
        1e-300, 2.0**-1022, 2.0**-1074, 1e-310, 2.0**-126, 2.0**-149, 1e-40, 1e-45,
        2.0**-27, 2.0**-28, 2.0**-54, 2.0**-55, 1e-8, 1e-9, 1e300, 1e308,
        float(fi.max), float(fi.tiny), float(fi.smallest_subnormal), float(fi.eps),
    ]
    v = np.array(base, dtype=np.float64)
    v = v[np.abs(v) <= float(fi.max)].astype(dt)
    with np.errstate(over="ignore"):
        v = np.concatenate([v, np.nextafter(v, dt(np.inf)), np.nextafter(v, dt(0))])
    v = np.concatenate([v, -v, np.array([np.inf, -np.inf, np.nan], dtype=dt)])
    return v


def _inputs(dt: type) -> np.ndarray:
    """~2.5 million points covering the whole range of dt, plus specials."""
    rng = np.random.default_rng(12345)
    if dt is np.float64:
        bits = rng.integers(0, 2**63, 2_000_000, dtype=np.uint64)
        rand = bits.view(np.float64)
    else:
        rand = rng.integers(0, 2**31, 2_000_000, dtype=np.uint32).view(np.float32)
    rand = rand[np.isfinite(rand)]
    rand = np.where(rng.random(rand.size) < 0.5, -rand, rand)
    grid = np.linspace(-60.0, 60.0, 300_001).astype(dt)
    tiny = np.exp(np.linspace(-80.0, 4.0, 100_001)).astype(dt)
    trig = np.linspace(-1e6, 1e6, 100_001).astype(dt)
    # nearest neighbours of k*pi/2, where sin/cos range reduction cancels
    kmax = 2**19 if dt is np.float64 else 2**28
    k = rng.integers(1, kmax, 50_000).astype(LD)
    near = (k * (LD(np.pi) + LD(1.2246467991473532e-16)) / 2).astype(dt)
    with np.errstate(over="ignore"):
        near = np.concatenate([near, np.nextafter(near, dt(0)), np.nextafter(near, dt(np.inf))])
    return np.concatenate([_special_values(dt), rand, grid, tiny, -tiny, trig, near, -near])


def _ulp_error(y: np.ndarray, ref_ld: np.ndarray, dt: type) -> np.ndarray:
    """|y - ref| in units of the spacing of dt at the rounded reference."""
    with np.errstate(all="ignore"):
        r = ref_ld.astype(dt)
        err = np.abs(y.astype(LD) - ref_ld) / np.spacing(np.abs(r)).astype(LD)
    same = (y == r) | (np.isnan(y) & np.isnan(r))
    err[same] = 0
    err[~same & (np.isinf(r) | np.isinf(y) | np.isnan(y) | np.isnan(r))] = np.inf
    return err.astype(np.float64)


@pytest.fixture(scope="module")
def data() -> dict:
    return {s: _inputs(dt) for s, dt in DTYPES.items()}


_compiled: dict = {}


def _loop(name: str, suffix: str):
    """njit loop applying the inlined kernel elementwise (compiled once)."""
    key = (name, suffix)
    if key not in _compiled:
        kern = numba.njit(inline="always")(getattr(K, f"{name}_{suffix}"))

        @numba.njit
        def loop(a, out):
            for i in range(a.size):
                out[i] = kern(a[i])

        _compiled[key] = loop
    return _compiled[key]


def _apply(name: str, suffix: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _loop(name, suffix)(x, out)
    return out


@pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs x87 long double reference")
@pytest.mark.parametrize("name,suffix", CASES)
def test_accuracy(name: str, suffix: str, data: dict) -> None:
    dt = DTYPES[suffix]
    x = data[suffix]
    y = _apply(name, suffix, x)
    with np.errstate(all="ignore"):
        ref = FUNCS[name][0](x.astype(LD))
    err = _ulp_error(y, ref, dt)
    worst = int(np.argmax(err))
    print(f"\n{name}_{suffix}: max error {err[worst]:.3f} ulp at x={x[worst]!r} over {x.size} inputs")
    assert err[worst] <= ULP_BOUND[name], (
        f"{name}_{suffix}: {err[worst]:.3f} ulp at x={x[worst]!r}: got {y[worst]!r}, want {ref[worst]!r}"
    )


@pytest.mark.parametrize("name,suffix", CASES)
def test_special_values_match_numpy(name: str, suffix: str) -> None:
    """NaN exactly where NumPy gives NaN; infinities, zeros (with sign) and
    saturated values (+-1, 0) bit-for-bit as NumPy gives them."""
    dt = DTYPES[suffix]
    x = _special_values(dt)
    y = _apply(name, suffix, x)
    with np.errstate(all="ignore"):
        want = FUNCS[name][1](x)
    assert want.dtype == dt
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want), err_msg=f"NaN mismatch for {name}_{suffix}")
    saturated = np.isinf(want) | (want == 0) | (np.abs(want) == 1)
    exact = saturated.copy()
    if HAVE_LONG_DOUBLE:
        # Where NumPy/SciPy itself is not correctly rounded (scipy's expit
        # flushes denormal results to 0), the accuracy test is the judge.
        with np.errstate(all="ignore"):
            true = FUNCS[name][0](x.astype(LD)).astype(dt)
        exact &= (true == want) | np.isnan(want)
    np.testing.assert_array_equal(y[exact], want[exact], err_msg=f"{name}_{suffix} at x={x[exact]}")
    np.testing.assert_array_equal(np.signbit(y[exact]), np.signbit(want[exact]))
    # everything else within the accuracy bound (in ulps of NumPy's result,
    # which may itself be off by up to ~1 ulp)
    rest = ~np.isnan(want) & ~saturated
    err = np.abs(y[rest].astype(np.float64) - want[rest]) / np.spacing(np.abs(want[rest])).astype(np.float64)
    assert np.all(err <= ULP_BOUND[name] + 1.0), (x[rest][err > ULP_BOUND[name] + 1], y[rest][err > ULP_BOUND[name] + 1])


@pytest.mark.parametrize("name,suffix", CASES)
def test_result_dtype(name: str, suffix: str) -> None:
    """f32 kernels stay in float32 (no silent promotion by Numba typing)."""
    dt = DTYPES[suffix]
    kern = numba.njit(getattr(K, f"{name}_{suffix}"))
    kern(dt(0.75))  # (numba boxes any float result as a Python float)
    (sig,) = kern.nopython_signatures
    assert sig.return_type == numba.from_dtype(np.dtype(dt)), sig
    # and the elementwise loop writes the values unchanged into a dt array
    x = np.array([0.75], dtype=dt)
    assert _apply(name, suffix, x).dtype == dt


@pytest.mark.parametrize("name,suffix", [(n, s) for n in ("sin", "cos") for s in DTYPES])
def test_reduced_sin_cos(name: str, suffix: str, data: dict) -> None:
    """sin_reduced_*/cos_reduced_* equal the full-range kernels inside the
    Cody-Waite range and are NaN outside it."""
    x = data[suffix]
    full = _apply(name, suffix, x)
    red = _apply(f"{name}_reduced", suffix, x)
    limit = K.SIN_COS_MAX if suffix == "f64" else K.SIN_COS_MAX_F32
    inside = np.abs(x.astype(np.float64)) <= limit
    np.testing.assert_array_equal(red[inside], full[inside])
    assert np.all(np.isnan(red[~inside]))


VECTORIZED = [(n, s) for n in list(ULP_BOUND) + ["sin_reduced", "cos_reduced"] for s in DTYPES]


@pytest.mark.parametrize("name,suffix", VECTORIZED)
def test_loop_vectorizes(name: str, suffix: str) -> None:
    """LLVM's loop vectorizer accepted the loop (there is a vector body).
    For sin/cos this holds only because LLVM executes the libm fallback on
    every lane; docs/kernels.md has the timings."""
    loop = _loop(name, suffix)
    if not loop.signatures:
        x = np.ones(4, dtype=DTYPES[suffix])
        loop(x, np.empty_like(x))
    ir = loop.inspect_llvm(loop.signatures[0])
    assert "vector.body" in ir


def test_generated_kernels_are_up_to_date() -> None:
    """kernels.py is what transcendental/generate.py writes from the algorithms."""
    from graphc.backend.transcendental.generate import TARGET, kernels_source

    assert TARGET.read_text() == kernels_source(), "run: python3 -m graphc.backend.transcendental.generate"


@pytest.mark.parametrize("name", list(ULP_BOUND) + ["sin_reduced", "cos_reduced"])
def test_generated_float64_kernel_is_its_algorithm(name: str) -> None:
    """The inlined float64 kernel, run as plain Python, gives bit for bit what the
    algorithm it was generated from gives (the algorithms run as written on float64)."""
    from graphc.backend.transcendental import activation, exp_log, trig

    algorithm = next(getattr(m, name) for m in (exp_log, activation, trig) if hasattr(m, name))
    values = _special_values(np.float64)
    values = np.concatenate([values, np.random.default_rng(1).uniform(-40.0, 40.0, 200)])
    for x in values[np.isfinite(values)]:  # (Python's math.sin(inf) raises where Numba's gives NaN)
        with np.errstate(all="ignore"):
            want, got = np.float64(algorithm(np.float64(x))), np.float64(getattr(K, f"{name}_f64")(np.float64(x)))
        assert want.view(np.int64) == got.view(np.int64) or (np.isnan(want) and np.isnan(got)), (x, want, got)
