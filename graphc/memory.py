"""The build-time memory check: a node bigger than the machine is refused when built.

Owns: `memory_limit` (the machine's physical memory, read once) and
`check_memory` (called by ir.apply). Imports: numpy and layer L0 only (oprecord);
its inputs are Nodes (graphc.ir, a layer above), read only for their
dtype and shape. Split out of graphc.ir.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import dtypes, shapes
from .errors import ShapeError
from .oprecord import Op


def memory_limit() -> int:
    """Bytes of physical memory (2**62 where the platform does not say)."""
    if not _memory:
        try:
            _memory.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):
            _memory.append(1 << 62)
    return _memory[0]


# Physical memory, read once: a per-process fact of the machine.
_memory: list[int] = []


def _bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if count < 1000 or unit == "ZB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def check_memory(op: Op, inputs: Sequence[Any], shape: Sequence[shapes.Size], dtype: np.dtype,
                  where: str) -> None:
    """A node bigger than the machine's memory is an error now, not a crash at run time.

    Symbolic sizes count as 1, so this is a lower bound: `outer` of two
    10^6-vectors (8 TB) or `one_hot(labels, 2**61)` are refused here.
    """
    count = 1
    for size in shape:
        if isinstance(size, int):
            count *= size
    if count * dtype.itemsize > memory_limit():
        described = ", ".join(
            f"{dtypes.short_name(i.dtype)}{shapes.format_shape(i.shape)}" for i in inputs)
        error = ShapeError(
            f"{op.name}({described}) makes a {dtypes.short_name(dtype)}{shapes.format_shape(tuple(shape))}"
            f" tensor, which needs at least {_bytes(count * dtype.itemsize)} of memory; this "
            f"machine has {_bytes(memory_limit())} (at {where})")
        error.located = True  # type: ignore[attr-defined]
        raise error
