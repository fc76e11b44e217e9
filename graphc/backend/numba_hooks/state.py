"""Which Numba hooks are active: one record shared by the hook modules.

Owns: `HOOKS` (hook name -> applied on this Numba; filled on first use, read
by tests and compile stats) and `installed_once` (a hook installer's
run-once-and-record). Imports: the standard library. Entry points: both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

HOOKS: dict[str, bool] = {}


def installed_once(key: str) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Make a hook installer run once per process and record its answer as HOOKS[key].

    Why: every hook patches a Numba or llvmlite internal that another version
    may lack; an installer answers False when the internal is missing, and an
    ImportError of one counts as missing too, so graphc keeps Numba's own
    behaviour (correct, slower) instead of failing. The first call's arguments
    are the installer's; later calls only read the record.
    """
    def decorate(install: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(install)
        def installed(*arguments: Any) -> bool:
            if key not in HOOKS:
                try:
                    HOOKS[key] = bool(install(*arguments))
                except ImportError:
                    HOOKS[key] = False
            return HOOKS[key]
        return installed
    return decorate
