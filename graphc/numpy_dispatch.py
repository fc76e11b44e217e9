"""NumPy's own functions on graphc tensors: `np.exp(x)` builds `gc.exp(x)`.

Owns the NumPy dispatch protocols of tensors (NEP 13 `__array_ufunc__`,
NEP 18 `__array_function__`): `UFUNCS` and `FUNCTIONS`, the one table from a
NumPy name to the graphc builder that does the same thing, and the two
handlers `ir.Node` forwards to. A NumPy function missing from the table (or
whose graphc builder is not there) raises `gc.ArgumentError` naming the
function; so does a keyword graphc cannot honour (`out=`, `where=`, an
`initial=`), instead of a NumPy internal error. So code written for arrays
(`np.sum(np.tanh(X @ w) ** 2)`) builds a graph when handed a tensor, and
fails clearly when it calls something graphc does not have.

Imports: ir (its FUNCTIONS registry of builders), ops, errors (layer L3).
Entry point: importing the module installs the handlers (graphc/__init__
does); `supported_names()` and `markdown_table()` feed tests and docs/api.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ir
from .errors import ArgumentError, user_origin
from .ir import Node
from .ops import as_tensor, astype

REQUIRED = object()  # a NumPy parameter without default
ABSENT = object()  # a NumPy default graphc only accepts when left out (initial=...)

# Keywords every ufunc takes; graphc accepts them at NumPy's defaults only.
UFUNC_DEFAULTS: dict[str, Any] = {"out": None, "where": True, "casting": "same_kind",
                                  "order": "K", "subok": True, "signature": None}

# NumPy ufunc name -> graphc builder name. Operators on arrays (`ndarray + tensor`)
# arrive here too. Names whose builder graphc lacks are refused at call time.
UFUNCS: dict[str, str] = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "negative": "negative", "power": "power", "square": "square", "sqrt": "sqrt",
    "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sin": "sin",
    "cos": "cos", "tan": "tan", "tanh": "tanh", "arctan": "arctan", "arcsinh": "arcsinh",
    "absolute": "abs",
    "sign": "sign", "maximum": "maximum", "minimum": "minimum", "equal": "equal",
    "not_equal": "not_equal", "less": "less", "less_equal": "less_equal", "greater": "greater",
    "greater_equal": "greater_equal", "matmul": "matmul",
    # graphc's second-version functions, used when present
    "logaddexp": "logaddexp", "floor": "floor", "ceil": "ceil", "remainder": "mod",
    "logaddexp2": "logaddexp2",
}
# scipy.special's ufuncs reach tensors the same way (scipy.special.gammaln(x) is gc.gammaln(x)).
SCIPY_UFUNCS: dict[str, str] = {
    "erf": "erf", "erfc": "erfc", "gammaln": "gammaln", "psi": "digamma", "logit": "logit",
    "expit": "sigmoid", "xlogy": "xlogy", "log_ndtr": "log_ndtr",
}


@dataclass(frozen=True)
class Entry:
    """How one NumPy function maps onto a graphc builder.

    `params` is NumPy's parameter list (for binding positional arguments);
    `passed` the NumPy parameters handed to the builder positionally, with the
    default used when absent; `fixed` the parameters accepted only at their
    NumPy default; `aliases` NumPy's alternative names (`newshape` for
    `shape`); `casts`: `dtype=` casts the tensor operands first, as NumPy
    computes in that dtype. `passthrough`: hand every argument over unchanged
    (graphc mirrors NumPy's signature) once `out=`/`where=` are refused.
    """

    graphc: str
    params: tuple[str, ...] = ()
    passed: tuple[tuple[str, Any], ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    casts: bool = False
    passthrough: bool = False


def _reduction(graphc: str, *, dtype: bool) -> Entry:
    params = ("a", "axis") + (("dtype",) if dtype else ()) + ("out", "keepdims", "initial", "where")
    return Entry(graphc, params, (("a", REQUIRED), ("axis", None), ("keepdims", False)),
                 {"out": None, "initial": ABSENT, "where": True}, casts=dtype)


def _join(graphc: str) -> Entry:
    return Entry(graphc, ("arrays", "axis", "out", "dtype", "casting"),
                 (("arrays", REQUIRED), ("axis", 0)), {"out": None, "casting": "same_kind"},
                 casts=True)


def _like(graphc: str) -> Entry:
    return Entry(graphc, ("a", "dtype", "order", "subok", "shape", "device"),
                 (("a", REQUIRED), ("dtype", None)),
                 {"order": "K", "subok": True, "shape": None, "device": None})


def _unary(graphc: str, name: str) -> Entry:
    return Entry(graphc, (name, "axis"), ((name, REQUIRED), ("axis", None)))


# NumPy function (qualified below numpy: "sum", "linalg.solve") -> how to call graphc.
FUNCTIONS: dict[str, Entry] = {
    "sum": _reduction("sum", dtype=True),
    "mean": _reduction("mean", dtype=True),
    "max": _reduction("max", dtype=False),
    "amax": _reduction("max", dtype=False),
    "min": _reduction("min", dtype=False),
    "amin": _reduction("min", dtype=False),
    "dot": Entry("dot", ("a", "b", "out"), (("a", REQUIRED), ("b", REQUIRED)), {"out": None}),
    "outer": Entry("outer", ("a", "b", "out"), (("a", REQUIRED), ("b", REQUIRED)), {"out": None}),
    "where": Entry("where", ("condition", "x", "y"),
                   (("condition", REQUIRED), ("x", REQUIRED), ("y", REQUIRED))),
    "concatenate": _join("concatenate"),
    "stack": _join("stack"),
    "transpose": Entry("transpose", ("a", "axes"), (("a", REQUIRED), ("axes", None))),
    "reshape": Entry("reshape", ("a", "shape", "order", "newshape", "copy"),
                     (("a", REQUIRED), ("shape", REQUIRED)), {"order": "C", "copy": None},
                     aliases={"newshape": "shape"}),
    "clip": Entry("clip", ("a", "a_min", "a_max", "out", "min", "max"),
                  (("a", REQUIRED), ("a_min", None), ("a_max", None)), {"out": None},
                  aliases={"min": "a_min", "max": "a_max"}),
    "expand_dims": Entry("expand_dims", ("a", "axis"), (("a", REQUIRED), ("axis", REQUIRED))),
    "squeeze": _unary("squeeze", "a"),
    "broadcast_to": Entry("broadcast_to", ("array", "shape", "subok"),
                          (("array", REQUIRED), ("shape", REQUIRED)), {"subok": False}),
    "zeros_like": _like("zeros_like"),
    "ones_like": _like("ones_like"),
    "astype": Entry("astype", ("x", "dtype", "copy", "device"),
                    (("x", REQUIRED), ("dtype", REQUIRED)), {"device": None},
                    aliases={"copy": "_ignored"}),
    # graphc's second-version functions, used when present (same signatures as NumPy)
    **{name: Entry(name, passthrough=True) for name in (
        "var", "std", "cumsum", "prod", "round", "roll", "pad", "argmax", "argmin", "sort",
        "diag", "diagonal", "trace", "tril", "triu", "einsum", "take", "take_along_axis",
        "arange")},  # np.arange(n, like=tensor)
    # numpy.linalg -> gc.linalg (builders registered under their plain names)
    **{f"linalg.{name}": Entry(f"linalg.{name}", passthrough=True) for name in (
        "solve", "inv", "det", "slogdet", "cholesky", "eigh", "norm")},
}

# NumPy functions that only read a tensor's static facts: no node is built.
FACTS: dict[str, Callable[[Node], Any]] = {"shape": lambda x: x.shape, "ndim": lambda x: x.ndim}


# ------------------------------------------------------------------ handlers

class Handlers:
    """What ir.Node's `__array_ufunc__` / `__array_function__` call."""

    def ufunc(self, ufunc: Any, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        name = ufunc.__name__
        label = f"np.{name}" if method == "__call__" else f"np.{name}.{method}"
        builder = ir.FUNCTIONS.get(UFUNCS.get(name) or SCIPY_UFUNCS.get(name, ""))
        if method != "__call__" or builder is None:
            raise _unsupported(label, {"reduce": "reduce with gc.sum, gc.max or gc.min",
                                       "at": "tensors are immutable: gc.add_at(x, indices, values) "
                                             "returns x with the values added"}.get(method, ""))
        kwargs = dict(kwargs)
        dtype = kwargs.pop("dtype", None)
        for key, value in kwargs.items():
            if key not in UFUNC_DEFAULTS:
                raise ArgumentError(f"{label}() got an unexpected keyword argument {key!r} "
                                    f"(at {user_origin()})")
            _check_default(label, key, value, UFUNC_DEFAULTS[key])
        arguments = [_cast(a, dtype) for a in inputs] if dtype is not None else list(inputs)
        return builder(*arguments)

    def function(self, func: Any, types: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if not all(issubclass(t, (Node, np.ndarray)) for t in types):
            return NotImplemented  # another library's array type: let it (or NumPy) decide
        name = qualified_name(func)
        label = f"np.{name}"
        if name in FACTS and len(args) == 1 and not kwargs and isinstance(args[0], Node):
            return FACTS[name](args[0])
        entry = FUNCTIONS.get(name)
        builder = ir.FUNCTIONS.get(_builder_name(entry.graphc)) if entry is not None else None
        if entry is None or builder is None:
            raise _unsupported(label)
        if entry.passthrough:
            for key in ("out", "where"):
                if key in kwargs:
                    _check_default(label, key, kwargs[key], None if key == "out" else True)
            kwargs = {k: v for k, v in kwargs.items() if k not in ("out", "where")}
            return builder(*args, **kwargs)
        return builder(*_arguments(entry, label, args, kwargs))


def _arguments(entry: Entry, label: str, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    """NumPy's call bound to NumPy's parameters, checked, as the builder's positional arguments."""
    if len(args) > len(entry.params):
        raise ArgumentError(f"{label}() takes at most {len(entry.params)} arguments "
                            f"({', '.join(entry.params)}), got {len(args)} (at {user_origin()})")
    bound = dict(zip(entry.params, args))
    for key, value in kwargs.items():
        if key not in entry.params or key in bound:
            problem = "got multiple values for" if key in bound else "got an unexpected keyword"
            raise ArgumentError(f"{label}() {problem} argument {key!r} (at {user_origin()})")
        bound[key] = value
    for alias, target in entry.aliases.items():
        if alias in bound:
            value = bound.pop(alias)
            if target in bound:
                raise ArgumentError(f"{label}() got both {alias!r} and {target!r} "
                                    f"(at {user_origin()})")
            bound[target] = value
    bound.pop("_ignored", None)
    for key, default in entry.fixed.items():
        if key in bound:
            _check_default(label, key, bound[key], default)
    dtype = bound.pop("dtype", None) if entry.casts else None
    values = []
    for key, default in entry.passed:
        if key not in bound and default is REQUIRED:
            raise ArgumentError(f"{label}() missing required argument {key!r} (at {user_origin()})")
        values.append(bound.get(key, default))
    if dtype is not None:
        values[0] = _cast(values[0], dtype)
    return values


def _check_default(label: str, key: str, value: Any, default: Any) -> None:
    """Refuse a keyword graphc cannot honour unless it has NumPy's default value."""
    if value is default or (value is None and default is None):
        return
    if key == "out" and isinstance(value, tuple) and all(v is None for v in value):
        return
    if isinstance(value, (bool, str)) and isinstance(default, (bool, str)) and value == default:
        return
    why = {"out": "graphc tensors are immutable: use the tensor the call returns",
           "where": "compute everywhere and choose with gc.where",
           "initial": "combine the initial value with the result yourself"}.get(
               key, "graphc supports only NumPy's default here")
    raise ArgumentError(f"{label}(..., {key}=...) is not supported on graphc tensors: {why} "
                        f"(at {user_origin()})")


def _cast(value: Any, dtype: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_cast(v, dtype) for v in value]
    return astype(as_tensor(value), dtype)


def _unsupported(label: str, hint: str = "") -> ArgumentError:
    advice = f"; {hint}" if hint else ""
    return ArgumentError(
        f"{label} has no graphc equivalent, so it cannot take a symbolic tensor{advice} "
        f"(docs/api.md, 'NumPy functions on tensors', lists those that do) (at {user_origin()})")


def qualified_name(func: Any) -> str:
    """`sum` for np.sum, `linalg.solve` for np.linalg.solve (private modules dropped)."""
    module = getattr(func, "__module__", None) or "numpy"
    parts = [p for p in module.split(".")[1:] if not p.startswith("_")]
    return ".".join(parts + [func.__name__])


def _builder_name(graphc: str) -> str:
    """The ir.FUNCTIONS key of a graphc name: `solve` for `linalg.solve`."""
    return graphc.rsplit(".", 1)[-1]


def supported_names() -> dict[str, str]:
    """NumPy name -> graphc name for every NumPy function that builds a graph today."""
    names = {f"{numpy}": graphc for numpy, graphc in UFUNCS.items() if graphc in ir.FUNCTIONS}
    names.update({numpy: entry.graphc for numpy, entry in FUNCTIONS.items()
                  if _builder_name(entry.graphc) in ir.FUNCTIONS})
    return dict(sorted(names.items()))


def markdown_table() -> str:
    """The table docs/api.md shows (a test keeps the page equal to it)."""
    rows = ["| NumPy | graphc |", "|---|---|"]
    for numpy, graphc in supported_names().items():
        rows.append(f"| `np.{numpy}` | `gc.{graphc}` |")
    return "\n".join(rows)


ir._numpy_dispatch[0] = Handlers()

__all__ = ["FUNCTIONS", "UFUNCS", "Entry", "Handlers", "markdown_table", "qualified_name",
           "supported_names"]
