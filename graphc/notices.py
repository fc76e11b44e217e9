"""What graphc says while it works: slow compiles, through the `logging` logger "graphc".

Owns `announce`, the context manager `gc.compile` runs in. A compile that
is still running after SLOW seconds says so once -- what is compiling (the
user's line, the graph's size, the backend) and, the first time, that
graphc's own kernels are being compiled (once per installation; `graphc
warmup` does it ahead) -- and says how long it took when it ends.

Where it goes: INFO records of the "graphc" logger. A program that has not
configured logging (no handler on "graphc" or the root logger) gets them on
stderr as `graphc: ...` lines, so a 12 s first compile is never silent; one
that has configured logging decides itself (its level and handlers apply),
and `logging.getLogger("graphc").setLevel(logging.WARNING)` silences them.
`gc.compile(..., verbose=True)` reports every compile, slow or not;
`verbose=False` reports nothing. Imports: standard library only (layer L0).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger("graphc")
SLOW = 1.0  # seconds: a compile still running after this is announced


def show(message: str) -> None:
    """One notice: to logging when it is configured, else to stderr."""
    if logger.disabled or (logger.level and logger.level > logging.INFO):
        return
    if logger.hasHandlers():
        logger.info(message)
    else:
        print(f"graphc: {message}", file=sys.stderr, flush=True)


class Announcement:
    """One compile's notices: `started` after SLOW seconds (or at once if verbose), then `done`."""

    def __init__(self, what: Callable[[], str], first_kernels: Callable[[], bool],
                 verbose: bool | None) -> None:
        self.what, self.verbose = what, verbose
        try:  # decided before the compile, which fills the kernel cache as it goes
            self.first_kernels = bool(verbose is not False and first_kernels())
        except Exception:  # noqa: BLE001 - a notice must never break a compile
            self.first_kernels = False
        self.announced = False
        self.details = ""  # set by the caller: "cache hit", ...
        self.start = time.perf_counter()
        self._lock = threading.Lock()
        self._timer = threading.Timer(SLOW, self.started)
        self._timer.daemon = True
        if verbose is not False:
            self._timer.start()

    def started(self) -> None:
        with self._lock:
            if self.announced:
                return
            self.announced = True
        try:
            message = f"compiling {self.what()}"
            if self.first_kernels:
                message += ("; graphc's own kernels are being compiled for the first time "
                            "(once per installation: `graphc warmup` does it ahead)")
            show(message + " ...")
        except Exception:  # noqa: BLE001, S110 - a notice must never break a compile
            pass

    def done(self, failed: bool = False) -> None:
        self._timer.cancel()
        with self._lock:
            announced = self.announced
            self.announced = True  # a timer that fires now stays quiet
        if failed or not (announced or self.verbose):
            return
        seconds = time.perf_counter() - self.start
        what = "" if announced else " " + self.what()
        details = f" ({self.details})" if self.details else ""
        show(f"compiled{what} in {seconds:.1f} s{details}")


@contextmanager
def announce(what: Callable[[], str], first_kernels: Callable[[], bool] = lambda: False,
             verbose: bool | None = None) -> Iterator[Announcement]:
    """Announce a compile that takes longer than SLOW seconds (every compile if verbose)."""
    announcement = Announcement(what, first_kernels, verbose)
    if verbose:
        announcement.started()
    try:
        yield announcement
    except BaseException:
        announcement.done(failed=True)
        raise
    announcement.done()


def describe(node_count: int, outputs: int, backend: str, where: str) -> str:
    plural = "s" if outputs != 1 else ""
    return f"a graph of {node_count} nodes, {outputs} output{plural}, for {where} (backend {backend})"

