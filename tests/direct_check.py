"""GRAPHC_DIRECT_CHECK=1: every direct kernel call is repeated on Numba and compared bit for bit.

Why: the direct path (graphc/backend/direct/) must give the bits Numba gives
for the same kernel source. With this variable set, tests/conftest.py wraps
each compiled direct kernel: its call runs on copies of the arguments
through the kernel's Numba dispatcher too, and any difference in an array
argument or a returned scalar fails the test with the kernel's name and
source. The whole suite run this way is the differential test of the
translator (docs/codegen.md, "The direct path").
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHECKED: dict[str, int] = {}  # kernel name -> calls compared (read by tests/test_direct.py)


def same_bits(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f":  # -0.0 is not 0.0; a NaN's sign and payload are LLVM's choice in both
        numbers = ~np.isnan(a)
        return bool(np.array_equal(a, b, equal_nan=True)
                    and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers])))
    return bool(np.array_equal(a, b))


def install() -> None:
    from graphc.backend.direct import kernel as direct_kernel

    compiled = direct_kernel.DirectKernel._entry

    def checking(self: Any, types: list[Any], key: str) -> Any:
        served = compiled(self, types, key)
        numba = self._numba()
        if served is numba:
            return served

        def call(*args: Any) -> Any:
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            expected = numba(*copies)
            result = served(*args)
            for index, (mine, theirs) in enumerate(zip(args, copies)):
                if isinstance(mine, np.ndarray) and not same_bits(mine, theirs):
                    raise AssertionError(f"direct kernel {self.name}: argument {index} differs from "
                                         f"Numba's\n{self.source}")
            if not all(same_bits(m, t) for m, t in zip(result, expected)) or len(result) != len(expected):
                raise AssertionError(f"direct kernel {self.name}: results {result} != Numba's {expected}"
                                     f"\n{self.source}")
            CHECKED[self.name] = CHECKED.get(self.name, 0) + 1
            return result

        call.checked = True  # type: ignore[attr-defined]  # a direct entry, checked
        return call

    direct_kernel.DirectKernel._entry = checking  # type: ignore[method-assign]
