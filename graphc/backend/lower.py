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
from .codegen import Generated, generate
from .schedule import Schedule


@dataclass(frozen=True)
class Lowered:
    """The schedule, the generated module, and the seconds each stage took."""

    plan: Schedule
    generated: Generated
    seconds: dict[str, float] = field(default_factory=dict)


def lower(inputs: Sequence[Node], outputs: Sequence[Node],
          names: Sequence[str | None] | None = (), parallel: bool = False) -> Lowered:
    """The generated module for a graph: no file, no import, no Numba."""
    start = time.perf_counter()
    plan = policy.schedule_for(inputs, outputs)  # fusion policy + schedule
    scheduled = time.perf_counter()
    generated = generate(plan, names, parallel=parallel)  # choose interpreted groups + generate
    return Lowered(plan, generated, {"schedule": scheduled - start,
                                     "codegen": time.perf_counter() - scheduled})
