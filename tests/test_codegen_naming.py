"""One naming for the printer and the code generator (issue 13, item 5).

`t7` in the printed simplified graph (`gc.format_graph(f.outputs, f.inputs)`,
what `graphc show` prints for a compiled function) is `t7` in `f.source`: the
reference is the printer's own equation for each name. Comments name only
values the source defines (a view read through its index map is written out,
`(t9 = expand_dims[axis=(0,1)] t8)`), and a backward statement's comment says
which forward op it differentiates and the user's line.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from test_backend_codegen import small_mlp

import graphc as gc
from graphc.backend.lower import lower

NAME = re.compile(r"(?<![\w.])(t\d+)(?!\w)")
EQUATION = re.compile(r"^(\S+?)(?:: (\S+))? = (.*)$")
INLINE_VIEW = re.compile(r"\((t\d+) = ")
NOTE = re.compile(r"   \(backward of [^()]*\)$")


def printed(function: Any) -> dict[str, tuple[str, str]]:
    """The printer's equations of the simplified graph: name -> (type, expression)."""
    found = {}
    for line in gc.format_graph(function.outputs, function.inputs).splitlines()[1:-1]:
        match = EQUATION.match(line)
        assert match, line
        found[match.group(1)] = (match.group(2), match.group(3))
    return found


def operation(expression: str) -> str:
    """The op of an equation's right side: `sigmoid` of `sigmoid t0`, `*` of `t1 * t3`."""
    tokens = expression.split(" ")
    if len(tokens) >= 3 and not tokens[1][:1].isalnum() and not tokens[1].startswith("("):
        return tokens[1]
    return tokens[0].split("[")[0]


def comment_equations(source: str) -> list[tuple[str, str | None, str]]:
    """(name, type or None, expression) of every equation in the statements' comments."""
    found = []
    for line in source.splitlines():
        _, mark, comment = line.partition("  # ")
        for part in comment.split("; ") if mark else ():
            match = EQUATION.match(NOTE.sub("", part).replace("  [scope", " [scope"))
            if match:
                found.append((match.group(1), match.group(2), match.group(3)))
    return found


def defined_names(source: str) -> set[str]:
    """Names the source assigns, plus the names its comments define (equations, inline views)."""
    names = set()
    for line in source.splitlines():
        code, _, comment = line.partition("  # ")
        target = re.match(r"^\s*([\w, ]+?)\s*\+?=(?!=)", code)
        if target:
            names |= {t.strip() for t in target.group(1).split(",") if t.strip()}
        names |= set(INLINE_VIEW.findall(comment))
        names |= {part.split(" = ")[0].split(":")[0] for part in comment.split("; ")
                  if " = " in part}
    return names


def tanh_mlp() -> tuple[list[Any], list[Any], list[str]]:
    x = gc.input("x", shape=("n", 4))
    y = gc.input("y", shape=("n", 1))
    W1, W2 = gc.input("W1", shape=(4, 8)), gc.input("W2", shape=(8, 1))
    hidden = gc.tanh(x @ W1)
    loss = gc.mean((hidden @ W2 - y) ** 2)
    return [x, y, W1, W2], [loss, *gc.grad(loss, [W1, W2])], ["loss", "d_W1", "d_W2"]


BUILDS = {"tanh_mlp": tanh_mlp, "small_mlp": small_mlp}  # one njit function; kernel mode


@pytest.fixture(scope="module", params=sorted(BUILDS))
def compiled(request: pytest.FixtureRequest) -> Any:
    inputs, outputs, names = BUILDS[request.param]()
    return gc.compile(inputs, outputs, names=names)


def test_every_t_name_in_the_source_is_the_printers_name_of_that_node(compiled: Any) -> None:
    reference = printed(compiled)
    source = compiled.source
    used = set(NAME.findall(source))
    assert used, source
    assert used <= set(reference), f"names the printed graph does not have: {used - set(reference)}"
    checked = 0
    for name, type_text, expression in comment_equations(source):
        if not NAME.fullmatch(name):
            continue  # inputs, d_W-style output names, a kernel's own a0/r0
        printed_type, printed_expression = reference[name]
        if type_text is not None:
            assert type_text == printed_type, (name, type_text, printed_type)
        # Same op, same arguments: the printer's operands all appear in the comment.
        assert operation(expression) == operation(printed_expression), \
            (name, expression, printed_expression)
        assert set(NAME.findall(printed_expression)) <= set(NAME.findall(expression)), \
            (name, expression, printed_expression)
        checked += 1
    assert checked >= 8


def test_comments_name_only_values_the_source_defines(compiled: Any) -> None:
    source = compiled.source
    defined = defined_names(source)
    for line in source.splitlines():
        _, _, comment = line.partition("  # ")
        missing = set(NAME.findall(comment)) - defined
        assert not missing, f"{line.strip()} names {missing}, which the source never defines"


def test_a_view_read_in_place_is_written_out_in_the_comment() -> None:
    """The mean's seed (1/size) is broadcast by an expand_dims view never stored:
    the comment says what it is instead of naming an undefined t9."""
    function = gc.compile(*tanh_mlp()[:2], names=tanh_mlp()[2])
    views = re.findall(r"\((t\d+) = expand_dims\S* (\S+)\)", function.source)
    assert views, function.source
    reference = printed(function)
    for name, argument in views:
        assert reference[name][1].startswith("expand_dims") and reference[name][1].endswith(argument)


def test_backward_statements_name_the_forward_op_and_the_users_line() -> None:
    X = gc.input("X", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    product = X @ W
    matmul_line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    activation = gc.sigmoid(product)
    sigmoid_line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    loss = gc.sum(activation)
    generated = lower([X, W], [loss, *gc.grad(loss, [X, W])], ["loss", "d_X", "d_W"],
                      kernels=False).generated.source
    notes = {}
    for line in generated.splitlines():
        found = re.search(r"# (\w+): .* = (.*?)   \(backward of (\w+), ([\w.]+):(\d+)\)$", line)
        if found:
            notes[found.group(1)] = (found.group(2), found.group(3), found.group(4),
                                     int(found.group(5)))
    assert {file for _, _, file, _ in notes.values()} == {"test_codegen_naming.py"}
    # sigmoid's derivative s * (1 - s): its statements differentiate sigmoid at its line
    sigmoid_rows = [v for v in notes.values() if v[1] == "sigmoid"]
    forward = re.search(r"# (t\d+): f64\[n,2\] = sigmoid t\d+$", generated, re.M)
    assert forward, generated
    s = forward.group(1)
    expressions = {expression for expression, *_ in sigmoid_rows}
    assert f"1 - {s}" in expressions, notes
    assert any(re.fullmatch(rf"{s} \* t\d+|t\d+ \* {s}", e) for e in expressions), notes
    assert {line for *_, line in sigmoid_rows} == {sigmoid_line}
    # the matmul's: transposes and products, at the matmul's line; d_X and d_W among them
    matmul_rows = {k: v for k, v in notes.items() if v[1] == "matmul"}
    assert {"d_X", "d_W"} <= set(matmul_rows)
    assert {line for *_, line in matmul_rows.values()} == {matmul_line}
    # forward statements carry no note
    for line in generated.splitlines():
        if re.search(r"= (matmul X W|sigmoid t\d+|sum\[axis=\(0,1\)\] t\d+)", line):
            assert "backward of" not in line, line


def test_kernel_mode_says_where_on_the_call_and_keeps_kernels_free_of_user_lines() -> None:
    """A shared kernel's text must not hold a user's file and line (another graph
    shares it); the call's comment in the graph function says it instead."""
    x = gc.input("x", shape=("n", 4))
    W = gc.input("W", shape=(4, 4))
    hidden = gc.relu(x @ W)
    relu_line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    loss = gc.sum(gc.tanh(hidden) * hidden)
    generated = lower([x, W], [loss, *gc.grad(loss, [W])], ["loss", "d_W"], kernels=True).generated
    assert generated.kernels
    assert not any("backward of" in kernel.source for kernel in generated.kernels)
    calls = [line for line in generated.source.splitlines() if re.search(r"fused_\w+\(", line)]
    noted = [line for line in calls if f"backward of relu, test_codegen_naming.py:{relu_line}" in line]
    assert noted, "\n".join(calls)
    # every origin named is a forward op of this graph at its line: relu's, or the loss line's (+2)
    origins = set(re.findall(r"backward of (\w+), test_codegen_naming\.py:(\d+)", "\n".join(calls)))
    assert origins <= {("relu", str(relu_line)), ("tanh", str(relu_line + 2)),
                       ("multiply", str(relu_line + 2)), ("sum", str(relu_line + 2))}, origins
    assert ("tanh", str(relu_line + 2)) in origins
