"""Every op says how it becomes code in a typed record, and the back end reads only that.

graphc/lowering.py holds the records (Leaf, Pointwise, Reduction, Kernel,
View, Rows, Loop); `Op.lowering` holds one. The back end dispatches on the
record's type and reads its facts: it must not know an op by its name nor
guess what a template does from its text (issue 13, item 1).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.lowering import LOWERINGS, Kernel, Pointwise, Reduction, View

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "graphc" / "backend"
CONTROL = ROOT / "graphc" / "control"
GENERATED = {BACKEND / "interpreter" / "run.py", BACKEND / "kernels.py"}

FORBIDDEN_NAME = r"\bop\.name *(==|!=|in|not in) *[(\"']"
# What the back end used to sniff; each pattern is a way of knowing an op by its name or its text.
FORBIDDEN = {
    r"\bALLOCATING\b": "a table of template prefixes that allocate (Kernel.allocates)",
    r"\"\{acc\} [+*]": "a reduction recognised by its update text (Reduction.additive)",
    r"select\(\{\{\{\w+\}\}\},\" in": "a condition operand recognised by its text (Pointwise.conditions)",
    r"_reduced_\" *\+|\.replace\(\"_\" *\+": "a reduced kernel's name made by string surgery (Pointwise.kernel)",
    r"\.op\.(scalar|kernel|reduction|index|rows)\b": "the loose lowering fields (Op.lowering)",
    FORBIDDEN_NAME: "an op known by its name",
    r"template\w*(\(\w*\))?\.startswith\(": "a template's prefix",
    r"(full)?match\([\w.]*template": "a template's text matched by a pattern (Pointwise.operators_only)",
    r"\{\s*[\"'][-+*/][\"']\s*:": "a table keyed by infix operator (Pointwise.ufunc)",
    r"[\"']np\.(add|subtract|multiply|true_divide|divide|negative|power)[\"']":
        "a NumPy ufunc spelled outside its op (Pointwise.ufunc)",
}


def test_every_op_graphc_registers_has_a_typed_lowering() -> None:
    """In a fresh process (this one may hold test ops): every op of graphc has a record."""
    script = ("import graphc, graphc.control\n"
              "from graphc.ir import OPS\n"
              "from graphc.lowering import LOWERINGS\n"
              "print(sorted(n for n, op in OPS.items() if not isinstance(op.lowering, LOWERINGS)))\n")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           cwd=ROOT, check=True).stdout.strip()
    assert found == "[]", f"ops without a lowering record (graphc/lowering.py): {found}"


@pytest.mark.parametrize("path", sorted(p for p in BACKEND.rglob("*.py") if p not in GENERATED),
                         ids=lambda p: str(p.relative_to(BACKEND)))
def test_no_backend_module_knows_an_op_by_name_or_template_text(path: Path) -> None:
    text = path.read_text()
    for pattern, what in FORBIDDEN.items():
        hits = [f"{path.name}:{text[:m.start()].count(chr(10)) + 1}"
                for m in re.finditer(pattern, text)]
        assert not hits, f"{what}: {hits}; declare it on the op's lowering record instead"


# `node.op.name in SOME_TABLE` where the module spells SOME_TABLE out as op names: a fact
# about those ops kept outside their declarations (declare it on the op record instead, as
# `Op.expensive` replaced scan_vjp's TRANSCENDENTAL). A registry filled by the ops
# themselves (interpret.FAMILIES) is not a literal table and passes.
NAME_TEST = re.compile(r"\bop\.name *(?:not +)?in +([A-Z_][A-Z0-9_]*)\b")


def name_tables(text: str) -> list[str]:
    """The literal tables of names the module tests `op.name` against."""
    return [m.group(1) for m in NAME_TEST.finditer(text)
            if re.search(rf"^{m.group(1)}\b[^=\n]*= *(frozenset|set|tuple)?[(\[{{]+ *[\"']",
                         text, re.MULTILINE)]


@pytest.mark.parametrize("path", sorted(p for root in (BACKEND, CONTROL) for p in root.rglob("*.py")
                                        if p not in GENERATED),
                         ids=lambda p: str(p.relative_to(ROOT / "graphc")))
def test_no_backend_or_control_module_keeps_a_table_of_op_names(path: Path) -> None:
    """The back end and the loop machinery (control/) read op facts from the record; control's
    rewrite rules may match one op by name (as the simplifier's do), never a table of them."""
    tables = name_tables(path.read_text())
    assert not tables, f"{path.name}: op names listed in {tables}; declare the fact on the op record"


def test_the_name_table_check_catches_what_it_replaced() -> None:
    old = ('TRANSCENDENTAL = frozenset({"arcsinh", "arctan", "cos"})\n'
           "def _costly(node):\n    return node.op.name in TRANSCENDENTAL\n")
    assert name_tables(old) == ["TRANSCENDENTAL"]
    assert name_tables("from ..interpret import FAMILIES\nif node.op.name in FAMILIES: pass\n") == []


# Modules that decide from the schedule and the lowering records alone, never by reading
# generated text (scan_buffers once rewrote a body's source with regular expressions).
_NO_TEXT = [r"^import re\b|^from re import", r"\bre\.(compile|match|search|findall|sub)\(",
            r"blas_dot\\?\(|matmul_small\\?\(", r"\.(splitlines|startswith)\("]
READS_NO_GENERATED_TEXT = {
    BACKEND / "scan_buffers.py": _NO_TEXT,
    # the workspace once rewrote the kernel-mode function's text (`= empty(`, `blas_dot(`)
    BACKEND / "workspace.py": _NO_TEXT,
    # scan_loops once counted loop drivers by reading `def ..._loop` lines of the source
    BACKEND / "scan_loops.py": _NO_TEXT,
}


# Control modules whose passes read op facts from the records only (no `op.name == "..."`):
# the loop pass once found `transpose(a) @ b` accumulators by the names (Op.outer_sum now).
NO_OP_NAMES = [CONTROL / "optimize.py"]


@pytest.mark.parametrize("path", NO_OP_NAMES, ids=lambda p: p.name)
def test_control_passes_that_read_op_facts_from_the_record(path: Path) -> None:
    text = path.read_text()
    hits = [f"{path.name}:{text[:m.start()].count(chr(10)) + 1}"
            for m in re.finditer(FORBIDDEN_NAME, text)]
    assert not hits, f"an op known by its name: {hits}; declare the fact on the op record"


@pytest.mark.parametrize("path", sorted(READS_NO_GENERATED_TEXT), ids=lambda p: p.name)
def test_modules_that_plan_from_records_read_no_generated_text(path: Path) -> None:
    text = path.read_text()
    for pattern in READS_NO_GENERATED_TEXT[path]:
        hits = [f"{path.name}:{text[:m.start()].count(chr(10)) + 1}"
                for m in re.finditer(pattern, text, re.MULTILINE)]
        assert not hits, f"{pattern!r} at {hits}: read the schedule and Kernel.into, not the source"
    old = ["import re", '"dot": re.compile(rf"^    {_NAME} = (?:loop_)?blas_dot\\((?P<a>\\w+)"',
           "lines[index].startswith(\"    return (\")",
           '"empty": re.compile(r"^    (?P<var>\\w+) = empty\\((?P<args>.*?)\\)(?P<comment>  # .*)?$"),']
    assert all(any(re.search(p, line, re.MULTILINE) for p in READS_NO_GENERATED_TEXT[path])
               for line in old)  # the patterns match what the old module did


def test_the_patterns_catch_what_they_name() -> None:
    """The patterns above match the code they replaced (a test that cannot fail proves nothing)."""
    old = ['ALLOCATING = ("blas_dot(",)', 'reduction[1] == "{acc} + {0}"',
           'condition = f"select({{{position}}}," in template', 'node.op.scalar is not None',
           'n.op.name == "matmul"', 'template_of(node).startswith(ALLOCATING)',
           'kernel.replace("_" + suffix + "({0})", "_reduced_" + suffix)',
           # codegen/pyunits.py before the records said `ufunc` and `operators_only`:
           '_UFUNCS = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide"}',
           "and _ARITHMETIC.fullmatch(lowering.template) is not None)",
           'ufunc = {"+": np.add}[infix]', 'return "np.divide" if infix == "/" else None']
    for line in old:
        assert any(re.search(p, line) for p in FORBIDDEN), line


def test_user_op_shorthands_become_records() -> None:
    """gc.Op(scalar=...) and gc.Op(kernel=...) (docs/custom_vjp.md) stay, as records."""
    same = {"shape": lambda inputs: inputs[0].shape, "dtype": lambda inputs: inputs[0].dtype}
    pointwise = gc.Op("t_twice", impl=lambda x: 2 * x, arity=1, scalar="(2.0 * {0})", **same)
    kernel = gc.Op("t_copy", impl=np.copy, arity=1, kernel="{0}.copy()", **same)
    assert pointwise.lowering == Pointwise("(2.0 * {0})")
    assert isinstance(kernel.lowering, Kernel) and kernel.lowering.text(None) == "{0}.copy()"
    with pytest.raises(ValueError, match="one of"):
        gc.Op("t_both", impl=np.copy, arity=1, scalar="{0}", kernel="{0}", **same)


def test_records_carry_the_facts_the_back_end_reads() -> None:
    from graphc.ir import OPS

    assert OPS["where"].lowering == Pointwise("select({0}, {1}, {2})", conditions=(0,))
    assert OPS["sin"].lowering.kernel == "sin" and OPS["sin"].lowering.exact_dtype
    assert OPS["astype"].lowering.attributes == {"dtype"} and not OPS["exp"].lowering.attributes
    assert isinstance(OPS["sum"].lowering, Reduction) and OPS["sum"].lowering.additive
    assert OPS["mean"].lowering.finish == "{acc} / {count}"
    assert not OPS["max"].lowering.additive and OPS["max"].lowering.finish is None
    assert isinstance(OPS["transpose"].lowering, View) and OPS["transpose"].lowering.copy
    assert OPS["matmul"].lowering.product and OPS["matmul"].lowering.allocates
    assert isinstance(OPS["getitem"].lowering, Kernel) and not OPS["getitem"].lowering.allocates
    assert all(isinstance(op.lowering, LOWERINGS) for op in OPS.values()
               if op.name in ("input", "constant", "scan", "while_loop"))


def test_ufunc_and_operators_only_facts_agree_with_the_numpy_reference() -> None:
    """What kernel mode computes in Python (codegen/pyunits.py) is declared on the record; check
    each declaration against the op's own NumPy reference, and that the ops whose Python
    spelling would raise (math.sqrt: ValueError) or need an import do not declare it."""
    from graphc.ir import OPS

    rng = np.random.default_rng(3)
    with_ufunc = {n: op for n, op in OPS.items()
                  if isinstance(op.lowering, Pointwise) and op.lowering.ufunc is not None}
    assert {"add", "subtract", "multiply", "divide"} <= set(with_ufunc)
    for name, op in with_ufunc.items():
        a, b = rng.standard_normal((2, 3, 4)) + 2.0
        ufunc = getattr(np, op.lowering.ufunc.removeprefix("np."))
        assert isinstance(ufunc, np.ufunc) and ufunc.nin == op.arity == 2, name
        np.testing.assert_array_equal(ufunc(a, b, order="C"), op.impl(a, b), err_msg=name)
    operators = {n: op for n, op in OPS.items()
                 if isinstance(op.lowering, Pointwise) and op.lowering.operators_only}
    assert {"add", "negative", "power", "square"} <= set(operators)
    assert not {"sqrt", "log", "exp", "where", "maximum"} & set(operators)
    # `**` on NumPy scalars is libm's pow; np.power's loop on an AVX-512 machine is SVML's, one
    # ulp apart at (1.5, -0.25): NumPy's own two spellings differ there, so power gets that ulp.
    for name, op in operators.items():
        arguments = [np.float64(v) for v in (1.5, -0.25, 0.0)[:op.arity]]
        text = op.lowering.template.format(*(f"v{i}" for i in range(op.arity)))
        with np.errstate(all="ignore"):
            got = eval(text, {"__builtins__": {}}, {f"v{i}": v for i, v in enumerate(arguments)})
            want = op.impl(*arguments)
        if name == "power":
            np.testing.assert_array_max_ulp(got, want, maxulp=1)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
