import numpy as np
from graphc.backend.runtime import blas_dot, empty, sigmoid_f64


def graph(X, W):
    n = X.shape[0]  # size n of input X
    t0 = blas_dot(X, W)  # t0: f64[n,2] = matmul X W
    loss = np.float64(0)
    t4 = empty((n, 2), np.float64)
    for i0 in range(n):
        for i1 in range(2):
            t1 = sigmoid_f64(t0[i0, i1])  # t1: f64[n,2] = sigmoid t0
            loss = loss + t1  # loss: f64[] = sum[axis=(0,1)] t1
            t3 = (1.0 - t1)  # t3: f64[n,2] = 1 - t1   (backward of sigmoid, test_backend_codegen.py:40)
            t4_e = (t1 * t3)  # t4: f64[n,2] = t1 * t3   (backward of sigmoid, test_backend_codegen.py:40)
            t4[i0, i1] = t4_e
    t5 = W.T  # t5: f64[2,3] = transpose[axes=(1,0)] W   (backward of matmul, test_backend_codegen.py:40)
    d_X = blas_dot(t4, t5)  # d_X: f64[n,3] = matmul t4 t5   (backward of matmul, test_backend_codegen.py:40)
    t7 = X.T  # t7: f64[3,n] = transpose[axes=(1,0)] X   (backward of matmul, test_backend_codegen.py:40)
    d_W = blas_dot(t7, t4)  # d_W: f64[3,2] = matmul t7 t4   (backward of matmul, test_backend_codegen.py:40)
    return (loss, d_X, d_W)
