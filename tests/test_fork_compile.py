"""A cold graph's kernels compiled by this process and a forked child (backend/fork_compile.py).

Each case runs in a fresh process with an empty cache directory, as a user's
first compile does (in this process the kernels would be compiled already).
The reference is NumPy by hand (compile_time.py's `reference`) and the same
graph compiled without the child, which must agree to the last bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphc.backend import fork_compile

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"),
                                reason="needs os.fork (Linux)")

SCRIPT = """
import json, os, sys
sys.path.insert(0, {benchmarks!r})
import numpy as np
import graphc as gc
from graphc.backend import fork_compile
from compile_time import make_inputs, mlp_graph, reference

FORKS = []
_start = fork_compile.start
def _counted(*arguments):
    FORKS.append(1)
    return _start(*arguments)
fork_compile.start = _counted

def _children():
    found = 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{{entry}}/stat") as stream:
                found += int(stream.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
        except (OSError, ValueError, IndexError):
            pass
    return found

{patch}
inputs, outputs = mlp_graph(4, 8)
values = make_inputs(4, 8)
f = gc.compile(inputs, outputs, tiered=False)
got = f(*values)
want = reference(values, 4)
print(json.dumps({{
    "error": max(float(np.max(np.abs(np.asarray(g) - w))) for g, w in zip(got, want)),
    "bits": [np.asarray(g).tobytes().hex() for g in got],
    "kernels": f.stats["kernels"], "new": f.stats["kernels_new"],
    "child": f.stats["seconds"].get("numba_second_core"),
    "forks": len(FORKS), "children": _children(),
}}))
"""


def run(tmp_path: Path, mode: str, patch: str = "", timeout: float = 600) -> dict:
    cache = tmp_path / f"cache-{mode}-{abs(hash(patch))}"
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache), GRAPHC_FORK_COMPILE=mode, GRAPHC_TIERED="0",
               GRAPHC_DIRECT="0",  # the forked compile serves kernels Numba compiles
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = SCRIPT.format(benchmarks=str(ROOT / "benchmarks"), patch=patch)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]), stderr=done.stderr)


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run(tmp_path_factory.mktemp("serial"), "0")


def test_child_compiles_kernels_and_the_numbers_are_the_serial_ones(tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1")
    assert serial["child"] is None  # no child without the switch
    assert forked["new"] == forked["kernels"] >= 2
    assert forked["child"] > 0  # the child compiled at least one kernel
    assert forked["error"] < 1e-12
    assert forked["bits"] == serial["bits"]


def test_a_child_that_dies_at_once_leaves_every_kernel_to_this_process(tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", "fork_compile._child = lambda *a: os._exit(3)")
    assert forked["child"] == 0.0
    assert forked["bits"] == serial["bits"]


KILLED_HOLDING_A_CLAIM = """
def _child(job, module, kernels, function, arguments):
    import signal
    job.child_claims(len(kernels) - 1)  # the last kernel, claimed and never compiled
    os.kill(os.getpid(), signal.SIGKILL)
fork_compile._child = _child
"""


def test_a_child_killed_while_it_holds_a_claim_does_not_hang_this_process(
        tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", KILLED_HOLDING_A_CLAIM)
    assert forked["bits"] == serial["bits"]


def test_a_child_whose_compiles_fail_leaves_them_to_this_process(tmp_path: Path, serial: dict) -> None:
    patch = ("import numba\n"
             "_real = numba.core.dispatcher.Dispatcher.typeof_pyval\n"
             "def _broken(self, value):\n"
             "    if os.getpid() != PARENT: raise RuntimeError('a broken typeof in the child')\n"
             "    return _real(self, value)\n"
             "PARENT = os.getpid()\n"
             "numba.core.dispatcher.Dispatcher.typeof_pyval = _broken\n")
    forked = run(tmp_path, "1", patch)
    assert forked["child"] == 0.0  # the child's stand-ins raised before any compile
    assert forked["bits"] == serial["bits"]


@pytest.mark.parametrize("setting, new, busy, expected", [
    ("0", 3, False, False),  # switched off
    ("off", 3, False, False),  # GRAPHC_TIERED's spellings
    ("Yes", 3, True, True),
    ("1", 3, True, True),    # forced on, whatever the load
    ("", 1, False, False),   # one kernel: nothing to share
    ("", 3, False, True),    # a core to spare
    ("", 3, True, False),    # no core to spare
])
def test_when_a_child_is_worth_forking(monkeypatch: pytest.MonkeyPatch, setting: str, new: int,
                                       busy: bool, expected: bool) -> None:
    from graphc.backend import blas_threads

    monkeypatch.setenv(fork_compile.ENV, setting)
    monkeypatch.setattr(blas_threads, "busy", lambda: busy)
    assert fork_compile.wanted(new) is expected


def test_claims_a_kernel_goes_to_whoever_writes_first_and_the_parent_waits_for_the_child() -> None:
    import threading
    import time

    job = fork_compile.Job(["k0", "k1"])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        job.pid = sleeper.pid  # stands for the child: alive, so only its byte ends a wait
        job.parent_claims(0)  # free: the parent takes it at once
        assert job.waited < 0.5
        assert not job.child_claims(0)  # the child yields a kernel the parent claimed
        assert job.shared[job.count + 0] == fork_compile.YIELDED
        assert job.child_claims(1)  # free: the child takes it
        threading.Timer(0.2, job.child_marks, (1, fork_compile.DONE)).start()
        start = time.perf_counter()
        job.parent_claims(1)  # the parent waits until the child marks it done
        assert time.perf_counter() - start >= 0.15
        assert job.waited >= 0.15
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_parent_stops_waiting_when_the_child_is_gone() -> None:
    job = fork_compile.Job(["k0"])
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    job.pid = done.pid
    assert job.child_claims(0)  # claimed, then the "child" exits without a verdict
    job.parent_claims(0)  # returns: waitpid reports the exit
    assert job.exited
    done.wait()  # already reaped by the job: Popen sees no child left and settles


HUNG_HOLDING_A_CLAIM = """
fork_compile.WAIT_LIMIT = 2.0
def _child(job, module, kernels, function, arguments):
    import time
    job.child_claims(len(kernels) - 1)  # claimed, then hung (say, on a lock held at the fork)
    time.sleep(100)
    os._exit(0)
fork_compile._child = _child
"""


def test_a_child_hung_while_it_holds_a_claim_is_ended_after_the_wait_limit(
        tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", HUNG_HOLDING_A_CLAIM, timeout=60)  # not the child's 100 s
    assert forked["bits"] == serial["bits"]
    assert forked["children"] == 0


HUNG_BEFORE_ANY_CLAIM = """
def _child(job, module, kernels, function, arguments):
    import time
    time.sleep(100)  # hung in its stand-in run: it holds no claim
    os._exit(0)
fork_compile._child = _child
"""


def test_a_child_that_holds_no_claim_is_ended_when_the_call_returns(tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", HUNG_BEFORE_ANY_CLAIM)
    assert forked["forks"] == 1
    assert forked["bits"] == serial["bits"]
    assert forked["children"] == 0  # not left running for CHILD_LIMIT


UNCACHEABLE = """
from graphc.backend import recovery
def _unwritable(path):
    raise OSError(30, "Read-only file system")
recovery.numba_can_cache = _unwritable
import warnings
warnings.simplefilter("ignore")
"""


def test_no_child_when_numba_cannot_cache_the_kernels(tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", UNCACHEABLE)  # the child's machine code could not reach us
    assert forked["forks"] == 0
    assert forked["bits"] == serial["bits"]


def test_a_guard_left_on_a_dispatcher_passes_through_after_its_job_finished() -> None:
    class Dispatcher:
        def compile(self, signature: object) -> object:
            return ("compiled", signature)

    dispatcher = Dispatcher()
    first, second = fork_compile.Job(["k0"]), fork_compile.Job(["k0"])
    first.exited = second.exited = True  # no child to wait for
    undo_first = first.guard([dispatcher])
    undo_second = second.guard([dispatcher])  # two threads' first calls of graphs sharing a kernel
    undo_first()
    first.finish()
    undo_second()  # puts back what it found: the first job's guard
    second.finish()
    assert dispatcher.compile("sig") == ("compiled", "sig")  # not an error from a finished job


def test_one_forked_compile_per_process_at_a_time() -> None:
    import types

    job = fork_compile.start(types.SimpleNamespace(), [], lambda: None, ())
    assert job is not None
    try:
        assert fork_compile.start(types.SimpleNamespace(), [], lambda: None, ()) is None
    finally:
        job.finish()
    again = fork_compile.start(types.SimpleNamespace(), [], lambda: None, ())
    assert again is not None
    again.finish()
    assert again.exited


CHILD_CANNOT_SAVE = """
from graphc.backend import recovery
PARENT = os.getpid()
_can_cache = recovery.numba_can_cache
def _not_in_the_child(path):
    if os.getpid() != PARENT:
        raise OSError(28, "No space left on device")
    return _can_cache(path)
recovery.numba_can_cache = _not_in_the_child
"""


def test_the_child_warns_nothing(tmp_path: Path, serial: dict) -> None:
    forked = run(tmp_path, "1", CHILD_CANNOT_SAVE)  # only the child fails to save its kernels
    assert forked["bits"] == serial["bits"]
    assert "could not save machine code" not in forked["stderr"]  # this process saved its own


def test_each_kernel_record_says_how_many_scalars_its_code_returns() -> None:
    """The forked child's stand-ins return that many placeholders: checked against the code itself."""
    import ast

    from graphc.backend import policy
    from graphc.backend.codegen import generate

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from compile_time import mlp_graph

    inputs, outputs = mlp_graph(6, 8)
    import graphc as gc

    outputs = list(gc.compile(inputs, outputs, backend="numpy").outputs)  # simplified, as compiled
    kernels = generate(policy.schedule_for(inputs, outputs), (), kernels=True).kernels
    assert any(kernel.returns for kernel in kernels)  # the loss kernel returns the loss
    for kernel in kernels:
        function = next(node for node in ast.walk(ast.parse(kernel.source))
                        if isinstance(node, ast.FunctionDef) and node.name == kernel.name)
        returned = [node.value for node in ast.walk(function) if isinstance(node, ast.Return)][-1]
        assert isinstance(returned, ast.Tuple) and len(returned.elts) == kernel.returns
