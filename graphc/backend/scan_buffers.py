"""A loop body that writes into buffers its driver allocates once, instead of allocating each step.

Owns `reuse(lines, name, outputs) -> BodyBuffers`, used by
backend/scan_codegen.py on the generated source of a scan body before it
goes into the module. Why: the body is generated like any graph, so each
call allocates its results, and a loop of T steps allocates per step. The
rewrite turns each top-level matrix product, `blas_dot(a, b)` (a float
matrix) or `matmul_small(a, b)`, into a write into a buffer:
`np.dot(a, b, out)` / `matmul_small_into(a, b, out)` (library.py), the
buffer being

- an *output argument* `out<k>` when the product is the body's k-th result:
  the driver passes the stacked output's row `ys[t]` (no copy afterwards)
  or, for a carry, the second of two buffers it swaps each step (double
  buffering: the body reads one while writing the other);
- a *work array* `w<m>` otherwise (its shape static): allocated once by the
  driver, reused every step. Safe because the body is not reentrant and the
  driver copies any result that is a view of a work array before the next
  step.

Only products, measured (docs/benchmarks.md, "Loops", 2026-12-06 15:54):
the same rewrite of the fused elementwise loops' results (`empty`, and
`zeros`/`full` accumulators) into argument arrays made the LSTM step 1.4-1.9x
slower in CPU time (interleaved A/B, 4 variants), presumably because LLVM
cannot prove an argument array does not alias the loop's inputs and stops
vectorizing, while a fresh allocation costs ~100 ns. So those still
allocate each step (as do helpers that allocate internally,
log_softmax_rows, one_hot_flat); the products, the biggest arrays of an
LSTM step, do not. Text in, text out: the generated lines have one
statement per line at the function's top level (indent 4), which is what
is matched.
Imports: ir (layer L4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..ir import Node

_NAME = r"(?P<var>\w+)"
_MATRIX = r"(?P<dims>[^\],]+,[^\],]+)"  # a result's two dimensions in its comment, f32[32,512]
_ALLOCATIONS = {  # only products: see the module docstring for why not fused loops' results
    "dot": re.compile(rf"^    {_NAME} = (?:loop_)?blas_dot\((?P<a>\w+), (?P<b>\w+)\)"
                      rf"(?P<comment>  # (?P=var): (?P<kind>f32|f64)\[{_MATRIX}\].*)$"),
    "small": re.compile(rf"^    {_NAME} = matmul_small\((?P<a>\w+), (?P<b>\w+)\)"
                        rf"(?P<comment>  # (?P=var): (?P<kind>f32|f64|i32|i64)\[{_MATRIX}\].*)$"),
}
_DTYPES = {"f32": "np.float32", "f64": "np.float64", "i32": "np.int32", "i64": "np.int64"}


@dataclass
class BodyBuffers:
    """The rewritten body and what its driver must pass it."""

    lines: list[str]
    written: list[int] = field(default_factory=list)  # result k written into argument out<k>
    work: list[str] = field(default_factory=list)  # the driver's allocation of work array w<m>

    def arguments(self) -> list[str]:
        """The body's added parameters, in order (after its own)."""
        return [f"out{k}" for k in self.written] + [f"w{m}" for m in range(len(self.work))]


def _returned(lines: list[str]) -> tuple[int, list[str]]:
    """(index, names) of the body's top-level return statement."""
    index = max(k for k, line in enumerate(lines) if line.startswith("    return ("))
    inside = lines[index].strip()[len("return ("):].rstrip(")").rstrip(",")
    return index, [name.strip() for name in inside.split(",") if name.strip()]


def _allocation(line: str) -> tuple[str, re.Match[str]] | None:
    for kind, pattern in _ALLOCATIONS.items():
        match = pattern.match(line)
        if match is not None:
            return kind, match
    return None


def _static(kind: str, match: re.Match[str]) -> str | None:
    """The driver's allocation of this array when its shape is static, else None."""
    dims = match["dims"].split(",")
    if not all(d.strip().isdigit() for d in dims):
        return None
    return f"np.empty(({dims[0].strip()}, {dims[1].strip()}), {_DTYPES[match['kind']]})"


def _rewrite(kind: str, match: re.Match[str], buffer: str) -> list[str]:
    """The lines that use `buffer` in place of the allocation."""
    var, comment = match["var"], match["comment"] or ""
    if kind == "dot":
        return [f"    {var} = {buffer}{comment}", f"    np.dot({match['a']}, {match['b']}, {var})"]
    return [f"    {var} = {buffer}{comment}", f"    matmul_small_into({match['a']}, {match['b']}, {var})"]


def reuse(lines: Sequence[str], name: str, outputs: Sequence[Node]) -> BodyBuffers:
    """Body `name`'s source with its top-level allocations turned into arguments (module docstring)."""
    lines = list(lines)
    start = next(k for k, line in enumerate(lines) if line.startswith(f"def {name}("))
    end, returned = _returned(lines)
    results = {var: k for k, var in enumerate(returned[:len(outputs)])
               if outputs[k].ndim and returned.count(var) == 1}
    buffers = BodyBuffers([])
    rewritten = lines[:start + 1]
    for line in lines[start + 1:end]:
        found = _allocation(line)
        if found is None:
            rewritten.append(line)
            continue
        kind, match = found
        static = _static(kind, match)
        if match["var"] in results:
            buffers.written.append(results[match["var"]])
            rewritten += _rewrite(kind, match, f"out{results[match['var']]}")
        elif static is not None:
            rewritten += _rewrite(kind, match, f"w{len(buffers.work)}")
            buffers.work.append(static)
        else:
            rewritten.append(line)
    buffers.written.sort()
    head = rewritten[start]
    added = ", ".join(buffers.arguments())
    if added:
        head = head[:-2] + (", " if not head.endswith("():") else "") + added + "):"
    rewritten[start] = head
    buffers.lines = rewritten + lines[end:]
    return buffers


__all__ = ["BodyBuffers", "reuse"]
