"""A loop body writing its products into buffers its driver allocates once, not each step.

Owns `plan_buffers(plan, outputs) -> BodyBuffers`, used by
backend/scan_codegen.py before it generates a scan body. Why: the body is
generated like any graph, so each call allocates its results, and a loop of
T steps allocates per step. Each top-level matrix product of the body whose
lowering record can write into a given array (`Kernel.into`: matmul's
`np.dot(a, b, out)` / `matmul_small_into(a, b, out)`) gets a buffer, which
codegen (`generate(..., into=)`) makes an extra parameter of the body and
writes the product into:

- an *output argument* `out<k>` when the product is the body's k-th result:
  the driver passes the stacked output's row `ys[t]` (no copy afterwards)
  or, for a carry, the second of two buffers it swaps each step (double
  buffering: the body reads one while writing the other);
- a *work array* `w<m>` otherwise (its shape static): allocated once by the
  driver, reused every step. Safe because the body is not reentrant and the
  driver copies any result that is a view of a work array before the next
  step.

Fused elementwise loops too: a body result a fused loop computes whole
(an LSTM's gates, its new c, the backward's new dc) is written into its
output argument `out<k>` the same way (codegen's group allocation becomes
`t4 = out3`); a result returned at several positions goes to the first (the
driver copies it to the others). Measured 2026-12-07 (one process, the
generated drivers A/B, CPU time): the LSTM step's forward loop 8.2 -> 7.0 ms,
its reverse loop 5.8 -> 5.4 ms; the whole step 25.1 -> 23.7 ms
(docs/benchmarks.md, table 34). An earlier attempt (2026-12-06) had measured
this 1.4-1.9x slower; it is not slower here. Reductions keep their
accumulators, helpers that allocate internally (log_softmax_rows,
one_hot_flat, np.concatenate) still allocate.
This module reads the schedule and the lowering records
only, never generated text.
Imports: ir, lowering, backend.schedule (layer L4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir import Node
from ..lowering import Kernel
from .schedule import Schedule, kind


@dataclass
class BodyBuffers:
    """What the body writes into and what its driver must pass it."""

    buffers: dict[Node, str] = field(default_factory=dict)  # node -> parameter, in parameter order
    written: list[int] = field(default_factory=list)  # result k written into argument out<k>
    work: list[str] = field(default_factory=list)  # the driver's allocation of work array w<m>

    def arguments(self) -> list[str]:
        """The body's added parameters, in order (after its own)."""
        return [f"out{k}" for k in self.written] + [f"w{m}" for m in range(len(self.work))]


def _writes_into(node: Node) -> bool:
    lowering = node.op.lowering
    return isinstance(lowering, Kernel) and lowering.into_text(node) is not None


def _static(node: Node) -> str | None:
    """The driver's allocation of an array shaped like `node` when its shape is static, else None."""
    if not all(isinstance(size, int) for size in node.shape):
        return None
    return f"np.empty({tuple(node.shape)!r}, np.{np.dtype(node.dtype).name})"


def _fused_results(plan: Schedule, outputs: Sequence[Node]) -> dict[int, Node]:
    """Body results a fused elementwise loop computes whole: result k -> its node, written
    into output argument out<k> (a result returned at several positions goes to the first,
    the driver copies it to the others). Reductions keep their accumulators."""
    first: dict[Node, int] = {}
    for k, node in enumerate(outputs):
        first.setdefault(node, k)
    found: dict[int, Node] = {}
    for unit in plan.units:
        if isinstance(unit, Node):
            continue
        for node in unit.members:
            if node in first and node.ndim and kind(node) == "pointwise" \
                    and node in plan.materialized and tuple(node.shape) == tuple(unit.shape):
                found[first[node]] = node
    return found


def plan_buffers(plan: Schedule, outputs: Sequence[Node]) -> BodyBuffers:
    """The body's products that write into an output argument or a work array, and the
    results its fused elementwise loops write into output arguments (module docstring)."""
    results = {node: k for k, node in enumerate(outputs) if node.ndim and list(outputs).count(node) == 1}
    outs: dict[int, Node] = _fused_results(plan, outputs)
    work: list[tuple[Node, str]] = []
    for unit in plan.units:
        if not isinstance(unit, Node) or unit in plan.inputs or not _writes_into(unit):
            continue
        if unit in results:
            outs[results[unit]] = unit
        elif (allocation := _static(unit)) is not None:
            work.append((unit, allocation))
    buffers = BodyBuffers(written=sorted(outs))
    buffers.buffers.update({outs[k]: f"out{k}" for k in buffers.written})
    buffers.buffers.update({node: f"w{m}" for m, (node, _) in enumerate(work)})
    buffers.work = [allocation for _, allocation in work]
    return buffers


__all__ = ["BodyBuffers", "plan_buffers"]
