import numpy as np
from graphc.backend.runtime import blas_dot, empty, sigmoid_f64


def graph(X, W):
    n = X.shape[0]  # size n of input X
    t0 = blas_dot(X, W)  # t0: f64[n,2] = matmul X W
    loss = np.float64(0)
    t1 = empty((n, 2), np.float64)
    for i0 in range(n):
        for i1 in range(2):
            t2 = sigmoid_f64(t0[i0, i1])  # t2: f64[n,2] = sigmoid t0
            loss = loss + t2  # loss: f64[] = sum[axis=(0,1)] t2
            t3 = (1.0 - t2)  # t3: f64[n,2] = 1 - t2
            t1_e = (t2 * t3)  # t1: f64[n,2] = t2 * t3
            t1[i0, i1] = t1_e
    t4 = W.T  # t4: f64[2,3] = transpose[axes=(1,0)] W
    d_X = blas_dot(t1, t4)  # d_X: f64[n,3] = matmul t1 t4
    t5 = X.T  # t5: f64[3,n] = transpose[axes=(1,0)] X
    d_W = blas_dot(t5, t1)  # d_W: f64[3,2] = matmul t5 t1
    return (loss, d_X, d_W)
