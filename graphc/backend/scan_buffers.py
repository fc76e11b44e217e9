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

Only products, measured (docs/benchmarks.md, "Loops", 2026-12-06 15:54):
the same for the fused elementwise loops' results (`empty`, and
`zeros`/`full` accumulators) into argument arrays made the LSTM step 1.4-1.9x
slower in CPU time (interleaved A/B, 4 variants). The cause is not known:
in isolation the LSTM's gate loop costs the same writing into fresh arrays,
argument arrays or rows of a stacked output (43.6/44.1/45.3 us, docs/scan.md).
So those still allocate each step (as do helpers that allocate internally,
log_softmax_rows, one_hot_flat); the products, the biggest arrays of an
LSTM step, do not. This module reads the schedule and the lowering records
only, never generated text.
Imports: ir, lowering, backend.schedule (layer L4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..ir import Node
from ..lowering import Kernel
from .schedule import Schedule


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


def plan_buffers(plan: Schedule, outputs: Sequence[Node]) -> BodyBuffers:
    """The body's products that write into an output argument or a work array (module docstring)."""
    results = {node: k for k, node in enumerate(outputs) if node.ndim and list(outputs).count(node) == 1}
    outs: dict[int, Node] = {}
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
