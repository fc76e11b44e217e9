"""What one fused kernel's compile costs: the direct path's stages against Numba's whole compile.

    python benchmarks/direct_stages.py                 # the 16-layer MLP step's kernels, 3 rounds
    python benchmarks/direct_stages.py --depth 64 --rounds 5

The kernels are those of compile_time.py's tanh MLP step (width 32). Each round compiles every
kernel afresh in this process (a new module name each time, nothing cached): the direct path's
translation (Python source -> LLVM IR text), LLVM's O3 pipeline, machine code and loading
(docs/codegen.md, "The direct path"), then Numba's compile of the same source (njit with graphc's
options, `Dispatcher.compile` on the same signature). Numba's one-time set-up is paid before the
first round and not counted; in a cold process it is another ~0.1 s that the direct path does not
pay. Rows: the median over rounds, per kernel, seconds of wall time.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def kernels_and_arguments(depth: int) -> list[tuple[str, str, tuple]]:
    """(name, source, first-call arguments) of each kernel of the MLP step, recorded by a call."""
    import graphc as gc
    from compile_time import make_inputs, mlp_graph
    from graphc.backend.direct import kernel as direct_kernel

    seen: dict[str, tuple[str, str, tuple]] = {}
    original = direct_kernel.DirectKernel._serving

    def recording(self, arguments, refused_by=None):  # type: ignore[no-untyped-def]
        seen.setdefault(self.name, (self.name, self.source, tuple(
            a.copy() if isinstance(a, np.ndarray) else a for a in arguments)))
        return original(self, arguments, refused_by)

    direct_kernel.DirectKernel._serving = recording  # type: ignore[method-assign]
    try:
        inputs, outputs = mlp_graph(depth, 32)
        gc.compile(inputs, outputs, tiered=False)(*make_inputs(depth, 32))
    finally:
        direct_kernel.DirectKernel._serving = original  # type: ignore[method-assign]
    return list(seen.values())


def direct_stages(name: str, source: str, arguments: tuple, tag: str) -> dict[str, float]:
    import llvmlite.binding as llvm

    from graphc.backend.direct import engine
    from graphc.backend.direct.compile import module_ir
    from graphc.backend.direct.kernel import namespace
    from graphc.backend.direct.signature import signature

    machine = engine.machine()
    entry = f"{name}.stages{tag}"
    start = time.perf_counter()
    text = module_ir(name, source, signature(arguments), namespace(source), True, entry)
    translated = time.perf_counter()
    module = llvm.parse_assembly(text)
    options = llvm.create_pipeline_tuning_options()
    options.speed_level, options.loop_vectorization, options.slp_vectorization = 3, True, False
    builder = llvm.create_pass_builder(machine.tm, options)
    builder.getModulePassManager().run(module, builder)
    optimised = time.perf_counter()
    code = bytes(machine.tm.emit_object(module))
    emitted = time.perf_counter()
    machine.load(code, entry, None)
    loaded = time.perf_counter()
    return {"translate": translated - start, "O3": optimised - translated,
            "machine code": emitted - optimised, "load": loaded - emitted, "direct": loaded - start}


def numba_compile(source: str, name: str, arguments: tuple, directory: Path, tag: str) -> float:
    import numba

    from graphc.backend.runtime import JIT_OPTIONS

    path = directory / f"stages_{tag}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    dispatcher = numba.njit(**dict(JIT_OPTIONS, cache=False))(getattr(module, name))
    signature = tuple(numba.typeof(a) for a in arguments)
    start = time.perf_counter()
    dispatcher.compile(signature)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="graphc-direct-stages-") as name:
        import os

        os.environ["GRAPHC_CACHE_DIR"] = str(Path(name) / "cache")
        kernels = kernels_and_arguments(options.depth)
        numba_compile(*(lambda k: (k[1], k[0], k[2]))(kernels[0]), Path(name), "warmup")  # set-up
        rows: dict[str, dict[str, list[float]]] = {k[0]: {} for k in kernels}
        for round_ in range(options.rounds):
            for kernel_name, source, arguments in kernels:
                times = direct_stages(kernel_name, source, arguments, f"{round_}")
                times["numba"] = numba_compile(source, kernel_name, arguments, Path(name),
                                               f"{kernel_name}_{round_}")
                for key, value in times.items():
                    rows[kernel_name].setdefault(key, []).append(value)
    columns = ["translate", "O3", "machine code", "load", "direct", "numba"]
    print(f"# {options.depth}-layer MLP step's kernels, median of {options.rounds} rounds (s)")
    print("| kernel | " + " | ".join(columns) + " | numba / direct |")
    print("|" + "---|" * (len(columns) + 2))
    for kernel_name, times in rows.items():
        medians = {c: statistics.median(times[c]) for c in columns}
        print(f"| {kernel_name} | " + " | ".join(f"{medians[c]:.4f}" for c in columns)
              + f" | {medians['numba'] / medians['direct']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
