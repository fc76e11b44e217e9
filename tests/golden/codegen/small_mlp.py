import numpy as np
from graphc.backend.runtime import blas_dot, contiguous, empty, exp_f64, full, log_softmax_rows, maximum, one_hot_flat, select, sum_block, to_rows


def graph(x, labels, W1, b1, W2, b2):
    batch = x.shape[0]  # size batch of input x
    t0 = one_hot_flat(contiguous(labels).reshape(-1), 3, 1.0).reshape((batch, 3))  # t0: f64[batch,3] = one_hot[depth=3 dtype=float64] labels
    t1 = blas_dot(x, W1)  # t1: f64[batch,8] = matmul x W1
    t2 = empty((batch, 8), np.float64)
    t3 = empty((batch, 8), np.bool)
    for i0 in range(batch):
        for i1 in range(8):
            t4 = (t1[i0, i1] + b1[i1])  # t4: f64[batch,8] = t1 + b1
            t2_e = maximum(t4, 0.0)  # t2: f64[batch,8] = relu t4
            t2[i0, i1] = t2_e
            t3_e = (t4 > 0.0)  # t3: bool[batch,8] = t4 > 0
            t3[i0, i1] = t3_e
    t5 = blas_dot(t2, W2)  # t5: f64[batch,3] = matmul t2 W2
    t6 = empty((batch, 3), np.float64)
    for i0 in range(batch):
        for i1 in range(3):
            t6_e = (t5[i0, i1] + b2[i1])  # t6: f64[batch,3] = t5 + b2
            t6[i0, i1] = t6_e
    t7 = log_softmax_rows(to_rows(t6, (0, 1), batch, 3)).reshape((batch, 3))  # t7: f64[batch,3] = log_softmax[axis=(1,)] t6
    t8 = full((batch,), 0, np.float64)
    for i0 in range(batch):
        for i1 in range(3):
            t9 = (t0[i0, i1] * t7[i0, i1])  # t9: f64[batch,3] = t0 * t7
            t8[i0] = t8[i0] + t9  # t8: f64[batch] = sum[axis=(1,)] t9
    t10 = np.float64(0)
    t10_terms = empty(1024, np.float64)  # terms of t10, added a block at a time
    for block0 in range(0, batch, 1024):
        for i0 in range(block0, min(block0 + 1024, batch)):
            t10_terms[i0 - block0] = t8[i0]  # t10: f64[] = mean[axis=(0,)] t8
        t10 += sum_block(t10_terms, min(1024, batch - block0), 0.0)  # block of t10
    t10 = np.float64(t10 / (batch))  # finish mean t10
    t11 = x.T  # t11: f64[4,batch] = transpose[axes=(1,0)] x
    t12 = np.float64(batch)  # t12: f64[] = size[axis=(0,) dtype=float64] t8
    loss = (-t10)  # loss: f64[] = neg t10
    t13 = (-1.0 / t12)  # t13: f64[] = -1.0 / t12
    t14 = empty((batch, 3), np.float64)
    t15 = empty((batch, 3), np.float64)
    t16 = full((batch, 1), 0, np.float64)
    for i0 in range(batch):
        for i1 in range(3):
            t14_e = (t13 * t0[i0, i1])  # t14: f64[batch,3] = t13 * t0
            t14[i0, i1] = t14_e
            t15_e = exp_f64(t7[i0, i1])  # t15: f64[batch,3] = exp t7
            t15[i0, i1] = t15_e
            t16[i0, 0] = t16[i0, 0] + t14_e  # t16: f64[batch,1] = sum[axis=(1,) keepdims=True] t14
    t17 = empty((batch, 3), np.float64)
    d_b2 = full((3,), 0, np.float64)
    for i0 in range(batch):
        for i1 in range(3):
            t18 = (t15[i0, i1] * t16[i0, 0])  # t18: f64[batch,3] = t15 * t16
            t17_e = (t14[i0, i1] - t18)  # t17: f64[batch,3] = t14 - t18
            t17[i0, i1] = t17_e
            d_b2[i1] = d_b2[i1] + t17_e  # d_b2: f64[3] = sum_to[shape=(3,)] t17
    t19 = W2.T  # t19: f64[3,8] = transpose[axes=(1,0)] W2
    t20 = blas_dot(t17, t19)  # t20: f64[batch,8] = matmul t17 t19
    t21 = empty((batch, 8), np.float64)
    d_b1 = full((8,), 0, np.float64)
    for i0 in range(batch):
        for i1 in range(8):
            t21_e = select(t3[i0, i1], t20[i0, i1], 0.0)  # t21: f64[batch,8] = where t3 t20 0
            t21[i0, i1] = t21_e
            d_b1[i1] = d_b1[i1] + t21_e  # d_b1: f64[8] = sum_to[shape=(8,)] t21
    d_W1 = blas_dot(t11, t21)  # d_W1: f64[4,8] = matmul t11 t21
    t22 = t2.T  # t22: f64[8,batch] = transpose[axes=(1,0)] t2
    d_W2 = blas_dot(t22, t17)  # d_W2: f64[8,3] = matmul t22 t17
    return (loss, d_W1, d_b1, d_W2, d_b2)
