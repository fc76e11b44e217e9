"""ns/element of graphc's elementwise kernels versus NumPy and Numba+libm.

For each function and dtype (float64, float32) over 1e6 elements:

* numpy   - the NumPy ufunc (scipy.special.expit for sigmoid,
            np.logaddexp(0, x) for softplus), writing into a preallocated out
* math    - an njit loop calling math.* (scalar libm)
* kernel  - an njit loop calling the graphc kernel, inlined (inline="always")
* reduced - (sin/cos only) the reduced-range kernel without the libm branch

Rounds are interleaved (every variant once per round) and the median is
reported.  The "vec" column says whether LLVM vectorized the kernel loop
("vector.body" in its IR).  Usage:

    python benchmarks/bench_kernels.py [--n 1000000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import importlib
import math
import time

import numba
import numpy as np
import scipy.special

K = importlib.import_module("graphc.backend.kernels")


def _math_sigmoid(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


def _math_softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# name -> (numpy callable(x, out), scalar libm function, input range)
FUNCS = {
    "exp": (lambda x, o: np.exp(x, out=o), lambda x: math.exp(x), (-50.0, 50.0)),
    "log": (lambda x, o: np.log(x, out=o), lambda x: math.log(x), (1e-3, 1e3)),
    "log1p": (lambda x, o: np.log1p(x, out=o), lambda x: math.log1p(x), (-0.9, 10.0)),
    "expm1": (lambda x, o: np.expm1(x, out=o), lambda x: math.expm1(x), (-5.0, 5.0)),
    "tanh": (lambda x, o: np.tanh(x, out=o), lambda x: math.tanh(x), (-5.0, 5.0)),
    "sigmoid": (lambda x, o: scipy.special.expit(x, out=o), _math_sigmoid, (-20.0, 20.0)),
    "softplus": (lambda x, o: np.logaddexp(x.dtype.type(0), x, out=o), _math_softplus, (-20.0, 20.0)),
    "sin": (lambda x, o: np.sin(x, out=o), lambda x: math.sin(x), (-100.0, 100.0)),
    "cos": (lambda x, o: np.cos(x, out=o), lambda x: math.cos(x), (-100.0, 100.0)),
}


def make_loop(scalar_fn):
    """An njit elementwise loop over scalar_fn, inlined at the Numba IR level."""
    kern = numba.njit(inline="always")(scalar_fn)

    @numba.njit
    def loop(a, out):
        for i in range(a.size):
            out[i] = kern(a[i])

    return loop


def inputs(name: str, dtype: type, n: int) -> np.ndarray:
    lo, hi = FUNCS[name][2]
    rng = np.random.default_rng(0)
    if name == "log":  # log-uniform
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(dtype)
    return rng.uniform(lo, hi, n).astype(dtype)


def bench(n: int, rounds: int) -> list[dict]:
    rows = []
    for name, (np_fn, math_fn, _) in FUNCS.items():
        for suffix, dt in (("f64", np.float64), ("f32", np.float32)):
            x = inputs(name, dt, n)
            out = np.empty_like(x)
            variants = {
                "numpy": np_fn,
                "math": make_loop(math_fn),
                "kernel": make_loop(getattr(K, f"{name}_{suffix}")),
            }
            if name in ("sin", "cos"):
                variants["reduced"] = make_loop(getattr(K, f"{name}_reduced_{suffix}"))
            for fn in variants.values():  # compile and warm up
                fn(x, out)
            times = {k: [] for k in variants}
            for _ in range(rounds):
                for k, fn in variants.items():
                    t0 = time.perf_counter()
                    fn(x, out)
                    times[k].append(time.perf_counter() - t0)
            row = {"name": f"{name}_{suffix}"}
            for k, ts in times.items():
                row[k] = float(np.median(ts)) / n * 1e9
            fast = variants.get("reduced", variants["kernel"])
            row["vec"] = "vector.body" in fast.inspect_llvm(fast.signatures[0])
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


HEADER = f"| {'kernel':<12} | {'numpy':>7} | {'math':>7} | {'graphc':>7} | {'reduced':>7} | vectorized |"
RULE = "|" + "|".join("-" * (len(c)) for c in HEADER.split("|")[1:-1]) + "|"


def _format_row(row: dict) -> str:
    red = f"{row['reduced']:7.2f}" if "reduced" in row else " " * 7
    return (
        f"| {row['name']:<12} | {row['numpy']:7.2f} | {row['math']:7.2f} | {row['kernel']:7.2f} "
        f"| {red} | {'yes' if row['vec'] else 'no':<10} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    print(f"ns/element, median of {args.rounds} interleaved rounds, n={args.n}, numba {numba.__version__}")
    print(HEADER)
    print(RULE)
    bench(args.n, args.rounds)


if __name__ == "__main__":
    main()
