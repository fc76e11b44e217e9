"""Pattern rules over the graph, and the bottom-up rebuild every rewrite pass uses (layer L3).

Owns the small pattern language the simplifier and the stabilizer write their
rules in, so a rule reads like the math it rewrites:

    x = Var("x")
    rule(log(exp(x)), x, "log_exp")      # log undoes exp

- `Var("x")` matches any node (the same name twice must be the same node);
  `Var("c", constant=True)` only a constant.
- A Python number matches any tensor whose elements all equal it: a constant,
  `ones_like`/`zeros_like`, or a broadcast/reshape of one.
- Pattern functions (`op("exp")`) and operators (`+ - * / ** @`, unary `-`)
  build the same op names as tensors; keyword arguments match attributes,
  a `Var` as an attribute binds its value.
- Commutative ops (`Op.commutative`) match in both operand orders.
- A replacement is a pattern, a number, or a function of the `Match`; it is
  kept only if it has the matched node's dtype and shape (a smaller shape that
  broadcasts is wrapped in `broadcast_to`), else the rule does not fire.

`rebuild(outputs, visit)` (rebuilding.py, re-exported here) walks the graph
once, inputs first, rebuilding each node on its (possibly replaced) inputs
and handing it to `visit`. Imports: ir, ops, errors, shapes, rebuilding
(layers L0-L3).
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import shapes
from .errors import DTypeError, ShapeError, origin
from .ir import OPS, Node, apply
from .ops import constant
from .rebuilding import rebuild as rebuild
from .rebuilding import rebuild_node as rebuild_node
from .rebuilding import toposort_until as toposort_until
from .scope import restored as restored_scope

# ------------------------------------------------------------------ patterns


class Pattern:
    """A tensor-shaped template; operators build the same ops as on tensors."""

    def __add__(self, other: Any) -> Call: return Call("add", (self, lift(other)))
    def __radd__(self, other: Any) -> Call: return Call("add", (lift(other), self))
    def __sub__(self, other: Any) -> Call: return Call("subtract", (self, lift(other)))
    def __rsub__(self, other: Any) -> Call: return Call("subtract", (lift(other), self))
    def __mul__(self, other: Any) -> Call: return Call("multiply", (self, lift(other)))
    def __rmul__(self, other: Any) -> Call: return Call("multiply", (lift(other), self))
    def __truediv__(self, other: Any) -> Call: return Call("divide", (self, lift(other)))
    def __rtruediv__(self, other: Any) -> Call: return Call("divide", (lift(other), self))
    def __pow__(self, other: Any) -> Call: return Call("power", (self, lift(other)))
    def __matmul__(self, other: Any) -> Call: return Call("matmul", (self, lift(other)))
    def __neg__(self) -> Call: return Call("negative", (self,))


@dataclass(frozen=True, eq=False)
class Var(Pattern):
    """Matches any node (or, with constant=True, a constant node) and binds it by name."""

    name: str
    constant: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class Const(Pattern):
    """Matches a tensor whose elements all equal `value` (see `uniform_value`)."""

    value: float

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, eq=False)
class Call(Pattern):
    """Matches a node of op `op` whose inputs match `args` and attributes match `attrs`."""

    op: str
    args: tuple[Pattern, ...]
    attrs: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        declared = OPS.get(self.op)
        if declared is not None and declared.infix and len(self.args) == 2:
            return f"({self.args[0]} {declared.infix} {self.args[1]})"
        if self.op == "negative":
            return f"-{self.args[0]}"
        parts = [str(a) for a in self.args] + [f"{k}={v}" for k, v in self.attrs]
        return f"{self.op}({', '.join(parts)})"


def lift(value: Any) -> Pattern:
    """Patterns pass through; Python numbers become `Const`."""
    if isinstance(value, Pattern):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Const(value)
    raise TypeError(f"cannot use {value!r} in a pattern (expected a pattern or a number)")


def op(name: str) -> Callable[..., Call]:
    """The pattern function for op `name`: `exp = op("exp"); exp(x)` matches exp nodes."""
    def build(*args: Any, **attrs: Any) -> Call:
        return Call(name, tuple(lift(a) for a in args), tuple(sorted(attrs.items())))
    build.__name__ = name
    return build


# --------------------------------------------------------------- uniform values

_uniform_cache: weakref.WeakKeyDictionary[Node, float | None] = weakref.WeakKeyDictionary()


def uniform_value(node: Node) -> float | None:
    """The value every element of `node` has, when that is known without running it.

    Constants whose elements are all equal, `ones_like`/`zeros_like`, and shape
    ops (broadcast, reshape, ...) of those. NaN never counts as uniform.
    """
    while node.op.rearranges:
        node = node.inputs[0]
    if node.op.name == "ones_like":
        return 1.0
    if node.op.name == "zeros_like":
        return 0.0
    if node.value is None or node.value.size == 0:
        return None
    if node.value.size == 1:
        return _as_number(node.value.reshape(-1)[0])
    if node in _uniform_cache:
        return _uniform_cache[node]
    first = node.value.reshape(-1)[0]
    result = _as_number(first) if bool(np.all(node.value == first)) else None
    _uniform_cache[node] = result
    return result


def _as_number(item: Any) -> float | None:
    value = item.item()
    if isinstance(value, float) and value != value:
        return None
    return float(value)


# -------------------------------------------------------------------- matching


class Match:
    """A successful match: the matched node (`.node`) and the bound names (`.x`, `m["x"]`)."""

    def __init__(self, node: Node, bindings: dict[str, Any]) -> None:
        self.node = node
        self.bindings = bindings

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["bindings"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self.bindings[name]


def match(pattern: Pattern, node: Node, bindings: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Bindings under which `pattern` matches `node`, or None. Recursion is over the pattern only."""
    bindings = {} if bindings is None else bindings
    if isinstance(pattern, Var):
        if pattern.constant and node.value is None:
            return None
        return _bind(bindings, pattern.name, node)
    if isinstance(pattern, Const):
        return bindings if uniform_value(node) == pattern.value else None
    if not isinstance(pattern, Call):
        raise TypeError(f"not a pattern: {pattern!r}")
    if node.op.name != pattern.op or len(node.inputs) != len(pattern.args):
        return None
    attrs = node.attr
    for key, expected in pattern.attrs:
        if key not in attrs:
            return None
        if isinstance(expected, Var):
            found = _bind(bindings, expected.name, attrs[key])
            if found is None:
                return None
            bindings = found
        elif attrs[key] != expected:
            return None
    result = _match_all(pattern.args, node.inputs, bindings)
    if result is None and node.op.commutative and len(node.inputs) == 2:
        result = _match_all(pattern.args, node.inputs[::-1], bindings)
    return result


def _match_all(patterns: Sequence[Pattern], nodes: Sequence[Node],
               bindings: dict[str, Any]) -> dict[str, Any] | None:
    current: dict[str, Any] | None = bindings
    for sub, node in zip(patterns, nodes):
        current = match(sub, node, dict(current)) if current is not None else None
    return current


def _bind(bindings: dict[str, Any], name: str, value: Any) -> dict[str, Any] | None:
    if name in bindings:
        bound = bindings[name]
        same = bound is value if isinstance(value, Node) else bound == value
        return bindings if same else None
    result = dict(bindings)
    result[name] = value
    return result


# ----------------------------------------------------------------------- rules

Replacement = Pattern | float | Callable[[Match], Node | None]


@dataclass(frozen=True, eq=False)
class Rule:
    """One rewrite: where `pattern` matches (and `when` holds), use `replacement`."""

    pattern: Call
    replacement: Replacement
    name: str
    when: Callable[[Match], bool] | None = None
    fast_math: bool = False  # changes IEEE results (inf/NaN): only with fast_math=True

    def __str__(self) -> str:
        target = self.replacement
        shown = target.__name__ if callable(target) and not isinstance(target, Pattern) else target
        return f"{self.pattern} -> {shown}"


def rule(pattern: Pattern, replacement: Replacement, name: str, *,
         when: Callable[[Match], bool] | None = None, fast_math: bool = False) -> Rule:
    """Declare a rule; the pattern's root must be an op (rules are indexed by it)."""
    if not isinstance(pattern, Call):
        raise TypeError(f"rule {name!r}: the pattern's root must be an op, got {pattern}")
    return Rule(pattern, replacement, name, when, fast_math)


def instantiate(replacement: Replacement, found: Match) -> Node | None:
    """Build the replacement's nodes; None when its ops reject the shapes or dtypes."""
    root = found.node
    if isinstance(replacement, (int, float)) and not isinstance(replacement, bool):
        return _constant_like(replacement, root)
    if isinstance(replacement, Const):
        return _constant_like(replacement.value, root)
    try:
        with origin(root.origin):
            if isinstance(replacement, Pattern):
                return _build(replacement, found)
            return replacement(found) if callable(replacement) else None
    except (ShapeError, DTypeError, TypeError, ArithmeticError):
        return None  # the rule does not apply to these operands (e.g. -True): keep the node


def _build(pattern: Pattern, found: Match) -> Node:
    if isinstance(pattern, Var):
        return found.bindings[pattern.name]  # type: ignore[no-any-return]
    if isinstance(pattern, Const):
        return constant(pattern.value)
    assert isinstance(pattern, Call)
    attrs = {k: found.bindings[v.name] if isinstance(v, Var) else v for k, v in pattern.attrs}
    inputs = [_build(a, found) for a in pattern.args]
    return apply(OPS[pattern.op], *inputs, origin=found.node.origin, **attrs)


def _constant_like(value: float, like: Node) -> Node:
    """A rank-0 constant of `like`'s dtype; `fit` broadcasts it to `like`'s shape."""
    with origin(like.origin):
        return constant(np.array(value, dtype=like.dtype))


def fit(new: Node, old: Node) -> Node | None:
    """`new` made to stand for `old` (same dtype, weak-ness and shape), or None if it cannot."""
    if new.dtype != old.dtype:
        return None
    if new.weak != old.weak:
        if new.value is None or old.weak:
            return None  # a weak Python scalar would change its consumers' dtypes
        with origin(old.origin):
            new = constant(new.value, dtype=old.dtype)
    if new.shape == old.shape:
        return new
    if not broadcasts_to(new.shape, old.shape):
        return None
    return apply(OPS["broadcast_to"], new, shape=old.shape, origin=old.origin)


def broadcasts_to(small: shapes.Shape, large: shapes.Shape) -> bool:
    """Whether `small` stretches to `large` by NumPy rules, sure without a run-time check."""
    if len(small) > len(large):
        return False
    tail = large[len(large) - len(small):]
    return all(s == t or (isinstance(s, int) and s == 1) for s, t in zip(small, tail))


@dataclass
class Rewriter:
    """Applies rules to one node at a time (a `rebuild` visitor), counting what fired."""

    rules: Sequence[Rule]
    fast_math: bool = False
    max_steps: int = 16  # rewrites of one node in a row (a rule's result may match again)
    fired: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._by_op: dict[str, list[Rule]] = {}
        for item in self.rules:
            if item.fast_math and not self.fast_math:
                continue
            self._by_op.setdefault(item.pattern.op, []).append(item)

    def __call__(self, node: Node) -> Node:
        for _ in range(self.max_steps):
            rewritten = self.rewrite_once(node)
            if rewritten is None:
                return node
            node = rewritten
        return node

    def rewrite_once(self, node: Node) -> Node | None:
        """The first rule's fitted replacement for `node`, or None if no rule fires."""
        for item in self._by_op.get(node.op.name, ()):
            bindings = match(item.pattern, node)
            if bindings is None:
                continue
            found = Match(node, bindings)
            if item.when is not None and not item.when(found):
                continue
            with restored_scope(node.scope):  # the replacement stays in the node's scope
                built = instantiate(item.replacement, found)
            fitted = fit(built, node) if built is not None else None
            if fitted is None or fitted is node:
                continue
            self.fired[item.name] += 1
            return fitted
        return None
