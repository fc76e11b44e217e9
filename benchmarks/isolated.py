"""Per-call timing with each implementation in a process of its own, and busy cores.

Owns `time_isolated` (compare.py --process isolated/both), the child side of it
(`child_per_call`, compare.py --child-per-call WORKLOAD IMPL) and `busy_cores`
(compare.py --busy N).

Why a process per tool: tools share the process's allocator, and one tool's use
of it changes another's per-call time. After JAX has run in a process, glibc's
malloc returns large freed blocks to the OS, so a tool that allocates ~400 KB
temporaries per call pays a page fault per 4 KB page on every call (graphc
before backend/workspace.py: 2.0 ms became 4.8 ms; docs/benchmarks.md, tables
17 and 22). A user runs one tool per program; isolated timing measures that.

The children are started one after another (each builds and checks its
implementation against hand NumPy, as harness.prepare does), then wait on their
stdin; the parent asks each for one sample per round in a rotated order, as
harness.time_round_robin does within one process, so machine drift spreads over
all of them. A waiting child sleeps in a blocking read: it takes no CPU.
Imports: the standard library, harness, workloads.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import harness
from harness import Cell

PREFIX = "@@"  # protocol lines on the child's stdout (a library may print there too)


def child_per_call(module: ModuleType, name: str, inputs: dict[str, Any], sample_seconds: float,
                   settle: float) -> None:
    """Child: build and check one implementation, then one sample per 'sample' line on stdin."""
    ready, cells = harness.prepare(module, [name], inputs)
    if name not in ready:
        cell = cells.get(name, Cell(note="n/a (unknown implementation)"))
        _say({"note": cell.note, "wrong": cell.wrong})
        return
    prepared = ready[name]
    warm_until = time.perf_counter() + 0.05
    while time.perf_counter() < warm_until:
        prepared.run()
    single = min(harness._sample(prepared, 1) for _ in range(3))
    number = max(1, math.ceil(sample_seconds / max(single, 1e-9)))
    _say({"ready": True})
    for line in sys.stdin:
        if line.strip() != "sample":
            break
        pause_until = time.perf_counter() + settle
        while time.perf_counter() < pause_until:
            pass
        prepared.run()
        _say({"seconds": harness._sample(prepared, number)})


def _say(message: dict[str, Any]) -> None:
    print(PREFIX + json.dumps(message), flush=True)


def _hear(child: subprocess.Popen[str]) -> dict[str, Any]:
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX):])
    raise RuntimeError(f"child exited {child.wait()} before answering")


def time_isolated(workload: str, names: list[str], rounds: int, arguments: list[str]
                  ) -> dict[str, Cell]:
    """Median seconds per call of each implementation, each in its own child process."""
    cells: dict[str, Cell] = {}
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in names:
            child = subprocess.Popen([sys.executable, str(harness.COMPARE), "--child-per-call",
                                      workload, name, *arguments],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                answer = _hear(child)
            except Exception as error:  # noqa: BLE001 - a failing tool empties its cell
                cells[name] = Cell(note=f"failed: {harness.describe(error)}")
                child.kill()
                continue
            if not answer.get("ready"):
                cells[name] = Cell(note=answer.get("note", "failed"), wrong=answer.get("wrong", False))
                child.wait()
                continue
            cells[name], children[name] = Cell(), child
        order = list(children)
        for round_index in range(rounds):
            shift = round_index % max(len(order), 1)
            for name in order[shift:] + order[:shift]:
                child = children[name]
                assert child.stdin is not None
                child.stdin.write("sample\n")
                child.stdin.flush()
                cells[name].samples.append(_hear(child)["seconds"])
        for name in order:
            cells[name].seconds = statistics.median(cells[name].samples)
    finally:
        for child in children.values():
            if child.stdin is not None:
                child.stdin.close()
            child.wait(timeout=60)
    return cells


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """`count` processes spinning in a Python loop (each keeps one core busy) while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
