"""One BLAS thread during a call, on a machine with no core to spare.

Owns: `THREADED_PRODUCT` (the size from which OpenBLAS may use threads),
`wants_one_thread(nodes)` (the graph has such a product, its loop bodies
included: `products`) and `one_thread(function)` (the function, calling with
every loaded BLAS set to one thread and restored afterwards). Imports:
shapes, ir, lowering, subgraph; threadpoolctl (a runtime dependency, imported
on the first limited call: its public `ThreadpoolController.limit`). Entry
point: jit.finish.

Why: OpenBLAS runs a product of more than a few ten thousand multiply-adds on
all its threads, which spin while they wait for each other. When another
process holds a core, a spinning thread is descheduled and every product
waits for it: the MLP classifier of issue 17 (products of 1-5 M
multiply-adds) took 81-117 ms per call with two BLAS threads on the loaded
2-core machine, 11 ms with one, and JAX 5-9 ms (hand NumPy collapses the same
way; the 784x512 products of the benchmark MLP too: 237 ms per step against
JAX's 22 ms). When the machine has no core to spare (other processes' work
plus this call's own thread at least the number of cores minus one half;
`busy`) another BLAS thread cannot run anyway, so a graph with a product
OpenBLAS may thread (an estimated THREADED_PRODUCT multiply-adds or more, a
named size counted as 256; a loop body's products count too, each at its
per-step size: `products`) is called with one BLAS thread. On a machine with
a core to spare BLAS keeps its threads: JAX uses both cores of an idle 2-core
machine for these products. The thread count is process-wide, so it is set
for the duration of the call and restored; the controller is built once (a
scan of the loaded libraries, ~1.5 ms), setting and restoring costs 25-60 us
per limited call (threadpoolctl reads each library's state; measured,
docs/codegen.md), only paid by calls with such a product on a busy machine.

How busy: the CPU time the machine's cores spent (/proc/stat) less this
process's own (time.process_time, every thread) over the last 0.25-0.5 s, read
at most every 0.25 s (~30 us a reading). It used to be the 1-minute load
average, which lags: a process that starts spinning on an idle 2-core machine
takes about 70 s to lift it past 1.5, and until then every call ran two BLAS
threads against the spinner (issue 17 item 5: compare.py --busy 1 times each
tool in its own process within the spinner's first minute; docs/benchmarks.md
table 29). On the first call and after 0.5 s without one, the threads runnable
now (/proc/loadavg) decide instead. Not seen: this process's own other busy
threads (their CPU time is ours, as a spinning BLAS thread's must be).

Under a container's CPU quota /proc/stat (host-wide) never shows "busy": a
container allowed 2 CPUs of a 64-core host is out of CPU long before the host
is. Where this process's cgroup (or one above it) has a quota (`cpu_quota`:
cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), the quota
counts as the CPUs available (at most the affinity's cores), and the CPU time
the cgroup used (v2 `cpu.stat` usage_usec, v1 `cpuacct.usage`) less this
process's is the other work, by the same rule; the machine is busy if either
the host or the cgroup has no core to spare. A quota of 1.5 CPUs or less is
busy by itself. The quota is read once per process (a few file reads, at the
first limited call), the cgroup's CPU time with each reading (~15 us).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import shapes
from ..ir import Node
from ..lowering import Kernel
from ..subgraph import subgraphs_of

THREADED_PRODUCT = 2 ** 16  # below this OpenBLAS runs one thread anyway: no wrapper
NAMED_SIZE = 256  # what a named size counts as in that estimate


def _estimate(size: shapes.Size) -> int:
    return size if isinstance(size, int) else size.coefficient * NAMED_SIZE ** len(size.factors)


def multiply_adds(node: Node) -> int:
    """m * k * n of a product node (a `Kernel` with `product`; batched: times the batch), sizes estimated."""
    a, b = node.inputs
    inner = _estimate(a.shape[-1]) if a.ndim else 1
    total = inner
    for size in node.shape:
        total *= _estimate(size)
    return total


def products(nodes: Sequence[Node]) -> Iterator[Node]:
    """The product nodes of a graph and of the loop bodies its nodes hold, nested ones too (a
    scan's step: each of its products runs once per step, at its own size). A body shared by
    the nodes of one loop (a scan family) is looked at once."""
    seen: set[int] = set()
    pending = [nodes]
    while pending:
        for node in pending.pop():
            lowering = node.op.lowering
            if isinstance(lowering, Kernel) and lowering.product and len(node.inputs) == 2:
                yield node
            for body in subgraphs_of(node):
                if id(body) not in seen:
                    seen.add(id(body))
                    pending.append(body.nodes())


def wants_one_thread(nodes: Sequence[Node]) -> bool:
    """Whether the graph has a product OpenBLAS may run on several threads, in the graph itself
    or in a loop's body (the LSTM's 32x128 @ 128x512 per step: 2 M multiply-adds)."""
    return any(multiply_adds(n) >= THREADED_PRODUCT for n in products(nodes))


def _controller() -> Any:
    """A threadpoolctl controller of the BLAS libraries loaded now (numpy's; scipy's, which
    Numba's np.dot uses: scipy.linalg may be imported after the first call, so it is built
    again then). Built once per state: building one scans the loaded libraries (~1.5 ms)."""
    return _controller_of("scipy.linalg" in sys.modules)


@functools.cache
def _controller_of(scipy_loaded: bool) -> Any:
    import threadpoolctl  # a runtime dependency (pyproject.toml); imported on first use (10 ms)

    return threadpoolctl.ThreadpoolController().select(user_api="blas")


# Per-process: the BLAS thread limit is a process-wide setting of the BLAS library.
_LOCK = threading.Lock()
_HELD: list[Any] = [None]  # the limiter in force (entered by the call that set it), or None


PERIOD = 0.25  # s: the least window of CPU time a decision is made from (jiffies are 10 ms)
STALE = 0.5  # s: an older window says what ran then, not now: the runnable count decides
# (a process waiting between calls, e.g. compare.py's isolated children taking turns, would
# otherwise count the other children's turns as load on its next call)


class _Reading:
    """The last reading: when (monotonic s), the machine's busy CPU s, this process's CPU s,
    its cgroup's CPU s (under a quota), the answer."""

    when: float = -1.0
    machine: float | None = None
    own: float = 0.0
    group: float | None = None
    answer: bool = True


_LAST = _Reading()


def busy() -> bool:
    """Whether the machine has no core to spare for a second BLAS thread, read at most every PERIOD s.

    From the CPU time other processes used since the last reading (`others_running`) when
    that window is PERIOD to STALE s long; on the first call and after a pause, from the
    number of threads runnable now (`runnable_others`); without /proc (not Linux), from the
    1-minute load average, and assume busy without that either (Windows). Under a cgroup CPU
    quota (`cpu_quota`), also from the cgroup's CPU time against the quota."""
    now = time.monotonic()
    window = now - _LAST.when
    if window < PERIOD:
        return _LAST.answer
    machine, own = machine_cpu_seconds(), time.process_time()
    quota = _quota()
    group = None if quota is None else group_cpu_seconds(quota)
    fresh = window <= STALE
    others: float | None
    if machine is not None and _LAST.machine is not None and fresh:
        others = others_running(machine - _LAST.machine, own - _LAST.own, window)
    else:
        others = runnable_others()
    answer = others is None or no_core_to_spare(others, _cores())
    if quota is not None and not answer:
        in_group = 0.0  # no window yet: the quota alone decides
        if group is not None and _LAST.group is not None and fresh:
            in_group = others_running(group - _LAST.group, own - _LAST.own, window)
        answer = no_core_to_spare(in_group, min(float(_cores()), quota.cpus))
    _LAST.answer = answer
    _LAST.when, _LAST.machine, _LAST.own, _LAST.group = now, machine, own, group
    return _LAST.answer


def no_core_to_spare(others: float, cores: float) -> bool:
    """With `others` cores' worth of other work and this call's own thread, is less than half a core free?"""
    return others + 1 >= cores - 0.5


def others_running(machine: float, own: float, window: float) -> float:
    """Cores' worth of CPU used by other processes over `window` s: the machine's busy CPU
    seconds of our cores less this process's (all its threads: spinning BLAS threads are ours)."""
    return max(0.0, (machine - own) / window)


def runnable_others() -> float | None:
    """Threads runnable now other than the caller (/proc/loadavg's fourth field), else the
    1-minute load average less the caller; None if neither can be read."""
    try:
        with open("/proc/loadavg", "rb") as file:
            return float(file.read().split()[3].split(b"/")[0]) - 1
    except (OSError, IndexError, ValueError):
        pass
    try:
        return os.getloadavg()[0] - 1
    except (AttributeError, OSError):
        return None


@functools.cache
def _cores() -> int:
    """The cores this process may run on (its affinity mask), else os.cpu_count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_TICK = 1 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)  # s per /proc/stat unit


def machine_cpu_seconds(path: str = "/proc/stat") -> float | None:
    """Busy CPU seconds since boot of the cores this process may run on (user, nice, system,
    irq, softirq and steal: a core taken by another virtual machine is not ours either), or
    None without /proc/stat. ~15-40 us: read at most every PERIOD s."""
    try:
        with open(path, "rb") as file:
            text = file.read()
    except OSError:
        return None
    allowed = _affinity()
    ticks = 0
    for line in text.splitlines():
        if not line.startswith(b"cpu") or line[3:4] == b" ":
            continue  # not a core line, or the machine's total
        fields = line.split()
        if allowed is not None and int(fields[0][3:]) not in allowed:
            continue
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        ticks += user + nice + system + irq + softirq + steal
    return ticks * _TICK


CGROUP_ROOT = "/sys/fs/cgroup"
MEMBERSHIP = "/proc/self/cgroup"


@dataclass(frozen=True)
class Quota:
    """A cgroup CPU quota: the CPUs it allows (quota / period) and the file of the CPU time
    that cgroup used ('' if unknown), in `scale` seconds per unit."""

    cpus: float
    usage: str = ""
    scale: float = 1e-6


def cpu_quota(root: str = CGROUP_ROOT, membership: str = MEMBERSHIP) -> Quota | None:
    """The tightest CPU quota over this process's cgroup and the cgroups above it (cgroup v2,
    else v1), None without one (no limit, no cgroup files: not Linux). The cgroup's path is
    read from `membership` (/proc/self/cgroup); in a container the root itself is usually
    the container's cgroup, so the path's ancestors down to the root are all looked at."""
    try:
        lines = Path(membership).read_text().splitlines()
    except OSError:
        lines = []
    paths = {controller: path for _, controllers, path in (line.split(":", 2) for line in lines
                                                            if line.count(":") >= 2)
             for controller in controllers.split(",")}
    base = Path(root)
    if (base / "cgroup.controllers").exists():  # v2: one hierarchy
        return _tightest(base, paths.get("", "/"), _v2_cpus, lambda level: level / "cpu.stat")
    mounts = {name: base / entry for entry in _names(base) for name in entry.split(",")}
    if "cpu" not in mounts:
        return None
    accounting = mounts.get("cpuacct")
    return _tightest(mounts["cpu"], paths.get("cpu", "/"), _v1_cpus,
                     lambda level: None if accounting is None
                     else accounting / level.relative_to(mounts["cpu"]) / "cpuacct.usage")


def _names(base: Path) -> list[str]:
    try:
        return os.listdir(base)
    except OSError:
        return []


def _tightest(mount: Path, path: str, cpus_of: Callable[[Path], float | None],
              usage_of: Callable[[Path], Path | None]) -> Quota | None:
    """The least quota of the levels from mount/path up to mount."""
    level = mount / path.strip("/")
    best: Quota | None = None
    while True:
        cpus = cpus_of(level)
        if cpus is not None and (best is None or cpus < best.cpus):
            usage = usage_of(level)
            v2 = usage is not None and usage.name == "cpu.stat"
            best = Quota(cpus, str(usage) if usage is not None and usage.exists() else "",
                         1e-6 if v2 else 1e-9)
        if level == mount or mount not in level.parents:
            return best
        level = level.parent


def _v2_cpus(level: Path) -> float | None:
    """cpu.max: "QUOTA PERIOD" (microseconds) or "max PERIOD" (a value that is not a positive
    number: no quota, as v1's -1; a period of 0 must not raise from a BLAS-limited call)."""
    try:
        quota, period = (level / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        allowed, every = int(quota), int(period)
    except (OSError, ValueError):
        return None
    return allowed / every if allowed > 0 and every > 0 else None


def _v1_cpus(level: Path) -> float | None:
    """cpu.cfs_quota_us / cpu.cfs_period_us (a quota of -1: none)."""
    try:
        quota = int((level / "cpu.cfs_quota_us").read_text())
        period = int((level / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def group_cpu_seconds(quota: Quota) -> float | None:
    """CPU seconds the quota's cgroup used (v2 cpu.stat usage_usec, v1 cpuacct.usage), or None."""
    if not quota.usage:
        return None
    try:
        with open(quota.usage, "rb") as file:
            text = file.read()
        if quota.usage.endswith("cpu.stat"):
            for line in text.splitlines():
                if line.startswith(b"usage_usec "):
                    return int(line.split()[1]) * quota.scale
            return None
        return int(text) * quota.scale
    except (OSError, ValueError, IndexError):
        return None


@functools.cache
def _quota() -> Quota | None:
    """This process's CPU quota, read once (a quota that changes later is not seen)."""
    return cpu_quota()


@functools.cache
def _affinity() -> frozenset[int] | None:
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def one_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, with every BLAS at one thread while it runs on a busy machine.

    The call that sets the limit restores it, from its own thread: threadpoolctl lets only
    one thread at a time change a process-wide OpenBLAS pool, and hands that control back
    when that thread leaves its `with` block. Calls that overlap it (nested, or from other
    threads) run under its limit; if it ends first they finish with BLAS's own threads (a
    slower call, never a limit left behind)."""

    def call(*arguments: Any) -> Any:
        if _HELD[0] is not None or not busy():
            return function(*arguments)
        with _LOCK:
            mine = _HELD[0] is None
            if mine:
                limiter = _controller().limit(limits=1, user_api="blas")
                limiter.__enter__()
                _HELD[0] = limiter
        try:
            return function(*arguments)
        finally:
            if mine:
                with _LOCK:
                    _HELD[0] = None
                    limiter.__exit__(None, None, None)

    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call
