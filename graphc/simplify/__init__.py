"""The simplifier: rewrite passes that make a (joint forward + backward) graph lean (layer L3).

Entry points: `simplify(outputs)` for users (equivalent tensors back, same
structure as given), `simplify_graph(graph)` for `gc.compile` (the Graph and
a `Report` of every pass). The passes (cse, fold_constants, algebraic,
stabilize, loops, cse, dce) live in passes.py, the algebraic rules in rules.py, the
fixed-point loop and its stats in pipeline.py; the pattern engine they share
with graphc.stabilize is graphc.rewrite. See docs/simplifier.md.

Imports: rewrite, stabilize, ir, ops and layer L0. Autodiff never imports this.
"""

from __future__ import annotations

from typing import Any

from ..errors import GraphcError
from ..ir import Graph, toposort
from ..ops import as_tensor
from .passes import PIPELINE, Options
from .pipeline import PassRecord, Report, Trace, run


def simplify_graph(graph: Graph, *, fast_math: bool = False, trace: Trace = None,
                   max_rounds: int = 8) -> tuple[Graph, Report]:
    """Run the pipeline on a Graph; returns the simplified Graph and what each pass did."""
    return run(graph, Options(fast_math=fast_math, max_rounds=max_rounds), trace)


def simplify(outputs: Any, *, fast_math: bool = False, trace: Trace = None) -> Any:
    """Equivalent tensors after the rewrite passes: one tensor, or a list/tuple like `outputs`.

    `fast_math=True` also applies rules that change results for inf/NaN
    (x*0 -> 0, x-x -> 0, exp(log(x)) -> x). `trace` is a list to append a
    PassRecord per pass to, or a function called with each.
    """
    single = not isinstance(outputs, (list, tuple))
    items = [outputs] if single else list(outputs)
    try:
        nodes = tuple(as_tensor(item) for item in items)
    except GraphcError as exc:
        raise GraphcError(f"simplify: {exc}") from None
    leaves = tuple(n for n in toposort(nodes) if n.op.name == "input")
    result, _ = simplify_graph(Graph(leaves, nodes), fast_math=fast_math, trace=trace)
    if single:
        return result.outputs[0]
    return tuple(result.outputs) if isinstance(outputs, tuple) else list(result.outputs)


__all__ = ["PIPELINE", "Options", "PassRecord", "Report", "simplify", "simplify_graph"]
