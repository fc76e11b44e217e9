"""The back half of compilation, in order: policy -> schedule -> choose interpreted groups -> generate.

Owns: `lower(inputs, outputs, names, parallel) -> Lowered`, the one place
that runs the lowering stages in sequence (tinygrad's codegen/__init__.py is
the model: the backend as a visible list of named stages). Imports: policy
(fusion policy, which groups the block interpreter runs), codegen. Entry
point: `lower`; jit.py stores, imports and compiles what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..ir import Node
from . import policy
from .codegen import Generated, generate, kernel_mode
from .schedule import Schedule


@dataclass(frozen=True)
class Lowered:
    """The schedule, the generated module, and the seconds each stage took."""

    plan: Schedule
    generated: Generated
    seconds: dict[str, float] = field(default_factory=dict)


def lower(inputs: Sequence[Node], outputs: Sequence[Node],
          names: Sequence[str | None] | None = (), parallel: bool = False,
          kernels: bool | None = None) -> Lowered:
    """The generated module for a graph: no file, no import, no Numba.

    `kernels`: kernel mode on/off (None: codegen decides); a loop body called
    from a jitted driver must be one njit function (False).
    """
    start = time.perf_counter()
    def shared(plan: Schedule) -> bool:  # codegen's own choice, made on the plan it gets
        return kernel_mode(plan, parallel) if kernels is None else kernels

    plan = policy.schedule_for(inputs, outputs, shared)  # fusion policy + schedule
    scheduled = time.perf_counter()
    # choose interpreted groups + generate
    generated = generate(plan, names, parallel=parallel, kernels=kernels)
    return Lowered(plan, generated, {"schedule": scheduled - start,
                                     "codegen": time.perf_counter() - scheduled})
