"""Checking derivatives against central finite differences (layer L3).

Owns `check_grad` (the whole gradient, or a random direction, against
central differences in float64, as a user checks a derivative by nudging an
input) and `check_node_grads` (walks a graph and names the first node whose
VJP rule disagrees with finite differences of its op's NumPy reference —
what you run after declaring a new op). Imports: autodiff, interpret, ir,
ops and layer L0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import dtypes, shapes
from .autodiff import backward, grad
from .calling import bind
from .errors import GradientCheckError, GraphcError
from .interpret import evaluate
from .ir import Node, apply, toposort
from .ops import astype, constant, input

Values = Mapping[Any, Any]


def _leaves(y: Node) -> dict[str, Node]:
    return {str(n.name): n for n in toposort([y]) if n.op.name == "input"}


def _resolve_values(y: Node, values: Values) -> dict[Node, np.ndarray]:
    """values keyed by input tensor or input name -> {input node: float64-ready array}."""
    by_name = _leaves(y)
    feed: dict[Node, np.ndarray] = {}
    for key, value in values.items():
        node = by_name.get(key) if isinstance(key, str) else key
        # An input tensor y does not use is fine (its gradient is zero); an unknown name is a typo.
        if not isinstance(node, Node) or node.op.name != "input":
            raise GraphcError(f"check_grad: {key!r} is not an input of y "
                              f"(inputs: {', '.join(sorted(by_name))})")
        feed[node] = np.array(value, dtype=node.dtype)
    missing = sorted(name for name, node in by_name.items() if node not in feed)
    if missing:
        raise GraphcError(f"check_grad: no value for input(s) {', '.join(missing)}")
    return feed


def _in_float64(y: Node, feed: dict[Node, np.ndarray]) -> tuple[Node, dict[Node, Node]]:
    """y rebuilt to compute in float64, so differences are not swamped by float32 rounding.

    Float32 inputs are widened and casts to float32 become casts to float64.
    """
    memo: dict[Node, Node] = {}
    for node in feed:
        if node.dtype == np.float32:
            twin = input(str(node.name), dtype="float64")
            memo[node] = Node(twin.op, (), (), node.shape, np.dtype("float64"),
                              name=node.name, origin=node.origin)
    for node in toposort([y]):
        if node in memo or not node.inputs:
            continue
        inputs = tuple(memo.get(i, i) for i in node.inputs)
        if node.op.name == "astype" and node.dtype == np.float32:
            memo[node] = astype(inputs[0], "float64")
        elif any(new is not old for new, old in zip(inputs, node.inputs)):
            memo[node] = apply(node.op, *inputs, name=node.name, origin=node.origin, **node.attr)
    return memo.get(y, y), {n: memo.get(n, n) for n in feed}


def _binding(feed: dict[Node, np.ndarray]) -> dict[str, int]:
    nodes = list(feed)
    return bind(nodes, [feed[n] for n in nodes], [])


def _location(name: str, shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return name
    return f"{name}[{', '.join(map(str, np.unravel_index(flat, shape)))}]"


def _compare(name: str, symbolic: np.ndarray, numeric: np.ndarray, rtol: float, atol: float,
             what: str) -> float:
    """Raise GradientCheckError at the worst entry; return the worst error relative to tolerance."""
    excess = np.abs(symbolic - numeric) - (atol + rtol * np.abs(numeric))
    bad = ~np.isfinite(symbolic) | ~np.isfinite(numeric)
    excess = np.where(bad & (symbolic != numeric), np.inf, excess)
    if excess.size == 0:
        return 0.0
    worst = int(np.argmax(excess))
    s, n = symbolic.reshape(-1)[worst], numeric.reshape(-1)[worst]
    if excess.reshape(-1)[worst] > 0:
        raise GradientCheckError(
            f"{what} disagrees with central differences at {_location(name, symbolic.shape, worst)}:"
            f" symbolic {s:.8g}, numeric {n:.8g} (|difference| {abs(s - n):.3g} > "
            f"atol + rtol*|numeric| = {atol + rtol * abs(n):.3g})")
    return float(np.max(np.abs(symbolic - numeric)))


def check_grad(y: Node, wrt: Any, values: Values, *, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-8, mode: str = "full", seed: int = 0) -> float:
    """Compare grad(y, wrt) with central differences at `values`; return the largest error.

    mode="full" nudges every entry of every wrt; mode="direction" compares the
    directional derivative along one random direction (cheap for big inputs).
    Raises GradientCheckError naming the worst entry.
    """
    if mode not in ("full", "direction"):
        raise GraphcError(f"check_grad mode must be 'full' or 'direction', got {mode!r}")
    single = not isinstance(wrt, (list, tuple))
    names = _leaves(y)
    unknown = [w for w in ([wrt] if single else wrt) if isinstance(w, str) and w not in names]
    if unknown:
        raise GraphcError(f"check_grad: {unknown[0]!r} is not an input of y "
                          f"(inputs: {', '.join(sorted(names))})")
    targets = [names[w] if isinstance(w, str) else w for w in ([wrt] if single else wrt)]
    feed = _resolve_values(y, values)
    symbolic = [np.asarray(v, dtype=np.float64) for v in
                evaluate(grad(y, targets), feed, _binding(feed))]
    wide, twins = _in_float64(y, feed)
    base = {twins[n]: v.astype(np.float64) if v.dtype == np.float32 else v for n, v in feed.items()}
    binding = _binding(base)

    def value_at(changes: dict[Node, np.ndarray]) -> float:
        return float(evaluate([wide], {**base, **changes}, binding)[0])

    worst = 0.0
    if mode == "direction":
        rng = np.random.default_rng(seed)
        direction = {t: rng.standard_normal(base[twins[t]].shape) for t in targets}
        plus = value_at({twins[t]: base[twins[t]] + eps * d for t, d in direction.items()})
        minus = value_at({twins[t]: base[twins[t]] - eps * d for t, d in direction.items()})
        numeric = np.array((plus - minus) / (2 * eps))
        along = np.array(sum(float(np.sum(g * direction[t])) for g, t in zip(symbolic, targets)))
        return _compare("direction", along, numeric, rtol, atol,
                        "the directional derivative of y along a random direction")
    for target, gradient in zip(targets, symbolic):
        point = base[twins[target]]
        numeric = np.zeros(point.shape)
        for flat in range(point.size):
            nudged = point.copy().reshape(-1)
            nudged[flat] += eps
            plus = value_at({twins[target]: nudged.reshape(point.shape)})
            nudged[flat] -= 2 * eps
            minus = value_at({twins[target]: nudged.reshape(point.shape)})
            numeric.reshape(-1)[flat] = (plus - minus) / (2 * eps)
        label = str(target.name)
        worst = max(worst, _compare(label, gradient, numeric, rtol, atol,
                                    f"the gradient of y with respect to {label!r}"))
    return worst


def _numeric_vjp(impl: Callable[..., Any], arrays: list[np.ndarray], attrs: dict[str, Any],
                 cotangent: np.ndarray, position: int, eps: float) -> np.ndarray:
    """d <cotangent, impl(...)> / d arrays[position], by central differences."""
    point = arrays[position]
    result = np.zeros(point.shape)
    for flat in range(point.size):
        totals = []
        for step in (eps, -eps):
            nudged = point.copy().reshape(-1)
            nudged[flat] += step
            args = list(arrays)
            args[position] = nudged.reshape(point.shape)
            totals.append(float(np.sum(cotangent * np.asarray(impl(*args, **attrs)))))
        result.reshape(-1)[flat] = (totals[0] - totals[1]) / (2 * eps)
    return result


def check_node_grads(outputs: Node | Sequence[Node], values: Values, *, eps: float = 1e-6,
                     rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0) -> int:
    """Check every node's VJP rule against finite differences of its op's NumPy impl.

    Raises GradientCheckError naming the first node (op and the line that
    built it) whose rule disagrees; returns how many nodes were checked.
    """
    roots = [outputs] if isinstance(outputs, Node) else list(outputs)
    feed = {}
    for root in roots:
        feed.update(_resolve_values(root, {k: v for k, v in values.items()
                                           if (isinstance(k, str) and k in _leaves(root))
                                           or (isinstance(k, Node) and k in _leaves(root).values())}))
    binding = _binding(feed)
    # custom_call's rule is a user's derivative of its body, not of its impl (the identity):
    # gc.check_grad checks it; here it would be a false alarm
    order = [n for n in toposort(roots) if n.inputs and dtypes.is_float(n.dtype)
             and n.op.vjp is not None and n.op.name != "custom_call"]
    known = dict(zip(order, evaluate(order, feed, binding))) if order else {}
    known.update(feed)
    rng = np.random.default_rng(seed)
    checked = 0
    for node in order:
        arrays = [np.asarray(known[i] if i in known else
                             evaluate([i], feed, binding)[0], dtype=np.float64)
                  if dtypes.is_float(i.dtype) else np.asarray(known.get(i, i.value))
                  for i in node.inputs]
        # differences in float64 even for an op told to produce float32 (astype, one_hot, ...)
        attrs = {k: "float64" if v == "float32" else shapes.resolve_attr(v, binding)
                 for k, v in node.attrs}
        stand_ins = [constant(a) for a in arrays]
        local = apply(node.op, *stand_ins, origin=node.origin, **node.attr)
        cotangent = rng.standard_normal(tuple(int(s) for s in np.shape(known[node])))
        floats = [k for k, i in enumerate(node.inputs) if dtypes.is_float(i.dtype)]
        pulled = backward([local], [constant(cotangent)], [stand_ins[k] for k in floats])
        symbolic = evaluate(pulled, {}, binding)
        for k, got in zip(floats, symbolic):
            numeric = _numeric_vjp(node.op.impl, arrays, attrs, cotangent, k, eps)
            _compare(f"input {k}", np.asarray(got, dtype=np.float64), numeric, rtol, atol,
                     f"the VJP rule of {node.op.name} (node built at {node.origin})")
        checked += 1
    return checked
