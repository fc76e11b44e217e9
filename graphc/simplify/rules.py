"""The algebraic rules of the simplifier, one line and one comment each.

Owns `algebraic_rules()`: rules generated from op properties (`identity`,
`absorbing`, `involution` in each op's declaration) followed by the explicit
rules below, written in the pattern language of graphc.rewrite. Rules marked
`fast_math=True` change IEEE results (inf or NaN inputs give other answers)
and only run when asked. Every replacement is checked by the engine to keep
the node's shape and dtype. Imports: rewrite, ir, ops, shapes (layers L0-L3).
"""

from __future__ import annotations

import numpy as np

from .. import shapes
from ..errors import ShapeError
from ..ir import OPS, Node, apply
from ..ops import constant
from ..ops.reduce import count
from ..rewrite import Call, Const, Match, Rule, Var, op, rule, uniform_value
from .diagonal import DIAGONAL_RULES

x, y, c = Var("x"), Var("y"), Var("c", constant=True)
a, b, d = Var("a"), Var("b"), Var("d")
exp, log, square = op("exp"), op("log"), op("square")
transpose, reshape, squeeze, expand_dims = (op("transpose"), op("reshape"), op("squeeze"),
                                            op("expand_dims"))
broadcast_to, sum_to, sum_, astype = op("broadcast_to"), op("sum_to"), op("sum"), op("astype")
mean = op("mean")
where, ones_like, zeros_like = op("where"), op("ones_like"), op("zeros_like")
no_nan = op("multiply_no_nan")
scatter = op("scatter")



# ------------------------------------------------------------ facts and helpers

def same_shape(m: Match) -> bool:
    return bool(m.node.shape == m.x.shape)


def is_scalar_constant(node: Node) -> bool:
    return node.value is not None and node.value.ndim == 0


def known_nonnegative(node: Node, depth: int = 3) -> bool:
    """Whether every element of `node` is >= 0 (or NaN), from the ops' declared facts."""
    if node.value is not None:
        return bool(np.all(node.value >= 0))
    if node.op.nonnegative == "always":
        return True
    if depth == 0 or not (node.op.nonnegative == "if_inputs" or node.op.rearranges):
        return False
    return all(known_nonnegative(i, depth - 1) for i in node.inputs)


def _scalar_constant(value: np.ndarray, like: Node) -> Node:
    """A constant of `like`'s dtype and weak-ness holding `value`."""
    if like.weak:
        return constant(value.item())
    return constant(value, dtype=like.dtype)


def negated(m: Match) -> Node:
    """x * (-c): the negation moved onto the constant (exact)."""
    return apply(OPS["multiply"], m.x, _scalar_constant(np.negative(m.c.value), m.c))


def finite_nonzero(value: float | None) -> bool:
    return value is not None and value != 0 and np.isfinite(value)


def exact_reciprocal(m: Match) -> bool:
    """Whether 1/c is exact: every element of c is a power of two with a finite reciprocal."""
    value = m.c.value
    if value.dtype.kind != "f" and not m.c.weak:
        return False
    with np.errstate(all="ignore"):
        inverse = (1.0 / value.astype(np.float64)).astype(m.node.dtype)
    mantissa, _ = np.frexp(value)
    return bool(np.all(np.isfinite(inverse)) and np.all(np.abs(mantissa) == 0.5)
                and np.all(inverse * value == 1))


def times_reciprocal(m: Match) -> Node:
    with np.errstate(all="ignore"):
        inverse = np.asarray(1.0 / m.c.value.astype(np.float64))
    if m.c.weak:
        return apply(OPS["multiply"], m.x, constant(float(inverse)))
    return apply(OPS["multiply"], m.x, constant(inverse, dtype=m.c.dtype))


def composed_transpose(m: Match) -> Node:
    """transpose(transpose(x, a), b) is one transpose by a[b[i]], or x itself."""
    axes = tuple(m.a[i] for i in m.b)
    if axes == tuple(range(len(axes))):
        return m.x  # type: ignore[no-any-return]
    return apply(OPS["transpose"], m.x, axes=axes)


def stretched_axes(spread: Node) -> set[int]:
    """Axes of a broadcast_to node along which its input is repeated."""
    source = spread.inputs[0]
    lead = spread.ndim - source.ndim
    return {i for i, size in enumerate(spread.shape)
            if i < lead or (source.shape[i - lead] == 1 and not (isinstance(size, int) and size == 1))}


def sum_of_broadcast(m: Match) -> Node | None:
    """Summing n copies of x is x * n, when only repeated axes are summed."""
    total, spread = m.node, m.node.inputs[0]
    if total.op.name == "sum":
        axes = set(total.attr["axis"])
    else:  # sum_to sums the leading axes and those its target keeps at size 1
        lead = spread.ndim - total.ndim
        axes = set(range(lead)) | {lead + i for i, size in enumerate(total.shape)
                                   if size == 1 and spread.shape[lead + i] != 1}
    if not axes or not axes <= stretched_axes(spread):
        return None
    if not (m.x.ndim == 0 or m.x.shape == total.shape):
        return None
    repeats = count(spread, tuple(sorted(axes)), total.dtype)
    if repeats.value is None:
        return None  # a run-time size op would make the graph bigger, not smaller
    return apply(OPS["multiply"], m.x, repeats)


def merged_axes(m: Match) -> tuple[int, ...] | None:
    """Axes of x that reduce(reduce(x, a), b) reduces over, when both keep or both drop dims."""
    inner, outer = m.node.inputs[0], m.node
    if inner.attr["keepdims"] != outer.attr["keepdims"]:
        return None
    if inner.attr["keepdims"]:
        return tuple(sorted(set(m.a) | set(m.b)))
    remaining = [i for i in range(m.x.ndim) if i not in m.a]
    return tuple(sorted(set(m.a) | {remaining[j] for j in m.b}))


def sum_of_sum(m: Match) -> Node | None:
    """Two sums are one sum over both sets of axes."""
    axes = merged_axes(m)
    if axes is None:
        return None
    return apply(OPS["sum"], m.x, axis=axes, keepdims=m.node.attr["keepdims"])


def mean_of_sum(m: Match) -> Node | None:
    """The mean of sums is one sum divided by the number of sums averaged."""
    axes = merged_axes(m)
    repeats = count(m.node.inputs[0], tuple(m.b), m.node.dtype)
    if axes is None or repeats.value is None:
        return None
    total = apply(OPS["sum"], m.x, axis=axes, keepdims=m.node.attr["keepdims"])
    return apply(OPS["divide"], total, repeats)


def negated_divisor(m: Match) -> Node:
    """-(x / c) = x / (-c) (exact)."""
    return apply(OPS["divide"], m.x, _scalar_constant(np.negative(m.c.value), m.c))


def uniform_fill(m: Match) -> Node | None:
    """A shape op of a tensor whose elements are all v: v, broadcast to the shape."""
    value = uniform_value(m.x)
    if value is None or is_scalar_constant(m.x):
        return None
    return constant(np.array(value, dtype=m.node.dtype))


def single_element_fill(m: Match) -> Node | None:
    """A chain of shape ops over one element is one broadcast of that element."""
    source, chain = m.node, 0
    while source.op.rearranges:
        source, chain = source.inputs[0], chain + 1
    if not all(isinstance(size, int) and size == 1 for size in source.shape):
        return None
    scalar = source if source.ndim == 0 else apply(OPS["reshape"], source, shape=())
    built = 1 + (source.ndim != 0) + (m.node.shape != ())
    if built >= chain + (m.node.shape == ()):
        return None  # not shorter than the chain it replaces
    return scalar


def _finite(value: object) -> bool:
    return value is not None and bool(np.isfinite(value))  # type: ignore[call-overload]


def known_finite(node: Node, depth: int = 16) -> bool:
    """Whether every element of `node` is finite, from constants and the ops' declared facts.

    Bounded functions are finite only for finite inputs: sin(inf) and sigmoid(NaN) are NaN.
    """
    if node.value is not None:
        return bool(np.all(np.isfinite(node.value)))
    if node.dtype.kind in "biu" or node.op.finite == "always":
        return True
    if depth == 0 or not (node.op.finite == "if_inputs" or node.op.rearranges):
        return False
    return all(known_finite(i, depth - 1) for i in node.inputs)


def drop_broadcasts(m: Match) -> Node | None:
    """An elementwise op broadcasts by itself: drop an explicit broadcast_to of an input
    when the other inputs already give the result its shape."""
    node = m.node
    inputs = list(node.inputs)
    changed = False
    for i, item in enumerate(inputs):
        if item.op.name != "broadcast_to":
            continue
        trial = inputs[:i] + [item.inputs[0]] + inputs[i + 1:]
        try:
            with shapes.collect_constraints():
                shape = shapes.broadcast(*(t.shape for t in trial))
        except ShapeError:
            continue
        if shape == node.shape:
            inputs, changed = trial, True
    if not changed:
        return None
    return apply(node.op, *inputs, **node.attr)


# ----------------------------------------------------------------------- rules

def new_axes_only(m: Match) -> Node | None:
    """scatter of x[:, None] (the gradient of adding axes): squeeze them, a view, not zeros + copy."""
    index = m.node.attr["index"]
    if not all(part[0] == "new" or part == ("slice", None, None, None) for part in index):
        return None
    axes = tuple(i for i, part in enumerate(index) if part[0] == "new")
    return apply(OPS["squeeze"], m.x, axis=axes) if axes else m.x


def squeezed_sum(m: Match) -> Node | None:
    """squeeze(sum_to(x, s), axes) = sum(x, axes) when sum_to sums only squeezed axes."""
    total = m.x
    if total.op.name != "sum_to" or total.inputs[0].ndim != total.ndim:
        return None
    source = total.inputs[0]
    summed = tuple(i for i, (s, t) in enumerate(zip(source.shape, total.shape)) if s != t)
    axes = m.node.attr["axis"]
    if not set(summed) <= set(axes) or any(total.shape[i] != 1 for i in axes):
        return None
    return apply(OPS["sum"], source, axis=axes, keepdims=False)


def property_rules() -> list[Rule]:
    """Rules every op gets from its declared identity, absorbing element and involution."""
    found: list[Rule] = []
    for name in sorted(OPS):
        declared = OPS[name]
        if declared.arity == 2 and declared.identity is not None:
            # x op e = x (the matcher also tries e op x when op is commutative)
            found.append(rule(Call(name, (x, Const(declared.identity))), x, f"{name}_identity"))
            if declared.commutative:  # 1 * ones(n): the first order binds x to the scalar 1,
                # whose replacement does not fit the node's shape; this order keeps the array
                found.append(rule(Call(name, (Const(declared.identity), x)), x, f"{name}_identity"))
        if declared.arity == 2 and declared.absorbing is not None:
            # x op z = z: not for inf/NaN x (inf * 0 is NaN), so fast_math only
            found.append(rule(Call(name, (x, Const(declared.absorbing))), declared.absorbing,
                              f"{name}_absorbing", fast_math=True))
        if declared.arity == 1 and declared.involution:
            # op(op(x)) = x
            found.append(rule(Call(name, (Call(name, (x,)),)), x, f"{name}_involution"))
    return found


EXPLICIT = [
    rule(x ** 0, 1, "power_zero"),                                   # x⁰ = 1, also for 0, inf, NaN
    rule(x ** 1, x, "power_one"),                                    # x¹ = x
    rule(x ** 2, square(x), "power_two"),                            # x² is one multiply
    rule(x * -1, -x, "times_minus_one"),                             # x·(-1) = -x
    rule(0 - x, -x, "zero_minus"),                                   # 0 - x = -x
    rule(x + -y, x - y, "add_negative"),                             # x + (-y) = x - y
    rule(x - -y, x + y, "subtract_negative"),                        # x - (-y) = x + y
    rule(-x * c, negated, "negative_times_constant"),                # (-x)·c = x·(-c)
    rule(-(x * c), negated, "negate_product_with_constant"),         # -(x·c) = x·(-c)
    rule(-(x / c), negated_divisor, "negate_quotient_by_constant"),  # -(x/c) = x/(-c)
    rule(sum_(sum_(x, axis=a), axis=b), sum_of_sum, "sum_of_sum"),   # Σ_b Σ_a x = Σ_(a∪b) x
    rule(mean(sum_(x, axis=a), axis=b), mean_of_sum, "mean_of_sum"),  # mean of sums: one sum / n
    rule(x / c, times_reciprocal, "divide_by_power_of_two",          # x / 2^k = x · 2^-k, exact
         when=exact_reciprocal),
    rule(log(exp(x)), x, "log_exp"),                                 # log undoes exp
    rule(exp(log(x)), x, "exp_log",                                  # exp undoes log where x >= 0
         when=lambda m: known_nonnegative(m.x)),
    rule(exp(log(x)), x, "exp_log_fast", fast_math=True),            # ... and anywhere, fast
    rule(x - x, 0, "subtract_self", fast_math=True),                 # not for inf/NaN x
    rule(x / x, 1, "divide_self", fast_math=True),                   # not for 0, inf or NaN x
    rule(where(d, x, x), x, "where_same"),                           # both branches equal
    rule(no_nan(x, y), x * y, "no_nan_nonzero",                      # g·d is only special at g = 0
         when=lambda m: finite_nonzero(uniform_value(m.x))),
    rule(no_nan(x, y), x * y, "no_nan_finite",                       # ... and d = inf/NaN
         when=lambda m: _finite(uniform_value(m.y))),
    rule(no_nan(x, y), x * y, "no_nan_known_finite",                 # ... which y cannot be
         when=lambda m: known_finite(m.y)),
    rule(no_nan(0, y), 0, "no_nan_zero"),                            # 0 by definition
    rule(no_nan(x, y), x * y, "no_nan_fast", fast_math=True),        # assume d is finite
    rule(transpose(transpose(x, axes=a), axes=b), composed_transpose,
         "transpose_transpose"),                                     # two permutations are one
    rule(reshape(reshape(x, shape=a), shape=b), reshape(x, shape=b), "reshape_reshape"),
    rule(reshape(x, shape=a), x, "reshape_same", when=same_shape),   # reshape to its own shape
    rule(broadcast_to(x, shape=a), x, "broadcast_same", when=same_shape),
    rule(sum_to(x, shape=a), x, "sum_to_same", when=same_shape),     # nothing to sum
    rule(astype(x, dtype=a), x, "astype_same", when=lambda m: m.x.dtype == m.node.dtype),
    rule(broadcast_to(broadcast_to(x, shape=a), shape=b), broadcast_to(x, shape=b),
         "broadcast_broadcast"),                                     # broadcasting composes
    rule(squeeze(expand_dims(x, axis=a), axis=a), x, "squeeze_expand"),
    rule(expand_dims(squeeze(x, axis=a), axis=a), x, "expand_squeeze"),
    rule(sum_(broadcast_to(x, shape=a)), sum_of_broadcast, "sum_of_broadcast"),  # Σ n copies = n·x
    rule(sum_to(broadcast_to(x, shape=a), shape=b), sum_of_broadcast, "sum_to_of_broadcast"),
    rule(scatter(x), new_axes_only, "scatter_new_axes"),           # undo x[:, None]: a squeeze
    rule(squeeze(x), squeezed_sum, "squeeze_sum_to"),               # sum_to then squeeze: one sum
    rule(ones_like(x), 1, "ones_like"),                              # a broadcast 1, free of x
    rule(zeros_like(x), 0, "zeros_like"),                            # a broadcast 0, free of x
]


def structural_rules() -> list[Rule]:
    """Rules over whole families: uniform values through shape ops, broadcasts into elementwise."""
    rearranging = sorted(name for name, op in OPS.items() if op.rearranges)
    found = [rule(Call(name, (x,)), uniform_fill, "uniform_shape") for name in rearranging]
    found += [rule(Call(name, (x,)), single_element_fill, "single_element_shape")
              for name in rearranging]
    for name in sorted(OPS):
        declared = OPS[name]
        if declared.elementwise and declared.arity:
            arguments = tuple(Var(f"input{i}") for i in range(declared.arity))
            found.append(rule(Call(name, arguments), drop_broadcasts, "elementwise_broadcast"))
    return found


def algebraic_rules() -> list[Rule]:
    """All algebraic rules, in the order they are tried (first match wins)."""
    return property_rules() + EXPLICIT + DIAGONAL_RULES + structural_rules()
