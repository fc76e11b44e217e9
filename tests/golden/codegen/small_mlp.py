# ---- kernel fused_4a53c78071a8 (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import maximum


def fused_4a53c78071a8(n0, n1, a0, a1, a2, a3):
    for i0 in range(n0):
        for i1 in range(n1):
            r0 = (a0[i0, i1] + a1[i1])  # r0: f64[n0,n1] = a0 + a1
            r1 = maximum(r0, 0.0)  # a2: f64[n0,n1] = relu r0
            a2[i0, i1] = r1
            r2 = (r0 > 0.0)  # a3: bool[n0,n1] = r0 > 0
            a3[i0, i1] = r2
    return ()


# ---- kernel fused_ca59578db6d7 (a module of its own in the cache)
import numpy as np


def fused_ca59578db6d7(n0, n1, a0, a1, a2):
    for i0 in range(n0):
        for i1 in range(n1):
            r0 = (a0[i0, i1] + a1[i1])  # a2: f64[n0,n1] = a0 + a1
            a2[i0, i1] = r0
    return ()


# ---- kernel fused_04ec9ae89ca9 (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import exp_f64


def fused_04ec9ae89ca9(n0, n1, a0, a1, a2, a3, a4, a5, a6):
    for i0 in range(n0):
        for i1 in range(n1):
            r0 = (a0[i0, i1] * a1[i0, i1])  # r0: f64[n0,n1] = a0 * a1
            a2[i0] = a2[i0] + r0  # a2: f64[n0] = sum[axis=(1,)] r0
            r1 = (a3 * a0[i0, i1])  # a4: f64[n0,n1] = a3 * a0
            a4[i0, i1] = r1
            r2 = exp_f64(a1[i0, i1])  # a5: f64[n0,n1] = exp a1
            a5[i0, i1] = r2
            a6[i0, 0] = a6[i0, 0] + r1  # a6: f64[n0,1] = sum[axis=(1,) keepdims=True] a4
    return ()


# ---- kernel fused_f27a48d6f6cb (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import empty, sum_block


def fused_f27a48d6f6cb(n0, a0):
    r0 = np.float64(0)
    r1 = empty(1024, np.float64)  # terms of r0, added a block at a time
    for block0 in range(0, n0, 1024):
        for i0 in range(block0, min(block0 + 1024, n0)):
            r1[i0 - block0] = a0[i0]  # r0: f64[] = mean[axis=(0,)] a0
        r0 += sum_block(r1, min(1024, n0 - block0), 0.0)  # block of r0
    r0 = np.float64(r0 / (n0))  # finish mean r0
    return (r0,)


# ---- kernel fused_735a21250d47 (a module of its own in the cache)
import numpy as np


def fused_735a21250d47(n0, n1, a0, a1, a2, a3, a4):
    for i0 in range(n0):
        for i1 in range(n1):
            r0 = (a0[i0, i1] * a1[i0, 0])  # r0: f64[n0,n1] = a0 * a1
            r1 = (a2[i0, i1] - r0)  # a3: f64[n0,n1] = a2 - r0
            a3[i0, i1] = r1
            a4[i1] = a4[i1] + r1  # a4: f64[n1] = sum_to[shape=(n1,)] a3
    return ()


# ---- kernel fused_5e3f174c9ffd (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import select


def fused_5e3f174c9ffd(n0, n1, a0, a1, a2, a3):
    for i0 in range(n0):
        for i1 in range(n1):
            r0 = select(a0[i0, i1], a1[i0, i1], 0.0)  # a2: f64[n0,n1] = where a0 a1 0
            a2[i0, i1] = r0
            a3[i1] = a3[i1] + r0  # a3: f64[n1] = sum_to[shape=(n1,)] a2
    return ()


# ---- graph, calling them
import numpy as np
from graphc.backend.library import blas_dot, contiguous, full, log_softmax_rows_numpy as log_softmax_rows, one_hot_flat_numpy as one_hot_flat, to_rows  # NumPy itself at this level
# fused kernels, one cached module each (shared by every graph that has them): fused_4a53c78071a8, fused_ca59578db6d7, fused_04ec9ae89ca9, fused_f27a48d6f6cb, fused_735a21250d47, fused_5e3f174c9ffd

from graphc.backend.workspace import Pool
_pool = Pool(12)  # per thread: see graphc/backend/workspace.py


def graph(x, labels, W1, b1, W2, b2):
    _workspace = _pool.acquire()  # temporaries reused across calls (12 slots; graphc/backend/workspace.py)
    batch = x.shape[0]  # size batch of input x
    t13 = np.float64(batch)  # t13: f64[] = size[axis=(0,) dtype=float64] t8   (backward of mean, test_backend_codegen.py:53)
    with np.errstate(all="ignore"):  # computed in Python: as silent as Numba
        t14 = (-1.0 / t13)  # t14: f64[] = -1.0 / t13   (backward of mean, test_backend_codegen.py:53)
    t0 = one_hot_flat(contiguous(labels).reshape(-1), 3, 1.0).reshape((batch, 3))  # t0: f64[batch,3] = one_hot[depth=3 dtype=float64] labels
    t1 = _workspace.dot(0, x, W1)  # t1: f64[batch,8] = matmul x W1
    t3 = _workspace.empty(1, (batch, 8), np.float64)
    t12 = _workspace.empty(2, (batch, 8), np.bool)
    fused_4a53c78071a8(batch, 8, t1, b1, t3, t12)  # t2 = t1 + b1; t3 = relu t2; t12 = t2 > 0   (backward of relu, test_backend_codegen.py:51)
    t4 = _workspace.dot(3, t3, W2)  # t4: f64[batch,3] = matmul t3 W2
    t5 = _workspace.empty(4, (batch, 3), np.float64)
    fused_ca59578db6d7(batch, 3, t4, b2, t5)  # t5 = t4 + b2
    t6 = log_softmax_rows(to_rows(t5, (0, 1), batch, 3)).reshape((batch, 3))  # t6: f64[batch,3] = log_softmax[axis=(1,)] t5
    t8 = _workspace.full(5, (batch,), 0, np.float64)
    t15 = _workspace.empty(6, (batch, 3), np.float64)
    t16 = _workspace.empty(7, (batch, 3), np.float64)
    t17 = _workspace.full(8, (batch, 1), 0, np.float64)
    fused_04ec9ae89ca9(batch, 3, t0, t6, t8, t14, t15, t16, t17)  # t7 = t0 * t6; t8 = sum[axis=(1,)] t7; t15 = t14 * t0; ...   (backward of multiply, test_backend_codegen.py:53; backward of log_softmax, test_backend_codegen.py:53)
    t9, = fused_f27a48d6f6cb(batch, t8)  # t9 = mean[axis=(0,)] t8
    with np.errstate(all="ignore"):  # computed in Python: as silent as Numba
        t9 = np.float64(t9)  # x / 0 is inf, as in Numba
        loss = (-t9)  # loss: f64[] = neg t9
    t11 = x.T  # t11: f64[4,batch] = transpose[axes=(1,0)] x   (backward of matmul, test_backend_codegen.py:51)
    t19 = _workspace.empty(9, (batch, 3), np.float64)
    d_b2 = full((3,), 0, np.float64)
    fused_735a21250d47(batch, 3, t16, t17, t15, t19, d_b2)  # t18 = t16 * t17; t19 = t15 - t18; d_b2 = sum_to[shape=(3,)] t19   (backward of log_softmax, test_backend_codegen.py:53; backward of add, test_backend_codegen.py:52)
    t20 = W2.T  # t20: f64[3,8] = transpose[axes=(1,0)] W2   (backward of matmul, test_backend_codegen.py:52)
    t21 = _workspace.dot(10, t19, t20)  # t21: f64[batch,8] = matmul t19 t20   (backward of matmul, test_backend_codegen.py:52)
    t22 = _workspace.empty(11, (batch, 8), np.float64)
    d_b1 = full((8,), 0, np.float64)
    fused_5e3f174c9ffd(batch, 8, t12, t21, t22, d_b1)  # t22 = where t12 t21 0; d_b1 = sum_to[shape=(8,)] t22   (backward of relu, test_backend_codegen.py:51; backward of add, test_backend_codegen.py:51)
    d_W1 = blas_dot(t11, t22)  # d_W1: f64[4,8] = matmul t11 t22   (backward of matmul, test_backend_codegen.py:51)
    t25 = t3.T  # t25: f64[8,batch] = transpose[axes=(1,0)] t3   (backward of matmul, test_backend_codegen.py:52)
    d_W2 = blas_dot(t25, t19)  # d_W2: f64[8,3] = matmul t25 t19   (backward of matmul, test_backend_codegen.py:52)
    _pool.release(_workspace)
    return (loss, d_W1, d_b1, d_W2, d_b2)
