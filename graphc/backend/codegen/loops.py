"""`Loops`: fused groups as loop nests, pointwise statements and reduction accumulators.

Owns: `emit_group` (one loop nest per fusion group), blocked float sums
(SUM_BLOCK terms at a time, so LLVM vectorizes them), `prange` safety, the
sin/cos range flag, and accumulators (init, accumulate, finish) laid out by
`reduction_layout`. Imports: emitter, text. Entry point: subclassed by
interpreted.Interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from ... import dtypes, shapes
from ...ir import Node
from ...lowering import Pointwise, Reduction
from ..kernels import REDUCED_RANGE
from ..schedule import Group, kind
from .emitter import Emitter
from .text import RANGE_FLAG, SUM_BLOCK, literal


def _broadcast(source: shapes.Shape, target: shapes.Shape, index: Sequence[str]) -> list[str]:
    """Index of an input broadcast to `target`: trailing axes, 0 on its size-1 axes."""
    lead = len(target) - len(source)
    return ["0" if size == 1 and target[lead + a] != 1 else index[lead + a]
            for a, size in enumerate(source)]


def reduction_layout(node: Node, index: Sequence[str]) -> tuple[list[str], tuple[int, ...]]:
    """(output index for an input `index`, the reduced input axes).

    Reductions carry `axis`/`keepdims`; an un-broadcast (`sum_to`) reduces the
    leading axes and those where its target shape has a static 1.
    """
    source = node.inputs[0].shape
    attrs = node.attr
    if "axis" in attrs:
        axes = tuple(attrs["axis"])
        if attrs.get("keepdims", False):
            out = ["0" if a in axes else i for a, i in enumerate(index)]
        else:
            out = [i for a, i in enumerate(index) if a not in axes]
        return out, axes
    lead = len(source) - node.ndim
    reduced = tuple(range(lead)) + tuple(
        lead + j for j, size in enumerate(node.shape) if size == 1 and source[lead + j] != 1)
    out = ["0" if lead + j in reduced else index[lead + j] for j in range(node.ndim)] \
        if index else []
    return out, reduced


def _reduction(node: Node) -> Reduction:
    reduction = node.op.lowering
    assert isinstance(reduction, Reduction), node.op
    return reduction


def reduced_kernel(pointwise: Pointwise, suffix: str) -> str | None:
    """`sin_reduced_f64` for an op calling a kernel with a reduced-range form (no libm branch)."""
    if pointwise.kernel is None:
        return None
    name = f"{pointwise.kernel}_reduced_{suffix}"
    return name if name in REDUCED_RANGE else None


def _extreme(dtype: np.dtype, low: bool) -> str:
    if dtype.kind == "f":
        return "-np.inf" if low else "np.inf"
    if dtype.kind == "b":
        return "False" if low else "True"
    info = np.iinfo(dtype)
    return str(info.min if low else info.max)



class Loops(Emitter):
    """Emitters for fused groups: loops, pointwise statements, accumulators.

    `buffers` (set by statements.Generator): a member named there is written into that
    array, its caller's (a scan body's result: backend/scan_buffers.py), not allocated."""

    buffers: Mapping[Node, str] = MappingProxyType({})

    def _open_loops(self, shape: shapes.Shape, blocked: Sequence[Node] = (),
                    parallel: bool = False) -> None:
        """One loop per axis; `blocked` sums walk the last axis in blocks of SUM_BLOCK.

        `parallel` makes the outermost loop a `prange` (over blocks, when the
        group has one axis and blocked sums), with the blocks' term buffers
        allocated inside it so that threads do not share them.
        """
        for axis, size in enumerate(shape):
            extent = self.size(size)
            loop = "prange" if parallel and axis == 0 else "range"
            if blocked and axis == len(shape) - 1:
                if loop == "prange":  # prange takes no step
                    self.writer.emit(f"for block_index{axis} in prange(({extent} + "
                                     f"{SUM_BLOCK - 1}) // {SUM_BLOCK}):")
                    self.writer.depth += 1
                    self.writer.emit(f"block{axis} = block_index{axis} * {SUM_BLOCK}")
                else:
                    self.writer.emit(f"for block{axis} in range(0, {extent}, {SUM_BLOCK}):")
                    self.writer.depth += 1
                if parallel and axis == 0:
                    self._allocate_terms(blocked)
                self.writer.emit(f"for i{axis} in range(block{axis}, "
                                 f"min(block{axis} + {SUM_BLOCK}, {extent})):")
            else:
                self.writer.emit(f"for i{axis} in {loop}({extent}):")
                if parallel and axis == 0 and blocked:
                    self.writer.depth += 1
                    self._allocate_terms(blocked)
                    self.writer.depth -= 1
            self.writer.depth += 1

    def emit_group(self, group: Group) -> None:
        members = group.members
        index = [f"i{axis}" for axis in range(len(group.shape))]
        materialized = self.plan.materialized
        blocked = self._blocked_sums(group)
        parallel = self.parallel and self._parallel_safe(group)
        self.used_prange |= parallel
        self.in_prange = parallel
        for node in members:  # allocations and accumulator initial values
            if kind(node) == "reduction":
                self._init_accumulator(node)
            elif node in materialized and node.ndim > 0 and node in self.buffers:
                self.writer.emit(f"{self.name(node)} = {self.buffers[node]}")  # its caller's array
            elif node in materialized and node.ndim > 0:
                self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}")
        if not parallel:  # one buffer; a parallel loop gives each iteration its own
            self._allocate_terms(blocked)
        self._open_loops(group.shape, blocked=blocked, parallel=parallel)
        self._checked = set()
        for node in members:
            if node in blocked:
                last = len(group.shape) - 1
                self.writer.emit(f"{self.name(node)}_terms[i{last} - block{last}] = "
                                 f"{self.access(node.inputs[0], index, node)}",
                                 self.describe(node))
            elif kind(node) == "reduction":
                self._accumulate(node, index)
                continue
            else:
                self._emit_pointwise(node, index)
        if blocked:
            self.writer.depth -= 1
            self._add_blocks(group, blocked, index)
        self.writer.depth -= len(group.shape)
        for node in members:
            self.locals.pop(node, None)
            if kind(node) == "reduction":
                self._finish(node)

    def _emit_pointwise(self, node: Node, index: Sequence[str]) -> None:
        value = self._pointwise(node, index)
        materialized = node in self.plan.materialized
        if node.ndim == 0:
            local = self.name(node)
        elif materialized:
            local = self.name(node) + "_e"
        else:
            local = self.name(node)
        self.writer.emit(f"{local} = {value}", self.describe(node))
        self.locals[node] = local
        if materialized and node.ndim > 0:
            self.writer.emit(f"{self.name(node)}[{', '.join(index)}] = {local}")

    def _allocate_terms(self, blocked: Sequence[Node]) -> None:
        for node in blocked:
            self.helpers.add("empty")
            self.writer.emit(f"{self.name(node)}_terms = empty({SUM_BLOCK}, "
                             f"np.{node.dtype.name})",
                             f"terms of {self.name(node)}, added a block at a time")

    def _parallel_safe(self, group: Group) -> bool:
        """Whether the group's outermost loop may be a `prange`.

        Iterations must not write the same element: each reduction either keeps
        axis 0 (iteration i0 owns its row of the result) or is a rank-0 sum,
        which Numba combines across threads (max/min of a scalar it cannot).
        """
        if not group.shape:
            return False
        for node in group.members:
            if kind(node) != "reduction":
                continue
            if node.ndim == 0:
                if not _reduction(node).additive:
                    return False
            elif "i0" not in reduction_layout(node, [f"i{a}" for a in range(len(group.shape))])[0]:
                return False
        return True

    def _blocked_sums(self, group: Group) -> list[Node]:
        """Float sums along the group's last axis, when that axis may be long.

        They are written to a block of terms and added by `sum_block`, so that
        the loop has no float accumulator and vectorizes; a short static axis
        keeps the plain running sum (and the worked examples stay simple).
        """
        if not group.shape:
            return []
        last = len(group.shape) - 1
        extent = group.shape[last]
        if isinstance(extent, int) and extent < 2 * SUM_BLOCK:
            return []
        found = []
        for node in group.members:
            if kind(node) != "reduction" or node.dtype.kind != "f":
                continue
            if not _reduction(node).additive or node.inputs[0].shape != group.shape:
                continue
            if last in reduction_layout(node, [])[1]:
                found.append(node)
        return found

    def _add_blocks(self, group: Group, blocked: list[Node], index: Sequence[str]) -> None:
        last = len(group.shape) - 1
        extent = self.size(group.shape[last])
        count = f"min({SUM_BLOCK}, {extent} - block{last})"
        for node in blocked:
            target_index, _ = reduction_layout(node, index)
            name = self.name(node)
            target = name if node.ndim == 0 else f"{name}[{', '.join(target_index)}]"
            self.writer.emit(f"{target} += sum_block({name}_terms, {count}, "
                             f"{literal(0, node.dtype)})", f"block of {name}")
        self.helpers.add("sum_block")

    def _pointwise(self, node: Node, index: Sequence[str]) -> str:
        pointwise = node.op.lowering
        assert isinstance(pointwise, Pointwise)
        arguments = []
        for position, source in enumerate(node.inputs):
            value = self.access(source, _broadcast(source.shape, node.shape, index), node)
            if node.dtype.kind == "f" and source.dtype.kind in "iub" \
                    and position not in pointwise.conditions and not self._is_literal(source):
                value = f"np.{node.dtype.name}({value})"
            arguments.append(value)
        expression = pointwise.template.format(*arguments, **self.attributes(node))
        suffix = dtypes.short_name(node.dtype) if node.dtype.kind == "f" else "f64"
        called = pointwise.template.replace("{suffix}", suffix)
        reduced = reduced_kernel(pointwise, suffix)
        if self.inline_kernels and reduced is not None:
            expression = f"{reduced}({arguments[0]})"
            called = reduced + "("
            self._check_range(arguments[0], REDUCED_RANGE[reduced])
        self._note_helpers(called)
        if node.dtype in (np.dtype("float32"), np.dtype("int32")) and not pointwise.exact_dtype:
            expression = f"np.{node.dtype.name}({expression})"
        return expression

    def _check_range(self, argument: str, limit: float) -> None:
        """Flag arguments a reduced sin/cos cannot take: the caller then recomputes exactly.

        The reduced kernels return NaN beyond `limit` (|x| > ~8e5 in float64),
        where the exact ones would branch to libm on every vector lane.
        """
        self.range_flag = True
        if argument in self._checked:
            return
        self._checked.add(argument)
        self.writer.emit(f"{RANGE_FLAG} += abs({argument}) > {limit!r}",
                         f"sin/cos of {argument} beyond the reduced range?")

    def _init_accumulator(self, node: Node) -> None:
        init = _reduction(node).init.format(lowest=_extreme(node.dtype, low=True),
                                           highest=_extreme(node.dtype, low=False))
        name = self.name(node)
        if node.ndim == 0:
            self.writer.emit(f"{name} = np.{node.dtype.name}({init})")
        else:
            self.allocate(node, "full", f"{format(self.shape(node.shape))}, {init}, np.{node.dtype.name}",
                          fill=init)

    def _accumulate(self, node: Node, index: Sequence[str]) -> None:
        reduction = _reduction(node)
        source = node.inputs[0]
        value = self.access(source, index, node)
        if node.dtype.kind == "f" and source.dtype.kind in "iub":
            value = f"np.{node.dtype.name}({value})"
        target_index, _ = reduction_layout(node, index)
        name = self.name(node)
        target = name if node.ndim == 0 else f"{name}[{', '.join(target_index)}]"
        update = reduction.update.format(value, acc=target)
        self._note_helpers(reduction.update)  # maximum(...) of max
        if node.dtype in (np.dtype("float32"), np.dtype("int32")):
            update = f"np.{node.dtype.name}({update})"
        if self.in_prange and node.ndim == 0:  # the form Numba parallelizes as a reduction
            assert reduction.additive
            self.writer.emit(f"{target} += np.{node.dtype.name}({value})"
                             if node.dtype in (np.dtype("float32"), np.dtype("int32"))
                             else f"{target} += {value}", self.describe(node))
            return
        self.writer.emit(f"{target} = {update}", self.describe(node))

    def _finish(self, node: Node) -> None:
        finish = _reduction(node).finish
        if finish is None:
            return
        _, reduced = reduction_layout(node, [])
        count = "(" + (" * ".join(self.size(node.inputs[0].shape[a]) for a in reduced) or "1") + ")"
        name = self.name(node)
        expression = finish.format(acc=name, count=count)
        if node.ndim == 0:
            expression = f"np.{node.dtype.name}({expression})"
        self.writer.emit(f"{name} = {expression}", f"finish {node.op.name} {name}")
