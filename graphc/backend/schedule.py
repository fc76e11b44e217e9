"""Scheduling: topological order -> fusion groups -> the order code is emitted in.

Owns the decision of which nodes share a loop nest. Reads only the type of the
op's lowering record (graphc/lowering.py: `Pointwise`, `Reduction`, `View`),
never op names. Imports: ir and shapes
(layer L4); entry point `schedule(inputs, outputs)`.

The rules:
- A *pointwise* node (its op's lowering is `Pointwise`) joins the fusion group
  of a pointwise producer of the same shape, so the producer's value stays a
  local variable of the loop body; otherwise it starts a new group whose loop
  nest runs over its shape. Inputs of other shapes are read with broadcast
  indexing, so broadcasting (rank-0 and size-1 axes included) never copies.
- A *reduction* (its op's lowering is a `Reduction` accumulator) joins the group that
  computes its input and accumulates inside that loop; a reduction of an array
  gets a loop of its own.
- A *view* (its op's lowering is a `View` index map: transpose, broadcast_to, expand_dims,
  squeeze) is index arithmetic inside loops; it becomes an array only when a
  kernel or the caller needs one.
- Everything else is a *kernel*: one statement on whole arrays (np.dot, ...).

Acyclicity: group ids grow in creation order and `deps[n]` is the largest group
id a node depends on. A node may join group g only if every input outside g
has `deps < g`, so no group waits for a value that waits for it. Groups are
capped at `max_group_size` members, which bounds the size of one loop body
(LLVM's time grows faster than linearly in it).

Domains: `domain(node)` (default: None for every node) keeps pointwise nodes
of different domains out of each other's groups. The block interpreter uses
it for large graphs (policy.py): nodes it can run get their register dtype as
domain, and those groups are not capped, since they become programs, not
loop bodies; the rest (domain None) keep the cap.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from ..ir import Node, toposort
from ..lowering import Kernel, Leaf, Pointwise, Reduction, View
from ..shapes import Shape


@dataclass(eq=False)
class Group:
    """One loop nest over `shape`: pointwise members and accumulating reductions."""

    id: int
    shape: Shape
    members: list[Node] = field(default_factory=list)
    source: Node | None = None  # for a group opened by a reduction of an array
    domain: Hashable = None  # see the module docstring; None: capped in size

    def __repr__(self) -> str:
        return f"Group({self.id}, {len(self.members)} members)"


Unit = Group | Node  # what is emitted as one block: a loop nest, or one kernel/view statement


@dataclass
class Schedule:
    """Everything codegen needs to know about how the graph is split."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    order: list[Node]  # every node, topologically
    units: list[Unit]  # emission order
    group_of: dict[Node, Group]
    users: dict[Node, list[Node]]
    materialized: set[Node]  # nodes whose value lives in a variable outside any loop body


def kind(node: Node) -> str:
    """'leaf', 'pointwise', 'reduction', 'view' or 'kernel': how the node is lowered."""
    match node.op.lowering:
        case Leaf():
            return "leaf"
        case Pointwise():
            return "pointwise"
        case Reduction():
            return "reduction"
        case View():
            return "view"
    return "kernel"


def data_inputs(node: Node) -> tuple[Node, ...]:
    """The inputs whose values the node reads: none for a statement that reads only
    their sizes (`Kernel(shape_only=True)`, e.g. `size`, whose sizes come from the inputs)."""
    lowering = node.op.lowering
    return () if isinstance(lowering, Kernel) and lowering.shape_only else node.inputs


def _sizes_first(order: list[Node]) -> list[Node]:
    """`order` with the nodes computed from sizes alone (a shape-only statement and
    what only it and leaves feed, e.g. a mean's `1 / (n * 32)`) moved to the front.

    Their groups then open first and get the lowest ids, so a loop that uses them
    (the mean's backward) may join the forward loop that made the array they were
    measured on, instead of waiting for it in a loop of its own.
    """
    early: set[Node] = set()
    for node in order:
        lowering = node.op.lowering
        if isinstance(lowering, Leaf):
            continue
        inputs = data_inputs(node)
        if not inputs and node.inputs or inputs and all(
                i in early or isinstance(i.op.lowering, Leaf) for i in inputs) and any(
                i in early for i in inputs):
            early.add(node)
    if not early:
        return order
    front = [n for n in order if n in early or isinstance(n.op.lowering, Leaf)]
    return front + [n for n in order if n not in early and not isinstance(n.op.lowering, Leaf)]


def is_constant(node: Node) -> bool:
    """A constant leaf (an input is a leaf without a value)."""
    return isinstance(node.op.lowering, Leaf) and node.value is not None


def schedule(inputs: Sequence[Node], outputs: Sequence[Node], max_group_size: int = 64,
             domain: Callable[[Node], Hashable] = lambda node: None) -> Schedule:
    """Split the graph into fusion groups and order them for emission."""
    order = _sizes_first(toposort(outputs))
    kinds = {node: kind(node) for node in order}
    users = _users(order)
    groups: list[Group] = []
    group_of: dict[Node, Group] = {}
    deps: dict[Node, int] = {}
    latest_of_shape: dict[tuple[Shape, Hashable], Group] = {}

    def open_group(shape: Shape, source: Node | None = None, kind_of: Hashable = None) -> Group:
        group = Group(len(groups), shape, source=source, domain=kind_of)
        groups.append(group)
        return group

    def fits(node: Node, group: Group) -> bool:
        if group.domain is None and len(group.members) >= max_group_size:
            return False
        for source in node.inputs:
            inside = group_of.get(source) is group and kinds[source] == "pointwise"
            if not inside and deps[source] >= group.id:
                return False
        return True

    for node in order:
        node_kind = kinds[node]
        upstream = max((deps[i] for i in data_inputs(node)), default=-1)
        if node_kind == "pointwise":
            own = domain(node)
            candidates = sorted(
                {group_of[i] for i in node.inputs if kinds[i] == "pointwise"
                 and i.shape == node.shape and i in group_of and group_of[i].domain == own},
                key=lambda g: -g.id)
            latest = latest_of_shape.get((node.shape, own))
            if latest is not None and latest not in candidates:
                candidates.append(latest)  # no producer group fits: share a sibling's loop
            chosen = next((g for g in candidates if fits(node, g)), None)
            group = chosen or open_group(node.shape, kind_of=own)
            latest_of_shape[(node.shape, own)] = group
            group.members.append(node)
            group_of[node] = group
            deps[node] = max(upstream, group.id)
        elif node_kind == "reduction":
            source = node.inputs[0]
            found = group_of.get(source) if kinds[source] == "pointwise" else None
            if found is None or not fits(node, found):
                found = next((g for g in reversed(groups) if g.source is source
                              and fits(node, g)), None)
            group = found or open_group(source.shape, source=source)
            group.members.append(node)
            group_of[node] = group
            deps[node] = max(upstream, group.id)
        else:
            deps[node] = upstream

    materialized = _materialized(order, kinds, users, group_of, outputs)
    units = _emission_order(order, kinds, group_of, materialized)
    return Schedule(tuple(inputs), tuple(outputs), order, units, group_of, users, materialized)


def _users(order: list[Node]) -> dict[Node, list[Node]]:
    """The nodes that read each node, in order (once per input position): a value read
    outside its group, or by a kernel, must be stored in an array (_materialized)."""
    users: dict[Node, list[Node]] = {}
    for node in order:
        for source in node.inputs:
            users.setdefault(source, []).append(node)
    return users


def _materialized(order: list[Node], kinds: dict[Node, str], users: dict[Node, list[Node]],
                  group_of: dict[Node, Group], outputs: Sequence[Node]) -> set[Node]:
    """Nodes that need a variable outside their loop body (an array, or a rank-0 scalar)."""
    wanted = set(outputs)
    result: set[Node] = set()
    for node in reversed(order):  # users before producers: a view's need flows to its source
        node_kind = kinds[node]
        if node_kind == "leaf":
            continue
        if node_kind in ("kernel", "reduction"):
            result.add(node)
            continue
        needed = node in wanted or any(
            kinds[user] in ("kernel",) and node in data_inputs(user)
            or user in result and kinds[user] == "view"
            or kinds[user] == "view" and node_kind == "pointwise"
            for user in users.get(node, ()))
        if node_kind == "pointwise":
            group = group_of[node]
            needed = needed or any(
                group_of.get(user) is not group for user in users.get(node, ())
                if kinds[user] != "view" and node in data_inputs(user))
        if needed:
            result.add(node)
    return result


def _emission_order(order: list[Node], kinds: dict[Node, str], group_of: dict[Node, Group],
                    materialized: set[Node]) -> list[Unit]:
    """Topological order of the units (Kahn), ties broken by first appearance: deterministic."""
    position = {node: index for index, node in enumerate(order)}
    unit_of: dict[Node, Unit] = {}
    first: dict[int, int] = {}
    units: list[Unit] = []
    for node in order:
        node_kind = kinds[node]
        if node_kind == "leaf" or node_kind == "view" and node not in materialized:
            continue
        unit: Unit = group_of.get(node) or node
        if id(unit) not in first:
            first[id(unit)] = position[node]
            units.append(unit)
        unit_of[node] = unit

    def producers(node: Node) -> list[Unit]:
        found: list[Unit] = []
        stack = list(data_inputs(node))
        while stack:
            source = stack.pop()
            if source in unit_of:
                found.append(unit_of[source])
            elif kinds[source] == "view":
                stack.extend(source.inputs)
        return found

    waiting: dict[int, int] = {id(u): 0 for u in units}
    followers: dict[int, list[Unit]] = {id(u): [] for u in units}
    for unit in units:
        members = unit.members if isinstance(unit, Group) else [unit]
        needed = {id(p): p for m in members for p in producers(m) if p is not unit}
        waiting[id(unit)] = len(needed)
        for producer in needed.values():
            followers[id(producer)].append(unit)
    ready = [(first[id(u)], index, u) for index, u in enumerate(units) if waiting[id(u)] == 0]
    heapq.heapify(ready)
    emitted: list[Unit] = []
    by_index = {id(u): index for index, u in enumerate(units)}
    while ready:
        _, _, unit = heapq.heappop(ready)
        emitted.append(unit)
        for follower in followers[id(unit)]:
            waiting[id(follower)] -= 1
            if waiting[id(follower)] == 0:
                heapq.heappush(ready, (first[id(follower)], by_index[id(follower)], follower))
    if len(emitted) != len(units):
        raise AssertionError("fusion produced a cycle between groups (a scheduler bug)")
    return emitted
