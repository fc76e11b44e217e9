"""The simplifier's passes, each a function Graph -> Graph with a name.

- `cse`: one node per (op, inputs, attributes); equal constants merged by
  dtype, shape and bytes. This is what makes the backward pass reuse the
  forward `exp`/`tanh`/`sigmoid` values instead of recomputing them.
- `fold_constants`: an op whose inputs are all constants (or that reads only
  its input's static shape) is evaluated now with its NumPy `impl`, if the
  result has at most `fold_limit` elements. Broadcasts are left as views.
- `algebraic`: the rules of simplify/rules.py.
- `stabilize`: the rules of graphc/stabilize.py, on the joint graph.
- `dce`: a Graph is its outputs, so nodes no output reaches are gone once a
  pass has rebuilt it; this pass cuts the graph to what the outputs reach
  and makes that visible in the per-pass node counts.

Every pass is one bottom-up `rebuild` (linear, iterative). Imports: rewrite,
stabilize, ir, ops and layer L0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import shapes
from ..errors import origin
from ..ir import Graph, Node
from ..ops import constant
from ..rewrite import Rewriter, rebuild
from ..stabilize import RULES as STABLE_RULES
from .rules import algebraic_rules


@dataclass
class Memo:
    """What one pipeline run learned, so a later round redoes only what changed.

    Why: the last round of a run (usually the second) changes nothing, yet ran every
    rule on every node again: ~30 ms of a 64-layer MLP's ~0.1 s simplify.
    `stable[name]`: the nodes pass `name` handed back unchanged. Its rules read only
    the node and what lies below it, which a node's identity fixes (nodes are
    immutable), so such a node would come back unchanged again: a later round skips
    it. `closed`: the outputs cse last returned; cse of a cse's result merges nothing
    (every node it reaches has a key of its own), so cse skips exactly those outputs.
    `reused`: nodes the running pass took from `stable` (its PassRecord's `reused`).
    """

    stable: dict[str, set[Node]] = field(default_factory=dict)
    closed: tuple[Node, ...] | None = None
    reused: int = 0


@dataclass(frozen=True)
class Options:
    """How the pipeline runs: fast_math enables IEEE-changing rules."""

    fast_math: bool = False
    max_rounds: int = 8  # the pipeline stops after this many rounds even if still changing
    fold_limit: int = 10_000  # largest constant (in elements) fold_constants creates
    incremental: bool = True  # later rounds skip what earlier ones found stable (Memo)
    memo: Memo | None = field(default=None, compare=False, repr=False)  # pipeline.run's


Pass = Callable[[Graph, Options, Counter[str]], Graph]


def _rebuilt(graph: Graph, visit: Callable[[Node], Node]) -> Graph:
    return Graph(graph.inputs, tuple(rebuild(list(graph.outputs), visit)))


def _local(graph: Graph, options: Options, name: str, visit: Callable[[Node], Node]) -> Graph:
    """A rebuild with a visitor that depends only on the node (and below): with a Memo,
    nodes it left alone in an earlier round are handed back without visiting them."""
    memo = options.memo
    if memo is None:
        return _rebuilt(graph, visit)
    stable = memo.stable.setdefault(name, set())

    def remembered(node: Node) -> Node:
        if node in stable:
            memo.reused += 1
            return node
        result = visit(node)
        if result is node:
            stable.add(node)
        return result

    return _rebuilt(graph, remembered)


# ------------------------------------------------------------------------- cse

def cse_key(node: Node) -> Any:
    """What makes two nodes interchangeable: op, inputs (by identity), attributes."""
    if node.op.name == "input":
        return None
    if node.value is not None and not node.inputs:
        return ("constant", node.dtype.str, node.shape, node.weak, node.value.tobytes())
    return (node.op.name, node.inputs, node.attrs)


def cse(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    memo = options.memo
    if memo is not None and memo.closed is not None and len(memo.closed) == len(graph.outputs) \
            and all(a is b for a, b in zip(memo.closed, graph.outputs)):
        return graph  # cse's own result: nothing to merge (Memo)
    result = _merged(graph, fired)
    if memo is not None:
        memo.closed = result.outputs
    return result


def _merged(graph: Graph, fired: Counter[str]) -> Graph:
    seen: dict[Any, Node] = {}

    def visit(node: Node) -> Node:
        key = cse_key(node)
        if key is None:
            return node
        try:
            kept = seen.setdefault(key, node)
        except TypeError:  # an unhashable attribute: leave the node alone
            return node
        if kept is not node:
            fired["merged"] += 1
        return kept

    return _rebuilt(graph, visit)


# -------------------------------------------------------------- fold_constants

_SHAPE_READERS = frozenset({"size"})  # ops whose value depends only on the input's shape
_NOT_FOLDED = frozenset({"broadcast_to"})  # a broadcast of a constant stays a cheap view


def fold(node: Node, limit: int) -> Node:
    """The node as a constant, when its inputs are known and the result is small."""
    if not node.inputs or node.op.name in _NOT_FOLDED or not _static(node.shape):
        return node
    if shapes.product(node.shape) > limit:  # type: ignore[operator]
        return node
    arrays = []
    for source in node.inputs:
        if source.value is not None:
            arrays.append(source.value)
        elif node.op.name in _SHAPE_READERS and _static(source.shape):
            static = tuple(int(size) for size in source.shape)  # type: ignore[arg-type]
            arrays.append(np.broadcast_to(np.zeros((), source.dtype), static))
        else:
            return node
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(node.op.impl(*arrays, **node.attr))
    except (ValueError, TypeError, IndexError, ArithmeticError):
        return node
    if result.shape != node.shape:
        return node
    with origin(node.origin):
        return constant(result.astype(node.dtype), dtype=node.dtype, name=node.name)


def _static(shape: shapes.Shape) -> bool:
    return all(isinstance(size, int) for size in shape)


def fold_constants(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    def visit(node: Node) -> Node:
        folded = fold(node, options.fold_limit)
        if folded is not node:
            fired["folded"] += 1
        return folded

    return _local(graph, options, "fold_constants", visit)


# ----------------------------------------------------------- rule-based passes

def algebraic(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    rewriter = Rewriter(algebraic_rules(), fast_math=options.fast_math)
    result = _local(graph, options, "algebraic", rewriter)
    fired.update(rewriter.fired)
    return result


def stabilize(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    rewriter = Rewriter(STABLE_RULES, fast_math=options.fast_math)
    result = _local(graph, options, "stabilize", rewriter)
    fired.update(rewriter.fired)
    return result


def dce(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    return Graph(graph.inputs, graph.outputs)


# Passes over nodes that hold a body (graphc.control.optimize registers the loops' pass:
# rewrites inside bodies, dead loop outputs pruned, loop-invariant work hoisted).
NESTED: list[Pass] = []


def nested(graph: Graph, options: Options, fired: Counter[str]) -> Graph:
    for step in NESTED:
        graph = step(graph, options, fired)
    return graph


PIPELINE: tuple[tuple[str, Pass], ...] = (
    ("cse", cse),
    ("fold_constants", fold_constants),
    ("algebraic", algebraic),
    ("stabilize", stabilize),
    ("loops", nested),
    ("cse", cse),
    ("dce", dce),
)
