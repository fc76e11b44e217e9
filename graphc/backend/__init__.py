"""Lowering a graph to one Numba-compiled Python function (layer L4).

schedule (topological order -> fusion groups) -> codegen (one readable
function) -> compile (source file in the disk cache -> numba.njit). `kernels`
holds the vectorizable elementary functions the fused loops call. Importing
this package imports nothing heavy: numba is loaded only by `compile`.
"""
