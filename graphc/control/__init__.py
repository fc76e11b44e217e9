"""Loops in the graph: `scan` and `while_loop`, ops whose attribute is a body subgraph.

Modules, in the order a loop passes through them: pytree (nested carries),
trace (the body traced once and closed over what it reads), scan (the op,
its builder, the interpreter's family run), run (the Python loop both
backends share), scan_vjp (the reverse scan), scan_batch (vmap of a scan),
while_loop, optimize (the simplifier's loop pass), scan_reuse (stacked elementwise work the
loop already stacks). Layer L3: above autodiff and vmap, which the rules call.
"""

from . import optimize, scan_reuse
from .scan import scan
from .while_loop import while_loop

__all__ = ["optimize", "scan", "scan_reuse", "while_loop"]
