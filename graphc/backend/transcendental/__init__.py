"""The elementary-function algorithms, each written once for float64 and float32.

Owns nothing but its modules, in reading order: precision.py (the constants,
one record per precision), exp_log.py (exp, expm1, log, log1p and their
cores), activation.py (tanh, sigmoid, softplus from those cores), trig.py
(one sin/cos reduction, four kernels), generate.py (writes
graphc/backend/kernels.py: `exp_f64`, `exp_f32`, ... with the cores inlined).
Also the kernel names. Nothing here imports numba.

The algorithms read `P` (the constants), `FLOAT`, `INT` and `FDLIBM_TRIG` as
module globals; as written they are float64's, so every function also runs
as plain Python on float64. generate.py specialises them per precision
(precision.SPECIALISED), the way tinygrad's transcendental.py takes a dtype.

Why: Numba lowers `math.exp` and friends to scalar libm calls (6-29 ns per
element), which also stops LLVM's loop vectorizer; NumPy's SIMD ufuncs need
1-2 ns. A loop vectorizes only if its body is straight-line arithmetic, so
every kernel is range reduction (Cody-Waite), a fixed polynomial, and
reconstruction on the IEEE-754 bits (`FLOAT(x).view(INT)` compiles to a
bitcast). Rules every algorithm follows:

* special cases (inf, NaN, 0, denormals, overflow) are *selects* (`a if c
  else b`), never early returns or loops; clamps are written
  `C if x > C else x` so NaN (all comparisons false) passes through;
* division goes through `np.divide`: under Numba's default
  `error_model="python"` the `/` operator adds a zero check that blocks
  vectorization;
* every constant comes from `P` (float32 values are `np.float32`, so float32
  kernels stay in float32; tests/test_kernels.py checks the return types);
* a core called by another algorithm is a plain function returning one
  value (or a tuple) from its last line; generate.py inlines it, so
  composites cost what written-out code costs; no call inside a select;
* the one exception to straight-line code: sin/cos beyond the Cody-Waite
  range call libm (trig.py).

Accuracy and speed: docs/kernels.md, tests/test_kernels.py,
benchmarks/bench_kernels.py.
"""

from __future__ import annotations

from .precision import F32, F64, SPECIALISED

# The kernels fused loops call as `<name>_f64` / `<name>_f32` (op templates: `exp_{suffix}`).
KERNEL_NAMES = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "sin", "cos")
REDUCED_NAMES = ("sin_reduced", "cos_reduced")
SIN_COS_MAX = F64.SIN_COS_MAX
SIN_COS_MAX_F32 = F32.SIN_COS_MAX
# The reduced sin/cos kernels (no libm branch), with the largest |x| each is
# exact for: codegen counts larger arguments and the caller recomputes those
# calls exactly (docs/codegen.md, "sin and cos").
REDUCED_RANGE = {f"{name}_{suffix}": values["P"].SIN_COS_MAX
                 for name in REDUCED_NAMES for suffix, values in SPECIALISED.items()}
