"""A cold graph's new kernels compiled on two cores: a forked child compiles some, this process the rest.

Owns: `wanted(new)`, `start(module, kernels, function, arguments)` (the fork and
the child's work) and `Job` (the claims both processes share, the waiting, the
reaping). Imports: the standard library, numpy, numba_hooks (layer L4).
Entry point: backend/jit.py's first call of a kernel-mode graph.

Why: a cold kernel-mode graph spends its first call in Numba, one kernel after
another (the 16-layer MLP step: ~0.15 s of Numba's set-up, then ~0.2 s for
each of its 3 kernels), while a second core idles. Threads cannot share that
work: llvmlite and Numba each hold one process-wide lock around it
(docs/codegen.md, "Evaluated and not done"). Processes can, because Numba
saves every compiled kernel in the disk cache, where the other process loads
it in milliseconds.

How:
1. Numba's set-up runs here, then the process forks (numba_hooks.forking).
2. The child runs the graph function once with each new kernel replaced by a
   stand-in. The stand-in types its arguments as the kernel's dispatcher would
   (the kernel's signature depends on dtypes, ranks and layouts, never on
   values), claims the kernel if nobody has, compiles it (saved to the disk
   cache) and returns placeholder scalars. The child's arrays hold garbage,
   since no kernel really runs there; whatever the garbage breaks (an
   exception, a crash, a hang past CHILD_LIMIT) ends only the child, which
   never writes anything but Numba's cache entries.
3. This process makes the real call. Before it compiles a kernel it claims it
   (`Job`: a byte per kernel and process, no lock); a kernel the child is
   compiling it waits for (until the child marks it done or dies, or
   WAIT_LIMIT passes: a child hung on a lock it inherited held is then
   ended), then compiles it as usual: Numba finds the child's machine code in
   the disk cache and loads it. A signature the child saw differently (a
   placeholder scalar of another type) is simply compiled here.
4. After the call, a child that holds no claim has nothing left this process
   needs (it may still be in its stand-in run, or hung there): it is ended.
   One compiling a kernel this process did not wait for finishes it; a daemon
   thread reaps it. One job per process at a time (`start` returns None while
   another thread's job runs): the guards wrap dispatchers graphs share.

When: at least two new kernels and no compiled loops in the graph (backend/jit.py
decides: the child's run would compile a scan or re-rolled loop a second time),
`os.fork` on Linux, and a core to spare (`blas_threads.busy()`, the test
that also decides a second BLAS thread: other processes' CPU use, cgroup quotas),
unless GRAPHC_FORK_COMPILE says otherwise ("0": never, "1": whenever fork is
possible). On a busy machine the child would only compete for the core this
process compiles on.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import blas_threads, numba_hooks
from .direct.kernel import DirectKernel

ENV = "GRAPHC_FORK_COMPILE"
CHILD_LIMIT = 300  # seconds: a child still running then (a hang on garbage values) is ended
WAIT_LIMIT = 60.0  # seconds this process waits for one kernel the child holds, then ends the child
_ONE_JOB = threading.Lock()  # held from `start` to `Job.finish`: one forked compile per process
# The child's byte per kernel. The parent has its own byte per kernel: 1 once it claimed it.
NONE, CLAIMING, COMPILING, DONE, FAILED, YIELDED = 0, 1, 2, 3, 4, 5
_SECONDS = struct.Struct("d")  # the child's compile seconds, after the two bytes per kernel


def wanted(new: int) -> bool:
    """Whether a first call that compiles `new` kernels should fork a child to share them."""
    setting = os.environ.get(ENV, "").strip().lower()  # spelled as GRAPHC_TIERED
    if setting in ("0", "false", "off", "no") or new < 2 or not hasattr(os, "fork") \
            or not sys.platform.startswith("linux"):
        return False
    return setting in ("1", "true", "on", "yes") or not blas_threads.busy()


class Job:
    """The claims of one first call's kernels, in a page shared with the child.

    Two processes claim without a lock: each writes its own byte for the
    kernel, then reads the other's. The child goes on only if the parent's
    byte is still clear (else it yields the kernel); the parent goes on
    unless the child's byte says it is claiming or compiling, and then waits
    for the child's verdict. Both may read the other's byte before their own
    write shows (a store-load reordering), and then both compile the kernel:
    duplicate work, never a wrong or lost result, since either compile is
    the same machine code saved under the same cache entry.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.count = len(names)
        self.shared = mmap.mmap(-1, 2 * self.count + _SECONDS.size)  # anonymous, shared across fork
        self.pid = 0
        self.exited = False
        self.finished = False  # after `finish` a guard left on a dispatcher only passes through
        self.turn = False  # holds _ONE_JOB (taken by `start`, given back by `finish`)
        self.waited = 0.0  # seconds this process waited for the child's kernels

    def child_claims(self, index: int) -> bool:
        """In the child: claim kernel `index` unless the parent has."""
        self.shared[self.count + index] = CLAIMING
        if self.shared[index]:
            self.shared[self.count + index] = YIELDED
            return False
        self.shared[self.count + index] = COMPILING
        return True

    def child_marks(self, index: int, state: int) -> None:
        self.shared[self.count + index] = state

    def child_seconds(self) -> float:
        return float(_SECONDS.unpack_from(self.shared, 2 * self.count)[0])

    def parent_claims(self, index: int) -> None:
        """In the parent: claim kernel `index`, or wait until the child has compiled it (or died)."""
        self.shared[index] = 1
        start = time.perf_counter()
        while self.shared[self.count + index] in (CLAIMING, COMPILING) and not self._child_gone():
            if time.perf_counter() - start > WAIT_LIMIT:  # hung (a lock held at the fork): end it
                self._end_child()
                break
            time.sleep(0.001)
        self.waited += time.perf_counter() - start

    def _end_child(self) -> None:
        """Kill and reap the child (ours and not reaped yet, so its pid is still its own)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.exited = True

    def _child_gone(self) -> bool:
        if not self.exited:
            try:
                self.exited = os.waitpid(self.pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                self.exited = True
        return self.exited

    def guard(self, dispatchers: Sequence[Any]) -> Callable[[], None]:
        """Make each kernel's compile here claim it or wait for the child; returns the undo."""
        originals = [dispatcher.compile for dispatcher in dispatchers]
        for index, (dispatcher, compile_) in enumerate(zip(dispatchers, originals)):
            dispatcher.compile = self._claiming(index, compile_)

        def undo() -> None:
            for dispatcher, compile_ in zip(dispatchers, originals):
                dispatcher.compile = compile_
        return undo

    def _claiming(self, index: int, compile_: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def compile_after_child(signature: Any) -> Any:
            if not self.finished:  # a guard another thread's undo left in place: pass through
                self.parent_claims(index)
            return compile_(signature)  # after the child: a disk-cache load
        return compile_after_child

    def finish(self) -> None:
        """End a child that holds no claim (nothing it does is still needed here), else reap
        it when it ends, without waiting for it. The shared page is not closed: another
        thread may be inside a guard of this job (it is freed with the last reference)."""
        self.finished = True
        try:
            if not self._child_gone():
                if any(state in (CLAIMING, COMPILING) for state in self.shared[self.count:2 * self.count]):
                    threading.Thread(target=_reap, args=(self.pid,), daemon=True,
                                     name="graphc-fork-compile-reaper").start()
                else:
                    self._end_child()
        finally:
            self.give_turn()

    def give_turn(self) -> None:
        if self.turn:
            self.turn = False
            _ONE_JOB.release()


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def start(module: Any, kernels: Sequence[tuple[str, Any, int]], function: Callable[..., Any],
          arguments: Sequence[Any]) -> Job | None:
    """Fork a child that compiles the kernels it claims; None if the fork failed.

    `kernels`: (name in `module`, its dispatcher, how many scalars it returns) for each new kernel.
    Call `Job.guard` on the dispatchers right after, and `Job.finish` after the call.
    """
    if not _ONE_JOB.acquire(blocking=False):
        return None  # another thread's first call has a child: this one compiles alone
    job = Job([name for name, _, _ in kernels])
    job.turn = True
    try:
        with numba_hooks.ready_to_fork(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: forking with threads
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                _child(job, module, kernels, function, arguments)  # never returns
    except BaseException:
        job.give_turn()
        raise
    if pid < 0:
        job.give_turn()
        return None
    job.pid = pid
    return job


def _child(job: Job, module: Any, kernels: Sequence[tuple[str, Any, int]],
           function: Callable[..., Any], arguments: Sequence[Any]) -> None:
    """The child's whole life: the kernels' signatures, their compiles, then `os._exit`.

    The signatures come from one run of the graph function with stand-ins
    (milliseconds); the compiles go from the last kernel the graph calls to the
    first, so the two processes work from opposite ends and this process
    rarely waits for the child.
    """
    compiling = 0.0  # CPU seconds, in the shared page after each kernel
    warnings.simplefilter("ignore")  # the parent says what it has to (a cache it cannot write, ...)
    try:
        import faulthandler

        faulthandler.disable()  # a crash on garbage values is the child's end, not a report
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(CHILD_LIMIT)
        called: list[int] = []  # kernel indices in the order the graph first calls them
        seen: list[list[Any]] = [[] for _ in kernels]  # each kernel's signatures
        for index, (name, dispatcher, returns) in enumerate(kernels):
            setattr(module, name, _stand_in(index, called, seen[index], dispatcher,
                                            (np.float64(1.0),) * returns))  # a float per scalar
        for name, value in list(vars(module).items()):  # the direct path's kernels are the parent's
            if isinstance(value, DirectKernel) and value.serving is None:
                setattr(module, name, _placeholder((np.float64(1.0),) * value.returns))
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                function(*arguments)
        except Exception:  # noqa: BLE001 - the garbage broke something: compile what was seen
            pass
        for index in reversed(called):
            if job.child_claims(index):
                start = time.process_time()
                try:
                    for signature in seen[index]:
                        kernels[index][1].compile(signature)
                    state = DONE
                except Exception:  # noqa: BLE001 - this process compiles it and reports the error
                    state = FAILED
                compiling += time.process_time() - start
                _SECONDS.pack_into(job.shared, 2 * job.count, compiling)  # read after `state`
                job.child_marks(index, state)
    except BaseException:  # noqa: BLE001 - whatever happens here, the parent goes on alone
        pass
    finally:
        for index in range(len(kernels)):
            if job.shared[job.count + index] in (CLAIMING, COMPILING):
                job.child_marks(index, FAILED)
        os._exit(0)


def _placeholder(results: tuple[Any, ...]) -> Callable[..., tuple[Any, ...]]:
    return lambda *arguments: results


def _stand_in(index: int, called: list[int], signatures: list[Any], dispatcher: Any,
              placeholders: tuple[Any, ...]) -> Callable[..., tuple[Any, ...]]:
    def stand_in(*arguments: Any) -> tuple[Any, ...]:
        signature = tuple(dispatcher.typeof_pyval(a) for a in arguments)
        if signature not in signatures:
            signatures.append(signature)
        if index not in called:
            called.append(index)
        return placeholders
    return stand_in
