"""The simplifier's loop pass: rewrites inside scan bodies, dead loop outputs pruned, invariants hoisted.

Owns `loops(graph, options, fired)`, a pass of the simplifier pipeline
(registered in simplify.passes.NESTED, so both backends get it). For each
loop family (the `scan` nodes of one loop, see control/scan.py) it

1. merges the loop into the residual-saving copy scan_vjp made of it (same
   inputs, a body whose outputs extend this one's by the residuals), so the
   forward loop runs once for the values and the reverse pass;
2. simplifies the body with the same pipeline (so nested loops too);
3. prunes what no member reads: per-step outputs nobody stacks (the
   cotangent of an xs no one differentiates), carries that feed neither a
   wanted output nor a needed carry, and inputs the body no longer reads;
4. hoists loop-invariant work: body nodes that read only loop-invariant
   inputs are computed once, outside the loop, and passed in;
5. turns accumulators into one reduction after the loop: a carry that is
   only ever `carry + f` (a weight gradient in a reverse loop) becomes the
   per-step output f and `init + sum(f over steps)`; when f is a product
   `transpose(a) @ b` of per-step matrices the sum is ONE product of the
   stacked a and b (T*B rows: a big, efficient BLAS call instead of T small
   ones, and no per-step allocation of the accumulator);
6. moves per-step work that does not need the carry out of the loop, as one
   batched op over all steps (control/scan_hoist.py): costly xs-only work
   before it (`x_t @ Wx`), per-step outputs no carry reads after it (an RNN's
   readout and loss, their residuals, a bias gradient).

A rewritten body is remembered, so the pass reaches a fixed point. Loops that
rebuild carries from checkpoints (`recompute`) are left as they are.
Imports: ir, subgraph, simplify.pipeline, control.scan/scan_hoist/trace (layer L3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import shapes
from ..ir import Graph, Node, apply, substitute, toposort
from ..lowering import Leaf
from ..ops import add, matmul, reshape, transpose
from ..ops import sum as reduce_sum
from ..ops.elementwise import ADD  # the record, not its name: a carry `carry + f`
from ..subgraph import Subgraph
from .scan import BUILT, SCAN, family_key, steps
from .scan_hoist import hoist_after, hoist_before
from .trace import placeholder

_DONE: set[int] = set()  # bodies this pass built or found already simple


def _attrs(node: Node) -> dict[str, Any]:
    return {k: v for k, v in node.attrs if k != "output"}


def _extends(big: Subgraph, small: Subgraph) -> bool:
    return big.inputs == small.inputs and big.carries == small.carries and big.xs == small.xs \
        and big.outputs[:len(small.outputs)] == small.outputs and len(big.outputs) > len(small.outputs)


def _families(order: Sequence[Node]) -> list[list[Node]]:
    """The loop families of the graph, a plain loop merged into its residual-saving extension."""
    groups: dict[Any, list[Node]] = {}
    for node in order:
        if node.op is SCAN and node.attr.get("recompute") is None:
            groups.setdefault(family_key(node), []).append(node)
    merged: list[list[Node]] = []
    extensions = [g for g in groups.values() if g[0].attr.get("residuals")]
    for group in groups.values():
        head = group[0]
        if head.attr.get("residuals"):
            continue
        rest = {k: v for k, v in _attrs(head).items() if k != "body"}
        host = next((e for e in extensions if e[0].inputs == head.inputs
                     and {k: v for k, v in _attrs(e[0]).items()
                          if k not in ("body", "residuals")} == rest
                     and _extends(e[0].attr["body"], head.attr["body"])), None)
        if host is not None:
            host.extend(group)
        else:
            merged.append(group)
    return merged + extensions


def _reached(body: Subgraph, outputs: Sequence[Node]) -> set[Node]:
    return set(toposort(list(outputs))) if outputs else set()


def _needed(body: Subgraph, wanted: set[tuple[str, int]]) -> tuple[list[int], list[int], set[Node]]:
    """Carries and ys to keep (a carry is kept if wanted or read by what is kept), and the
    body nodes they reach."""
    nc = body.carries
    ys = sorted(j for kind, j in wanted if kind == "ys")
    carries = {i for kind, i in wanted if kind in ("carry", "history")}
    while True:
        reached = _reached(body, [body.outputs[i] for i in sorted(carries)]
                           + [body.outputs[nc + j] for j in ys])
        more = {i for i in range(nc) if body.inputs[i] in reached} - carries
        if not more:
            return sorted(carries), ys, reached
        carries |= more


def _accumulators(body: Subgraph, carries: list[int], ys: list[int],
                  wanted: set[tuple[str, int]], static: bool) -> dict[int, Node]:
    """Carries i whose new value is `carry_i + f`, read nowhere else: i -> f."""
    nc = body.carries
    found: dict[int, Node] = {}
    for i in carries:
        new, own = body.outputs[i], body.inputs[i]
        if ("history", i) in wanted or new.op is not ADD or own not in new.inputs:
            continue
        f = new.inputs[1] if new.inputs[0] is own else new.inputs[0]
        if f is own or tuple(f.shape) != tuple(own.shape) or f.dtype != own.dtype:
            continue
        if not _parts(f, static)[1:] and not _small(f):  # stacking a big f would cost T copies
            continue
        others = [body.outputs[k] for k in carries if k != i] + [body.outputs[nc + j] for j in ys]
        if own in _reached(body, others + [f]):
            continue
        found[i] = f
    return found


STACKED_LIMIT = 1 << 14  # elements of an accumulator's per-step value stacked whole (a bias gradient)
SIMPLIFY_SETTINGS = ("STACKED_LIMIT",)  # in the simplified graph's cache key (api._simplified)


def _small(node: Node) -> bool:
    size = shapes.product(node.shape)
    return isinstance(size, int) and size <= STACKED_LIMIT


def _parts(f: Node, static: bool) -> list[Node]:
    """What the loop stacks for accumulator f: [a, b] where its op declares f the sum of the
    outer products of a's and b's rows (`Op.outer_sum`: matmul's `transpose(a) @ b`), else [f].

    The number of steps may be symbolic: the stacked rows are reshaped to (T*B, .), a
    size the shape algebra carries (`static` is kept for the callers' signature)."""
    pair = f.op.outer_sum(f) if f.op.outer_sum is not None else None
    return [f] if pair is None else list(pair)


def _hoist(body: Subgraph, outputs: list[Node], consts: list[Node], outer: list[Node],
           ) -> tuple[list[Node], list[Node], list[Node]]:
    """(body outputs, const placeholders, outer tensors) with loop-invariant work moved out."""
    varying = set(body.inputs[:body.carries + body.xs])
    order = toposort(outputs)
    for node in order:
        if any(i in varying for i in node.inputs):
            varying.add(node)
    invariant = [n for n in order if n not in varying and n.inputs and not isinstance(n.op.lowering, Leaf)]
    if not invariant:
        return outputs, consts, outer
    chosen = {n for n in invariant if n in outputs} | {
        i for n in order if n in varying for i in n.inputs if i in set(invariant)}
    chosen_list = [n for n in order if n in chosen]
    outside = substitute(chosen_list, dict(zip(consts, outer)))
    stand_ins = [placeholder(n, f"h{k}") for k, n in enumerate(chosen_list)]
    outputs = substitute(outputs, dict(zip(chosen_list, stand_ins)))
    reached = _reached(body, outputs)
    keep = [k for k, c in enumerate(consts) if c in reached]
    keep_new = [k for k, s in enumerate(stand_ins) if s in reached]
    return (outputs, [consts[k] for k in keep] + [stand_ins[k] for k in keep_new],
            [outer[k] for k in keep] + [outside[k] for k in keep_new])


@dataclass
class _Split:
    """Where each wanted value of one loop comes from after the rewrite.

    `carries` the carries it keeps, `plain`/`saved` the per-step outputs it
    still stacks (plain ys, then residuals for a reverse pass), `stacks` the
    per-step values an accumulator or work moved after the loop needs
    stacked, `accumulators` carry index -> f of `carry + f`, `xs_of` body
    input -> the xs it steps through (a value already stacked), `outside`
    the per-step values found without the loop, `after` what hoist_after moved.
    """

    work: Subgraph
    inputs: list[Node]
    before: int
    carries: list[int]
    ys: list[int]  # the per-step outputs a member reads (some now found without the loop)
    plain: list[int]
    saved: list[int]
    stacks: list[Node]
    accumulators: dict[int, Node]
    xs_of: dict[Node, Node]
    outside: set[Node]
    after: Any


def _rewrite(members: list[Node], inputs: list[Node], run: Any,
             fired: Counter[str]) -> dict[Node, Node] | None:
    """New nodes for the members of one loop, or None when nothing changes (module docstring:
    simplify the body, move work before and after the loop, sum accumulators after it, prune,
    hoist invariants), one named step each."""
    head = members[0]
    body: Subgraph = head.attr["body"]
    attrs = _attrs(head)
    outputs, simplified = _simplified_outputs(body, run)
    work = Subgraph(body.inputs, tuple(outputs), body.carries, body.xs)
    count = steps(inputs, body, attrs["length"], attrs.get("recompute"))
    wanted = {m.attr["output"] for m in members}
    split = _split(work, inputs, wanted, isinstance(count, int), count,
                   body.ys - attrs.get("residuals", 0), fired)
    kept, xs, consts, const_nodes, outer = _pruned(split)
    work, inputs = split.work, split.inputs
    pruned = len(split.carries) < body.carries or len(split.ys) < body.ys \
        or len(xs) < work.xs or len(consts) < work.consts
    hoisted = len(outer) != len(consts) or any(a is not inputs[k] for a, k in zip(outer, consts))
    merged = any(m.attr["body"] is not body for m in members)
    if not (simplified or pruned or hoisted or merged or split.before or split.after) \
            and all(a is b for a, b in zip(inputs, head.inputs)):
        _DONE.add(body.number)
        return None
    new_body = Subgraph(tuple([work.inputs[i] for i in split.carries] + [work.inputs[k] for k in xs]
                              + const_nodes), tuple(kept), len(split.carries), len(xs))
    _DONE.add(new_body.number)
    fired["loops_pruned" if pruned else "loops_rewritten"] += 1
    if split.accumulators:
        fired["loops_accumulators"] += len(split.accumulators)
    if split.saved:
        attrs["residuals"] = len(split.saved)
    else:
        attrs.pop("residuals", None)
    attrs["body"] = new_body
    loop_inputs = [inputs[i] for i in split.carries] + [inputs[k] for k in xs] + outer
    return _member_values(members, split, loop_inputs, attrs, isinstance(count, int))


def _simplified_outputs(body: Subgraph, run: Any) -> tuple[list[Node], bool]:
    """The body's outputs after the simplifier pipeline (nested loops too), and whether they
    changed; a body this pass built or found simple is not simplified again (_DONE)."""
    if body.number in _DONE:
        return list(body.outputs), False
    outputs = list(run(Graph(body.inputs, body.outputs)).outputs)
    return outputs, any(a is not b for a, b in zip(outputs, body.outputs))


def _split(work: Subgraph, inputs: list[Node], wanted: set[tuple[str, int]], static: bool,
           count: Any, residual_from: int, fired: Counter[str]) -> _Split:
    """Move per-step work out of the loop and find the accumulators to sum after it.

    Costly xs-only work goes before the loop, except the factors of an accumulated
    product `a^T b` (summed as ONE product after the loop, they must stay per step);
    then accumulators become stacked parts, and per-step outputs no carry reads move after
    the loop (scan_hoist.py)."""
    carries, ys, _ = _needed(work, wanted)
    products = [f for f in _accumulators(work, carries, ys, wanted, static).values()
                if len(_parts(f, static)) == 2]
    work, inputs, before = hoist_before(work, inputs, keep=set(products))
    if before:
        fired["loops_hoisted_before"] += before
    nc, outputs = work.carries, list(work.outputs)
    carries, ys, _ = _needed(work, wanted)  # again: the body changed
    accumulators = _accumulators(work, carries, ys, wanted, static)
    xs_of = {work.inputs[k]: inputs[k] for k in range(nc, nc + work.xs)}
    stacks: list[Node] = []  # per-step values the accumulators need stacked (not already xs)
    for f in accumulators.values():
        stacks += [p for p in _parts(f, static) if p not in xs_of and p not in stacks]
    carries = [i for i in carries if i not in accumulators]
    per_step = [outputs[nc + j] for j in ys] + stacks
    after = hoist_after(work, inputs, [outputs[i] for i in carries], per_step, count)
    outside = set(xs_of) | set(after.moved if after else ())  # stacks found without the loop
    plain = [j for j in ys if j < residual_from and outputs[nc + j] not in outside]
    saved = [j for j in ys if j >= residual_from and outputs[nc + j] not in outside]
    stacks = [p for p in stacks if p not in outside]
    stacks += [p for p in (after.frontier if after else []) if p not in stacks]
    if after:
        fired["loops_hoisted_after"] += len(after.moved)
    return _Split(work, inputs, before, carries, ys, plain, saved, stacks, accumulators, xs_of,
                  outside, after)


def _pruned(split: _Split) -> tuple[list[Node], list[int], list[int], list[Node], list[Node]]:
    """(body outputs kept, xs kept, consts kept, the body's const inputs, the tensors passed for
    them): what no kept output reaches is dropped, loop-invariant work hoisted (`_hoist`)."""
    work, inputs, nc, nx = split.work, split.inputs, split.work.carries, split.work.xs
    outputs = list(work.outputs)
    kept = ([outputs[i] for i in split.carries] + [outputs[nc + j] for j in split.plain]
            + split.stacks + [outputs[nc + j] for j in split.saved])
    reached = _reached(work, kept)
    xs = [k for k in range(nc, nc + nx) if work.inputs[k] in reached] or ([nc] if nx else [])
    consts = [k for k in range(nc + nx, len(work.inputs)) if work.inputs[k] in reached]
    kept, const_nodes, outer = _hoist(work, kept, [work.inputs[k] for k in consts],
                                      [inputs[k] for k in consts])
    return kept, xs, consts, const_nodes, outer


def _member_values(members: list[Node], split: _Split, loop_inputs: list[Node],
                   attrs: dict[str, Any], static: bool) -> dict[Node, Node]:
    """Each member's new node: a new scan output (renumbered), a value moved out of the loop,
    or an accumulator's `init + sum` after it."""
    head, plain, stacks = members[0], split.plain, split.stacks
    outputs, nc, after = list(split.work.outputs), split.work.carries, split.after
    where = {("carry", i): ("carry", n) for n, i in enumerate(split.carries)}
    where.update({("history", i): ("history", n) for n, i in enumerate(split.carries)})
    where.update({("ys", j): ("ys", n) for n, j in enumerate(plain)})
    where.update({("ys", j): ("ys", len(plain) + len(stacks) + n) for n, j in enumerate(split.saved)})
    made: dict[tuple[str, int], Node] = {}

    def loop_output(output: tuple[str, int], like: Node) -> Node:
        if output not in made:
            made[output] = apply(SCAN, *loop_inputs, output=output, name=like.name,
                                 origin=like.origin, scope=like.scope, **attrs)
        return made[output]

    moved: dict[Node, Node] = {}

    def stacked(part: Node) -> Node:
        if part in split.xs_of:
            return split.xs_of[part]
        if after and part in after.moved:
            if not moved:
                moved.update(after.values([stacked(f) for f in after.frontier]))
            return moved[part]
        return loop_output(("ys", len(plain) + stacks.index(part)), head)

    result = {}
    for member in members:
        kind, index = member.attr["output"]
        if kind == "carry" and index in split.accumulators:
            result[member] = _reduced(split.inputs[index], _parts(split.accumulators[index], static),
                                      stacked)
        elif kind == "ys" and outputs[nc + index] in split.outside:
            result[member] = stacked(outputs[nc + index])
        else:
            result[member] = loop_output(where[member.attr["output"]], member)
    return result


def _reduced(init: Node, parts: list[Node], stacked: Any) -> Node:
    """init + the sum over steps of f, from the stacked per-step values (`_parts`)."""
    if len(parts) == 2:  # sum_t a_t^T b_t = A^T B over the T*B stacked rows: one product
        a, b = (stacked(p) for p in parts)
        if 0 in (a.shape[2], b.shape[2]):  # an empty accumulator (and -1 below undetermined)
            return init
        total = matmul(transpose(reshape(a, (-1, a.shape[2]))), reshape(b, (-1, b.shape[2])))
    else:
        total = reduce_sum(stacked(parts[0]), axis=0)
    return add(init, total.astype(init.dtype) if total.dtype != init.dtype else total)


def loops(graph: Graph, options: Any, fired: Counter[str]) -> Graph:
    """The pass (see the module docstring)."""
    if not BUILT[0]:  # no loop anywhere in this process: no walk over a large graph
        return graph
    order = toposort(graph.outputs)
    if not any(node.op is SCAN for node in order):
        return graph
    from ..simplify.pipeline import run as run_pipeline

    def run(body_graph: Graph) -> Graph:
        return run_pipeline(body_graph, options)[0]

    family_of: dict[Node, list[Node]] = {}
    for members in _families(order):
        for member in members:
            family_of[member] = members
    memo: dict[Node, Node] = {}
    changed = False
    for node in order:
        if node in memo:
            continue
        inputs = [memo.get(i, i) for i in node.inputs]
        if node in family_of:
            new = _rewrite(family_of[node], inputs, run, fired)
            if new is not None:
                memo.update(new)
                changed = True
                continue
        if all(a is b for a, b in zip(inputs, node.inputs)):
            memo[node] = node
        else:
            memo[node] = apply(node.op, *inputs, name=node.name, origin=node.origin,
                               scope=node.scope, **node.attr)
            changed = True
    if not changed:
        return graph
    return Graph(graph.inputs, tuple(memo[o] for o in graph.outputs))


__all__ = ["loops"]


def _register() -> None:
    from ..simplify.passes import NESTED

    if loops not in NESTED:
        NESTED.append(loops)


_register()
