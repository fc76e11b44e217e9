"""Running the passes to a fixed point, and what each pass did.

Owns `run(graph, options, trace)`: the named passes of passes.PIPELINE run in
order, round after round, until a round leaves every output node identical
(nothing changed) or `options.max_rounds` rounds have run. Each pass yields a
`PassRecord` (node counts before/after, seconds, rewrites that fired) handed
to `trace` and collected in the returned `Report`. A run keeps a `passes.Memo`:
a later round visits only nodes an earlier one did not find stable (the round
that confirms the fixed point costs a walk over the graph, not every rule
again); `Options(incremental=False)` visits every node every round.
Imports: passes, ir, collector (the collector paused over a run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .. import collector
from ..ir import Graph, Node, toposort
from .passes import PIPELINE, Memo, Options


@dataclass(frozen=True)
class PassRecord:
    """One pass of one round: node counts (all nodes, and ops excluding leaves), time, rewrites."""

    round: int
    name: str
    nodes_before: int
    nodes_after: int
    ops_before: int
    ops_after: int
    seconds: float
    rewrites: dict[str, int]
    reused: int = 0  # nodes an earlier round found stable under this pass, not visited again


    def __str__(self) -> str:
        fired = ", ".join(f"{k} x{v}" for k, v in sorted(self.rewrites.items()))
        return (f"round {self.round} {self.name:<14} ops {self.ops_before:>6} -> "
                f"{self.ops_after:<6} {self.seconds * 1e3:8.2f} ms" + (f"  {fired}" if fired else ""))


@dataclass
class Report:
    """The whole run: every pass record, plus totals (what `f.stats['simplify']` shows)."""

    passes: list[PassRecord] = field(default_factory=list)
    rounds: int = 0
    converged: bool = False

    def as_dict(self) -> dict[str, Any]:
        first, last = self.passes[0], self.passes[-1]
        return {
            "rounds": self.rounds, "converged": self.converged,
            "nodes_before": first.nodes_before, "nodes_after": last.nodes_after,
            "ops_before": first.ops_before, "ops_after": last.ops_after,
            "seconds": sum(p.seconds for p in self.passes),
            "passes": [asdict(p) for p in self.passes],
        }

    def rewrites(self) -> Counter[str]:
        """How often each rule fired over the whole run."""
        total: Counter[str] = Counter()
        for record in self.passes:
            total.update(record.rewrites)
        return total


Trace = Callable[[PassRecord], Any] | list[PassRecord] | None


def count(outputs: tuple[Node, ...]) -> tuple[int, int]:
    """(all nodes, op nodes) the outputs reach; op nodes exclude inputs and constants."""
    nodes = toposort(outputs)
    return len(nodes), sum(1 for n in nodes if n.inputs)


def run(graph: Graph, options: Options, trace: Trace = None) -> tuple[Graph, Report]:
    """The pipeline to a fixed point (bounded by options.max_rounds)."""
    with collector.paused():  # many short-lived nodes, no garbage cycles (collector.py)
        return _rounds(graph, options, trace)


def _rounds(graph: Graph, options: Options, trace: Trace) -> tuple[Graph, Report]:
    report = Report()
    # One Memo per run (passes.Memo), a loop body's nested run included
    options = replace(options, memo=Memo() if options.incremental else None)
    nodes, ops = count(graph.outputs)
    for round_number in range(1, options.max_rounds + 1):
        start = graph.outputs
        for name, step in PIPELINE:
            fired: Counter[str] = Counter()
            began = time.perf_counter()
            before = graph.outputs
            if options.memo is not None:
                options.memo.reused = 0
            graph = step(graph, options, fired)
            seconds = time.perf_counter() - began
            unchanged = all(a is b for a, b in zip(graph.outputs, before))
            nodes_after, ops_after = (nodes, ops) if unchanged else count(graph.outputs)
            record = PassRecord(round_number, name, nodes, nodes_after, ops, ops_after,
                                seconds, dict(fired), options.memo.reused if options.memo else 0)
            nodes, ops = nodes_after, ops_after
            report.passes.append(record)
            if isinstance(trace, list):
                trace.append(record)
            elif trace is not None:
                trace(record)
        report.rounds = round_number
        if all(a is b for a, b in zip(graph.outputs, start)):
            report.converged = True
            break
    return graph, report
