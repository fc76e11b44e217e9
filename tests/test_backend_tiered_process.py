"""The default tiered start, for real: a compile worker process Numba-compiles while the
NumPy interpreter answers, then the caller loads the machine code and switches.

The rest of the suite runs with GRAPHC_TIERED=0 (tests/conftest.py); here the
variable is removed and each test gets a fresh graph cache, so its graphs are
cold and a worker is spawned. References: the numpy backend (same values to
rtol 1e-12, the documented rounding contract) and the non-tiered numba backend
(the same machine code: equal bit for bit). Each test ends with no worker
process left alive: our own workers are stopped, those of the scripts a test
runs (detached: they outlive the script) are waited for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import compile_locks, compile_workers

WAIT = 300  # seconds: a cold compile on a loaded 2-core machine


def alive(pid: int) -> bool:
    return compile_locks.alive(pid)


def wait_gone(pid: int) -> None:
    """Wait for a detached worker (not our child) to finish its jobs and exit."""
    deadline = time.monotonic() + WAIT
    while alive(pid):
        assert time.monotonic() < deadline, f"compile worker {pid} still running"
        time.sleep(0.05)


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Default settings (no GRAPHC_TIERED), an empty graph cache; no worker left afterwards."""
    monkeypatch.delenv("GRAPHC_TIERED", raising=False)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    yield
    pids = compile_workers.stop_workers()
    assert not any(alive(pid) for pid in pids)


def sigmoid_matmul() -> tuple[list[Any], list[Any]]:
    X = gc.input("X", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    loss = gc.sum(gc.sigmoid(X @ W))
    return [X, W], [loss, *gc.grad(loss, [X, W])]


def mlp(depth: int) -> tuple[list[Any], list[Any]]:
    """Enough fused groups for kernel mode (codegen.KERNEL_MODE_GROUPS)."""
    x, y = gc.input("x", shape=("n", 4)), gc.input("y", shape=("n", 4))
    weights = [gc.input(f"W{i}", shape=(4, 4)) for i in range(depth)]
    biases = [gc.input(f"b{i}", shape=(4,)) for i in range(depth)]
    h = x
    for W, b in zip(weights, biases):
        h = gc.tanh(h @ W + b)
    loss = gc.mean((h - y) ** 2)
    return [x, y, *weights, *biases], [loss, *gc.grad(loss, [*weights, *biases])]


def check_switch(inputs: list[Any], outputs: list[Any], values: list[np.ndarray]) -> Any:
    f = gc.compile(inputs, outputs)  # defaults
    assert f.stats["tiered"] == "process" and f.stats["tier"] is None
    assert f.stats["cache_hit"] is False and f.stats["nodes"] > 0  # documented keys at once
    assert f.runner._preload is None  # nothing imports numba before the first result
    first = f(*values)
    assert f.stats["tier"] == "numpy" and f.stats["calls"] == {"numpy": 1, "numba": 0}
    assert f.runner._preload is not None  # after it, a thread imports numba for the switch
    numpy_reference = gc.compile(inputs, outputs, backend="numpy")(*values)
    for got, want in zip(first, numpy_reference):
        np.testing.assert_array_equal(got, want)  # the NumPy tier is the numpy backend
    pid = f.stats["worker_pid"]
    assert pid > 0
    assert f.runner.wait(WAIT)
    second = f(*values)
    assert "tier_error" not in f.stats, f.stats.get("tier_error")
    assert f.stats["tier"] == "numba" and f.stats["numba_ready"]
    assert f.stats["calls"] == {"numpy": 1, "numba": 1}
    assert f.stats["cache_hit"], f.stats  # the caller loaded what the worker compiled
    assert 0 < f.stats["worker_seconds"] < WAIT and f.stats["load_seconds"] > 0
    times = f.stats["tier_times"]  # the steps, in order (docs/codegen.md; benchmarks/tier_switch.py)
    steps = ["spawned", "main", "ready", "turn", "rebuilt", "finished", "noticed", "loaded"]
    assert [times[step] for step in steps] == sorted(times[step] for step in steps), times
    compiled = gc.compile(inputs, outputs, tiered=False)  # warm now: the same machine code
    for got, slow, want in zip(second, first, compiled(*values)):
        np.testing.assert_allclose(got, slow, rtol=1e-12)
        np.testing.assert_array_equal(got, want)
    assert f.source == compiled.source
    return f


def test_default_compiles_in_a_worker_and_switches(cold: None) -> None:
    rng = np.random.default_rng(3)
    f = check_switch(*sigmoid_matmul(), [rng.normal(size=(7, 3)), rng.normal(size=(3, 2))])
    assert f.stats["worker"]["cache_hit"] is False and f.stats["kernels"] == 0
    again = gc.compile(*sigmoid_matmul())  # warm cache: no worker, loaded at once
    assert "tiered" not in again.stats and "worker_pid" not in again.stats
    assert again.stats["cache_hit"]


def test_kernel_mode_worker_gets_the_first_inputs(cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_DIRECT", "0")  # kernels for Numba: the worker compiles them
    rng = np.random.default_rng(4)
    depth = 3
    values = [rng.normal(size=(5, 4)), rng.normal(size=(5, 4))]
    values += [rng.normal(size=(4, 4)) / 2 for _ in range(depth)]
    values += [rng.normal(size=4) / 10 for _ in range(depth)]
    f = check_switch(*mlp(depth), values)
    assert f.stats["kernels"] > 0
    assert f.stats["worker"]["call_error"] is None  # it ran the graph on our inputs


@pytest.mark.parametrize("saved", [True, False], ids=["lowering-adopted", "lowered-again"])
def test_the_worker_lowers_with_the_callers_declared_settings(
        cold: None, monkeypatch: pytest.MonkeyPatch, saved: bool) -> None:
    """A declared lowering setting changed at run time (SMALL_MATMUL = 0: every product a
    BLAS call, not loops) holds in the worker too: it compiles the module the caller
    generated and loads, so the Numba tier makes the NumPy tier's and an untiered compile's
    choice. Either the worker adopts the caller's lowering from the cache, or (`saved`
    False: no entry, as for a graph with large constants) it lowers again under the
    caller's values, which travel with the job (lowered_cache.declared_values). Before,
    the worker lowered under its defaults: loops, another module, compiled for nothing."""
    from graphc.backend import lowered_cache
    from graphc.ops import linalg

    monkeypatch.setattr(linalg, "SMALL_MATMUL", 0)
    if not saved:  # the caller keeps no lowering: the worker must lower it itself
        monkeypatch.setattr(lowered_cache, "MAX_CONSTANT_BYTES", -1)
    x, W = gc.input("x", (4, 3)), gc.input("W", (3, 3))
    loss = gc.sum(gc.tanh(gc.tanh(x @ W) @ W) ** 2)
    inputs, outputs = [x, W], [loss, gc.grad(loss, W)]
    f = gc.compile(inputs, outputs)
    assert f.stats["tiered"] == "process"
    assert "blas_dot(" in f.source and "matmul_small(" not in f.source
    assert f.runner.wait(WAIT)
    rng = np.random.default_rng(8)
    values = [rng.normal(size=(4, 3)), rng.normal(size=(3, 3)) / 2]
    got = f(*values)
    assert f.stats["tier"] == "numba", f.stats.get("tier_error")
    assert f.stats["worker"]["cache_path"] == f.stats["cache_path"]  # it compiled our module
    compiled = gc.compile(inputs, outputs, tiered=False)
    assert compiled.stats["cache_hit"] and compiled.source == f.source
    for mine, want in zip(got, compiled(*values)):
        np.testing.assert_array_equal(mine, want)


def test_an_early_worker_the_compile_did_not_need_is_stopped(
        cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc.compile starts the worker before simplifying a graph new to the cache; when the
    machine code turns out to be cached, the worker
    had no job: it is stopped at once, its log folder removed, and none is left listed
    (here the simplified graph is removed from a warm cache, as when only its graph entry
    was lost)."""
    started: list[compile_workers.Worker] = []
    speculate = compile_workers.speculate

    def spy() -> None:
        speculate()
        started.extend(compile_workers._SPECULATIVE)

    monkeypatch.setattr(compile_workers, "speculate", spy)
    monkeypatch.setattr(compile_workers, "spare_core", lambda: False)  # a busy machine:
    x = gc.input("x", shape=("n", 2))
    assert gc.compile([x], [gc.sum(gc.exp(x))]).stats["tiered"] == "process"
    assert not started  # no early worker (the hand-over starts one)
    compile_workers.stop_workers()
    monkeypatch.setattr(compile_workers, "spare_core", lambda: True)  # a core to spare
    gc.compile(*sigmoid_matmul(), tiered=False)(np.ones((2, 3)), np.ones((3, 2)))  # cached
    assert not started  # tiered=False: no worker
    graphs = Path(os.environ["GRAPHC_CACHE_DIR"], "graphs")
    for saved in graphs.glob("*.pickle"):  # forget the simplified graph, keep the rest
        if not saved.name.startswith("lowered-"):
            saved.unlink()
    f = gc.compile(*sigmoid_matmul())
    assert f.stats["simplify"]["cached"] is False  # new to the cache: the worker started early
    assert "tiered" not in f.stats and "worker_pid" not in f.stats  # warm: loaded at once
    assert len(started) == 1 and started[0].exited() is not None  # started early, stopped
    assert not os.path.exists(started[0].folder) and compile_workers._WORKERS == []
    monkeypatch.setenv("GRAPHC_DIRECT", "0")  # kernels for Numba: a worker's job
    g = gc.compile(*mlp(3))  # a cold graph takes the early worker (and keeps it)
    g(*[np.ones((5, 4))] * 2, *[np.eye(4)] * 3, *[np.zeros(4)] * 3)  # kernel mode: handed over
    assert len(started) == 2 and g.stats["worker_pid"] == started[1].pid
    assert started[1].exited() is None and compile_workers._WORKERS == [started[1]]


def test_a_graph_the_direct_path_compiles_quickly_compiles_in_the_caller(
        cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernel mode with every kernel taken by the direct path: compiled in this process before
    gc.compile returns (~0.05 s a kernel, no Numba), no worker; with GRAPHC_DIRECT=0 the same
    graph goes to the worker (its kernels would cost Numba's set-up and ~0.1 s each)."""
    from graphc.backend import tiered_process
    from graphc.backend.jit import prepare

    rng = np.random.default_rng(5)
    values = [rng.normal(size=(5, 4)), rng.normal(size=(5, 4))]
    values += [rng.normal(size=(4, 4)) / 2 for _ in range(3)] + [rng.normal(size=4) / 10 for _ in range(3)]
    f = gc.compile(*mlp(3))
    assert f.stats["kernels"] > 0 and "tiered" not in f.stats and "worker_pid" not in f.stats
    for got, want in zip(f(*values), gc.compile(*mlp(3), backend="numpy")(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert compile_workers._WORKERS == []
    assert tiered_process.compiles_quickly(prepare(*mlp(3), load=False))
    monkeypatch.setenv("GRAPHC_DIRECT", "0")
    assert not tiered_process.compiles_quickly(prepare(*mlp(3), load=False))


def test_input_errors_are_the_same_on_each_tier(cold: None) -> None:
    f = gc.compile(*sigmoid_matmul())
    with pytest.raises(gc.InputError, match="W"):
        f(np.ones((2, 3)), np.ones((4, 2)))
    assert f.runner.wait(WAIT)
    f(np.ones((2, 3)), np.ones((3, 2)))
    assert f.stats["tier"] == "numba"
    with pytest.raises(gc.InputError, match="W"):
        f(np.ones((2, 3)), np.ones((4, 2)))


def test_compile_error_in_the_worker_keeps_numpy(cold: None) -> None:
    a = gc.input("a", shape=("n", "n"), dtype="int64")  # Numba's np.dot has no integer matmul
    b = gc.input("b", shape=("n", "n"), dtype="int64")
    f = gc.compile([a, b], a @ b)
    assert f.runner.wait(WAIT)
    x = np.arange(4, dtype=np.int64).reshape(2, 2)
    np.testing.assert_array_equal(f(x, x), x @ x)
    assert f.stats["tier"] == "numpy" and "tier_error" in f.stats
    np.testing.assert_array_equal(f(x, x), x @ x)
    assert f.stats["calls"] == {"numpy": 2, "numba": 0}


def test_crashed_worker_falls_back_and_is_replaced(cold: None) -> None:
    f = gc.compile(*sigmoid_matmul())
    pid = f.stats["worker_pid"]
    os.kill(pid, signal.SIGKILL)  # like the OOM killer, mid-compile
    assert f.runner.wait(WAIT)
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    for got, want in zip(f(X, W), gc.compile(*sigmoid_matmul(), backend="numpy")(X, W)):
        np.testing.assert_array_equal(got, want)
    assert f.stats["tier"] == "numpy"
    assert "exited with code" in f.stats["tier_error"] and not alive(pid)
    inputs, outputs = sigmoid_matmul()
    g = gc.compile(inputs, [outputs[0]])  # another graph: a new worker compiles it
    assert g.stats["worker_pid"] not in (0, pid)
    assert g.runner.wait(WAIT)
    g(X, W)
    assert g.stats["tier"] == "numba", g.stats.get("tier_error")


def test_tiered_false_and_environment_turn_it_off(cold: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs = sigmoid_matmul()
    assert "tiered" not in gc.compile(inputs, outputs[:1], tiered=False).stats
    monkeypatch.setenv("GRAPHC_TIERED", "0")
    assert "tiered" not in gc.compile(inputs, outputs[1:], tiered=None).stats
    with pytest.raises(gc.GraphcError, match="tiered"):
        gc.compile(inputs, outputs, tiered="sometimes")


SCRIPT = """
import sys, time, numpy as np, graphc as gc
from graphc.backend import compile_workers
X = gc.input("X", shape=("n", 3)); W = gc.input("W", shape=(3, 2))
loss = gc.sum(gc.sigmoid(X @ W))
f = gc.compile([X, W], [loss, *gc.grad(loss, [X, W])])
f(np.ones((2, 3)), np.ones((3, 2)))
if "wait" in sys.argv:
    assert f.runner.wait(300)
    f(np.ones((2, 3)), np.ones((3, 2)))
job = getattr(f.runner, "_job", None)
print(f.stats.get("tier"), f.stats.get("worker_pid", 0), f.stats["cache_hit"],
      f.stats.get("worker_shared", False), "worker" in f.stats, len(compile_workers._WORKERS),
      job.folder if job else "-", f.stats.get("tier_error", "-").replace(" ", "_"))
"""


def script(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT), *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def report(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    tier, pid, hit, shared, compiled, workers, folder, error = out.split()
    return {"tier": tier, "pid": int(pid), "cache_hit": hit == "True", "shared": shared == "True",
            "compiled": compiled == "True", "workers": int(workers), "folder": folder,
            "error": error}


def run_script(*arguments: str) -> dict[str, Any]:
    return report(script(*arguments))


def test_the_caller_exits_before_its_worker_and_the_next_process_loads(cold: None) -> None:
    """API.md: a second process compiling the same graph does not compile it again; and
    the first process does not wait for the compile at its exit (detached worker)."""
    first = run_script()
    assert first["tier"] == "numpy" and not first["cache_hit"] and first["pid"] > 0
    assert alive(first["pid"])  # the script has exited; its worker still compiles
    (lock,) = compile_locks.locks_dir().glob("*.lock")
    assert compile_locks.holder(lock.stem) == first["pid"]
    wait_gone(first["pid"])
    assert not os.path.exists(first["folder"])  # the worker removed the abandoned job
    assert not lock.exists()  # released: the machine code is in the cache
    again = run_script()  # warm: loaded at once, no tier, no worker
    assert again["tier"] == "None" and again["pid"] == 0 and again["cache_hit"]
    assert again["workers"] == 0


def test_two_processes_at_once_compile_a_graph_once(cold: None) -> None:
    """Two processes start together on a cold cache: one compiles; the other answers
    from NumPy, waits for the first one's worker and loads its machine code."""
    reports = [report(process) for process in [script("wait"), script("wait")]]
    for each in reports:
        assert each["tier"] == "numba" and each["cache_hit"] and each["error"] == "-", each
    assert sum(each["compiled"] for each in reports) == 1, reports  # one worker compiled it
    others = [each for each in reports if not each["compiled"]]
    for each in others:  # following the other's worker (or warm if it came late): no worker
        assert each["workers"] == 0
        assert each["shared"] or each["pid"] == 0
    for each in reports:
        if each["pid"]:
            wait_gone(each["pid"])


def test_a_stale_lock_of_a_killed_worker_is_taken_over(cold: None) -> None:
    f = gc.compile(*sigmoid_matmul())
    pid = f.stats["worker_pid"]
    os.kill(pid, signal.SIGKILL)  # mid-compile: the lock stays behind, naming a dead process
    assert f.runner.wait(WAIT) and "tier_error" in f.stats
    lock = compile_locks.lock_path(Path(f.stats["cache_path"]).stem)
    assert lock.read_text().split()[0] == str(pid)
    assert compile_locks.holder(lock.stem) == 0  # stale
    g = gc.compile(*sigmoid_matmul())  # not warm (the lock says a compile broke off)
    assert g.stats["tiered"] == "process" and g.stats["worker_pid"] not in (0, pid)
    assert not g.stats.get("worker_shared")
    assert g.runner.wait(WAIT)
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    g(X, W)
    assert g.stats["tier"] == "numba" and "tier_error" not in g.stats
    assert not lock.exists()


def test_a_follower_takes_over_when_the_other_worker_dies(cold: None) -> None:
    """A live lock (here held in the name of a stand-in process) makes compile wait for it,
    starting no worker; when that process dies without finishing, this one compiles."""
    inputs, outputs = sigmoid_matmul()
    name = Path(gc.compile(inputs, outputs, tiered=True).stats["cache_path"]).stem
    compile_workers.stop_workers()  # that first Function's worker: done, gone, lock released
    assert compile_locks.holder(name) == 0
    forget = Path(compile_locks.locks_dir().parent, "__pycache__")
    for path in forget.glob(f"{name}.*"):  # cold again
        path.unlink()
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        assert compile_locks.claim(name, stand_in.pid) == 0
        f = gc.compile(inputs, outputs)
        assert f.stats["worker_shared"] and f.stats["worker_pid"] == stand_in.pid
        assert not compile_workers._WORKERS  # nobody compiles it here
        X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
        f(X, W)
        assert f.stats["tier"] == "numpy" and not f.runner.wait(0.3)  # still waiting
    finally:
        stand_in.kill()
        stand_in.wait()
    assert f.runner.wait(WAIT)
    f(X, W)
    assert f.stats["tier"] == "numba" and "tier_error" not in f.stats
    assert "worker_shared" not in f.stats and f.stats["worker"]["cache_hit"] is False
    assert 0 < f.stats["worker_seconds"] < WAIT


def test_locks_name_live_workers_only(tmp_path: Any) -> None:
    """compile_locks directly: a live holder blocks a claim, a dead or reused pid does not."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = int(finished.stdout)
    me = os.getpid()
    assert compile_locks.claim("g", me, tmp_path) == 0
    assert compile_locks.holder("g", tmp_path) == me
    assert compile_locks.claim("g", dead, tmp_path) == me  # live lock: not taken
    compile_locks.release("g", dead, tmp_path)  # not its lock: stays
    assert compile_locks.holder("g", tmp_path) == me
    compile_locks.release("g", me, tmp_path)
    assert compile_locks.holder("g", tmp_path) == 0
    compile_locks.lock_path("g", tmp_path).write_text(f"{dead} 1\n")
    assert compile_locks.holder("g", tmp_path) == 0  # dead: stale
    assert compile_locks.claim("g", me, tmp_path) == 0
    if compile_locks.started(me):  # Linux: our pid with another start time is another process
        compile_locks.lock_path("g", tmp_path).write_text(f"{me} 1\n")
        assert compile_locks.holder("g", tmp_path) == 0
    old = compile_locks.lock_path("g", tmp_path)
    old.write_text(f"{me} {compile_locks.started(me)}\n")
    os.utime(old, (0, time.time() - 2 * compile_locks.MAX_AGE))
    assert compile_locks.holder("g", tmp_path) == 0  # a hung worker's lock expires


def test_no_temporary_directory_compiles_here(cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(compile_workers.tempfile, "mkdtemp", refuse)
    inputs, outputs = sigmoid_matmul()
    f = gc.compile(inputs, outputs)
    assert "tiered" not in f.stats and "simplify" in f.stats and "nodes" in f.stats
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    for got, want in zip(f(X, W), gc.compile(inputs, outputs, backend="numpy")(X, W)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_worker_imports_the_callers_graphc_from_any_directory(tmp_path: Any) -> None:
    # A folder holding another `graphc` (a second checkout): run from there, `python -m` would
    # import that one in the worker, which then refuses the caller's pickled graph.
    decoy = tmp_path / "graphc"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy graphc was imported')\n")
    found = subprocess.run(
        [sys.executable, "-c", "import graphc; print(graphc.__file__)"], cwd=tmp_path,
        env=compile_workers.worker_environment(), capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).resolve() == Path(gc.__file__).resolve()


def test_a_forked_child_leaving_does_not_abandon_the_parents_job(cold: None) -> None:
    """A child made by os.fork() inherits the parent's job list; its exit handler must not
    mark the parent's job abandoned (the worker would delete it) or remove its requests."""
    inputs, outputs = sigmoid_matmul()
    values = [np.ones((2, 3)), np.ones((3, 2))]
    f = gc.compile(inputs, outputs)
    f(*values)
    folder = f.runner._job.folder
    child = os.fork()
    if child == 0:  # what a child's normal exit runs (atexit), then leave without pytest's
        try:
            compile_workers._leave()
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert not os.path.exists(os.path.join(folder, "abandoned"))
    assert f.runner.wait(WAIT)
    f(*values)
    assert "tier_error" not in f.stats, f.stats.get("tier_error")
    assert f.stats["tier"] == "numba"


def test_an_untrusted_cache_directory_compiles_here_without_a_worker(
        cold: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A world-writable cache directory is not used (backend/trust.py): code would go to a
    private directory no worker can fill for us, and locks to a directory others control."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(shared))
    inputs, outputs = sigmoid_matmul()
    values = [np.ones((2, 3)), np.ones((3, 2))]
    with pytest.warns(gc.CacheWarning):
        f = gc.compile(inputs, outputs)
    assert "worker_pid" not in f.stats and not f.stats.get("tier")
    assert not (shared / "locks").exists()
    want = gc.compile(inputs, outputs, backend="numpy")(*values)
    for got, expected in zip(f(*values), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_compile_over_the_time_limit_keeps_numpy_and_says_how_to_raise_it(
        cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real worker whose compile runs over GRAPHC_COMPILE_LIMIT: its watchdog ends the job
    and the process, frees the lock and remembers the failure; the caller warns, keeps NumPy,
    and a later compile of the graph under the same limit starts no worker."""
    monkeypatch.setenv("GRAPHC_COMPILE_LIMIT", "0.01")  # no compile is that fast
    f = gc.compile(*sigmoid_matmul())
    pid = f.stats["worker_pid"]
    with pytest.warns(gc.GraphcWarning, match="GRAPHC_COMPILE_LIMIT to more seconds"):
        assert f.runner.wait(WAIT)
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    for got, want in zip(f(X, W), gc.compile(*sigmoid_matmul(), backend="numpy")(X, W)):
        np.testing.assert_array_equal(got, want)
    assert f.stats["tier"] == "numpy" and "time limit of 0.01 s" in f.stats["tier_error"]
    wait_gone(pid)  # the watchdog ended the worker
    name = f.runner._name
    assert not compile_locks.lock_path(name).exists()
    assert compile_locks.failure(name, 0.01) is not None
    with pytest.warns(gc.GraphcWarning, match="GRAPHC_COMPILE_LIMIT"):
        again = gc.compile(*sigmoid_matmul())
    assert "worker_pid" not in again.stats and "remembered" in again.stats["tier_error"]
    assert again.runner._job is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_fork_waits_for_the_numba_import_running_in_a_thread() -> None:
    """A child forked mid-import would hang on the import locks of a thread it does not have."""
    import threading
    import time

    from graphc.backend import numba_preload

    begun = threading.Event()

    def importing() -> None:  # stands for numba_preload's thread: 0.3 s inside an import
        begun.set()
        time.sleep(0.3)
        numba_preload._PRELOADS.remove(threading.current_thread())

    thread = threading.Thread(target=importing, daemon=True)
    numba_preload._PRELOADS.append(thread)
    thread.start()
    begun.wait()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert not thread.is_alive()  # the fork waited for it (without the hook it is still asleep)
