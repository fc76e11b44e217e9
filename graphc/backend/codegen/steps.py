"""The structure of a kernel-mode statement, recorded by the emitter that writes it.

Owns `Step` (what one statement of the kernel-mode graph function is: the
names it assigns, its code as literal pieces and operand slots, the value
names and index integers in those slots, whether it is a basic-indexing view,
an allocation, which kernels and helpers it calls), `Statement` (a generated
line that carries its `Step`) and the constructors the emitters use. Why:
re-rolling (codegen/reroll.py) finds repeated steps and rewrites them as a
loop; it used to recover all of this by scanning the generated text with
regular expressions. The emitters know it when they write the line (the op's
record, the node's inputs, the kernel's parameters), so they say it here and
the re-roller reads only records, as workspace.Reusable and the lowering
records made the workspace and pyunits do. Imports: nothing of graphc.
Entry point: `marked`, `step_of`, `Statement` (emitter, statements, outline,
pyunits), read by codegen.reroll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

# An operand slot while a template is formatted: the emitter formats the op's template with
# `slot(i)` for its i-th operand and `pieces` splits the result at the marks (a character
# generated code never holds), so the record is built, never recovered from the text.
MARK = "\x00"

Piece = str | int  # literal code, or the position of an operand
Operand = str | int  # a value name, or an integer index entry (`log_B[:, 67]`: may differ per step)


def slot(position: int) -> str:
    return f"{MARK}{position}{MARK}"


def pieces(marked: str) -> tuple[Piece, ...]:
    """The literal code and operand positions of a template formatted with `slot(i)` marks."""
    parts = marked.split(MARK)
    return tuple(int(part) if odd else part for odd, part in
                 ((index % 2 == 1, part) for index, part in enumerate(parts)) if odd or part)


@dataclass(frozen=True)
class Allocation:
    """`empty(shape, dtype)` / `full(shape, fill, dtype)` with a static shape."""

    shape: tuple[int, ...]
    dtype: str  # `np.float64`
    fill: str | None = None


@dataclass(slots=True)
class Step:
    """One statement: `targets = <pieces with operands>`, or an opaque one (`form` None).

    An opaque statement matches no other (it is never re-rolled) but still says
    what it assigns and reads, so values it reads after a loop stay reachable.
    """

    targets: tuple[str, ...]
    form: tuple[Piece, ...] | None
    operands: tuple[Operand, ...] = ()
    reads: tuple[str, ...] = ()  # an opaque statement's names read (else: its str operands)
    comment: str = ""  # the equation, without "  # "
    unpack: bool = False  # `t5, = kernel(...)`: a kernel's 1-tuple
    view: bool = False  # `t = base[entries]`: substituted into the statements that read t
    allocation: Allocation | None = None
    allocates: bool = False  # an allocation (also of a non-static shape): the array is written later
    calls: tuple[str, ...] = ()  # shared kernels (`fused_<hash>`) it calls
    helpers: tuple[str, ...] = ()  # jitted helpers it calls (`to_rows`, `empty`)
    math: bool = False  # its code uses the math module

    @property
    def names(self) -> tuple[str, ...]:
        """The value names it reads."""
        if self.form is None:
            return self.reads
        return tuple([o for o in self.operands if isinstance(o, str)])

    def code(self, operands: Sequence[str] | None = None, targets: Sequence[str] | None = None) -> str:
        """Its code with `operands` and `targets` (default: its own) in their places."""
        return render(self.form or (), [str(o) for o in self.operands] if operands is None else operands,
                      self.targets if targets is None else targets, self.unpack)

    def retext(self, edit: Callable[[str], str]) -> Step:
        """The same statement with `edit` applied to its literal code (outlining's static sizes)."""
        form = None if self.form is None else tuple(p if isinstance(p, int) else edit(p)
                                                    for p in self.form)
        return replace(self, form=form)

    def opaque(self) -> Step:
        """The same statement, never re-rolled (inside a `with` block, a rebinding)."""
        return replace(self, form=None, reads=self.names, view=False, allocation=None)


def render(form: Sequence[Piece], operands: Sequence[str], targets: Sequence[str] = (),
           unpack: bool = False) -> str:
    """`targets = code` with `operands` in the form's slots."""
    right = "".join(operands[p] if isinstance(p, int) else p for p in form)
    if not targets:
        return right
    return ", ".join(targets) + ("," if unpack else "") + " = " + right


class Statement(str):
    """A generated line with its `Step`: its text is what Python runs, `.step` its structure."""

    step: Step

    def __new__(cls, text: str, step: Step) -> Statement:
        line = super().__new__(cls, text)
        line.step = step
        return line

    def retext(self, edit: Callable[[str], str]) -> Statement:
        return Statement(edit(str(self)), self.step.retext(edit))


def step_of(line: str) -> Step | None:
    """The line's recorded structure, or None (a line no emitter described: Python only)."""
    return getattr(line, "step", None)


def marked(template: str, arguments: Sequence[str], names: Sequence[bool],
           values: dict[str, object]) -> tuple[tuple[Piece, ...], tuple[Operand, ...]]:
    """(pieces, operands) of `template.format(*arguments, **values)` with each argument that is
    a value name (`names[i]`) in a slot, the others (literals) inline."""
    operands: list[Operand] = []
    formatted = []
    for argument, is_name in zip(arguments, names):
        if is_name:
            formatted.append(slot(len(operands)))
            operands.append(argument)
        else:
            formatted.append(argument)
    return pieces(template.format(*formatted, **values)), tuple(operands)


def statement(pad: str, targets: Sequence[str], form: tuple[Piece, ...], operands: Sequence[Operand],
              comment: str = "", **facts: object) -> Statement:
    """The line `pad + targets = code  # comment` with its Step."""
    step = Step(tuple(targets), form, tuple(operands), comment=comment, **facts)  # type: ignore[arg-type]
    return Statement(pad + step.code() + (f"  # {comment}" if comment else ""), step)


def opaque(text: str, targets: Sequence[str], reads: Sequence[str], allocates: bool = False) -> Statement:
    """A line re-rolling never moves, with what it assigns and reads."""
    return Statement(text, Step(tuple(targets), None, reads=tuple(reads), allocates=allocates))
