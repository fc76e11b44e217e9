"""The five dtypes graphc supports and NumPy 2 (NEP 50) promotion.

Owns: parsing user dtype spellings, short names for printing (`f64`), and
promotion where Python scalars are *weak* (they never widen a tensor:
`float32 * 2.0 -> float32`). Imports: numpy and errors (layer L0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DTypeError

SUPPORTED: tuple[np.dtype, ...] = tuple(
    np.dtype(name) for name in ("float32", "float64", "int32", "int64", "bool")
)

SHORT_NAMES: dict[np.dtype, str] = {
    np.dtype("float32"): "f32",
    np.dtype("float64"): "f64",
    np.dtype("int32"): "i32",
    np.dtype("int64"): "i64",
    np.dtype("bool"): "bool",
}

# A weak operand is represented by a Python value of its kind: NumPy's
# result_type applies NEP 50 to Python scalars, which is exactly the rule.
_WEAK_EXEMPLAR: dict[str, Any] = {"f": 0.0, "i": 0, "b": False}


def as_dtype(spec: Any) -> np.dtype:
    """Parse a dtype spelling (string, numpy dtype or type), or raise DTypeError."""
    try:
        dtype = np.dtype(spec)
    except TypeError as exc:
        raise DTypeError(
            f"unknown dtype {spec!r}; expected one of {', '.join(map(str, SUPPORTED))}"
        ) from exc
    if dtype not in SUPPORTED:
        raise DTypeError(
            f"unsupported dtype {spec!r}; expected one of {', '.join(map(str, SUPPORTED))}"
        )
    return dtype


def short_name(dtype: np.dtype) -> str:
    """The compact spelling used by the printer: f32, f64, i32, i64, bool."""
    return SHORT_NAMES[np.dtype(dtype)]


def is_float(dtype: np.dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def weak_exemplar(dtype: np.dtype) -> Any:
    """The Python scalar that stands for a weakly typed operand of this dtype."""
    return _WEAK_EXEMPLAR[np.dtype(dtype).kind]


def promote(operands: list[tuple[np.dtype, bool]]) -> np.dtype:
    """NEP 50 result dtype of (dtype, weak) operands, restricted to SUPPORTED."""
    args = [weak_exemplar(d) if weak else d for d, weak in operands]
    if all(weak for _, weak in operands):
        args = [d for d, _ in operands]
    result = np.result_type(*args)
    if result not in SUPPORTED:
        raise DTypeError(f"promotion of {args} gives unsupported dtype {result}")
    return result


def scalar_dtype(value: Any) -> np.dtype:
    """The default dtype NumPy gives a Python scalar (bool, int64, float64)."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype("bool")
    if isinstance(value, (int, np.integer)):
        return np.dtype("int64")
    if isinstance(value, (float, np.floating)):
        return np.dtype("float64")
    raise DTypeError(f"cannot make a tensor of {type(value).__name__} {value!r}")
