"""The reference interpreter: run a graph node by node with each op's NumPy `impl`.

This is `backend="numpy"`, the oracle the compiled backend is tested against,
and what constant folding and gradient checks evaluate with. Imports: ir and
layer L0 (layer L3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import shapes
from .errors import GraphcError
from .ir import Node, toposort

# Ops whose nodes come in families that one run computes together (a scan's final
# carry, its stacked per-step outputs and its saved carries are three nodes of one
# loop): op name -> (family key of a node, run(members, arguments, binding) -> one
# array per member). graphc.control registers scan here; `runners` in evaluate()
# replaces a run (the numba backend runs compiled loops).
FamilyRun = Callable[[list[Node], list[np.ndarray], dict[str, int]], list[np.ndarray]]
FAMILIES: dict[str, tuple[Callable[[Node], Any], FamilyRun]] = {}


def evaluate(outputs: Sequence[Node], feed: Mapping[Node, np.ndarray],
             binding: Mapping[str, int] | None = None,
             runners: Mapping[str, FamilyRun] | None = None) -> list[np.ndarray]:
    """Values of `outputs` given values for the input nodes in `feed`.

    Intermediates are released after their last use, so memory stays at the
    graph's live set rather than its size.
    """
    order = toposort(outputs)
    families = _families(order)
    remaining_uses: dict[Node, int] = {}
    for node in order:
        for source in node.inputs:
            remaining_uses[source] = remaining_uses.get(source, 0) + 1
    keep = set(outputs)
    sizes = dict(binding or {})
    env: dict[Node, np.ndarray] = {}
    for node in order:
        if node in feed:
            env[node] = np.asarray(feed[node])
        elif node.value is not None:
            env[node] = node.value
        elif node.op.name == "input":
            raise GraphcError(f"no value given for input {node.name!r}")
        elif node in families:
            if node not in env:
                _run_family(node.op.name, families[node], env, sizes, runners)
        else:
            env[node] = _run(node, [env[i] for i in node.inputs], sizes)
        for source in node.inputs:
            remaining_uses[source] -= 1
            if remaining_uses[source] == 0 and source not in keep:
                del env[source]
    return [env[o] for o in outputs]


def _families(order: list[Node]) -> dict[Node, list[Node]]:
    """Each family-op node -> every node of its family in the graph (FAMILIES)."""
    members: dict[Any, list[Node]] = {}
    found: dict[Node, list[Node]] = {}
    for node in order:
        family = FAMILIES.get(node.op.name)
        if family is not None:
            found[node] = members.setdefault((node.op.name, family[0](node)), [])
            found[node].append(node)
    return found


def _run_family(op_name: str, members: list[Node], env: dict[Node, np.ndarray],
                sizes: dict[str, int], runners: Mapping[str, FamilyRun] | None) -> None:
    run = (runners or {}).get(op_name) or FAMILIES[op_name][1]
    arguments = [env[i] for i in members[0].inputs]
    for member, value in zip(members, run(members, arguments, sizes)):
        env[member] = value


def _run(node: Node, arguments: list[np.ndarray], binding: dict[str, int]) -> np.ndarray:
    attrs: dict[str, Any] = {k: shapes.resolve_attr(v, binding) for k, v in node.attrs}
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(node.op.impl(*arguments, **attrs))
    except GraphcError as exc:  # an op's own run-time check (one_hot's labels): add the line
        raise type(exc)(f"{exc} (node built at {node.origin})") from None
    except (ValueError, IndexError, TypeError) as exc:
        raise GraphcError(f"{node.op.name} failed at run time: {exc} (node built at {node.origin})") from exc
    if result.dtype != node.dtype:
        result = result.astype(node.dtype)
    return result
