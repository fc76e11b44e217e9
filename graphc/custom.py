"""`gc.custom_vjp` and `gc.custom_jvp`: functions of graphc ops with a derivative the user writes.

Owns the two decorators (JAX's semantics and names: `f.defvjp(fwd, bwd)`,
`f.defjvp(jvp)`, `nondiff_argnums`) and the rules they attach to their
outputs. Calling a decorated function builds its body as ordinary graph
code, then puts a `custom_call` node (graphc/ops/custom_ops.py) on each
output; autodiff reaches that node and asks its rule for the arguments'
cotangents instead of differentiating the body:

- custom_vjp: `fwd(*args) -> (out, residuals)` is built on the call's own
  arguments (so the residuals are forward values, shared with the body by
  CSE), then `bwd(residuals, cotangent)` on placeholders standing for the
  residuals (so, as in JAX, a residual is an independent value inside bwd:
  `gc.vjp` there differentiates only what bwd asks for), and the placeholders
  are replaced by the residuals. The result is graph code in the arguments:
  grad of grad differentiates it (through bwd and the residuals).
- custom_jvp: the VJP is the transpose of the user's JVP, which is linear in
  the tangents: the gradient of <jvp(primals, t), cotangent> with respect to
  placeholder tangents t.

Under `gc.vmap` the node's batching rule moves batch axes to the front and
the rule becomes the vmap of the same rule, so the body and the rules are
both batched. Rules are traced once when the function is called, on
placeholders, so a bwd that returns the wrong number, shapes or dtypes of
cotangents is an error at that line, not at `gc.grad`. Imports: ir, ops,
autodiff, vmap and layer L0 (layer L3).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dtypes, shapes
from .autodiff import backward
from .errors import DTypeError, GraphcError, ShapeError, api_boundary, user_origin
from .ir import OPS, Node, Op, register, substitute, toposort
from .ops import as_tensor, astype, broadcast_to, constant, sum
from .ops.base import INPUT
from .ops.custom_ops import custom_call
from .vmap import vmap

_placeholder_ids = itertools.count(1)
_checking = threading.local()  # depth of rule checks under way (a fwd may call its own function)


def _placeholder(like: Node, what: str) -> Node:
    """An input node with `like`'s (possibly symbolic) shape and dtype, standing for it in a rule."""
    return Node(INPUT, (), (), like.shape, like.dtype, name=f"custom_{what}_{next(_placeholder_ids)}",
                origin=user_origin())


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def _rebuild(tree: Any, leaves: Any) -> Any:
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(item, leaves) for item in tree)
    return next(leaves)


def _zeros(like: Node) -> Node:
    """Zeros of like's shape and dtype that do not depend on `like` (a placeholder may stand there)."""
    return broadcast_to(constant(0, dtype=like.dtype), like.shape)


@dataclass(frozen=True, eq=False)
class Call:
    """One call of a decorated function: what its rule needs besides the node's inputs."""

    function: CustomFunction
    statics: tuple[tuple[int, Any], ...]  # (position, value) of the nondiff arguments
    count: int  # positional arguments in all
    outputs: tuple[Node, ...]  # the outputs (per example), for shapes and zeros
    tree: Any  # what the function returned: a tensor, or tuples/lists of them
    where: str  # the user's line

    def arguments(self, tensors: Sequence[Node]) -> list[Any]:
        """All positional arguments: the static ones back in their places."""
        given = iter(tensors)
        static = dict(self.statics)
        return [static[i] if i in static else next(given) for i in range(self.count)]

    def describe(self) -> str:
        return f"{self.function.kind} function {self.function.__name__!r} (called at {self.where})"


@dataclass(frozen=True, eq=False)
class Rule:
    """The derivative of output `index` of one call; `batched` set when vmap mapped the call."""

    call: Call
    index: int
    batched_arguments: tuple[bool, ...] | None = None
    parent: Rule | None = None

    def __repr__(self) -> str:
        return f"{self.call.function.kind}:{self.call.function.__name__}"

    def __reduce__(self) -> Any:  # a cache key cannot hold a Python function: no cached graph
        raise TypeError("a custom_vjp/custom_jvp rule cannot be pickled")

    def batched(self, flags: tuple[bool, ...]) -> Rule:
        return Rule(self.call, self.index, flags, parent=self)

    def cotangents(self, cotangent: Node, arguments: Sequence[Node]) -> list[Node | None]:
        if self.parent is None:
            return self.call.function.pullback(self.call, self.index, cotangent, arguments)
        assert self.batched_arguments is not None
        parent = self.parent

        def per_example(g: Node, *values: Node) -> tuple[Node, ...]:
            results = parent.cotangents(g, values)
            return tuple(_zeros(v) if c is None else c for c, v in zip(results, values))

        axes = (0, *(0 if flag else None for flag in self.batched_arguments))
        mapped = vmap(per_example, in_axes=axes)(cotangent, *arguments)
        return [c if flag else sum(c, axis=0)
                for c, flag in zip(_leaves(mapped), self.batched_arguments)]


class CustomFunction:
    """What custom_vjp and custom_jvp share: the call (body + custom_call nodes)."""

    kind = "custom"
    __name__: str

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()) -> None:
        if not callable(fun):
            raise GraphcError(f"{self.kind} decorates a function, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.__name__ = getattr(fun, "__name__", "function")
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(int(i) for i in nondiff_argnums))
        self._boundary = api_boundary(self._call)  # graphc errors leave with the user's frames

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._boundary(*args, **kwargs)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        self._require_rule()
        where = user_origin()
        if kwargs:  # keyword arguments by the function's signature, as JAX resolves them
            try:
                args = inspect.signature(self.fun).bind(*args, **kwargs).args
            except TypeError as exc:
                raise GraphcError(f"{self.kind} function {self.__name__!r}: {exc} (at {where})") from None
        statics = tuple((i, args[i]) for i in self.nondiff_argnums if i < len(args))
        tensors = []
        for position, value in enumerate(args):
            if position in self.nondiff_argnums:
                continue
            if not isinstance(value, (Node, int, float, np.ndarray, np.generic)) or isinstance(value, bool):
                raise GraphcError(
                    f"{self.kind} function {self.__name__!r}: argument {position} is a "
                    f"{type(value).__name__}; differentiable arguments are tensors or numbers, "
                    f"list others in nondiff_argnums (at {where})")
            tensors.append(as_tensor(value))
        given = iter(tensors)
        call_args = [value if i in self.nondiff_argnums else next(given)
                     for i, value in enumerate(args)]
        out = self.fun(*call_args)
        outputs = [as_tensor(leaf) for leaf in _leaves(out)]
        call = Call(self, statics, len(args), tuple(outputs), out, where)
        self._check(call, tensors)
        wrapped = [custom_call(o, tensors, Rule(call, i)) for i, o in enumerate(outputs)]
        return _rebuild(out, iter(wrapped))

    def _check(self, call: Call, tensors: Sequence[Node]) -> None:
        """Trace the rule once on placeholders: a wrong rule is an error at the call's line."""
        if getattr(_checking, "depth", 0):
            return  # a rule calling its own function: checked by the outer call
        _checking.depth = 1
        try:
            stand_ins = [_placeholder(t, "argument") for t in tensors]
            for index, output in enumerate(call.outputs):
                if dtypes.is_float(output.dtype):
                    self.pullback(call, index, _placeholder(output, "cotangent"), stand_ins)
        finally:
            _checking.depth = 0

    def _require_rule(self) -> None:
        raise NotImplementedError

    def pullback(self, call: Call, index: int, cotangent: Node,
                 arguments: Sequence[Node]) -> list[Node | None]:
        raise NotImplementedError

    def _checked(self, call: Call, results: Any, arguments: Sequence[Node],
                 what: str) -> list[Node | None]:
        """The rule's cotangents: one per differentiable argument, each of its shape."""
        if not isinstance(results, (tuple, list)):
            raise GraphcError(f"{call.describe()}: {what} must return a tuple of cotangents, one "
                              f"per differentiable argument, got {type(results).__name__}")
        if len(results) != len(arguments):
            raise GraphcError(f"{call.describe()}: {what} returned {len(results)} cotangent"
                              f"{'' if len(results) == 1 else 's'}, but the function has "
                              f"{len(arguments)} differentiable argument"
                              f"{'' if len(arguments) == 1 else 's'}")
        checked: list[Node | None] = []
        for position, (result, argument) in enumerate(zip(results, arguments)):
            if result is None or not dtypes.is_float(argument.dtype):
                checked.append(None)
                continue
            result = as_tensor(result)
            if result.shape != argument.shape:
                raise ShapeError(f"{call.describe()}: {what}'s cotangent {position} has shape "
                                 f"{shapes.format_shape(result.shape)}, but its argument has shape "
                                 f"{shapes.format_shape(argument.shape)}")
            if not dtypes.is_float(result.dtype):
                raise DTypeError(f"{call.describe()}: {what}'s cotangent {position} has dtype "
                                 f"{result.dtype}; a cotangent of a float argument is a float")
            checked.append(astype(result, argument.dtype))
        return checked


class custom_vjp(CustomFunction):  # noqa: N801 - JAX's name
    """A function of graphc ops whose VJP is `bwd` (JAX's custom_vjp; docs/custom_vjp.md)."""

    kind = "custom_vjp"

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        """fwd(*args) -> (out, residuals); bwd(*nondiff_args, residuals, cotangent) -> cotangents."""
        if not callable(fwd) or not callable(bwd):
            raise GraphcError(f"custom_vjp function {self.__name__!r}: defvjp needs two functions, "
                              f"fwd and bwd (at {user_origin()})")
        self.fwd, self.bwd = fwd, bwd

    def _require_rule(self) -> None:
        if self.fwd is None:
            raise GraphcError(f"custom_vjp function {self.__name__!r} has no rule yet: call "
                              f"{self.__name__}.defvjp(fwd, bwd) before calling it")

    def pullback(self, call: Call, index: int, cotangent: Node,
                 arguments: Sequence[Node]) -> list[Node | None]:
        assert self.fwd is not None and self.bwd is not None
        pair = self.fwd(*call.arguments(arguments))
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise GraphcError(f"{call.describe()}: fwd must return a pair (output, residuals), "
                              f"got {type(pair).__name__}")
        residuals = pair[1]
        real = [leaf for leaf in _leaves(residuals) if isinstance(leaf, Node)]
        stand_ins = {leaf: _placeholder(leaf, "residual") for leaf in real}
        independent = _rebuild(residuals, iter(stand_ins.get(leaf, leaf) if isinstance(leaf, Node)
                                               else leaf for leaf in _leaves(residuals)))
        out_cotangent = _rebuild(call.tree, iter(
            cotangent if i == index else _zeros(o) for i, o in enumerate(call.outputs)))
        statics = [value for _, value in call.statics]
        results = self.bwd(*statics, independent, out_cotangent)
        checked = self._checked(call, results, arguments, "bwd")
        present = [c for c in checked if c is not None]
        if not present or not stand_ins:
            return checked
        back = dict(zip(stand_ins.values(), stand_ins.keys()))
        replaced = iter(substitute(present, back))
        return [None if c is None else next(replaced) for c in checked]


class custom_jvp(CustomFunction):  # noqa: N801 - JAX's name
    """A function of graphc ops whose JVP is `jvp` (JAX's custom_jvp); reverse mode transposes it."""

    kind = "custom_jvp"

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable[..., Any] | None = None

    def defjvp(self, jvp: Callable[..., Any]) -> Callable[..., Any]:
        """jvp(*nondiff_args, primals, tangents) -> (primal_out, tangent_out); usable as a decorator."""
        if not callable(jvp):
            raise GraphcError(f"custom_jvp function {self.__name__!r}: defjvp needs a function "
                              f"(at {user_origin()})")
        self.jvp = jvp
        return jvp

    def _require_rule(self) -> None:
        if self.jvp is None:
            raise GraphcError(f"custom_jvp function {self.__name__!r} has no rule yet: call "
                              f"{self.__name__}.defjvp(jvp) before calling it")

    def pullback(self, call: Call, index: int, cotangent: Node,
                 arguments: Sequence[Node]) -> list[Node | None]:
        assert self.jvp is not None
        tangents = [_placeholder(a, "tangent") if dtypes.is_float(a.dtype) else _zeros(a)
                    for a in arguments]
        primals = call.arguments(arguments)
        tangent_args = call.arguments(tangents)
        diff = [i for i in range(call.count) if i not in dict(call.statics)]
        statics = [value for _, value in call.statics]
        pair = self.jvp(*statics, tuple(primals[i] for i in diff), tuple(tangent_args[i] for i in diff))
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise GraphcError(f"{call.describe()}: the jvp rule must return a pair "
                              f"(primal_out, tangent_out), got {type(pair).__name__}")
        tangent_outs = _leaves(pair[1])
        if len(tangent_outs) != len(call.outputs):
            raise GraphcError(f"{call.describe()}: the jvp rule returned {len(tangent_outs)} "
                              f"tangents for {len(call.outputs)} outputs")
        tangent_out = as_tensor(tangent_outs[index])
        output = call.outputs[index]
        if tangent_out.shape != output.shape:
            raise ShapeError(f"{call.describe()}: the jvp rule's tangent {index} has shape "
                             f"{shapes.format_shape(tangent_out.shape)}, but the output has shape "
                             f"{shapes.format_shape(output.shape)}")
        inner = sum(astype(tangent_out, cotangent.dtype) * cotangent)
        wanted = [t for t, a in zip(tangents, arguments) if dtypes.is_float(a.dtype)]
        pulled = iter(backward([inner], [constant(1.0, dtype=inner.dtype)], wanted))
        results = [next(pulled) if dtypes.is_float(a.dtype) else None for a in arguments]
        checked = self._checked(call, results, arguments, "jvp")
        return _without(checked, wanted)


def register_op(op: Op) -> Op:
    """Add a user's op record to graphc's registry, as graphc's own ops are (docs/custom_vjp.md).

    Not needed to build (`gc.apply(op, ...)`), differentiate, vmap or compile
    with the op: registering makes it visible to what reads the registry (a
    suite's registry-driven tests, the saved simplified graphs of a warm start).
    """
    if not isinstance(op, Op):
        raise GraphcError(f"register_op needs a gc.Op record, got {type(op).__name__} (at {user_origin()})")
    if op.name in OPS:
        raise GraphcError(f"an op named {op.name!r} is already registered; choose another name "
                          f"(at {user_origin()})")
    return register(op)


def _without(cotangents: list[Node | None], tangents: Sequence[Node]) -> list[Node | None]:
    """Cotangents of a linear rule do not depend on the tangents; zeros replace any trace left."""
    present = [c for c in cotangents if c is not None]
    reached = set(toposort(present))
    remaining = {t: _zeros(t) for t in tangents if t in reached}
    if not remaining:
        return cotangents
    replaced = iter(substitute(present, remaining))
    return [None if c is None else next(replaced) for c in cotangents]


__all__ = ["custom_jvp", "custom_vjp", "register_op"]
