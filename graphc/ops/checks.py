"""Ops that only check values at run time: an integer exponent must not be negative.

Owns `check_exponent`, the op `power` puts in front of an integer exponent
known only at run time. NumPy raises ValueError for `int ** negative int`;
compiled code would silently give 0 (Numba's integer power), so both
backends raise graphc's InputError instead (library_indexing.nonnegative_exponents
on numba). A constant exponent is checked while the graph is built
(elementwise.power). Imports: ir, layer L0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import register, same_dtype, same_shape

NEGATIVE_EXPONENT = ("power: integers to negative integer powers are not allowed (as in NumPy); "
                     "the exponent {value} (at flat position {position}) is negative; make the "
                     "base a float, e.g. x.astype('float64')")


def _check_impl(exponent: Any) -> np.ndarray:
    exponent = np.asarray(exponent)
    negative = np.flatnonzero(exponent < 0)
    if negative.size:
        position = int(negative[0])
        raise InputError(NEGATIVE_EXPONENT.format(value=int(exponent.flat[position]),
                                                  position=position))
    return exponent


CHECK_EXPONENT = register(Op(
    "check_exponent", shape=same_shape, dtype=same_dtype, arity=1, label="check_exponent",
    impl=_check_impl, vjp=lambda g, out, x: (None,), nonnegative="always",
    batch=batching.keeps_axis("check_exponent"), lowering=Kernel("nonnegative_exponents({0})"),
    samples=(Sample(((3,),), dtypes=("int64",)), Sample(((2, 2),), dtypes=("int32",)),
             Sample(((),), dtypes=("int64",))),
))


def check_exponent(exponent: Node) -> Node:
    """`exponent`, checked on every call to hold no negative entry (integer power)."""
    return apply(CHECK_EXPONENT, exponent)


__all__ = ["CHECK_EXPONENT", "NEGATIVE_EXPONENT", "check_exponent"]
