"""The process tier's bookkeeping without Numba: retried jobs and their locks, the bounded
guard, the compile time limit, failure markers and the sweep of dead processes' job folders.

Workers are fakes (a `FakeWorker` records the job lines it gets, and names a real sleeping
process as its pid, so compile_locks sees it alive), the worker's side runs in this process
(`compile_worker.serve` with `run_job` replaced and the watchdog's exit recorded), and
clocks are passed in; the real worker process is exercised in test_backend_tiered_process.py.
References: the lock and marker files themselves, the numpy backend's values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import compile_locks, compile_worker, compile_workers, job_folders

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Live processes to stand for workers (killed afterwards)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def sleeper(started: list[subprocess.Popen[bytes]]) -> int:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    started.append(process)
    return process.pid


class FakeWorker:
    """A compile_workers.Worker that records job lines; `code` set once it has 'exited'."""

    def __init__(self, pid: int, code: int | None = None) -> None:
        self.pid, self.code, self.lines = pid, code, []  # type: tuple[int, int | None, list[str]]
        self.spawned = time.time()  # stats["tier_times"]

    def exited(self) -> int | None:
        return self.code

    def submit(self, line: str) -> bool:
        if self.code is not None:
            return False
        self.lines.append(line)
        return True

    def last_error(self) -> str:
        return "(no output)"


def job_line(folder: str, directory: Path, lock: str, limit: str = "600.0") -> str:
    return "\t".join([folder, os.path.join(folder, "request.pickle"), "-", str(directory),
                      lock, limit])


@pytest.fixture
def folder() -> Iterator[str]:
    made = compile_workers.request_folder()
    yield made
    compile_workers.drop(made)
    compile_workers._PENDING.discard(made)


# 1. A retried job names its new worker in the lock -------------------------------------


def test_a_retried_job_names_its_new_worker_in_the_lock(
        tmp_path: Path, folder: str, sleepers: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, name = tmp_path / "cache", "graphc_retry"
    assert compile_locks.claim(name, os.getpid(), directory) == 0  # the caller's claim
    first = FakeWorker(dead_pid())
    job = compile_workers.Job(folder, first, job_line(folder, directory, name))  # type: ignore[arg-type]
    assert job.submit() == 0 and first.lines
    assert compile_locks.lock_path(name, directory).read_text().split()[0] == str(first.pid)
    first.code = 0  # it went idle and exited just as the job was written
    second = FakeWorker(sleeper(sleepers))
    monkeypatch.setattr(compile_workers, "current_worker", lambda: second)
    assert job.poll() is None  # handed to the new worker
    assert second.lines == first.lines
    assert compile_locks.holder(name, directory) == second.pid  # not the exited worker
    compile_locks.release(name, second.pid, directory)  # what the new worker does when done
    assert not compile_locks.lock_path(name, directory).exists()  # warm for every process


def test_a_retry_follows_a_process_that_took_the_lock_over(
        tmp_path: Path, folder: str, sleepers: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, name = tmp_path / "cache", "graphc_taken"
    first = FakeWorker(dead_pid(), code=None)
    job = compile_workers.Job(folder, first, job_line(folder, directory, name))  # type: ignore[arg-type]
    assert job.submit() == 0
    first.code = 0
    other = sleeper(sleepers)  # another process's worker took the stale lock over
    assert compile_locks.claim(name, other, directory) == 0
    second = FakeWorker(sleeper(sleepers))
    monkeypatch.setattr(compile_workers, "current_worker", lambda: second)
    outcome = job.poll()
    assert outcome is not None and outcome["other"] == other and not second.lines
    assert compile_locks.holder(name, directory) == other


def test_a_worker_that_exited_before_the_hand_over_is_replaced_in_the_lock(
        tmp_path: Path, folder: str, sleepers: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, name = tmp_path / "cache", "graphc_gone"
    assert compile_locks.claim(name, os.getpid(), directory) == 0
    first, second = FakeWorker(dead_pid(), code=0), FakeWorker(sleeper(sleepers))
    monkeypatch.setattr(compile_workers, "current_worker", lambda: second)
    job = compile_workers.Job(folder, first, job_line(folder, directory, name))  # type: ignore[arg-type]
    assert job.submit() == 0 and job.worker is second and second.lines
    assert compile_locks.holder(name, directory) == second.pid
    owners = Path(folder, "owners").read_text().split("\n")
    assert [line.split()[0] for line in owners if line] == [str(os.getpid()), str(first.pid),
                                                            str(second.pid)]


# 2. The guard's wait is bounded --------------------------------------------------------


@pytest.mark.skipif(fcntl is None, reason="no flock (Windows): the guard is a no-op")
def test_a_held_guard_times_out_instead_of_blocking(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    compile_locks.locks_dir(directory).mkdir(parents=True)
    monkeypatch.setattr(compile_locks, "GUARD_PATIENCE", 0.05)
    hostile = os.open(compile_locks.locks_dir(directory) / "guard", os.O_RDWR | os.O_CREAT)
    fcntl.flock(hostile, fcntl.LOCK_EX)  # another open file: conflicts even in this process
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            compile_locks.claim("graphc_g", os.getpid(), directory)
        except BaseException as exc:  # noqa: BLE001 - examined below
            errors.append(exc)

    try:
        thread = threading.Thread(target=claim, daemon=True)
        thread.start()
        thread.join(10)
        assert not thread.is_alive(), "claim blocked on a held guard"
        assert len(errors) == 1 and isinstance(errors[0], compile_locks.GuardTimeout)
        assert isinstance(errors[0], OSError) and "guard" in str(errors[0])
    finally:
        os.close(hostile)
    assert compile_locks.claim("graphc_g", os.getpid(), directory) == 0  # free again


# The tier itself, with fake workers ----------------------------------------------------


@pytest.fixture
def tier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
         sleepers: list[Any]) -> Iterator[list[FakeWorker]]:
    """Cold cache, tiered start on, every worker a FakeWorker (listed); jobs closed afterwards."""
    monkeypatch.setenv("GRAPHC_TIERED", "1")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(compile_workers.LIMIT_VARIABLE, raising=False)
    made: list[FakeWorker] = []

    def current() -> FakeWorker:
        if not made or made[-1].code is not None:
            made.append(FakeWorker(sleeper(sleepers)))
        return made[-1]

    monkeypatch.setattr(compile_workers, "current_worker", current)
    yield made
    for folder in list(compile_workers._PENDING):
        compile_workers._PENDING.discard(folder)
        compile_workers.drop(folder)


def tanh_graph() -> tuple[list[Any], Any]:
    x = gc.input("x", shape=("n",))
    return [x], gc.sum(gc.tanh(x) * x)


def test_a_held_guard_hands_the_graph_over_unlocked(
        tier: list[FakeWorker], monkeypatch: pytest.MonkeyPatch) -> None:
    if fcntl is None:  # pragma: no cover
        pytest.skip("no flock")
    monkeypatch.setattr(compile_locks, "GUARD_PATIENCE", 0.05)
    guard = compile_locks.locks_dir()
    guard.mkdir(parents=True, exist_ok=True)
    hostile = os.open(guard / "guard", os.O_RDWR | os.O_CREAT)
    fcntl.flock(hostile, fcntl.LOCK_EX)
    try:
        f = gc.compile(*tanh_graph())  # one-function mode: handed over at gc.compile
    finally:
        os.close(hostile)
    assert len(tier) == 1 and tier[0].lines[0].split("\t")[4] == "-"  # compiles unlocked
    values = np.linspace(-1, 1, 5)
    assert np.isclose(f(values), np.sum(np.tanh(values) * values), rtol=1e-12)
    assert f.stats["tier"] == "numpy" and "tier_error" not in f.stats


# 3. The compile time limit -------------------------------------------------------------


def test_compile_limit_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    variable = compile_workers.LIMIT_VARIABLE
    monkeypatch.delenv(variable, raising=False)
    assert compile_workers.compile_limit() == compile_workers.DEFAULT_LIMIT
    for text, want in [("90", 90.0), (" 2.5 ", 2.5), ("0", None), ("off", None), ("inf", None)]:
        monkeypatch.setenv(variable, text)
        assert compile_workers.compile_limit() == want
    monkeypatch.setenv(variable, "ten minutes")
    with pytest.warns(gc.GraphcWarning, match=variable):
        assert compile_workers.compile_limit() == compile_workers.DEFAULT_LIMIT


def serve_line(tmp_path: Path, limit: str) -> tuple[str, Path, str, str]:
    folder = tmp_path / "job"
    folder.mkdir()
    directory, name = tmp_path / "cache", "graphc_slow"
    return job_line(str(folder), directory, name, limit), directory, name, str(folder)


def test_a_compile_over_its_time_limit_ends_the_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line, directory, name, folder = serve_line(tmp_path, "0.01")
    assert compile_locks.claim(name, os.getpid(), directory) == 0  # named by the caller
    stopped = threading.Event()
    codes: list[int] = []

    def hung(request: str, inputs: str) -> dict[str, Any]:
        assert stopped.wait(30), "the watchdog never fired"
        return {"seconds": 1.0}

    def exit_(code: int) -> None:
        codes.append(code)
        stopped.set()

    monkeypatch.setattr(compile_worker, "run_job", hung)
    monkeypatch.setattr(compile_worker, "_exit", exit_)
    compile_worker.serve(line, os.getpid())
    assert codes == [compile_workers.TIMED_OUT]
    outcome = json.loads(Path(folder, "result.json").read_text())
    assert outcome["ok"] is False and outcome["timeout"] == 0.01
    assert "time limit of 0.01 s" in outcome["error"] and compile_workers.LIMIT_VARIABLE in outcome["error"]
    assert not compile_locks.lock_path(name, directory).exists()  # released
    assert compile_locks.failure(name, 0.01, directory) == (outcome["error"], 0.01)
    assert compile_locks.failure(name, 60.0, directory) is None  # a longer limit tries again
    assert compile_locks.failure(name, None, directory) is None  # and so does no limit


def test_a_compile_within_its_limit_is_not_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line, directory, name, folder = serve_line(tmp_path, "30.0")
    monkeypatch.setattr(compile_worker, "run_job", lambda request, inputs: {"seconds": 0.0})
    monkeypatch.setattr(compile_worker, "_exit", lambda code: pytest.fail("stopped"))
    compile_worker.serve(line, os.getpid())
    assert json.loads(Path(folder, "result.json").read_text())["ok"] is True
    assert compile_locks.failure(name, 30.0, directory) is None


def test_a_timeout_outcome_warns_and_keeps_numpy(tier: list[FakeWorker]) -> None:
    f = gc.compile(*tanh_graph())
    job = f.runner._job
    assert job is not None and job.line.split("\t")[5] == repr(compile_workers.DEFAULT_LIMIT)
    error = "the Numba compile ran over its time limit of 600 s and was stopped"
    Path(job.folder, "result.json").write_text(json.dumps(
        {"ok": False, "error": error, "timeout": 600.0, "finished": time.time()}))
    values = np.linspace(-1, 1, 4)
    with pytest.warns(gc.GraphcWarning, match="GRAPHC_COMPILE_LIMIT.*tiered=False"):
        got = f(values)
    assert np.isclose(got, np.sum(np.tanh(values) * values), rtol=1e-12)
    assert f.stats["tier"] == "numpy" and f.stats["tier_error"] == error


# 5. Failures remembered, stale job folders swept ---------------------------------------


def test_a_compile_error_is_remembered_but_not_a_machine_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line, directory, name, folder = serve_line(tmp_path, "-")

    def typing_error(request: str, inputs: str) -> dict[str, Any]:
        raise TypeError("no integer matmul")

    monkeypatch.setattr(compile_worker, "run_job", typing_error)
    compile_worker.serve(line, os.getpid())
    assert json.loads(Path(folder, "result.json").read_text())["ok"] is False
    assert compile_locks.failure(name, None, directory) == ("TypeError: no integer matmul", None)
    compile_locks.failure_path(name, directory).unlink()

    def full_disk(request: str, inputs: str) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    Path(folder, "result.json").unlink()
    monkeypatch.setattr(compile_worker, "run_job", full_disk)
    compile_worker.serve(line, os.getpid())
    assert json.loads(Path(folder, "result.json").read_text())["ok"] is False
    assert compile_locks.failure(name, None, directory) is None  # the machine's, not the graph's


def test_failure_markers_expire(tmp_path: Path) -> None:
    compile_locks.remember_failure("graphc_f", "TypeError: x", None, tmp_path)
    now = time.time()
    assert compile_locks.failure("graphc_f", 600.0, tmp_path, now=now) == ("TypeError: x", None)
    later = now + compile_locks.FAILURE_MEMORY + 1
    assert compile_locks.failure("graphc_f", 600.0, tmp_path, now=later) is None
    compile_locks.failure_path("graphc_f", tmp_path).write_text("{not json")
    assert compile_locks.failure("graphc_f", 600.0, tmp_path) is None


def test_a_remembered_failure_keeps_numpy_without_a_worker(tier: list[FakeWorker]) -> None:
    inputs, output = tanh_graph()
    first = gc.compile(inputs, output)
    name = first.runner._name
    compile_locks.remember_failure(name, "TypingError: cannot compile", None)
    compile_locks.release(name, tier[0].pid)
    first.runner._job.close()  # type: ignore[union-attr]
    handed = sum(len(worker.lines) for worker in tier)
    again = gc.compile(*tanh_graph())  # the same graph in a later process
    assert sum(len(worker.lines) for worker in tier) == handed  # not handed to a worker
    assert again.runner._job is None
    assert "TypingError: cannot compile" in again.stats["tier_error"]
    assert "remembered" in again.stats["tier_error"]
    values = np.linspace(-1, 1, 3)
    assert np.isclose(again(values), np.sum(np.tanh(values) * values), rtol=1e-12)
    assert again.stats["tier"] == "numpy"


def test_a_waiting_process_does_not_retry_a_remembered_failure(
        tier: list[FakeWorker], sleepers: list[Any]) -> None:
    other = sleeper(sleepers)  # another process's worker compiles the graph
    inputs, output = tanh_graph()
    probe = gc.compile(inputs, output)
    name = probe.runner._name
    probe.runner._job.close()  # type: ignore[union-attr]
    compile_locks.lock_path(name).write_text(f"{other} {compile_locks.started(other)}\n")
    f = gc.compile(*tanh_graph())
    assert f.stats["worker_shared"] and f.stats["worker_pid"] == other
    handed = sum(len(worker.lines) for worker in tier)
    compile_locks.remember_failure(name, "TypingError: cannot compile", None)  # it failed
    compile_locks.release(name, other)
    assert f.runner.wait(10)
    values = np.linspace(-1, 1, 3)
    f(values)
    assert sum(len(worker.lines) for worker in tier) == handed  # not compiled again
    assert "TypingError" in f.stats.get("tier_error", "")
    assert f.stats["tier"] == "numpy"


def test_sweep_removes_job_folders_of_dead_processes_only(tmp_path: Path) -> None:
    def job(name: str, owners: list[int] | None) -> Path:
        made = tmp_path / f"{job_folders.PREFIX}{name}"
        made.mkdir()
        (made / "request.pickle").write_bytes(b"x" * 100)
        if owners is not None:
            (made / "owners").write_text("".join(f"{p} {compile_locks.started(p)}\n" for p in owners))
        return made

    dead = dead_pid()
    orphan = job("dead", [dead, dead])  # its caller exited, its worker was killed
    worked = job("caller-dead-worker-alive", [dead, os.getpid()])
    mine = job("live", [os.getpid()])
    fresh = job("being-made", None)
    opened = job("owners-opened-not-written", None)
    (opened / "owners").write_text("")  # add_owner between its open(O_CREAT) and its write
    old = job("old-layout", None)
    os.utime(old, (0, time.time() - 2 * job_folders.SWEEP_GRACE))
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    removed = job_folders.sweep(str(tmp_path))
    assert sorted(removed) == sorted([str(orphan), str(old)])
    assert worked.exists() and mine.exists() and fresh.exists() and unrelated.exists()
    assert opened.exists()
    assert not orphan.exists() and not old.exists()
    for index in range(5):
        job(f"more{index}", [dead])
    assert len(job_folders.sweep(str(tmp_path), limit=2)) <= 2  # bounded


WORKER_LOG = """
import json, os, signal, sys
from graphc.backend import compile_workers
worker = compile_workers.current_worker()
print(json.dumps({"pid": worker.pid, "log": worker.log}), flush=True)
if sys.argv[1] == "clean":  # end of input: the worker exits by itself
    worker.close()
    worker.process.wait()
    print(json.dumps({"after_worker_exit": os.path.exists(worker.log)}), flush=True)
    os._exit(0)
os.kill(worker.pid, signal.SIGKILL)
worker.process.wait()
if sys.argv[1] == "caller-killed":
    os._exit(0)  # no atexit: as if the caller were killed too
"""


@pytest.mark.parametrize("how", ["worker-killed", "caller-killed", "clean"])
def test_a_workers_log_does_not_outlive_it(tmp_path: Path, how: str) -> None:
    """A compile worker's log (its stderr) is removed: by the worker on a clean exit, by its
    caller at exit when the worker was killed, and by the next sweep when both were killed
    (a killed worker used to leave /tmp/graphc-worker-*.log). Real worker processes, in a
    temporary directory of their own (TMPDIR); the files themselves are the reference."""
    environment = dict(compile_workers.worker_environment(), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", WORKER_LOG, how], env=environment, timeout=120,
                          capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    log = Path(lines[0]["log"])
    assert log.parent.parent == tmp_path and log.parent.name.startswith(job_folders.PREFIX)
    if how == "clean":
        assert lines[1] == {"after_worker_exit": False}
    if how == "caller-killed":
        assert log.exists()  # nobody could remove it: the sweep does
        assert job_folders.sweep(str(tmp_path)) == [str(log.parent)]
    assert not log.exists() and not log.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_compile_retracts_only_the_early_worker_its_own_thread_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads compile at once: one speculates a worker for its cold graph; the other's
    compile (warm, no worker needed) ends first and must not stop that worker."""
    stopped: list[object] = []

    class Early:
        def __init__(self) -> None:
            self.owner, self.pid = os.getpid(), 0

        def exited(self) -> int | None:
            return None

        def stop(self, patience: float) -> None:
            stopped.append(self)

    monkeypatch.setattr(compile_workers, "Worker", Early)
    monkeypatch.setattr(compile_workers, "spare_core", lambda: True)
    monkeypatch.setattr(compile_workers, "_WORKERS", [])
    monkeypatch.setattr(compile_workers, "_SPECULATIVE", [])
    monkeypatch.setattr(compile_workers, "_SPECULATED_BY", {}, raising=False)
    other = threading.Thread(target=compile_workers.speculate)
    other.start()
    other.join()
    (early,) = compile_workers._WORKERS
    compile_workers.retract()  # this thread's compile started no worker
    assert not stopped and compile_workers._WORKERS == [early]
    assert compile_workers.current_worker() is early  # the other compile hands it its graph
    compile_workers.retract()
    assert not stopped  # taken: it stays


@pytest.mark.skipif(not hasattr(os, "fork") or fcntl is None, reason="needs os.fork and flock")
def test_a_child_forked_in_a_compile_turn_does_not_keep_the_turn(tmp_path: Path) -> None:
    """A worker's compile may fork (backend/fork_compile.py); the child's copy of the turn's
    descriptor must not hold the turn after the worker's compile ends."""
    import signal

    with compile_locks.compile_turn(tmp_path):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only waits to be killed
            time.sleep(60)
            os._exit(0)
    try:
        descriptor = os.open(compile_locks.locks_dir(tmp_path) / "turn", os.O_RDWR)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the next compile's turn, now
        finally:
            os.close(descriptor)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
