"""Write graphc/backend/kernels.py: every kernel, for each precision, as straight-line code.

Owns: `kernels_source()` and `main()` (`python3 -m graphc.backend.transcendental.generate`
rewrites kernels.py; tests/test_kernels.py checks that the committed file is
what this module writes). Imports: ast, inspect, the algorithm modules.

Why generate: the algorithms are written once, over `P`, `FLOAT`, `INT` and
`FDLIBM_TRIG` (see transcendental/__init__.py). Numba could specialise them
itself (re-bound globals, cores as `njit(inline="always")`), but its IR
inliner tripled the kernels' compile time (22 kernels: 22 s -> 62-77 s),
which every cold start pays. So this module does the inlining on the AST,
once, at development time: each call of another algorithm is replaced by its
body with renamed locals, `poly` by its unrolled Horner steps, `if
FDLIBM_TRIG:` by the branch the precision takes, `P.NAME` by a scalar global
(`F64_NAME`, defined from precision.py) and `FLOAT`/`INT` by the NumPy
types. Numba then compiles what it compiled when the kernels were written
out by hand (bitwise the same results, the same
compile time), and caches it under the same names (`kernels.exp_f64-*`).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import itertools
import sys
from pathlib import Path
from typing import Any

from . import KERNEL_NAMES, REDUCED_NAMES, activation, exp_log, trig
from .precision import SPECIALISED

MODULES = (exp_log, activation, trig)
TARGET = Path(__file__).resolve().parents[1] / "kernels.py"
TYPES = {"FLOAT": "float", "INT": "int"}  # -> np.float64 / np.int32 ...


def _functions() -> dict[str, tuple[Any, ast.FunctionDef]]:
    """Every algorithm function: name -> (module, its syntax tree)."""
    found: dict[str, tuple[Any, ast.FunctionDef]] = {}
    for module in MODULES:
        for node in ast.parse(inspect.getsource(module)).body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = (module, node)
    return found


def _locals(function: ast.FunctionDef) -> set[str]:
    stored = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)
              and isinstance(node.ctx, ast.Store)}
    return stored | {argument.arg for argument in function.args.args}


class _Inliner:
    """Flattens algorithms for one precision into lists of statements."""

    def __init__(self, suffix: str, constants: dict[str, str]) -> None:
        self.values = SPECIALISED[suffix]
        self.record = f"F{suffix[1:]}"  # F64 / F32, as precision.py names them
        self.constants = constants  # generated global -> its definition, e.g. "F64.EXP_POLY[3]"
        self.functions = _functions()
        self.counter = itertools.count(1)
        self.globals_used: set[tuple[str, str]] = set()  # (module, name) to import

    def constant(self, field: str, index: int | None = None) -> ast.Name:
        """`P.FIELD` / `P.FIELD[i]` as a scalar global (`F64_EXP_CLAMP`): Numba types a
        scalar global as a constant, while a namedtuple global is lowered whole at every use."""
        name = f"{self.record}_{field}" + ("" if index is None else f"_{index}")
        self.constants[name] = f"{self.record}.{field}" + ("" if index is None else f"[{index}]")
        return ast.Name(name, ast.Load())

    def _rename(self, node: ast.AST, names: dict[str, str], module: Any) -> Any:
        inliner = self

        class Rename(ast.NodeTransformer):
            def visit_Call(self, node: ast.Call) -> Any:
                if isinstance(node.func, ast.Name) and node.func.id == "poly":
                    node.args[0] = self.visit(node.args[0])  # _horner reads the coefficients
                    return node
                return self.generic_visit(node)

            def visit_Subscript(self, node: ast.Subscript) -> Any:
                if _field(node.value) and isinstance(node.slice, ast.Constant):
                    return inliner.constant(_field(node.value), int(node.slice.value))  # type: ignore[arg-type]
                return self.generic_visit(node)

            def visit_Attribute(self, node: ast.Attribute) -> Any:
                return inliner.constant(node.attr) if _field(node) else self.generic_visit(node)

            def visit_Name(self, name: ast.Name) -> Any:
                if name.id in names:
                    return ast.copy_location(ast.Name(names[name.id], name.ctx), name)
                if name.id in TYPES:
                    dtype = inliner.values[name.id].__name__
                    return ast.Attribute(ast.Name("np", ast.Load()), dtype, ast.Load())
                if name.id in vars(module) and name.id not in ("np", "math") and \
                        name.id not in inliner.functions:
                    inliner.globals_used.add((module.__name__.rsplit(".", 1)[1], name.id))
                return name

        return Rename().visit(node)

    def statements(self, body: list[ast.stmt], names: dict[str, str], module: Any,
                   out: list[ast.stmt]) -> ast.expr | None:
        """Append `body`'s statements to `out`; the returned value's expression, if it returns."""
        for statement in body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # docstring
            if isinstance(statement, ast.If) and isinstance(statement.test, ast.Name) and \
                    statement.test.id in self.values:
                chosen = statement.body if self.values[statement.test.id] else statement.orelse
                result = self.statements(chosen, names, module, out)
                if result is not None:
                    return result
                continue
            statement = self._rename(copy.deepcopy(statement), names, module)
            if isinstance(statement, ast.If):  # kept as written (trig's libm branch)
                assert not self._calls(statement) and not any(
                    isinstance(node, ast.Return) for node in ast.walk(statement)), ast.unparse(statement)
                out.append(statement)
                continue
            statement = self._hoist_calls(statement, out)
            if isinstance(statement, ast.Return):
                assert statement.value is not None
                return statement.value
            assert not isinstance(statement, (ast.For, ast.While)), ast.unparse(statement)
            out.extend(_split_tuple(statement))
        return None

    def _calls(self, node: ast.AST) -> list[ast.Call]:
        """The calls of algorithms in `node`."""
        return [n for n in ast.walk(node) if isinstance(n, ast.Call) and
                isinstance(n.func, ast.Name) and n.func.id in self.functions]

    def _hoist_calls(self, statement: ast.stmt, out: list[ast.stmt]) -> Any:
        inliner = self

        class Hoist(ast.NodeTransformer):
            def visit_IfExp(self, node: ast.IfExp) -> Any:
                assert not inliner._calls(node), f"a select's call runs unconditionally: {ast.unparse(node)}"
                return node

            def visit_Call(self, node: ast.Call) -> Any:
                self.generic_visit(node)  # arguments first
                if isinstance(node.func, ast.Name) and node.func.id in inliner.functions:
                    return inliner.inline(node.func.id, node.args, out)
                return node

        return Hoist().visit(statement)

    def inline(self, name: str, arguments: list[ast.expr], out: list[ast.stmt]) -> ast.expr:
        """Append the body of `name(arguments)` to `out`; the expression of its result."""
        if name == "poly":
            return self._horner(arguments, out)
        module, function = self.functions[name]
        number = next(self.counter)
        names = {local: f"{local}_{number}" for local in _locals(function)}
        stored = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)
                  and isinstance(node.ctx, ast.Store)}
        for parameter, argument in zip(function.args.args, arguments, strict=True):
            if isinstance(argument, ast.Name) and parameter.arg not in stored:
                names[parameter.arg] = argument.id  # a variable passed on: no copy
            else:
                out.append(ast.Assign([ast.Name(names[parameter.arg], ast.Store())], argument, lineno=0))
        result = self.statements(function.body, names, module, out)
        assert result is not None, f"{name} returns nothing"
        return result

    def _horner(self, arguments: list[ast.expr], out: list[ast.stmt]) -> ast.expr:
        """`poly(x, P.NAME)` or `poly(x, P.NAME[a:b])` unrolled: q = c0; q = q * x + c1; ..."""
        x, coefficients = arguments
        cut = coefficients.slice if isinstance(coefficients, ast.Subscript) else None
        field = _field(coefficients.value if isinstance(coefficients, ast.Subscript) else coefficients)
        assert field, f"poly's coefficients must be a field of P: {ast.unparse(coefficients)}"
        indices = range(len(getattr(self.values["P"], field)))
        if cut is not None:
            indices = eval(f"indices[{ast.unparse(cut)}]", {"indices": indices})  # noqa: S307
        number = next(self.counter)
        if not isinstance(x, ast.Name):
            out.append(ast.Assign([ast.Name(f"x_{number}", ast.Store())], x, lineno=0))
            x = ast.Name(f"x_{number}", ast.Load())
        q, first, *rest = f"q_{number}", *(self.constant(field, i).id for i in indices)
        out.append(ast.parse(f"{q} = {first}").body[0])
        out.extend(ast.parse(f"{q} = {q} * {ast.unparse(x)} + {c}").body[0] for c in rest)
        return ast.Name(q, ast.Load())


def _split_tuple(statement: ast.stmt) -> list[ast.stmt]:
    """`a, b = (x, y)` (a core's tuple result) as `a = x; b = y`: less for Numba to type."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Tuple) and isinstance(statement.value, ast.Tuple)
            and len(statement.targets[0].elts) == len(statement.value.elts)):
        return [statement]
    targets = {node.id for node in ast.walk(statement.targets[0]) if isinstance(node, ast.Name)}
    if any(isinstance(node, ast.Name) and node.id in targets for node in ast.walk(statement.value)):
        return [statement]  # a swap: keep the tuple
    return [ast.Assign([target], value, lineno=0)
            for target, value in zip(statement.targets[0].elts, statement.value.elts, strict=True)]


def _field(node: ast.AST) -> str:
    """`NAME` for the expression `P.NAME`, else ''."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "P":
        return node.attr
    return ""


def kernel_source(name: str, suffix: str, constants: dict[str, str]) -> tuple[str, set[tuple[str, str]]]:
    """The generated `def <name>_<suffix>(x)` and the module globals it reads."""
    inliner = _Inliner(suffix, constants)
    module, function = inliner.functions[name]
    body: list[ast.stmt] = []
    result = inliner.statements(function.body, {}, module, body)
    assert result is not None
    body.append(ast.Return(result))
    summary = (ast.get_docstring(function) or name).splitlines()[0]
    where = f"transcendental/{module.__name__.rsplit('.', 1)[1]}.py"
    text = "\n".join(f"    {line}" for statement in body for line in ast.unparse(statement).splitlines())
    return (f'def {name}_{suffix}(x):\n    """{summary}\n\n    `{name}` of {where} for {suffix}.\n    """\n'
            f'{text}\n', inliner.globals_used)


def source_digest() -> str:
    """The digest of the algorithm sources: a stale kernels.py differs in its header."""
    here = Path(__file__).parent
    return hashlib.sha256(b"".join(path.read_bytes() for path in sorted(here.glob("*.py")))).hexdigest()[:16]


HEADER = '''"""The scalar kernels fused loops call, GENERATED from graphc/backend/transcendental/.

Do not edit: change the algorithms there and run
`python3 -m graphc.backend.transcendental.generate` (tests/test_kernels.py
checks that this file is up to date). Each function is one algorithm for one
precision with its cores inlined, straight-line code that LLVM vectorizes;
graphc.backend.runtime jits it with `cache=True` (docs/kernels.md).
Source digest: {digest}
"""
# ruff: noqa: E501
# mypy: disable-error-code="assignment"

import math

import numpy as np

from .transcendental import KERNEL_NAMES, REDUCED_RANGE, SIN_COS_MAX, SIN_COS_MAX_F32'''


def kernels_source() -> str:
    """The text of kernels.py."""
    functions, used = [], {("precision", "F32"), ("precision", "F64")}
    constants: dict[str, str] = {}
    for name in (*KERNEL_NAMES, *REDUCED_NAMES):
        for suffix in SPECIALISED:
            text, globals_used = kernel_source(name, suffix, constants)
            functions.append(text)
            used |= globals_used
    imports = [f"from .transcendental.{module} import {', '.join(sorted(n for m, n in used if m == module))}"
               for module in sorted({m for m, _ in used})]
    names = ", ".join(f'"{name}"' for name in ("KERNEL_NAMES", "REDUCED_RANGE", "SIN_COS_MAX",
                                                "SIN_COS_MAX_F32"))
    definitions = [f"{name} = {value}" for name, value in sorted(constants.items())]
    return "\n".join([HEADER.format(digest=source_digest()), *imports, "", f"__all__ = [{names}]",
                      "# The constants the kernels read, as scalars (see generate.py's Inliner.constant)",
                      *definitions, "", "", "\n\n".join(functions)])


def main() -> None:
    TARGET.write_text(kernels_source())
    print(f"wrote {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
