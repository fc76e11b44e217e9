"""How graphc decides a machine has no core to spare for a second BLAS thread (backend/blas_threads.busy).

The decision used to follow the 1-minute load average, which lags a newly busy core by
about a minute (issue 17 item 5). These tests feed `busy` readings of the machine's CPU
time and of the process's own, as /proc/stat and time.process_time would give them, and
check the answer against the rule: others' work plus the caller's thread at least the
number of cores minus one half; under a cgroup CPU quota (fake cgroup v1/v2 files), the
cgroup's CPU time against the quota as well.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from graphc.backend import blas_threads

STAT = """cpu  {total} 0 0 900 0 0 0 0 0 0
cpu0 {a} 0 {a_sys} 500 7 0 {a_irq} 0 0 0
cpu1 {b} 0 0 400 0 0 0 {b_steal} 0 0
intr 1 2 3
ctxt 4
"""


class Machine:
    """A fake clock, a fake machine CPU-time counter and a fake process CPU-time counter."""

    def __init__(self, runnable: float = 0.0) -> None:
        self.now, self.machine, self.own, self.runnable = 100.0, 5000.0, 10.0, runnable

    def run(self, seconds: float, others: float, own: float) -> None:
        """`seconds` pass with `others` cores of other processes' work and `own` cores of ours."""
        self.now += seconds
        self.machine += seconds * (others + own)
        self.own += seconds * own


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Machine:
    fake = Machine()
    monkeypatch.setattr(blas_threads, "_LAST", blas_threads._Reading())
    monkeypatch.setattr(blas_threads, "_cores", lambda: 2)
    monkeypatch.setattr(blas_threads, "machine_cpu_seconds", lambda: fake.machine)
    monkeypatch.setattr(blas_threads, "runnable_others", lambda: fake.runnable)
    monkeypatch.setattr(blas_threads, "_quota", lambda: None)  # no cgroup quota unless a test says
    monkeypatch.setattr(blas_threads, "time", types.SimpleNamespace(monotonic=lambda: fake.now,
                                                                    process_time=lambda: fake.own))
    return fake


def test_a_core_that_just_became_busy_counts_within_a_reading(machine: Machine) -> None:
    """The case the load average missed: a spinner starts on an idle 2-core machine."""
    assert not blas_threads.busy()  # first call: nothing else runnable now
    machine.run(0.3, others=0.0, own=1.0)
    assert not blas_threads.busy()
    machine.run(0.3, others=1.0, own=1.0)  # another process takes the other core
    assert blas_threads.busy()
    machine.run(0.3, others=0.0, own=1.0)  # and stops
    assert not blas_threads.busy()


def test_our_own_spinning_blas_threads_are_not_other_work(machine: Machine) -> None:
    """Two BLAS threads of this process use both cores: no reason to drop to one (no flip-flop)."""
    blas_threads.busy()
    for _ in range(3):
        machine.run(0.3, others=0.0, own=2.0)
        assert not blas_threads.busy()


def test_half_a_core_of_other_work_is_enough_on_two_cores(machine: Machine) -> None:
    blas_threads.busy()
    machine.run(0.5, others=0.4, own=1.0)
    assert not blas_threads.busy()
    machine.run(0.5, others=0.6, own=1.0)
    assert blas_threads.busy()


def test_readings_are_kept_for_a_period_and_a_stale_window_is_not_used(machine: Machine) -> None:
    blas_threads.busy()
    machine.run(0.3, others=1.0, own=1.0)
    assert blas_threads.busy()
    machine.run(0.1, others=0.0, own=1.0)  # within PERIOD: the last answer, no new reading
    assert blas_threads.busy()
    machine.run(blas_threads.STALE + 5, others=1.0, own=0.0)  # a pause: what ran then is history
    assert not blas_threads.busy()  # the runnable count (0 others now) decides
    machine.runnable = 1.0
    machine.run(blas_threads.STALE + 5, others=0.0, own=0.0)
    assert blas_threads.busy()


def test_first_call_follows_the_threads_runnable_now(machine: Machine) -> None:
    machine.runnable = 1.0
    assert blas_threads.busy()


def test_no_reading_at_all_means_busy(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where neither /proc nor a load average exists (Windows), one BLAS thread is the safe side."""
    monkeypatch.setattr(blas_threads, "runnable_others", lambda: None)
    monkeypatch.setattr(blas_threads, "machine_cpu_seconds", lambda: None)
    assert blas_threads.busy()


def test_the_rule_by_core_count() -> None:
    assert blas_threads.no_core_to_spare(0.0, 1)  # one core: never a second thread
    assert not blas_threads.no_core_to_spare(0.0, 2)
    assert blas_threads.no_core_to_spare(1.0, 2)
    assert not blas_threads.no_core_to_spare(5.0, 8)
    assert blas_threads.no_core_to_spare(6.6, 8)
    assert blas_threads.others_running(3.0, 1.0, 2.0) == 1.0
    assert blas_threads.others_running(0.9, 1.0, 2.0) == 0.0  # clock granularity: never negative


def test_proc_stat_is_summed_over_our_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """user + nice + system + irq + softirq + steal of each allowed core; idle and iowait are not busy."""
    stat = tmp_path / "stat"
    stat.write_text(STAT.format(total=99999, a=100, a_sys=20, a_irq=3, b=50, b_steal=7))
    monkeypatch.setattr(blas_threads, "_TICK", 0.01)
    monkeypatch.setattr(blas_threads, "_affinity", lambda: frozenset({0, 1}))
    assert blas_threads.machine_cpu_seconds(str(stat)) == pytest.approx((100 + 20 + 3 + 50 + 7) * 0.01)
    monkeypatch.setattr(blas_threads, "_affinity", lambda: frozenset({1}))  # pinned to cpu1
    assert blas_threads.machine_cpu_seconds(str(stat)) == pytest.approx((50 + 7) * 0.01)
    assert blas_threads.machine_cpu_seconds(str(tmp_path / "missing")) is None


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="Linux /proc only")
def test_the_real_readings() -> None:
    """On Linux both readings exist, and the machine's busy CPU time grows with our own work."""
    first = blas_threads.machine_cpu_seconds()
    assert first is not None and blas_threads.runnable_others() is not None
    own = blas_threads.time.process_time()
    while blas_threads.time.process_time() - own < 0.1:
        pass
    second = blas_threads.machine_cpu_seconds()
    assert second is not None and second - first >= 0.08  # our 0.1 s, at 10 ms granularity


# Under a container's CPU quota: /proc/stat is the host's, the cgroup's quota and CPU time decide.


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_tightest_level(tmp_path: Path) -> None:
    root, membership = tmp_path / "cgroup", tmp_path / "self_cgroup"
    write(root / "cgroup.controllers", "cpu memory\n")
    write(membership, "0::/kube/pod1\n")
    write(root / "kube" / "pod1" / "cpu.max", "200000 100000\n")  # 2 CPUs
    write(root / "kube" / "pod1" / "cpu.stat", "usage_usec 2500000\nuser_usec 1\n")
    write(root / "kube" / "cpu.max", "max 100000\n")
    quota = blas_threads.cpu_quota(str(root), str(membership))
    assert quota is not None and quota.cpus == 2.0
    assert blas_threads.group_cpu_seconds(quota) == pytest.approx(2.5)
    write(root / "kube" / "cpu.max", "50000 100000\n")  # half a CPU above it: that one binds
    write(root / "kube" / "cpu.stat", "usage_usec 7000000\n")
    quota = blas_threads.cpu_quota(str(root), str(membership))
    assert quota is not None and quota.cpus == 0.5
    assert blas_threads.group_cpu_seconds(quota) == pytest.approx(7.0)


def test_cgroup_v2_in_a_container_and_without_a_quota(tmp_path: Path) -> None:
    root, membership = tmp_path / "cgroup", tmp_path / "self_cgroup"
    write(root / "cgroup.controllers", "cpu\n")
    write(membership, "0::/\n")  # a cgroup namespace: the root is the container's
    assert blas_threads.cpu_quota(str(root), str(membership)) is None  # no cpu.max (a host)
    write(root / "cpu.max", "max 100000\n")
    assert blas_threads.cpu_quota(str(root), str(membership)) is None  # no limit
    write(root / "cpu.max", "150000 100000\n")
    quota = blas_threads.cpu_quota(str(root), str(membership))
    assert quota is not None and quota.cpus == 1.5 and quota.usage == ""  # no cpu.stat
    assert blas_threads.group_cpu_seconds(quota) is None
    for odd in ("100000 0\n", "0 100000\n", "-5 100000\n", "150000\n", "\n", "x y\n"):
        write(root / "cpu.max", odd)  # no kernel writes these: read as no quota, never raised
        assert blas_threads.cpu_quota(str(root), str(membership)) is None, odd


def test_cgroup_v1_quota_and_cpuacct(tmp_path: Path) -> None:
    root, membership = tmp_path / "cgroup", tmp_path / "self_cgroup"
    write(membership, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")  # the path is the host's: not mounted
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert blas_threads.cpu_quota(str(root), str(membership)) is None
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "100000\n")  # one CPU
    write(root / "cpu,cpuacct" / "cpuacct.usage", "5000000000\n")  # nanoseconds
    quota = blas_threads.cpu_quota(str(root), str(membership))
    assert quota is not None and quota.cpus == 1.0
    assert blas_threads.group_cpu_seconds(quota) == pytest.approx(5.0)
    separate = tmp_path / "separate"  # cpu and cpuacct mounted apart, a nested cgroup
    write(membership, "3:cpuacct:/job\n2:cpu:/job\n")
    write(separate / "cpu" / "job" / "cpu.cfs_quota_us", "300000\n")
    write(separate / "cpu" / "job" / "cpu.cfs_period_us", "100000\n")
    write(separate / "cpuacct" / "job" / "cpuacct.usage", "2000000000\n")
    quota = blas_threads.cpu_quota(str(separate), str(membership))
    assert quota is not None and quota.cpus == 3.0
    assert blas_threads.group_cpu_seconds(quota) == pytest.approx(2.0)
    assert blas_threads.cpu_quota(str(tmp_path / "none"), str(tmp_path / "none")) is None


class Group:
    """The CPU time of our cgroup (this process's and the others in the container)."""

    def __init__(self) -> None:
        self.seconds = 50.0


@pytest.fixture
def container(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> Group:
    """An 8-core host, this process in a cgroup allowed 2 CPUs."""
    group = Group()
    monkeypatch.setattr(blas_threads, "_cores", lambda: 8)
    monkeypatch.setattr(blas_threads, "_quota", lambda: blas_threads.Quota(2.0, "fake"))
    monkeypatch.setattr(blas_threads, "group_cpu_seconds", lambda quota: group.seconds)
    return group


def run_in(machine: Machine, group: Group, seconds: float, others: float, own: float) -> None:
    """`others` cores of work by other processes in our container (so on the host too)."""
    machine.run(seconds, others=others, own=own)
    group.seconds += seconds * (others + own)


def test_a_busy_container_on_an_idle_host_is_busy(machine: Machine, container: Group) -> None:
    """The host has 6 cores to spare; the quota of 2 CPUs has none once another process
    of the container runs: the host's /proc/stat alone never said so."""
    assert not blas_threads.busy()
    run_in(machine, container, 0.3, others=0.0, own=1.0)
    assert not blas_threads.busy()
    run_in(machine, container, 0.3, others=1.0, own=1.0)
    assert blas_threads.busy()
    run_in(machine, container, 0.3, others=0.0, own=1.0)
    assert not blas_threads.busy()


def test_work_outside_the_container_does_not_count_against_its_quota(
        machine: Machine, container: Group) -> None:
    blas_threads.busy()
    machine.run(0.3, others=3.0, own=1.0)  # other containers: the host still has cores
    container.seconds += 0.3
    assert not blas_threads.busy()


def test_a_quota_of_one_cpu_is_always_busy(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blas_threads, "_cores", lambda: 8)
    monkeypatch.setattr(blas_threads, "_quota", lambda: blas_threads.Quota(1.0))
    assert blas_threads.busy()  # first call, nothing runnable on the host
    machine.run(0.3, others=0.0, own=1.0)
    assert blas_threads.busy()
