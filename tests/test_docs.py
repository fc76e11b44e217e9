"""Every code block of README.md and docs/*.md runs, and prints what the page says it prints.

A small markdown runner, so the docs cannot drift from the program again:

- ```python blocks run in order, in one namespace per page (a page builds on
  its earlier blocks, and starts with `import numpy as np` and `import
  graphc as gc`, the pages' convention), in a temporary directory with
  examples/ beside it.
  A block written as a `>>>` session is checked as a doctest.
- An ```output block right after a python block is what that block prints:
  the printed text must contain it, `...` standing for any text (doctest's
  ELLIPSIS), so a page may show the part of the output it talks about.
- Lines `$ graphc ...` in a plain ``` block are run through the command line
  and the lines after them, up to the next `$`, are its output (same rule);
  `graphc ...` lines of a ```sh block are run and must succeed.
- A python block whose first line is `# not run: REASON` is skipped; the
  reason is part of the page, visible to the reader. Other ```sh lines
  (pip, apt-get, python3 examples/...) are not run here; the README's
  commands are what CI itself runs.

The reference is the page itself: its text is compared with what graphc prints.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"\A# not run: \S")
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    kind: str  # python, output, sh, "" (plain)
    text: str
    line: int

    def where(self, page: Path) -> str:
        return f"{page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(text)]


def matches(want: str, got: str) -> bool:
    """`got` contains `want`, `...` in want matching anything (whitespace-insensitive)."""
    checker = doctest.OutputChecker()
    return checker.check_output("..." + want.strip() + "...", got, OPTIONS)


def run_python(block: Block, namespace: dict, page: Path) -> str:
    if block.text.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where(page),
                                                   str(page), block.line)
        output = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=OPTIONS)
        runner.run(test, out=output.write, clear_globs=False)
        assert not runner.failures, f"{block.where(page)}: doctest failed\n{output.getvalue()}"
        return ""
    captured = io.StringIO()
    code = compile(block.text, block.where(page), "exec")
    with contextlib.redirect_stdout(captured):
        exec(code, namespace)  # noqa: S102 - the page's own example
    return captured.getvalue()


def run_graphc(command: str) -> str:
    from graphc.cli import main

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(io.StringIO()):
        code = main(shlex.split(command)[1:])
    assert code == 0, f"`{command}` failed"
    return captured.getvalue()


def transcript(block: Block, page: Path) -> None:
    """`$ graphc ...` lines and the output after each."""
    parts = re.split(r"^\$ ", block.text, flags=re.MULTILINE)
    for part in parts[1:]:
        command, _, want = part.partition("\n")
        if not command.startswith("graphc "):
            continue
        got = run_graphc(command)
        assert matches(want, got), (f"{block.where(page)}: `{command}` printed\n{got}\n"
                                    f"but the page shows\n{want}")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "docs").mkdir()  # pages write their pictures next to them
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return tmp_path


def check_page(page: Path) -> list[str]:
    """Run the page's blocks in order; every problem found, not only the first."""
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    exec("import numpy as np\nimport graphc as gc", namespace)  # noqa: S102 - the pages' convention
    printed: str | None = None
    problems: list[str] = []
    for block in blocks(page):
        try:
            if block.kind == "python":
                printed = None
                if not SKIP.match(block.text):
                    printed = run_python(block, namespace, page)
            elif block.kind == "output":
                assert printed is not None, f"{block.where(page)}: output after no python block"
                assert matches(block.text, printed), (
                    f"{block.where(page)}: the block printed\n{printed}\nbut the page shows\n"
                    f"{block.text}")
            elif block.kind == "" and block.text.startswith("$ graphc "):
                transcript(block, page)
            elif block.kind == "sh":
                for line in block.text.splitlines():
                    if line.startswith("graphc "):
                        run_graphc(line.split("  #")[0])
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            problems.append(f"{block.where(page)}: {type(exc).__name__}: {exc}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_block_runs_and_prints_what_the_page_shows(page: Path, workdir: Path) -> None:
    problems = check_page(page)
    assert not problems, "\n\n".join(problems)


def test_skipped_blocks_say_why() -> None:
    """`# not run:` needs a reason, and the pages keep skips few."""
    skipped = []
    for page in PAGES:
        for block in blocks(page):
            first = block.text.splitlines()[0] if block.text else ""
            if first.startswith("# not run"):
                assert SKIP.match(block.text), f"{block.where(page)}: a skip without a reason"
                skipped.append(block.where(page))
    assert len(skipped) <= 6, skipped


def test_the_runner_catches_a_drifted_page(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent("""\
        ```python
        print(1 + 1)
        ```

        ```output
        3
        ```
        """))
    kinds = [b.kind for b in blocks(page)]
    assert kinds == ["python", "output"]
    assert matches("2", "x = 2\n") and not matches("3", "2\n")
    assert matches("a ... c", "a b c") and os.sep
