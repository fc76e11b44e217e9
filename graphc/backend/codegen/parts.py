"""Splitting a long generated function into njit parts, passing live values along.

Owns: `parts()` and the small helpers it needs (`return_statement`,
`split`, `names_read_and_written`). Why: Numba's and LLVM's time grows faster
than linearly in the size of one function. Imports: standard library.
Entry point: codegen.generate.
"""

from __future__ import annotations

import ast
import keyword
import re
import textwrap
from collections.abc import Sequence


def _return(results: Sequence[str]) -> str:
    return "    return (" + ", ".join(results) + ("," if len(results) == 1 else "") + ")"


def _split(blocks: list[list[str]], budget: int) -> list[list[list[str]]]:
    chunks: list[list[list[str]]] = []
    size = budget
    for block in blocks:
        if size + len(block) > budget and size > 0:
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += len(block)
    return chunks


_TOKEN = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")
_FOR = re.compile(r"\s*for (.+?) in (.+):$")
_AUGMENTED = re.compile(r"\s*(\w+)(\[.*\])? (?:\+|-|\*|/|//|%|\*\*)= (.*)$")
_TARGETS = re.compile(r"\w+(?:, \w+)*,?")
_ITEM = re.compile(r"(\w+)\[(.*)\]")
_WORDS = frozenset(keyword.kwlist)


def _tokens(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text) if t not in _WORDS}


def _statement(code: str) -> tuple[set[str], set[str]] | None:
    """(reads, writes) of one generated line, or None for a form this scanner does not know."""
    if (loop := _FOR.match(code)) is not None:
        return _tokens(loop.group(2)), _tokens(loop.group(1))
    if (update := _AUGMENTED.match(code)) is not None:
        name, index, value = update.groups()
        return {name} | _tokens(index or "") | _tokens(value), set() if index else {name}
    if code.rstrip().endswith(":"):
        return None  # if/else/while: not generated, left to ast
    if " = " not in code:
        return _tokens(code), set()  # an expression statement (a call)
    target, value = code.strip().split(" = ", 1)
    if _TARGETS.fullmatch(target):
        return _tokens(value), set(target.replace(",", " ").split())
    if (item := _ITEM.fullmatch(target)) is not None:
        return {item.group(1)} | _tokens(item.group(2)) | _tokens(value), set()
    return None


def _names(lines: list[str]) -> tuple[set[str], set[str]]:
    """(names read before being assigned, names assigned) by a run of statements.

    Generated code is one simple statement per line, so a line scanner reads
    it (an `ast` walk took ~1 s for a 64-layer MLP); a line it does not know
    sends the whole run to `_names_ast`, the definition.

    Statements are scanned in execution order, a statement's reads before its
    writes, so a loop-carried value (`flag += ...` inside a loop) counts as read
    from outside while a temporary set and used in one iteration does not.
    """
    loaded: set[str] = set()
    stored: set[str] = set()
    for line in lines:
        code = line.split("  # ", 1)[0]
        if not code.strip():
            continue
        found = _statement(code)
        if found is None or "'" in code or '"' in code:
            return _names_ast(lines)
        reads, writes = found
        loaded.update(reads - stored)
        stored.update(writes)
    return loaded, stored


def _names_ast(lines: list[str]) -> tuple[set[str], set[str]]:
    """`_names` by walking the syntax tree."""
    loaded: set[str] = set()
    stored: set[str] = set()

    def names(node: ast.AST) -> tuple[set[str], set[str]]:  # one walk: (loads, stores)
        reads: set[str] = set()
        writes: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                (reads if isinstance(n.ctx, ast.Load) else writes).add(n.id)
        return reads, writes

    def scan(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.For):
                loaded.update(names(statement.iter)[0] - stored)
                stored.update(names(statement.target)[1])
                scan(statement.body)
                continue
            reads, writes = names(statement)
            if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
                reads.add(statement.target.id)
            loaded.update(reads - stored)
            stored.update(writes)

    scan(ast.parse(textwrap.dedent("\n".join(lines))).body)
    return loaded, stored


def _parts(function_name: str, parameters: list[str], prologue: list[str],
           chunks: list[list[list[str]]], results: list[str]) -> list[str]:
    """The main function calling one njit function per chunk, passing live values along."""
    defined = set(parameters) | _names(prologue)[1]
    summaries = [_names([line for block in chunk for line in block]) for chunk in chunks]
    needed_later: list[set[str]] = []
    later = {r for r in results}
    for loaded, _ in reversed(summaries):
        needed_later.append(set(later))
        later |= loaded
    needed_later.reverse()
    main = [f"def {function_name}({', '.join(parameters)}):", *prologue]
    parts: list[str] = []
    for number, (chunk, (loaded, stored)) in enumerate(zip(chunks, summaries)):
        arguments = sorted(loaded & defined)
        returned = sorted(stored & needed_later[number])
        part = f"{function_name}_part{number}"
        parts += [f"def {part}({', '.join(arguments)}):",
                  *[line for block in chunk for line in block], _return(returned), "", ""]
        target = ", ".join(returned) + ("," if len(returned) == 1 else "")
        main.append(f"    {target} = {part}({', '.join(arguments)})" if returned
                    else f"    {part}({', '.join(arguments)})")
        defined |= stored
    return parts + main + [_return(results)]
