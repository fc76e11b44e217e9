"""Error types and the user-source locator shared by every layer.

Owns: the exception hierarchy of API.md and `user_origin()`, which finds the
line of *user* code that is building a node, so build-time errors (and later
run-time and gradient errors) can point at the user's file:line instead of at
graphc internals. Imports: the standard library only (layer L0).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Shapes that cannot work together, detected when the node is built."""


class DTypeError(GraphcError, TypeError):
    """An unsupported or incompatible dtype, detected when the node is built."""


class InputError(GraphcError, ValueError):
    """A compiled function was called with the wrong arguments."""


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


_origin_override: list[str] = []


@contextmanager
def origin(description: str) -> Iterator[None]:
    """Nodes built inside this block are attributed to `description`.

    Autodiff uses it so a backward node says which forward node's rule built
    it ("backward of sigmoid at model.py:12") instead of the grad() call line.
    """
    _origin_override.append(description)
    try:
        yield
    finally:
        _origin_override.pop()


@functools.lru_cache(maxsize=1024)
def _inside_package(filename: str) -> bool:
    """Whether a code object's file is part of graphc (cached: every node build asks)."""
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def user_origin() -> str:
    """Return "file:line" of the innermost stack frame outside the graphc package.

    Frames of graphc itself are skipped so that the location names the script
    line that called `gc.matmul(...)` or wrote `x @ W`.
    """
    if _origin_override:
        return _origin_override[-1]
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _inside_package(filename):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"
