"""Random numbers in the graph: keys, split, uniform, normal, bernoulli (`gc.random`).

Owns the declarations of the three random ops (`random_split`,
`random_uniform`, `random_normal`) and the public builders `gc.random.key`,
`split`, `uniform`, `normal`, `bernoulli`. A key is an int64 tensor holding
the two 32-bit words of a threefry-2x32 key (JAX's `PRNGKey(seed)` layout, so
`key(seed)` is the seed itself); a draw is a pure function of the key, so the
same key gives the same numbers on both backends and in every call, and
different keys (from `split`) give independent streams. The bits come from
graphc/threefry.py, which the NumPy `impl` here and the numba backend's
helpers (graphc/backend/library_random.py) share.

The ops take a key tensor of any shape K and return K + shape: one draw per
key, which is how `gc.vmap` over keys batches them (`keeps_axis`). The public
builders take one key (rank 0). No gradient flows into a key (it is an
integer); `minval`/`maxval` of `uniform` and any `mu + sigma * normal(...)`
built on a draw differentiate as ordinary graph code (reparameterisation).
Imports: ir, threefry and layer L0 (layer L2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes, threefry
from ..errors import DTypeError, GraphcError, ShapeError, api_boundary, user_origin
from ..ir import Node, Op, Sample, apply, register
from ..lowering import Kernel
from . import batching
from .base import as_tensor, check_static_int
from .other import astype


def _keys_flat(keys: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)


def _split_impl(keys: np.ndarray, n: int) -> np.ndarray:
    keys = np.asarray(keys)
    return threefry.words(_keys_flat(keys), n).view(np.int64).reshape(keys.shape + (n,))


def _draw_impl(transform: Callable[[Any, bool], Any]) -> Callable[..., np.ndarray]:
    def impl(keys: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        keys = np.asarray(keys)
        values = threefry.draw(_keys_flat(keys), math.prod(shape), transform, dtype == "float64")
        return np.asarray(values.astype(dtype).reshape(keys.shape + tuple(shape)))
    return impl


def _count_text(node: Node) -> str:
    """Draws per key: the product of the output sizes after the key's axes."""
    sizes = [f"{{out_shape[{axis}]}}" for axis in range(node.inputs[0].ndim, node.ndim)]
    return "(" + " * ".join(sizes) + ")" if sizes else "1"


def _loop_kernel(node: Node, value: str, dtype: str) -> str:
    """Generated code: one loop over keys and counters, `value` of each word (`{word}`).

    The helpers are graphc/threefry.py's elementwise functions, called on
    scalars here and on arrays by the NumPy impl: the same code, the same bits.
    """
    if node.ndim == 0:
        return "{out} = " + value.format(word="threefry_word(np.uint64({0}), np.uint64(0))")
    count = _count_text(node)
    if node.inputs[0].ndim == 0:
        word = "threefry_word(np.uint64({0}), np.uint64({out}_i))"
        lines = [f"{{out}} = empty(({count},), {dtype})",
                 f"for {{out}}_i in range({count}):",
                 "    {out}[{out}_i] = " + value.format(word=word)]
    else:
        word = "threefry_word(np.uint64({out}_keys[{out}_k]), np.uint64({out}_i))"
        lines = ["{out}_keys = contiguous({0}).reshape(-1)",
                 f"{{out}} = empty(({{out}}_keys.shape[0] * {count},), {dtype})",
                 "for {out}_k in range({out}_keys.shape[0]):",
                 f"    for {{out}}_i in range({count}):",
                 f"        {{out}}[{{out}}_k * {count} + {{out}}_i] = " + value.format(word=word)]
    return "\n".join(lines + ["{out} = {out}.reshape({out_shape})"])


def _split_kernel(node: Node) -> str:
    return _loop_kernel(node, "np.int64({word})", "np.int64")


def _draw_kernel(transform: str) -> Callable[[Node], str]:
    def kernel(node: Node) -> str:
        if node.dtype == np.dtype("float64"):
            return _loop_kernel(node, f"{transform}({{word}}, True)", "np.float64")
        return _loop_kernel(node, f"np.float32({transform}({{word}}, False))", "np.float32")
    return kernel


def _no_gradient(g: Node, out: Node, keys: Node, **attrs: Any) -> tuple[None]:
    return (None,)  # a key is an integer: nothing to differentiate


def _draw_op(name: str, transform: Callable[[Any, bool], Any], helper: str) -> Op:
    return register(Op(
        name, label=name, arity=1, finite="always",
        shape=lambda inputs, shape, dtype: inputs[0].shape + tuple(shape),
        dtype=lambda inputs, shape, dtype: np.dtype(dtype),
        impl=_draw_impl(transform), vjp=_no_gradient, batch=batching.keeps_axis(name),
        lowering=Kernel(_draw_kernel(helper)),
        samples=(Sample(((),), {"shape": (2, 3), "dtype": "float64"}, dtypes=("int64",)),
                 Sample(((),), {"shape": (5,), "dtype": "float32"}, dtypes=("int64",)),
                 Sample(((2,),), {"shape": (3,), "dtype": "float64"}, dtypes=("int64",))),
    ))


RANDOM_SPLIT = register(Op(
    "random_split", label="random_split", arity=1,
    shape=lambda inputs, n: inputs[0].shape + (n,), dtype=lambda inputs, n: np.dtype("int64"),
    impl=_split_impl, vjp=_no_gradient, batch=batching.keeps_axis("random_split"),
    lowering=Kernel(_split_kernel),
    samples=(Sample(((),), {"n": 3}, dtypes=("int64",)), Sample(((2,),), {"n": 2}, dtypes=("int64",))),
))
RANDOM_UNIFORM = _draw_op("random_uniform", threefry.uniform_from_word, "uniform_from_word")
RANDOM_NORMAL = _draw_op("random_normal", threefry.normal_from_word, "normal_from_word")


# ------------------------------------------------------------------ builders

def _check_key(key: Any, what: str) -> Node:
    """One key: a rank-0 integer tensor (cast to int64), or a clear error naming the call."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return as_tensor(np.int64(key))
    if not isinstance(key, Node):
        raise GraphcError(f"gc.random.{what}: the key must be an int64 tensor (an input, "
                          f"gc.random.key(seed) or a row of gc.random.split), got "
                          f"{type(key).__name__} (at {user_origin()})")
    if key.dtype.kind not in "iu":
        raise DTypeError(f"gc.random.{what}: the key must be an int64 tensor, got "
                         f"{dtypes.short_name(key.dtype)}{shapes.format_shape(key.shape)}; make "
                         f"one with gc.input(name, dtype='int64') or gc.random.key(seed) "
                         f"(at {user_origin()})")
    if key.ndim != 0:
        raise ShapeError(f"gc.random.{what}: the key must be one key (rank 0), got shape "
                         f"{shapes.format_shape(key.shape)}; index one row of a split "
                         f"(keys[0]) or map over many keys with gc.vmap (at {user_origin()})")
    return key if key.dtype == np.dtype("int64") else astype(key, "int64")


def _shape(shape: Any, what: str) -> tuple[Any, ...]:
    """A draw's shape: ints and names (or sizes taken from tensors, x.shape)."""
    if isinstance(shape, (int, np.integer, str, shapes.Dim)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise ShapeError(f"gc.random.{what}: shape must be a tuple of sizes, got {shape!r} "
                         f"(at {user_origin()})")
    result: list[Any] = []
    for size in shape:
        if isinstance(size, shapes.Dim):
            result.append(size)
        elif isinstance(size, str):
            result.append(shapes.input_shape((size,))[0])
        else:
            value = check_static_int(size, f"gc.random.{what}'s shape")
            if value < 0:
                raise ShapeError(f"gc.random.{what}: negative size {value} in shape {tuple(shape)!r} "
                                 f"(at {user_origin()})")
            result.append(value)
    return tuple(result)


def _float_dtype(dtype: Any, what: str) -> str:
    resolved = dtypes.as_dtype(dtype)
    if resolved.kind != "f":
        raise DTypeError(f"gc.random.{what} draws floats: dtype must be float32 or float64, "
                         f"got {resolved} (at {user_origin()})")
    return resolved.name


@api_boundary
def key(seed: int) -> Node:
    """A key made from an integer seed, as a constant (jax.random.PRNGKey(seed)'s words)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise GraphcError(f"gc.random.key needs an integer seed, got {seed!r}; a seed known only "
                          f"at run time is an int64 input used as the key (at {user_origin()})")
    if not -2**63 <= int(seed) < 2**64:
        raise GraphcError(f"gc.random.key: seed {seed} does not fit in 64 bits (at {user_origin()})")
    return as_tensor(np.array(int(seed) % 2**64, dtype=np.uint64).view(np.int64)[()])


@api_boundary
def split(key: Any, n: int = 2) -> Node:
    """n new keys, shape (n,), independent of each other and of `key` (jax.random.split)."""
    key = _check_key(key, "split")
    count = check_static_int(n, "gc.random.split's n")
    if count < 1:
        raise ShapeError(f"gc.random.split: n must be at least 1, got {count} (at {user_origin()})")
    return apply(RANDOM_SPLIT, key, n=count)


@api_boundary
def uniform(key: Any, shape: Any = (), dtype: Any = "float64", minval: Any = 0.0,
            maxval: Any = 1.0) -> Node:
    """Uniform floats in [minval, maxval) (jax.random.uniform); differentiable in minval, maxval."""
    key = _check_key(key, "uniform")
    dtype = _float_dtype(dtype, "uniform")
    unit = apply(RANDOM_UNIFORM, key, shape=_shape(shape, "uniform"), dtype=dtype)
    if _is_number(minval, 0.0) and _is_number(maxval, 1.0):
        return unit
    low, high = astype(as_tensor(minval), dtype), astype(as_tensor(maxval), dtype)
    return unit * (high - low) + low  # in the draw's dtype, as jax.random.uniform


@api_boundary
def normal(key: Any, shape: Any = (), dtype: Any = "float64") -> Node:
    """Standard normal floats (jax.random.normal): mu + sigma * normal(...) differentiates."""
    key = _check_key(key, "normal")
    return apply(RANDOM_NORMAL, key, shape=_shape(shape, "normal"), dtype=_float_dtype(dtype, "normal"))


@api_boundary
def bernoulli(key: Any, p: Any = 0.5, shape: Any = None) -> Node:
    """Booleans, True with probability p (broadcast to `shape`, default p's shape); no gradient."""
    key = _check_key(key, "bernoulli")
    p = as_tensor(p)
    if p.dtype.kind != "f":
        p = astype(p, "float64")
    draw_shape = p.shape if shape is None else _shape(shape, "bernoulli")
    try:
        shapes.broadcast(p.shape, draw_shape)
    except ShapeError:
        raise ShapeError(f"gc.random.bernoulli: p of shape {shapes.format_shape(p.shape)} does not "
                         f"broadcast to shape {shapes.format_shape(draw_shape)} "
                         f"(at {user_origin()})") from None
    unit = apply(RANDOM_UNIFORM, key, shape=draw_shape, dtype=p.dtype.name)
    return unit < p


def _is_number(value: Any, wanted: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == wanted


PUBLIC: Sequence[str] = ("key", "split", "uniform", "normal", "bernoulli")
