"""The back half of compilation, in order: policy -> schedule -> choose interpreted groups -> generate.

Owns: `lower(inputs, outputs, names, parallel) -> Lowered`, the one place
that runs the lowering stages in sequence (tinygrad's codegen/__init__.py is
the model: the backend as a visible list of named stages), and `Lowered`,
what the rest of compilation needs of it. Imports: policy (fusion policy,
which groups the block interpreter runs), codegen, blas_threads; the first
two inside `lower`, so that a graph whose lowering comes from the cache
(lowered_cache.py) never imports them (~0.1-0.25 s of a warm start). Entry
point: `lower`; jit.py stores, imports and compiles what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import collector
from ..ir import Node
from . import blas_threads

if TYPE_CHECKING:
    from .codegen import Generated
    from .schedule import Schedule


@dataclass(frozen=True)
class Lowered:
    """The generated module, the facts of its schedule later stages need, and the seconds
    each stage took. `plan` is None when the lowering came from the cache (lowered_cache.py):
    everything after lowering reads the facts below, never the plan."""

    plan: Schedule | None
    generated: Generated
    seconds: dict[str, float] = field(default_factory=dict)
    groups: int = 0  # fused loop nests (f.stats["groups"])
    nodes: int = 0  # nodes scheduled (f.stats["nodes"])
    one_thread: bool = False  # a product OpenBLAS may thread: call with one BLAS thread
    may_alias: tuple[bool, ...] = ()  # per output: may be a view of an argument (not fresh)


def lower(inputs: Sequence[Node], outputs: Sequence[Node],
          names: Sequence[str | None] | None = (), parallel: bool = False,
          kernels: bool | None = None) -> Lowered:
    """The generated module for a graph: no file, no import, no Numba.

    `kernels`: kernel mode on/off (None: codegen decides); a loop body called
    from a jitted driver must be one njit function (False).
    """
    from . import policy
    from .codegen import fresh, generate, kernel_mode

    start = time.perf_counter()

    def shared(plan: Schedule) -> bool:  # codegen's own choice, made on the plan it gets
        return kernel_mode(plan, parallel) if kernels is None else kernels

    with collector.paused():  # many short-lived objects, no garbage cycles (collector.py)
        plan = policy.schedule_for(inputs, outputs, shared)  # fusion policy + schedule
        scheduled = time.perf_counter()
        # choose interpreted groups + generate
        generated = generate(plan, names, parallel=parallel, kernels=kernels)
    return Lowered(plan, generated, {"schedule": scheduled - start,
                                     "codegen": time.perf_counter() - scheduled},
                   groups=sum(1 for u in plan.units if not isinstance(u, Node)),
                   nodes=len(plan.order),
                   one_thread=blas_threads.wants_one_thread(plan.order),
                   may_alias=tuple(not fresh(node) for node in outputs))
