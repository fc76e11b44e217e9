"""graphc against hand NumPy, hand Numba, JAX, PyTorch and PyTensor: one command, one table.

    python benchmarks/compare.py                       # everything (about 20-30 minutes here)
    python benchmarks/compare.py --quick               # smoke run: small sizes, few rounds
    python benchmarks/compare.py --only mlp,elementwise --impls hand_numba,graphc_numba,jax

Sections (--only): mlp, elementwise, rosenbrock, logistic, sigmoid_matmul, gaussian_process,
classifier, hmm (median time per call; hmm is a large graph: autograd's HMM
forward pass unrolled over 100 steps, ~1,500 nodes), startup (MLP step in a fresh process, cold and warm
caches), chain (1000-op chain: cold, warm, per call), compile (graphc compile
time for chains of 10..10000 ops). Implementations (--impls): hand_numba,
graphc_numba, graphc_parallel (elementwise: gc.compile(parallel=True)),
graphc_tiered (start-up rows only: gc.compile(tiered=True)),
graphc_numpy, hand_numpy, jax, torch, torch_compile, pytensor,
pytensor_numba; a missing framework or backend leaves "n/a" in its column.

Every implementation's outputs are checked against hand NumPy before it is
timed; a mismatch prints WRONG and makes the exit status 1. Ratios are to
hand Numba (the fused @njit yardstick) timed in the same run; the "noise"
column is the worst round-to-round spread (IQR/median) in the row. The
machine is shared and drifts, so compare ratios within one run only.

`--cpu` times per-call rows in process CPU time (all threads) instead of wall
time: on a machine loaded by other work, wall time mostly measures the scheduler.
`--process isolated` times each implementation's per-call rows in a process of
its own (tools in one process share its allocator: after JAX has run, graphc
before its call workspace paid page faults on every call), `both` prints both
rows; `--busy N` keeps N cores busy (spinning processes) during the per-call rows.

Child modes (used by the harness itself): --child-startup WORKLOAD IMPL,
--child-per-call WORKLOAD IMPL and --child-compile N_OPS. Imports: the standard
library, numpy, harness, isolated, workloads.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import isolated  # noqa: E402
from harness import Cell  # noqa: E402
from workloads import PER_CALL, adapters  # noqa: E402

SECTIONS = (*PER_CALL, "startup", "chain", "compile")

# Goals from issue 7: (text, [(column or None for absolute seconds, factor)]): graphc numba <= factor x that.
GOALS = {
    "mlp": ("<= 1.0x hand NumPy, ahead of JAX, PyTensor",
            [("hand_numpy", 1.0), ("jax", 1.0), ("pytensor", 1.0)]),
    "elementwise": ("<= 0.5x JAX", [("jax", 0.5)]),
    "rosenbrock": ("<= 2x hand Numba", [("hand_numba", 2.0)]),
    "logistic": ("<= 2x hand Numba", [("hand_numba", 2.0)]),
    "sigmoid_matmul": ("<= 2x hand Numba", [("hand_numba", 2.0)]),
    "gaussian_process": ("<= JAX (issue 16)", [("jax", 1.0)]),
    "classifier": ("<= 1.2x JAX (idle machine; 1.5x with a core busy)", [("jax", 1.2)]),
    "hmm": ("large graph: <= graphc numpy and <= 1.5x JAX (issue 17)",
            [("graphc_numpy", 1.0), ("jax", 1.5)]),
    "startup cold": ("first result <= 0.5 s (full speed <= 3 s)", [(None, 0.5)]),
    "startup warm": ("<= 0.4 s", [(None, 0.4)]),
    "chain cold": ("<= 5 s", [(None, 5.0)]),
    "chain warm": ("<= 0.5 s", [(None, 0.5)]),
    "chain per call": ("<= JAX", [("jax", 1.0)]),
}


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    goal: str = ""
    ratios: bool = True  # False for rows of absolute compile times
    extra: dict[str, str] = field(default_factory=dict)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def verdict(key: str, cells: dict[str, Cell]) -> str:
    """'yes' / 'no' / '?' for graphc (numba, or tiered where it ran) against the issue's goal for this row."""
    if key not in GOALS:
        return ""
    timed = [cells[name] for name in ("graphc_numba", "graphc_parallel", "graphc_tiered")
             if name in cells and cells[name].seconds]
    if not timed:
        return "?"
    mine = min(timed, key=lambda cell: cell.seconds or 0.0)
    assert mine.seconds is not None
    known = True
    for column, factor in GOALS[key][1]:
        other = cells.get(column) if column else None
        limit = factor if column is None else (other.seconds * factor if other and other.seconds else None)
        if limit is None:
            known = False
        elif mine.seconds > limit:
            return "no"
    return "yes" if known else "yes?"


# ---------------------------------------------------------------- child processes

def child_startup(workload: str, name: str, chain_ops: int) -> None:
    """In a fresh process: build + differentiate + compile + first result, then report and check."""
    module = importlib.import_module(f"workloads.{workload}")
    if workload == "chain":
        module.configure(chain_ops)
    inputs = module.make_inputs(False)
    try:
        if name == "graphc_tiered":
            prepared = adapters.graphc_impl(module, inputs, "numba", tiered=True)
        else:
            prepared = module.IMPLEMENTATIONS[name](inputs)
    except adapters.Unavailable as error:
        print(json.dumps({"skipped": f"n/a ({error})"}))
        return
    outputs = prepared.to_numpy(prepared.run())
    ready = time.time()
    report = {"ready": ready}
    if name == "graphc_tiered" and prepared.stats is not None:
        print(json.dumps(report), flush=True)  # the first result counts even if Numba then times out
        while not prepared.stats.get("numba_ready") and not prepared.stats.get("tier_error"):
            time.sleep(0.01)  # first result came from NumPy; when does compiled speed arrive?
            prepared.run()  # the process tier loads the machine code in a call (or wait)
        report["full_speed"] = time.time()
        report["tier_error"] = prepared.stats.get("tier_error")
    report["mismatch"] = adapters.max_error(outputs, module.hand_numpy(*inputs.values()),
                                            module.RTOL, module.ATOL)
    print(json.dumps(report))


def child_compile(ops: int) -> None:
    """In a fresh process: build, grad and compile (numba backend) a chain of `ops` ops; report seconds."""
    import numpy as np
    from workloads import chain

    import graphc as gc

    start = time.perf_counter()
    x = gc.input("x", shape=(chain.SIZE,))
    loss = gc.sum(chain.chain(x, ops, gc.sin, gc.tanh))
    built = time.perf_counter()
    gradient = gc.grad(loss, x)
    differentiated = time.perf_counter()
    function = gc.compile([x], [loss, gradient], tiered=False)  # compile time, not the tier
    value = np.random.default_rng(1).uniform(-2.0, 2.0, chain.SIZE)
    outputs = function(value)
    done = time.perf_counter()
    chain.configure(ops)
    mismatch = adapters.max_error(outputs, chain.hand_numpy(value), chain.RTOL, chain.ATOL)
    stages = function.stats.get("seconds", {})  # graphc's split: codegen, numba, ...
    print(json.dumps({"build": built - start, "grad": differentiated - built,
                      "compile": done - differentiated, "stages": stages,
                      "parts": function.stats.get("parts"), "mismatch": mismatch}))


# ---------------------------------------------------------------- sections

def child_per_call(workload: str, name: str, options: argparse.Namespace) -> None:
    """In a process of its own: one implementation, a sample per request (isolated.py)."""
    module = importlib.import_module(f"workloads.{workload}")
    isolated.child_per_call(module, name, module.make_inputs(options.quick), options.sample_seconds,
                            options.settle)


def per_call_rows(workload: str, names: list[str], options: argparse.Namespace) -> list[Row]:
    """The workload's per-call row: all tools in this process, each in its own, or both."""
    if options.process == "shared":
        return [per_call_row(workload, names, options)]
    arguments = ["--sample-seconds", str(options.sample_seconds), "--settle", str(options.settle),
                 *(["--cpu"] if options.cpu else []), *(["--quick"] if options.quick else [])]
    module = importlib.import_module(f"workloads.{workload}")
    title = module.title() if hasattr(module, "title") else module.TITLE
    own = Row(title + (" [each tool in its own process]" if options.process == "both" else ""),
              isolated.time_isolated(workload, names, options.rounds, arguments),
              goal=GOALS.get(workload, ("",))[0])
    if options.process == "isolated":
        return [own]
    shared = per_call_row(workload, names, options)
    shared.label += " [all tools in one process]"
    return [own, shared]


def per_call_row(workload: str, names: list[str], options: argparse.Namespace,
                 preset: dict[str, Cell] | None = None, root: Path | None = None) -> Row:
    module = importlib.import_module(f"workloads.{workload}")
    inputs = module.make_inputs(options.quick)
    wanted = [name for name in names if not (preset and name in preset)]
    ready, cells = {}, {}
    if "hand_numba" in wanted and workload == "chain" and root is not None:
        # Load the hand Numba chain from the cache its start-up children filled (it takes minutes to compile).
        ready, cells = _prepare_with_numba_cache(module, inputs, root)
        wanted.remove("hand_numba")
    more_ready, more_cells = harness.prepare(module, wanted, inputs)
    ready.update(more_ready)
    cells.update(more_cells)
    cells.update(preset or {})
    harness.time_round_robin(ready, cells, options.rounds, options.sample_seconds, options.settle)
    title = module.title() if hasattr(module, "title") else module.TITLE
    return Row(f"{title}, per call" if workload == "chain" else title, _ordered(cells, names),
               goal=GOALS.get("chain per call" if workload == "chain" else workload, ("",))[0])


def _prepare_with_numba_cache(module, inputs, root: Path):
    import numba.core.config

    directory = next(iter(sorted(root.glob("chain-hand_numba-*"))), None)
    saved = os.environ.get("NUMBA_CACHE_DIR")
    if directory is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(directory)
        numba.core.config.reload_config()
    try:
        return harness.prepare(module, ["hand_numba"], inputs)
    finally:
        if directory is not None:
            if saved is None:
                os.environ.pop("NUMBA_CACHE_DIR", None)
            else:
                os.environ["NUMBA_CACHE_DIR"] = saved
            numba.core.config.reload_config()


def _ordered(cells: dict[str, Cell], names: list[str]) -> dict[str, Cell]:
    return {name: cells[name] for name in names if name in cells}


def startup_rows(workload: str, label: str, names: list[str], options: argparse.Namespace,
                 root: Path) -> tuple[Row, Row]:
    extra = ["--chain-ops", str(options.chain_ops)] if workload == "chain" else []
    names = [name for name in names if name not in ("torch_compile", "graphc_parallel")]
    cold, warm, _ = harness.startup(workload, names, options.startup_rounds, options.timeout, extra, root)
    key = "startup" if workload == "mlp" else "chain"
    return (Row(f"{label}, cold start (fresh process, empty caches)", cold, GOALS[f"{key} cold"][0]),
            Row(f"{label}, warm start (fresh process, caches filled)", warm, GOALS[f"{key} warm"][0]))


def compile_rows(options: argparse.Namespace, root: Path) -> list[Row]:
    lengths = [10, 100] if options.quick else [10, 100, 1000, 10000]
    cells = harness.compile_growth(lengths, options.timeout, root)
    rows = []
    for length in lengths:
        label = f"graphc compile + first call, chain of {length} ops"
        rows.append(Row(label, {"graphc_numba": cells[length]}, ratios=False))
    return rows


# ---------------------------------------------------------------- printing

def machine() -> list[str]:
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = []
    for package in ("numpy", "numba", "llvmlite", "jax", "jaxlib", "torch", "pytensor"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    repository = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repository), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(repository), "status", "--porcelain", "--", "graphc"],
                           capture_output=True, text=True).stdout.strip()
    return [f"machine: {model}, {os.cpu_count()} cores; Python {sys.version.split()[0]}",
            "versions: " + ", ".join(versions),
            f"graphc: commit {head}" + (" + uncommitted changes in graphc/" if dirty else "")]


def render(rows: list[Row], names: list[str]) -> tuple[str, bool]:
    """The markdown table with footnotes; and whether any implementation computed wrong outputs."""
    columns = [name for name in names if any(name in row.cells for row in rows)]
    notes: list[str] = []
    wrong = False

    def footnote(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    header = ["workload", *(adapters.LABELS[name] for name in columns), "noise", "goal (graphc)", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        base_name = next((name for name in ("hand_numba", "hand_numpy")
                          if row.cells.get(name) and row.cells[name].seconds), None)
        base = row.cells[base_name].seconds if base_name else None
        texts = []
        for name in columns:
            cell = row.cells.get(name)
            if cell is None:
                texts.append("-")
            elif cell.seconds is None:
                wrong |= cell.wrong
                texts.append(("WRONG " if cell.wrong else "n/a " if cell.note.startswith("n/a") else "")
                             + footnote(f"{adapters.LABELS[name]}: {cell.note}"))
            else:
                text = format_seconds(cell.seconds)
                if row.ratios and base:
                    text += f" {cell.seconds / base:.2f}x" + ("†" if base_name == "hand_numpy" else "")
                if cell.detail:
                    text += " " + footnote(f"{row.label}: {cell.detail}")
                texts.append(text)
        spreads = [cell.spread for cell in row.cells.values() if cell.spread is not None]
        noise = f"{max(spreads):.0%}" if spreads else ""
        key = next((key for key in GOALS if GOALS[key][0] == row.goal), "") if row.goal else ""
        lines.append("| " + " | ".join([row.label, *texts, noise, row.goal, verdict(key, row.cells)]) + " |")
    lines.append("")
    lines.append("Ratios are x hand Numba in the same row († = x hand NumPy where hand Numba has no time).")
    lines.extend(f"- [{index + 1}] {text}" for index, text in enumerate(notes))
    return "\n".join(lines), wrong


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--impls", default=",".join(adapters.LABELS), help="comma-separated implementations")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, few rounds")
    parser.add_argument("--rounds", type=int, help="round-robin rounds per workload (default 15, quick 3)")
    parser.add_argument("--sample-seconds", type=float, help="least s per sample (0.02, quick 0.002)")
    parser.add_argument("--settle", type=float, default=0.25,
                        help="pause before each sample so other tools' worker threads go idle (s)")
    parser.add_argument("--startup-rounds", type=int, help="fresh-process rounds (default 3, quick 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="skip a start-up taking longer (s)")
    parser.add_argument("--chain-ops", type=int, help="chain length (default 1000, quick 100)")
    parser.add_argument("--threads", type=int,
                        help="cap every tool's worker threads (default: each tool's own default)")
    parser.add_argument("--cpu", action="store_true",
                        help="per-call rows in process CPU time (all threads) instead of wall time")
    parser.add_argument("--process", choices=("shared", "isolated", "both"), default="shared",
                        help="per-call rows (not the chain's): every tool in this process (shared), "
                             "each in a process of its own (isolated), or both rows")
    parser.add_argument("--busy", type=int, default=0,
                        help="keep this many cores busy (spinning processes) during per-call rows")
    parser.add_argument("--json", type=Path, help="also write every sample here")
    parser.add_argument("--child-per-call", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--child-startup", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--child-compile", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.rounds = options.rounds or (3 if options.quick else 15)
    options.sample_seconds = options.sample_seconds or (0.002 if options.quick else 0.02)
    options.startup_rounds = options.startup_rounds or (1 if options.quick else 3)
    options.chain_ops = options.chain_ops or (100 if options.quick else 1000)
    for value, known, what in ((options.only, SECTIONS, "section"), (options.impls, adapters.LABELS, "impl")):
        unknown = set(value.split(",")) - set(known)
        if unknown:
            parser.error(f"unknown {what}(s) {sorted(unknown)}; choose from {', '.join(known)}")
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    if options.child_startup:
        child_startup(*options.child_startup, options.chain_ops)
        return 0
    if options.child_compile:
        child_compile(options.child_compile)
        return 0
    if options.cpu:
        harness.CLOCK[0] = time.process_time
    if options.child_per_call:
        child_per_call(*options.child_per_call, options)
        return 0
    if options.threads and os.environ.get("OPENBLAS_NUM_THREADS") != str(options.threads):
        # Thread caps only work if set before the libraries load (numpy is loaded already): restart.
        environment = {**os.environ, **harness.thread_environment(options.threads)}
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], environment)
    sections = options.only.split(",")
    names = [name for name in adapters.LABELS if name in options.impls.split(",")]
    importlib.import_module("workloads.chain").configure(options.chain_ops)
    rows: list[Row] = []
    started = time.time()
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="graphc-bench-") as temporary:
        root = Path(temporary)
        os.environ["GRAPHC_CACHE_DIR"] = str(root / "graphc-main")
        with isolated.busy_cores(options.busy):
            for workload in PER_CALL:
                if workload in sections:
                    rows.extend(per_call_rows(workload, names, options))
                    print(f"# done: {workload} ({time.time() - started:.0f} s)", file=sys.stderr)
        if "startup" in sections:
            rows.extend(startup_rows("mlp", "MLP step", names, options, root))
            print(f"# done: startup ({time.time() - started:.0f} s)", file=sys.stderr)
        if "chain" in sections:
            cold, warm = startup_rows("chain", f"{options.chain_ops}-op chain", names, options, root)
            skipped = {name: Cell(note=cell.note)
                       for name, cell in cold.cells.items() if "skipped" in cell.note}
            rows.extend([cold, warm, per_call_row("chain", names, options, skipped, root)])
            print(f"# done: chain ({time.time() - started:.0f} s)", file=sys.stderr)
        if "compile" in sections:
            rows.extend(compile_rows(options, root))
    if options.quick:
        for row in rows:
            row.label += " [--quick: 1e5]" if row.label.startswith("elementwise") else ""
    table, wrong = render(rows, names)
    print("\n".join(machine()))
    threads = f"{options.threads} per tool (--threads)" if options.threads else "each tool's default"
    print(f"threads: {threads}; 1-minute load average {load_at_start:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end (this run alone adds about 1)")
    if options.cpu:
        print("per-call times: process CPU time per call (--cpu: all threads, spinning ones too)")
    if options.process != "shared":
        print(f"per-call rows: --process {options.process} (isolated: each tool in a process of its own)")
    if options.busy:
        print(f"busy: {options.busy} spinning process(es) ran during the per-call rows (--busy)")
    command = f"python benchmarks/compare.py {' '.join(argv)}".rstrip()
    print(f"command: {command}  ({time.time() - started:.0f} s)")
    print()
    print(table)
    if options.json:
        options.json.write_text(json.dumps([{"label": row.label, "cells": {
            name: {"seconds": cell.seconds, "note": cell.note, "samples": cell.samples}
            for name, cell in row.cells.items()}} for row in rows], indent=1))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
