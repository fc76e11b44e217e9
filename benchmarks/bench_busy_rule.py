"""When does graphc see that a core became busy? The BLAS thread rule, old and new, after a spinner starts.

    PYTHONPATH=$PWD python benchmarks/bench_busy_rule.py [seconds=75] [spinners=1]

The caller spins (as a thread calling graphc in a loop does); after 3 s, `spinners`
processes start spinning too. Every second it prints the 1-minute load average, the old
rule (load average >= cores - 0.5, this process's running thread included: one BLAS
thread) and the new one (backend/blas_threads.busy: other processes' CPU time over the last
0.25-0.5 s). On an idle 2-core machine the old rule says "a core to spare" for about 70 s
after the spinner started: compare.py --busy 1 timed graphc's isolated child within that
minute, with two BLAS threads against the spinner (docs/benchmarks.md, table 29).
"""
import os
import subprocess
import sys
import time

from graphc.backend import blas_threads

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 75.0
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
cores = blas_threads._cores()
spinners: list[subprocess.Popen[bytes]] = []
start = time.monotonic()
print(f"cores {cores}; spinners start at 3 s")
print("   t   load1  old rule  new rule  others (cores, last window)")
try:
    previous = (time.monotonic(), blas_threads.machine_cpu_seconds(), time.process_time())
    while time.monotonic() - start < seconds + 3:
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            pass
        if not spinners and time.monotonic() - start >= 3:
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
        now, machine, own = time.monotonic(), blas_threads.machine_cpu_seconds(), time.process_time()
        others = (blas_threads.others_running(machine - previous[1], own - previous[2], now - previous[0])
                  if machine is not None and previous[1] is not None else float("nan"))
        previous = (now, machine, own)
        load = os.getloadavg()[0]
        print(f"{now - start:5.0f} {load:6.2f}  {'busy' if load >= cores - 0.5 else 'spare':8s}  "
              f"{'busy' if blas_threads.busy() else 'spare':8s}  {others:.2f}", flush=True)
finally:
    for spinner in spinners:
        spinner.kill()
        spinner.wait()
