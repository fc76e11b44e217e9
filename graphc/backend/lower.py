"""The back half of compilation, in order: policy -> schedule -> choose interpreted groups -> generate.

Owns: `lower(inputs, outputs, names, parallel) -> Generated`, the one place
that runs the lowering stages in sequence. Imports: blocks (fusion policy and
the choice of interpreted groups), codegen. Entry point: `lower`; jit.py
stores and compiles what it returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node
from . import blocks
from .codegen import Generated, generate


def lower(inputs: Sequence[Node], outputs: Sequence[Node],
          names: Sequence[str | None] | None = (), parallel: bool = False) -> Generated:
    """The generated module for a graph: no file, no import, no Numba."""
    plan = blocks.schedule_for(inputs, outputs)  # policy + schedule
    return generate(plan, names, parallel=parallel)  # choose interpreted groups + generate
