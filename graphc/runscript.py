"""Running a user's script for the command line, and finding the graphs it builds (layer L5).

Two ways, both used by `graphc.cli.load`:

- `namespace(script)`: run it under the module name `__graphc__`, so its
  `if __name__ == "__main__":` block does not run, and return its globals
  (graphs built at module level).
- `record(script, argv)`: run it as `__main__` (its command line is
  `argv`) while `gc.compile` only records what it is asked to compile: the
  inputs, the outputs as built, the output names, and the caller's frame. The
  first *call* of a compiled function stops the script (its graphs exist by
  then; nothing trains), as does its end. Each recorded function is named
  after the variable the script bound it to (`train_step`), found in the
  caller's frame, which also names the tensors the script built (`loss`,
  `model["logits"]`) and an optimizer's new parameters (`new_W1`).

Mistakes (no such file, a script that fails or exits) raise ScriptError with
the script's own line. Imports: api, ir, errors. Entry points: `namespace`,
`record`.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
import traceback
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ir import Node

PACKAGE = Path(__file__).resolve().parent


class ScriptError(Exception):
    """The script could not be run or failed: one line for the user."""


class _Stop(BaseException):
    """The script called a compiled function: every graph before it is built. Not an Exception,
    so a script's own `except Exception` does not swallow it."""


@dataclass
class Recorded:
    """One gc.compile call of the script: the graph as built and where it was asked for."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    output_names: list[str | None]
    backend: str
    frame: Any  # the script's frame that called gc.compile (its locals name things)
    function: Any  # the Function handed back to the script
    name: str = ""


@dataclass
class Run:
    """What a recorded run found: compiled functions and the script's names for tensors."""

    compiled: list[Recorded]
    globals: dict[str, Any]
    tensor_names: dict[Node, str] = field(default_factory=dict)
    failure: str = ""  # the script failed after compiling (its graphs are still whole)


@contextmanager
def _script_environment(script: Path, argv: Sequence[str]) -> Iterator[None]:
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    sys.path.insert(0, str(script.resolve().parent))
    sys.argv = [str(script), *argv]
    try:
        yield
    finally:
        sys.path[:], sys.argv[:] = saved_path, saved_argv


def _failure(script: Path, exc: BaseException) -> ScriptError:
    """`running s.py failed: ValueError: ... (at s.py:12)`: the script's innermost line."""
    where = f" (at {script}:{exc.lineno})" if isinstance(exc, SyntaxError) else ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == script.resolve():
            where = f" (at {script}:{frame.lineno})"
    return ScriptError(f"running {script} failed: {type(exc).__name__}: {exc}{where}")


def check(script: Path) -> None:
    if not script.is_file():
        raise ScriptError(f"no such script: {script}")


def namespace(script: Path) -> dict[str, Any]:
    """The script's globals, run without its __main__ block."""
    check(script)
    with _script_environment(script, []):
        try:
            return runpy.run_path(str(script), run_name="__graphc__")
        except SystemExit as exc:
            raise ScriptError(f"{script} exited (code {exc.code}) while being loaded") from None
        except Exception as exc:  # the user's script failed: say where, in one line
            raise _failure(script, exc) from None


def _caller() -> Any:
    """The innermost frame outside graphc: the script's line that called gc.compile."""
    frame = sys._getframe(2)
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    return frame


@contextmanager
def _recording(compiled: list[Recorded]) -> Iterator[None]:
    """gc.compile records and returns a Function whose first call stops the script."""
    import graphc
    from graphc import api

    original = api.compile

    def recording_compile(inputs: Any, outputs: Any, *, backend: str = "numba",
                          names: Any = None, **_options: Any) -> Any:
        function = original(inputs, outputs, backend="numpy", simplify=False, names=names)
        compiled.append(Recorded(function.inputs, function.outputs,
                                 list(function.stats.get("output_names", [])), backend,
                                 _caller(), function))

        def stop(arrays: Any, binding: Any) -> Any:
            raise _Stop

        function.runner = stop
        return function

    graphc.compile = api.compile = recording_compile  # type: ignore[assignment]
    try:
        yield
    finally:
        graphc.compile = api.compile = original  # type: ignore[assignment]


def record(script: Path, argv: Sequence[str]) -> Run:
    """Run the script as __main__ until it first calls a compiled function; see the docstring."""
    check(script)
    compiled: list[Recorded] = []
    failure = ""
    module = types.ModuleType("__main__")
    module.__file__ = str(script)
    module.__dict__["__builtins__"] = __builtins__
    saved_main = sys.modules.get("__main__")
    try:
        code = compile(script.read_bytes(), str(script), "exec")
    except (SyntaxError, ValueError) as exc:
        raise _failure(script, exc) from None
    with _script_environment(script, argv), _recording(compiled), \
            contextlib.redirect_stdout(sys.stderr):  # the script's prints are not our output
        sys.modules["__main__"] = module
        try:
            exec(code, module.__dict__)  # noqa: S102 - running the user's script is the point
        except _Stop:
            pass
        except SystemExit as exc:
            if exc.code not in (0, None):
                if not compiled:
                    raise ScriptError(f"{script} exited (code {exc.code}) before calling a "
                                      "compiled function; pass its options with --args") from None
                failure = f"{script} exited (code {exc.code})"
        except Exception as exc:
            if not compiled:
                raise _failure(script, exc) from None
            failure = str(_failure(script, exc))  # after its compiles: their graphs are whole
        finally:
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
    run = Run(compiled, dict(module.__dict__), failure=failure)
    _name_everything(run)
    return run


def _scopes(run: Run) -> list[dict[str, Any]]:
    """Variables to take names from: each compile's calling frame, then the script's globals."""
    found = [dict(r.frame.f_locals) for r in run.compiled if r.frame is not None]
    return found + [run.globals]


def _name_everything(run: Run) -> None:
    scopes = _scopes(run)
    for number, recorded in enumerate(run.compiled, 1):
        recorded.name = next((key for variables in scopes for key, value in variables.items()
                              if value is recorded.function and not key.startswith("_")),
                             f"compiled{number}")
    names = run.tensor_names
    for variables in scopes:
        for key, value in variables.items():
            for node, name in _named_tensors(key, value):
                names.setdefault(node, name)


def _named_tensors(key: str, value: Any) -> Iterator[tuple[Node, str]]:
    """`loss` for a tensor, `logits` for model["logits"], `new_W1` for an optimizer's update."""
    if key.startswith("_"):
        return
    if isinstance(value, Node):
        yield value, key
    elif isinstance(value, dict):
        for inner, item in value.items():
            if isinstance(inner, str) and inner.isidentifier() and isinstance(item, Node):
                yield item, inner
    elif hasattr(value, "new_params") and hasattr(value, "params"):  # gc.optim's Update
        pairs = list(zip(value.params, value.new_params))
        pairs += list(zip(getattr(value, "state", ()), getattr(value, "new_state", ())))
        for old, new in pairs:
            if isinstance(old, Node) and isinstance(new, Node) and old.name:
                yield new, f"new_{old.name}"

