"""User-named scopes: `with gc.scope("layer1"):` labels every node built inside it.

Owns the current scope (a context variable, so threads and nested `with`
blocks each see their own) and `scope`, the context manager. A node records
the scope it was built in (`Node.scope`, "layer1/attention" when nested);
pictures draw a scope as a cluster (graphc.viz), the printed graph and the
generated code's comments name it, and nothing else reads it: scopes never
change what is computed. Imports: errors only (layer L0).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import GraphcError

SEPARATOR = "/"
_current: contextvars.ContextVar[str] = contextvars.ContextVar("graphc_scope", default="")


def current() -> str:
    """The scope nodes built now belong to: "" outside every scope, "a/b" when nested."""
    return _current.get()


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Label the nodes built inside the block with `name` (nested scopes join with "/").

        with gc.scope("layer1"):
            h = gc.relu(x @ W1 + b1)   # drawn in a "layer1" cluster, printed as layer1/t0
    """
    if not isinstance(name, str) or not name.strip() or SEPARATOR in name:
        raise GraphcError(f"gc.scope expects a non-empty name without {SEPARATOR!r}, got {name!r}")
    outer = _current.get()
    token = _current.set(f"{outer}{SEPARATOR}{name}" if outer else name)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@contextmanager
def restored(full: str) -> Iterator[None]:
    """Build nodes in the exact scope `full` ("a/b"): a rewrite's replacement stays where
    the node it replaces was, so simplified pictures keep their clusters."""
    token = _current.set(full)
    try:
        yield
    finally:
        _current.reset(token)
