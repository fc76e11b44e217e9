"""Reverse-mode differentiation by the chain rule, node by node (layer L3).

Owns `grad`, `vjp`, `jvp`, `jacobian`, `jacrev`, `jacfwd`, `hessian`, `hvp`
(the Jacobians are vmaps of one VJP or JVP over an identity basis, graphc/vmap.py). The reverse sweep
walks the graph from the output back to the inputs; at each node it asks the
op's declared `vjp` rule for the cotangents of the node's inputs. Rules are
written with graphc ops, so every gradient is ordinary graph code: it prints,
simplifies, compiles, and can be differentiated again.

Three things happen here and nowhere else:
- un-broadcasting: a rule returns a cotangent in the output's shape; it is
  summed back to the input's shape (`sum_to`) in `_accumulate`;
- fan-out: a node used twice receives two cotangents, which are added;
- stabilization: before the sweep the forward graph is rewritten into
  numerically stable forms (graphc.stabilize), so the derivative is taken of
  `log_softmax(z)` rather than of `log(softmax(z))`.

Imports: ir, ops, accumulate, stabilize, vmap and layer L0. Never simplify (DESIGN.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import dtypes, shapes
from .accumulate import sum_contributions
from .errors import GraphcError, NotDifferentiableError, ShapeError, api_boundary, origin, user_origin
from .ir import Node, substitute, toposort
from .ops import (
    add,
    as_tensor,
    astype,
    broadcast_to,
    constant,
    input,
    ones_like,
    reshape,
    sum,
    sum_to,
    zeros_like,
)
from .ops.matrix import diagonal_matrix
from .stabilize import stabilize
from .vmap import vmap

WrtArg = Node | Sequence[Node]

def gradient_name(node: Node) -> str | None:
    """`d_W` if `node` came out of gc.grad/gc.vjp as the gradient of input W, else None."""
    return node.gradient_name


def _mark(gradients: list[Node], wrt: Sequence[Node]) -> list[Node]:
    """Record on each gradient node which input it differentiates (first call wins).

    The name lives on the node (Node.gradient_name), not in a module table, so
    it travels with the graph through pickling and serialize, and graphs built
    in different threads cannot see each other's names.
    """
    for gradient, w in zip(gradients, wrt):
        if w.name and gradient.inputs and gradient.gradient_name is None:
            object.__setattr__(gradient, "gradient_name", f"d_{w.name}")
    return gradients


def _as_list(wrt: WrtArg) -> tuple[list[Node], bool]:
    """wrt as a list, and whether the caller passed a single tensor."""
    if isinstance(wrt, Node):
        return [wrt], True
    if not isinstance(wrt, (list, tuple)):
        raise GraphcError(f"can only differentiate with respect to a tensor or a list of tensors, "
                          f"got {type(wrt).__name__} {wrt!r}")
    items = list(wrt)
    for item in items:
        if not isinstance(item, Node):
            raise GraphcError(f"can only differentiate with respect to tensors, got {item!r}")
    return items, False


def _check_differentiable_wrt(wrt: Sequence[Node]) -> None:
    for w in wrt:
        if not dtypes.is_float(w.dtype):
            what = f"input {w.name!r}" if w.name else f"a {w.op.name} node built at {w.origin}"
            raise GraphcError(
                f"cannot differentiate with respect to {what} of dtype {w.dtype}: "
                "gradients exist only for float tensors (cast with astype first)")


def _depends_on(outputs: Sequence[Node], wrt: Sequence[Node]) -> set[Node]:
    """Nodes on some path from a wrt node to an output: the only ones worth a cotangent."""
    sources = set(wrt)
    reached: set[Node] = set()
    for node in toposort(outputs):
        if node in sources or any(i in reached for i in node.inputs):
            if node.op.name != "stop_gradient":
                reached.add(node)
    return reached


def _accumulate(total: dict[Node, list[Node]], target: Node, cotangent: Node) -> None:
    """Add a cotangent contribution, first summing it back to the target's shape and dtype."""
    if cotangent.shape != target.shape:
        cotangent = sum_to(cotangent, target.shape)
    if cotangent.dtype != target.dtype:
        cotangent = astype(cotangent, target.dtype)
    total.setdefault(target, []).append(cotangent)


def _sum_contributions(parts: list[Node], target: Node | None = None) -> Node:
    """Fan-out: the contributions added up, T gathered pieces as one scatter-add (accumulate.py)."""
    return sum_contributions(parts, target)


# Ops whose nodes come in families sharing inputs (graphc.control: the final carry, stacked
# outputs and saved carries of one loop): op name -> (family key of a node,
# rule(((member's output attr, cotangent), ...), node, *inputs, **attrs) -> input cotangents).
# The sweep calls the rule once per family, at its earliest member (by then every member's
# cotangent is complete), so one loop gets one reverse loop.
FAMILY_VJPS: dict[str, tuple[Callable[[Node], Any], Callable[..., Sequence[Any]]]] = {}


def _family_cotangents(node: Node, order: list[Node], contributions: dict[Node, list[Node]],
                       ) -> list[tuple[Any, Node]] | None:
    """(output, total cotangent) of node's family if node is its earliest member, else None."""
    key = FAMILY_VJPS[node.op.name][0]
    mine = key(node)
    members = [m for m in order if m.op is node.op and key(m) == mine]
    if members[0] is not node:
        return None
    return [(m.attr["output"], _sum_contributions(contributions[m], m)) for m in members
            if contributions.get(m)]


def backward(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node]) -> list[Node]:
    """The reverse sweep: cotangents of `wrt` given cotangents of `outputs`."""
    live = _depends_on(outputs, wrt)
    contributions: dict[Node, list[Node]] = {}
    for out, cotangent in zip(outputs, cotangents):
        if out in live:
            _accumulate(contributions, out, cotangent)
    wanted = set(wrt)
    order = toposort(outputs)
    for node in reversed(order):
        parts = contributions.get(node)
        if node.op.name in FAMILY_VJPS and node in live and node not in wanted:
            _family_backward(node, order, contributions, live)
            continue
        if not parts or not node.inputs:
            continue
        total = _sum_contributions(parts, node)
        if node in wanted:
            contributions[node] = [total]
        targets = [i for i in node.inputs if i in live and dtypes.is_float(i.dtype)]
        if not targets or not dtypes.is_float(node.dtype):
            continue
        rule = node.op.vjp
        if rule is None:
            raise NotDifferentiableError(
                f"{node.op.name} has no derivative rule (node built at {node.origin}); "
                "wrap its input in gc.stop_gradient if no gradient should flow through it")
        with origin(f"backward of {node.op.name} at {node.origin}"):
            results = rule(total, node, *node.inputs, **node.attr)
            for source, cotangent in zip(node.inputs, results):
                if cotangent is None or source not in live or not dtypes.is_float(source.dtype):
                    continue
                _accumulate(contributions, source, as_tensor(cotangent))
    gradients = []
    for w in wrt:
        parts = contributions.get(w)
        with origin(f"gradient of {w.name or w.op.name}"):
            gradients.append(_sum_contributions(parts, w) if parts else zeros_like(w))
    return gradients


def _family_backward(node: Node, order: list[Node], contributions: dict[Node, list[Node]],
                     live: set[Node]) -> None:
    """One VJP for every member of node's family with a cotangent (FAMILY_VJPS)."""
    incoming = _family_cotangents(node, order, contributions)
    if not incoming or not any(dtypes.is_float(i.dtype) for i in node.inputs if i in live):
        return
    with origin(f"backward of {node.op.name} at {node.origin}"):
        attrs = {k: v for k, v in node.attrs if k != "output"}
        results = FAMILY_VJPS[node.op.name][1](incoming, node, *node.inputs, **attrs)
        for source, cotangent in zip(node.inputs, results):
            if cotangent is None or source not in live or not dtypes.is_float(source.dtype):
                continue
            _accumulate(contributions, source, as_tensor(cotangent))


def _prepare(y: Node, wrt: Sequence[Node]) -> Node:
    """Stabilize y's forward graph first, unless a wrt node could be rewritten away."""
    if all(not w.inputs for w in wrt):
        return stabilize([y])[0]
    return y


@api_boundary
def grad(y: Node, wrt: WrtArg) -> Any:
    """Gradient of scalar `y`: one tensor per wrt, each of its wrt's shape and dtype."""
    y = as_tensor(y)
    if y.ndim != 0:
        raise ShapeError(f"grad needs a scalar y, got shape {shapes.format_shape(y.shape)}: reduce "
                         "it first (gc.sum(y) or gc.mean(y)), or use gc.vjp / gc.jacobian for the "
                         f"derivatives of a non-scalar output (at {user_origin()})")
    if not dtypes.is_float(y.dtype):
        raise GraphcError(f"grad needs a float y, got dtype {y.dtype}")
    items, single = _as_list(wrt)
    _check_differentiable_wrt(items)
    seed = constant(1.0, dtype=y.dtype)
    gradients = _mark(backward([_prepare(y, items)], [seed], items), items)
    return gradients[0] if single else gradients


@api_boundary
def vjp(y: Node, wrt: WrtArg, cotangent: Any) -> Any:
    """Vector-Jacobian product: cotangent (y's shape) pulled back to each wrt."""
    y = as_tensor(y)
    cotangent = as_tensor(cotangent)
    if cotangent.shape != y.shape:  # a broadcastable cotangent (e.g. a scalar) is spread to y's shape
        try:
            spread = cotangent.ndim <= y.ndim and shapes.broadcast(cotangent.shape, y.shape) == y.shape
        except ShapeError:
            spread = False
        if not spread:
            raise ShapeError(f"vjp's cotangent has shape {shapes.format_shape(cotangent.shape)}, "
                             f"which does not broadcast to y's shape {shapes.format_shape(y.shape)}")
        cotangent = broadcast_to(cotangent, y.shape)
    items, single = _as_list(wrt)
    _check_differentiable_wrt(items)
    gradients = _mark(backward([_prepare(y, items)], [astype(cotangent, y.dtype)], items), items)
    return gradients[0] if single else gradients


_dummy_counter = iter(range(1, 1 << 62))


@api_boundary
def jvp(y: Node, wrt: WrtArg, tangent: Any) -> Node:
    """Forward-mode Jacobian-vector product: the tangent of y given tangents of wrt.

    Computed by transposing the VJP: the VJP is linear in its cotangent u, so
    the gradient of <vjp(u), t> with respect to u is J t. The dummy u drops out
    of the result (rules are linear in their cotangent); if a trace remains it
    is replaced by zeros, which is exact for a linear function.
    """
    y = as_tensor(y)
    items, single = _as_list(wrt)
    tangents = [as_tensor(t) for t in ([tangent] if single else tangent)]
    if len(tangents) != len(items):
        raise GraphcError(f"jvp got {len(items)} wrt tensors but {len(tangents)} tangents")
    for w, t in zip(items, tangents):
        if t.shape != w.shape:
            raise ShapeError(f"tangent shape {shapes.format_shape(t.shape)} differs from "
                             f"its wrt's shape {shapes.format_shape(w.shape)}")
    if not dtypes.is_float(y.dtype):
        return zeros_like(y)
    dummy = _dummy_like(y)
    pulled = vjp(y, items, dummy)
    inner = functools.reduce(add, [sum(p * astype(t, p.dtype)) for p, t in zip(pulled, tangents)])
    result = backward([inner], [constant(1.0, dtype=inner.dtype)], [dummy])[0]
    if dummy in toposort([result]):
        result = substitute([result], {dummy: zeros_like(y)})[0]
    return result


def _dummy_like(like: Node) -> Node:
    """A placeholder input with exactly `like`'s (possibly symbolic) shape and dtype."""
    template = input(f"jvp_cotangent_{next(_dummy_counter)}", dtype=like.dtype)
    return Node(template.op, (), (), like.shape, like.dtype, name=template.name,
                origin=template.origin)


def _static_size(node: Node, what: str) -> int:
    size = shapes.product(node.shape)
    if not isinstance(size, int):
        raise ShapeError(f"{what} needs a statically sized tensor, got shape "
                         f"{shapes.format_shape(node.shape)}")
    return size


def _identity_basis(like: Node, what: str) -> Node:
    """The rows of the identity, each shaped like `like`: (size,) + like.shape.

    Built as `diagonal_matrix` (where(i == j, 1, 0) over an arange), not as an n x n
    constant: at n = 1000 an 8 MB identity was copied, hashed (cse, the simplified-graph
    cache key), pickled (the cache entry, the compile worker's request) and multiplied
    through in full by the NumPy tier, ~0.1 s of a Jacobian's first result. The
    simplifier folds it into the identity constant when that is small (n <= 100) and its
    diagonal rules read it as the diagonal it is (simplify/diagonal.py).
    """
    size = _static_size(like, what)
    identity = diagonal_matrix(constant(np.ones((), like.dtype), dtype=like.dtype), size)
    return identity if like.ndim == 1 else reshape(identity, (size,) + like.shape)


def jacrev(y: Node, x: Node) -> Node:
    """d y / d x, shape y.shape + x.shape, by reverse mode: vmap of one VJP over the identity.

    One backward pass whose cotangent carries a batch axis of y.size rows, so
    the graph does not grow with y's size and the rows are computed as
    batched (BLAS) products.
    """
    y = as_tensor(y)
    _check_differentiable_wrt([x])
    if not dtypes.is_float(y.dtype):
        raise GraphcError(f"jacrev needs a float y, got dtype {y.dtype}")
    basis = _identity_basis(y, "jacrev")
    stable = _prepare(y, [x])
    rows = vmap(lambda cotangent: backward([stable], [cotangent], [x])[0])(basis)
    return reshape(rows, y.shape + x.shape)


def jacfwd(y: Node, x: Node) -> Node:
    """d y / d x, shape y.shape + x.shape, by forward mode: vmap of one JVP over the identity."""
    y = as_tensor(y)
    _check_differentiable_wrt([x])
    if not dtypes.is_float(y.dtype):
        raise GraphcError(f"jacfwd needs a float y, got dtype {y.dtype}")
    basis = _identity_basis(x, "jacfwd")
    columns = vmap(lambda tangent: jvp(y, x, tangent), out_axes=-1)(basis)
    return reshape(columns, y.shape + x.shape)


def jacobian(y: Node, x: Node) -> Node:
    """d y / d x with shape y.shape + x.shape: reverse mode unless y has more elements than x
    (or only x has a static size)."""
    y = as_tensor(y)
    y_size, x_size = shapes.product(y.shape), shapes.product(x.shape)
    if isinstance(x_size, int) and (not isinstance(y_size, int) or x_size < y_size):
        return jacfwd(y, x)
    return jacrev(y, x)


def hessian(y: Node, x: Node) -> Node:
    """Second derivatives of scalar y, shape x.shape + x.shape: the reverse-mode Jacobian of the gradient."""
    _static_size(x, "hessian")
    return jacrev(grad(y, x), x)


def hvp(y: Node, x: Node, v: Any) -> Node:
    """Hessian-vector product H v without forming H: grad of <grad(y, x), v>."""
    v = as_tensor(v)
    g = grad(y, x)
    return grad(sum(g * astype(v, g.dtype)), x)


__all__ = ["backward", "grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp", "ones_like", "vjp"]
