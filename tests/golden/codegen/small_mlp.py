# ---- kernel fused_5bb351d96a78 (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import maximum


def fused_5bb351d96a78(n0, n1, a0, a1, a2, a3):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = (a0[i0, i1] + a1[i1])  # t0: f64[n0,n1] = a0 + a1
            t1 = maximum(t0, 0.0)  # a2: f64[n0,n1] = relu t0
            a2[i0, i1] = t1
            t2 = (t0 > 0.0)  # a3: bool[n0,n1] = t0 > 0
            a3[i0, i1] = t2
    return ()


# ---- kernel fused_579620520fa2 (a module of its own in the cache)
import numpy as np


def fused_579620520fa2(n0, n1, a0, a1, a2):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = (a0[i0, i1] + a1[i1])  # a2: f64[n0,n1] = a0 + a1
            a2[i0, i1] = t0
    return ()


# ---- kernel fused_0d19ba65f5f1 (a module of its own in the cache)
import numpy as np


def fused_0d19ba65f5f1(n0, n1, a0, a1, a2):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = (a0[i0, i1] * a1[i0, i1])  # t0: f64[n0,n1] = a0 * a1
            a2[i0] = a2[i0] + t0  # a2: f64[n0] = sum[axis=(1,)] t0
    return ()


# ---- kernel fused_0ac78708005e (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import empty, sum_block


def fused_0ac78708005e(n0, a0):
    t0 = np.float64(0)
    t1 = empty(1024, np.float64)  # terms of t0, added a block at a time
    for block0 in range(0, n0, 1024):
        for i0 in range(block0, min(block0 + 1024, n0)):
            t1[i0 - block0] = a0[i0]  # t0: f64[] = mean[axis=(0,)] a0
        t0 += sum_block(t1, min(1024, n0 - block0), 0.0)  # block of t0
    t0 = np.float64(t0 / (n0))  # finish mean t0
    return (t0,)


# ---- kernel fused_5303eb5ee639 (a module of its own in the cache)
import numpy as np


def fused_5303eb5ee639(a0, a1):
    t0 = (-a0)  # t0: f64[] = neg a0
    t1 = (-1.0 / a1)  # t1: f64[] = -1.0 / a1
    return (t0, t1)


# ---- kernel fused_4215c59c9bb3 (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import exp_f64


def fused_4215c59c9bb3(n0, n1, a0, a1, a2, a3, a4, a5):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = (a0 * a1[i0, i1])  # a2: f64[n0,n1] = a0 * a1
            a2[i0, i1] = t0
            t1 = exp_f64(a3[i0, i1])  # a4: f64[n0,n1] = exp a3
            a4[i0, i1] = t1
            a5[i0, 0] = a5[i0, 0] + t0  # a5: f64[n0,1] = sum[axis=(1,) keepdims=True] a2
    return ()


# ---- kernel fused_9a1ce76824ce (a module of its own in the cache)
import numpy as np


def fused_9a1ce76824ce(n0, n1, a0, a1, a2, a3, a4):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = (a0[i0, i1] * a1[i0, 0])  # t0: f64[n0,n1] = a0 * a1
            t1 = (a2[i0, i1] - t0)  # a3: f64[n0,n1] = a2 - t0
            a3[i0, i1] = t1
            a4[i1] = a4[i1] + t1  # a4: f64[n1] = sum_to[shape=(n1,)] a3
    return ()


# ---- kernel fused_82e6de61d422 (a module of its own in the cache)
import numpy as np
from graphc.backend.runtime import select


def fused_82e6de61d422(n0, n1, a0, a1, a2, a3):
    for i0 in range(n0):
        for i1 in range(n1):
            t0 = select(a0[i0, i1], a1[i0, i1], 0.0)  # a2: f64[n0,n1] = where a0 a1 0
            a2[i0, i1] = t0
            a3[i1] = a3[i1] + t0  # a3: f64[n1] = sum_to[shape=(n1,)] a2
    return ()


# ---- graph, calling them
import numpy as np
from graphc.backend.runtime import log_softmax_rows, one_hot_flat
from graphc.backend.library import blas_dot, contiguous, empty, full, to_rows  # NumPy itself at this level
# fused kernels, one cached module each (shared by every graph that has them): fused_5bb351d96a78, fused_579620520fa2, fused_0d19ba65f5f1, fused_0ac78708005e, fused_5303eb5ee639, fused_4215c59c9bb3, fused_9a1ce76824ce, fused_82e6de61d422


def graph(x, labels, W1, b1, W2, b2):
    batch = x.shape[0]  # size batch of input x
    t0 = one_hot_flat(contiguous(labels).reshape(-1), 3, 1.0).reshape((batch, 3))  # t0: f64[batch,3] = one_hot[depth=3 dtype=float64] labels
    t1 = blas_dot(x, W1)  # t1: f64[batch,8] = matmul x W1
    t2 = empty((batch, 8), np.float64)
    t3 = empty((batch, 8), np.bool)
    fused_5bb351d96a78(batch, 8, t1, b1, t2, t3)  # t4 = t1 + b1; t2 = relu t4; t3 = t4 > 0
    t5 = blas_dot(t2, W2)  # t5: f64[batch,3] = matmul t2 W2
    t6 = empty((batch, 3), np.float64)
    fused_579620520fa2(batch, 3, t5, b2, t6)  # t6 = t5 + b2
    t7 = log_softmax_rows(to_rows(t6, (0, 1), batch, 3)).reshape((batch, 3))  # t7: f64[batch,3] = log_softmax[axis=(1,)] t6
    t8 = full((batch,), 0, np.float64)
    fused_0d19ba65f5f1(batch, 3, t0, t7, t8)  # t9 = t0 * t7; t8 = sum[axis=(1,)] t9
    t10, = fused_0ac78708005e(batch, t8)  # t10 = mean[axis=(0,)] t8
    t11 = x.T  # t11: f64[4,batch] = transpose[axes=(1,0)] x
    t12 = np.float64(batch)  # t12: f64[] = size[axis=(0,) dtype=float64] t8
    loss, t13 = fused_5303eb5ee639(t10, t12)  # loss = neg t10; t13 = -1.0 / t12
    t14 = empty((batch, 3), np.float64)
    t15 = empty((batch, 3), np.float64)
    t16 = full((batch, 1), 0, np.float64)
    fused_4215c59c9bb3(batch, 3, t13, t0, t14, t7, t15, t16)  # t14 = t13 * t0; t15 = exp t7; t16 = sum[axis=(1,) keepdims=True] t14
    t17 = empty((batch, 3), np.float64)
    d_b2 = full((3,), 0, np.float64)
    fused_9a1ce76824ce(batch, 3, t15, t16, t14, t17, d_b2)  # t18 = t15 * t16; t17 = t14 - t18; d_b2 = sum_to[shape=(3,)] t17
    t19 = W2.T  # t19: f64[3,8] = transpose[axes=(1,0)] W2
    t20 = blas_dot(t17, t19)  # t20: f64[batch,8] = matmul t17 t19
    t21 = empty((batch, 8), np.float64)
    d_b1 = full((8,), 0, np.float64)
    fused_82e6de61d422(batch, 8, t3, t20, t21, d_b1)  # t21 = where t3 t20 0; d_b1 = sum_to[shape=(8,)] t21
    d_W1 = blas_dot(t11, t21)  # d_W1: f64[4,8] = matmul t11 t21
    t22 = t2.T  # t22: f64[8,batch] = transpose[axes=(1,0)] t2
    d_W2 = blas_dot(t22, t17)  # d_W2: f64[8,3] = matmul t22 t17
    return (loss, d_W1, d_b1, d_W2, d_b2)
