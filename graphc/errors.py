"""Error types and the user-source locator shared by every layer.

Owns: the exception hierarchy of API.md, `user_origin()`, which finds the
line of *user* code that is building a node, so build-time errors (and later
run-time and gradient errors) can point at the user's file:line instead of at
graphc internals, and `api_boundary`, which removes graphc's own frames from
the traceback of a graphc error on its way out to the user (JAX's filtered
tracebacks). Imports: the standard library only (layer L0).

Graphc developers who want the whole traceback set
`graphc.errors.FILTER_TRACEBACKS = False`.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import inspect
import os
import re
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Shapes that cannot work together, detected when the node is built."""


class DTypeError(GraphcError, TypeError):
    """An unsupported or incompatible dtype, detected when the node is built."""


class InputError(GraphcError, ValueError):
    """A compiled function was called with the wrong arguments."""


class ArgumentError(GraphcError, TypeError):
    """A graphc function (or a NumPy function on tensors) got arguments it does not take."""


class ConcretizationError(GraphcError, TypeError):
    """A symbolic tensor was used where a concrete value is needed (bool(), a loop, np.asarray)."""


class NotDifferentiableError(GraphcError):
    """Differentiation reached an op that has no derivative rule."""


class GradientCheckError(GraphcError, AssertionError):
    """The symbolic gradient disagrees with finite differences."""


class GraphcWarning(UserWarning):
    """Base class of the warnings graphc gives: something was worked around, not failed."""


class CacheWarning(GraphcWarning):
    """The disk cache could not be used as configured (untrusted, unwritable, full).

    Compiling still works: graphc falls back to a private temporary directory
    or to no disk cache, and says which directory and what to fix.
    """


# The description `origin()` gives nodes built in its block. A context
# variable, not a module list: each thread (and asyncio task) has its own, so
# one thread's gc.grad cannot label another thread's nodes "backward of ...".
_origin_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "graphc_origin_override", default=None)


@contextmanager
def origin(description: str) -> Iterator[None]:
    """Nodes built inside this block are attributed to `description`.

    Autodiff uses it so a backward node says which forward node's rule built
    it ("backward of sigmoid at model.py:12") instead of the grad() call line.
    """
    token = _origin_override.set(description)
    try:
        yield
    finally:
        _origin_override.reset(token)


@functools.lru_cache(maxsize=1024)
def _inside_package(filename: str) -> bool:
    """Whether a code object's file is part of graphc (cached: every node build asks)."""
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def user_origin() -> str:
    """Return "file:line" of the innermost stack frame outside the graphc package.

    Frames of graphc itself are skipped so that the location names the script
    line that called `gc.matmul(...)` or wrote `x @ W`.
    """
    override = _origin_override.get()
    if override is not None:
        return override
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _inside_package(filename):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


# ------------------------------------------------------------ filtered tracebacks

# Graphc developers: set to False to see graphc's own frames in tracebacks.
FILTER_TRACEBACKS = True

F = TypeVar("F", bound=Callable[..., Any])
Translate = Callable[[Exception, tuple[Any, ...], dict[str, Any]], "Exception | None"]


def filter_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The same traceback without graphc's frames (user callbacks inside graphc stay)."""
    kept: list[types.TracebackType] = []
    while tb is not None:
        if not _inside_package(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    result: types.TracebackType | None = None
    for entry in reversed(kept):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result


def _filter_for_caller(exc: BaseException) -> None:
    """Drop graphc frames from exc's traceback if the boundary's caller is user code.

    Called from the except block of an `api_boundary` wrapper: frame 2 is the
    wrapper's caller. A caller inside graphc (a tensor operator calling a
    builder) leaves the work to the outermost boundary, whose caller is the user.
    """
    if FILTER_TRACEBACKS and not _inside_package(sys._getframe(2).f_code.co_filename):
        exc.with_traceback(filter_traceback(exc.__traceback__))


def api_boundary(fn: F, translate: Translate | None = None) -> F:
    """Wrap a public entry point so graphc errors leave it with only the user's frames.

    `translate(exc, args, kwargs)` may turn an exception into a graphc error
    (or return None to keep it). The re-raise is a bare `raise` inside the
    handler, which (unlike `raise exc`) adds no frame of its own, so the
    user's line is the last frame of the traceback.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = translate(exc, args, kwargs) if translate is not None else None
            if error is None or error is exc:
                if isinstance(exc, GraphcError):
                    _filter_for_caller(exc)
                raise
            try:
                raise error from None
            except GraphcError as new:
                _filter_for_caller(new)
                raise

    return wrapper  # type: ignore[return-value]


def argument_error(public_name: str, signature: inspect.Signature, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Exception | None:
    """An ArgumentError if the arguments do not fit the signature, else None (keep the error).

    Used by the builders (ir.function) and tensor methods after a plain
    TypeError: the message names the public function, suggests the closest
    keyword and points at the user's line.
    """
    try:
        signature.bind(*args, **kwargs)
    except TypeError as problem:
        message = str(problem)
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", message)
        if unexpected:
            close = difflib.get_close_matches(unexpected.group(1), list(signature.parameters), 1, 0.6)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; {public_name} takes {', '.join(signature.parameters)}"
            text = f"{public_name}() got an unexpected keyword argument {unexpected.group(1)!r}{hint}"
        else:
            shown = signature
            if list(signature.parameters)[:1] == ["self"]:  # a Tensor method: show it as called
                shown = signature.replace(parameters=list(signature.parameters.values())[1:])
            text = f"{public_name}() {message}; the signature is {public_name}{shown}"
        return ArgumentError(f"{text} (at {user_origin()})")
    return None
