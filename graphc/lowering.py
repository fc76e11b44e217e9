"""How an op becomes code: one typed lowering record per op, held in `Op.lowering`.

Owns: the record types (`Leaf`, `Pointwise`, `Reduction`, `View`, `Kernel`,
`Rows`, `Loop`), `LOWERINGS` (all of them, for the test that every op has
one) and the template vocabulary (`SCALAR_PLACEHOLDERS`). Imports: nothing
from graphc (data only). Entry point: none; ops declare records
(graphc/ops/*), the back end dispatches on their type (`isinstance`/`match`)
and reads their facts, never an op's name or a template's prefix.

Templates are Python source with placeholders: `{0}`, `{1}` (inputs),
attribute names (`{axis}`), `{suffix}` (f64/f32), `{zero}`/`{one}` (typed
literals of the output dtype), `{dtype}`/`{out_dtype}`, `{out_shape}`,
`{shape0}`.. (sizes of input 0..), `{count}` (reduced element count), `{acc}`
(accumulator), `{out}` (the result variable of a multi-statement kernel).
docs/codegen.md has the table.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A scalar template reading only these (and its inputs) is the same code for
# every node of its op: the block interpreter can run it (no attributes).
SCALAR_PLACEHOLDERS = frozenset({"suffix", "zero", "one"})
NodeTemplate = Callable[[Any], str]  # node -> template, for ops whose code depends on the node


@dataclass(frozen=True)
class Leaf:
    """An input or a constant: a value the generated function is given, not computed."""


@dataclass(frozen=True)
class Pointwise:
    """One scalar expression per element, fused into loop bodies and the block interpreter.

    `kernel`: the graphc polynomial kernel it calls (`"exp"`: `exp_f64`/`exp_f32`,
    docs/kernels.md); counted as a call site, replaced by its reduced-range
    form where one exists (sin, cos), and already of the output's precision.
    `conditions`: the inputs read as truth values (`where`'s first), never
    converted to the float dtype. `typed`: the expression already has the
    output's dtype (`np.{dtype}(...)`), so no float32/int32 rounding is added.
    `ufunc`: the NumPy ufunc computing the op on whole arrays (`"np.add"`), the
    same IEEE operation per element; None if there is none. `operators_only`:
    the template is Python operators and literals only (`({0} + {1})`, `(-{0})`):
    on NumPy float64 scalars plain Python computes it exactly as Numba does, with
    no import and no exception (not `math.sqrt`: ValueError where Numba gives nan).
    Kernel mode reads both (backend/codegen/pyunits.py) to compute small units
    in the graph function itself instead of a compiled kernel.
    """

    template: str
    kernel: str | None = None
    conditions: tuple[int, ...] = ()
    typed: bool = False
    ufunc: str | None = None
    operators_only: bool = False

    @staticmethod
    def calling(kernel: str) -> Pointwise:
        """The op is one call of graphc's kernel `kernel` on its input."""
        return Pointwise(f"{kernel}_{{suffix}}({{0}})", kernel=kernel, typed=True)

    @property
    def exact_dtype(self) -> bool:
        """Whether the expression's value already has the output's dtype."""
        return self.typed or self.kernel is not None

    @property
    def attributes(self) -> frozenset[str]:
        """The node attributes the template reads (none: one code for every node of the op)."""
        fields = {name for _, name, _, _ in string.Formatter().parse(self.template)
                  if name is not None and not name.isdigit()}
        return frozenset(fields - SCALAR_PLACEHOLDERS)


@dataclass(frozen=True)
class Reduction:
    """An accumulator fused into the loop that computes the input.

    `init` (may read `{lowest}`/`{highest}`), `update` (reads `{acc}` and
    `{0}`), `finish` (reads `{acc}`, `{count}`; None: the accumulator is the
    result). `additive`: the update is `acc + value`, so partial sums may be
    added together (blocked float sums, threads of a prange, whole blocks of
    the interpreter).
    """

    init: str
    update: str
    finish: str | None = None
    additive: bool = False


def summing(finish: str | None = None) -> Reduction:
    """The running sum, with an optional finish (`{acc} / {count}` for mean)."""
    return Reduction("0", "{acc} + {0}", finish, additive=True)


@dataclass(frozen=True)
class Kernel:
    """One statement on whole arrays (a BLAS product, a helper call, a slice).

    `template`: the code, or node -> code. `allocates`: the value is always
    a new array, never a view of an argument (so an output needs no
    defensive copy; node -> bool where it depends on the node). `product`:
    a matrix product of its two inputs (m*k*n multiply-adds), which the
    back end's BLAS thread policy sizes. `shape_only`: the statement reads
    only its inputs' sizes (`size`), so the scheduler neither waits for nor
    stores them (a mean's backward then fuses with its forward loop).
    `into`: node -> the same statement
    writing into an array `{out}` the caller allocated (its shape and dtype),
    or None where the op cannot; a scan body's products write so into
    buffers its loop allocates once (backend/scan_buffers.py).
    `into_product`: node -> whether that `into` statement is the BLAS product
    `{0} @ {1}` of two float matrices of one dtype (True/False for every
    node): kernel mode's workspace then computes it in one line,
    `np.dot(a, b, out)` into a reused array (backend/workspace.py
    `Workspace.dot`), instead of an allocation followed by the statement.
    `entries`: node -> the index of a basic-indexing view whose template is
    `{0}[entries]` (integers as ints, the rest as source text): re-rolling
    reads it through its uses and lets an integer differ per step (codegen/reroll.py).
    """

    template: str | NodeTemplate
    allocates: bool | Callable[[Any], bool] = False
    product: bool = False
    shape_only: bool = False
    into: Callable[[Any], str | None] | None = None
    into_product: bool | Callable[[Any], bool] = False
    entries: Callable[[Any], tuple[str | int, ...]] | None = None

    def text(self, node: Any) -> str:
        """The template for this node."""
        return self.template(node) if callable(self.template) else self.template

    def into_text(self, node: Any) -> str | None:
        """The template writing this node's value into `{out}`, or None."""
        return self.into(node) if self.into is not None else None

    def allocates_for(self, node: Any) -> bool:
        return self.allocates(node) if callable(self.allocates) else self.allocates

    def into_product_for(self, node: Any) -> bool:
        """Whether this node's `into` statement is a BLAS product of its two inputs (`into_product`)."""
        if self.into_text(node) is None:
            return False
        return self.into_product(node) if callable(self.into_product) else self.into_product


@dataclass(frozen=True)
class View:
    """Index arithmetic: element `out_index` of the node is element `index(node, out_index)`
    of its input. An array only when a kernel or the caller needs one: then
    `copy` (a whole-array statement such as `{0}.T`) or, if None, a copy loop."""

    index: Callable[[Any, tuple[str, ...]], tuple[str, ...]]
    copy: Kernel | None = None


@dataclass(frozen=True)
class Rows:
    """A helper on a 2-D (rows, columns) copy of the input with the `axis` last.

    `reduces`: one value per row (logsumexp) rather than a row per row (softmax).
    """

    helper: str
    reduces: bool = False


@dataclass(frozen=True)
class Loop:
    """A loop over a body subgraph (scan, while_loop), compiled by backend/scan_*.

    `steps_known`: the number of steps is known before the loop runs, so the
    loop can be part of the generated function.
    """

    steps_known: bool = True


Lowering = Leaf | Pointwise | Reduction | Kernel | View | Rows | Loop
LOWERINGS = (Leaf, Pointwise, Reduction, Kernel, View, Rows, Loop)


def assigns(template: str) -> bool:
    """A multi-statement kernel assigns `{out}` itself; otherwise `name = <template>`."""
    return "{out}" in template
