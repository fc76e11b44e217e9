"""Helpers for generated code that fill views: `copy_into(view, values)`.

Owns the `HELPERS` list of the views family (graphc/backend/library.py
FAMILIES). Why: a scatter (the VJP of `x[1:]`, `x[:, :-1]`, ...) was generated
as a slice assignment, `out[:-1] = g`, and Numba compiles its generic slice
setitem in 3-3.5 s of CPU per rank (profiled: the Rosenbrock Hessian of
examples/scipy_optimize.py spent most of a 7-9 s cold compile there). The
same copy as an `np.ndindex` loop over the view compiles in ~0.1 s, and as a
helper it is compiled once per (dtype, rank, layout) and cached with graphc's
own machine code. Plain Python over NumPy; never imports numba. Imports: numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HELPERS = ("copy_into",)


def copy_into(view: Any, values: Any) -> None:
    """view[...] = values, for a view of `values`' shape (element by element)."""
    for index in np.ndindex(values.shape):
        view[index] = values[index]


def copy_into_numpy(view: Any, values: Any) -> None:
    """copy_into at NumPy level (the kernel-mode graph function is plain Python)."""
    view[...] = values


NUMPY_TWINS = {"copy_into": "copy_into_numpy"}
