"""Re-rolling reads statement records, never generated text (codegen/steps.py, codegen/reroll*.py).

The re-roller once recovered each statement's targets, operands, views and
allocations from its text (regular expressions, a blanked-text key, `ast`
for allocations). The emitters now record them on the line (`steps.Step`),
as the workspace and pyunits read the lowering records. These tests forbid
the old forms in the re-roller's modules and show that a line's text is not
read at all: the same records under other text give the same loops.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from graphc.backend.codegen import reroll_runs, steps
from graphc.backend.codegen.reroll import MIN_REPEATS, reroll

CODEGEN = Path(__file__).resolve().parents[1] / "graphc" / "backend" / "codegen"

# Ways of reading a statement's text: pattern matching, parsing, cutting it at a comment mark.
TEXT_READING = {
    r"^import (re|ast)\b|^from (re|ast) import": "a regular expression or syntax-tree module",
    r"\b(re|ast)\.\w+\(": "a regular expression or a parse",
    r"\bTOKEN\b": "value names found in text (outline.TOKEN)",
    r"\.(partition|split|findall|finditer|fullmatch)\(": "text cut or matched",
    r"\.match\(": "text matched",
    r"\b(_KEY|_VIEW|_STATEMENT|_BRACKET|BUFFER|_KERNEL)\b": "a pattern of the old text re-roller",
}
PLANNER = ["reroll.py", "reroll_lines.py", "reroll_runs.py"]
# reroll_module.py renames the graph's value names in the loop's comments (prose for the
# reader, from the printer) so the module text is canonical; nothing is decided from them.
PROSE_FUNCTIONS = {"reroll_module.py": {"prose", "summary"}}


def _hits(text: str) -> list[str]:
    return [f"{what} (line {text[:m.start()].count(chr(10)) + 1})" for pattern, what in TEXT_READING.items()
            for m in re.finditer(pattern, text, re.MULTILINE)]


@pytest.mark.parametrize("name", PLANNER)
def test_the_planner_reads_no_generated_text(name: str) -> None:
    hits = _hits((CODEGEN / name).read_text())
    assert not hits, f"{name}: {hits}; read the line's record (codegen/steps.py) instead"


def test_the_loop_module_reads_text_only_in_its_comment_prose() -> None:
    """reroll_module.py's patterns (and their imports) serve `prose`/`summary` alone."""
    source = (CODEGEN / "reroll_module.py").read_text()
    tree = ast.parse(source)
    cut = [ast.get_source_segment(source, tree.body[0]) or ""]  # the docstring
    cut += [ast.get_source_segment(source, node) or "" for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name in PROSE_FUNCTIONS["reroll_module.py"]]
    for segment in cut:
        source = source.replace(segment, "")
    kept = "\n".join(line for line in source.splitlines()
                     if line not in ("import re", "from .outline import TOKEN")
                     and not re.match(r"_(VALUE|NOTE) = re\.compile\(", line))
    assert not _hits(kept), _hits(kept)
    assert not re.search(r"\b(_VALUE|_NOTE)\b", kept), "a comment pattern used outside the prose"


def test_the_patterns_catch_what_the_text_re_roller_did() -> None:
    """Lines of the old reroll_text.py / reroll.py / reroll_module.py (a lint that cannot fail
    proves nothing)."""
    old = ["import re", "import ast", "code, mark, comment = line.partition(\"  # \")",
           "match = _STATEMENT.match(code)",
           "self._use(scan.TOKEN.findall(line.code) + scan.TOKEN.findall(line.text or \"\"), index)",
           "if any(scan.BUFFER.match(self.c.lines[self.c.defined_at[n]].code) for n in names",
           "self._tree = ast.parse(code or \"\").body[0]",
           "pattern = re.compile(rf\"(?<![\\w.]){helper}\\(\")",
           "calls += [name for name in _KERNEL.findall(code) if name not in calls]",
           "blanked, line.tokens = _scan(line.text)  # for match in _KEY.finditer(text)"]
    for line in old:
        assert _hits(line), line


def _line(targets: list[str], form: list[object], operands: list[object], **facts: object) -> str:
    return steps.statement("    ", targets, tuple(form), operands, **facts)  # type: ignore[arg-type]


def _body(count: int) -> list[str]:
    """A carried vector through a kernel per step, a column of B per step (an index integer)."""
    vector = steps.Allocation((4,), "np.float64")
    lines: list[str] = []
    previous = "a"
    for step in range(count):
        n = 10 * (step + 1)
        lines += [_line([f"t{n}"], [0, "[", ":", ", ", 1, "]"], ["B", step % 5], view=True),
                  _line([f"t{n + 1}"], ["empty((4,), np.float64)"], [], allocation=vector,
                        allocates=True, helpers=("empty",)),
                  _line([], ["add(4, ", 0, ", ", 1, ", ", 2, ")"], [previous, f"t{n}", f"t{n + 1}"])]
        previous = f"t{n + 1}"
    return lines + [steps.opaque(f"    out = {previous}.sum()", ["out"], [previous])]


def test_a_lines_text_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same records under other text give the same runs and the same loop."""
    monkeypatch.setattr(reroll_runs, "MIN_STATEMENTS", 0)

    def describe(name: str) -> tuple[tuple[int, ...], str] | None:
        return ((4,), "np.float64")

    body = _body(MIN_REPEATS + 4)
    disguised = [steps.Statement(f"    pass  # line {i} = ((", line.step)  # type: ignore[attr-defined]
                 for i, line in enumerate(body)]
    plain = reroll(body, ["out"], ["a", "B"], describe)
    other = reroll(disguised, ["out"], ["a", "B"], describe)
    assert plain.runs == other.runs == [(2, MIN_REPEATS + 4)]
    assert plain.functions == other.functions and plain.constants == other.constants
    assert "add(4, a0[k], a1[:, a2[k]], r0)" in plain.functions[0]


def test_a_line_without_a_record_keeps_every_value_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line no emitter described may read anything: a loop before it stacks every value it
    makes, and the line is preceded by the bindings of all of them."""
    monkeypatch.setattr(reroll_runs, "MIN_STATEMENTS", 0)

    def describe(name: str) -> tuple[tuple[int, ...], str] | None:
        return ((4,), "np.float64")

    body = _body(MIN_REPEATS + 4)
    found = reroll(body, ["out"], ["a", "B"], describe)
    assert found.runs and "t31 = " not in "\n".join(found.body)
    unknown = reroll([*body[:-1], "    print(t31)", body[-1]], ["out"], ["a", "B"], describe)
    assert unknown.runs
    assert "    t31 = rr0_s0[3]  # a value of a rerolled loop" in unknown.body  # bound for it


@pytest.mark.parametrize("index", [(slice(1, None), 2), (slice(None), None, -1), (slice(None, None, -2),),
                                   (3, slice(0, 2))])
def test_getitem_entries_spell_its_template(index: tuple[object, ...]) -> None:
    """Kernel.entries (what the re-roller substitutes) says what getitem's template writes."""
    import graphc as gc

    node = gc.input("x", (5, 3))[index]
    kernel = node.op.lowering
    entries = kernel.entries(node)
    assert kernel.text(node) == "{0}[" + ", ".join(str(e) for e in entries) + "]"
    assert [e for e in entries if isinstance(e, int)] == [i for i in index if isinstance(i, int)]
