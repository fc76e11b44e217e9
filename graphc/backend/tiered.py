"""Tiered execution: answer with the NumPy interpreter while Numba compiles in a thread.

Owns `compile_tiered` (used by `graphc.api.compile(..., tiered=True)`) and
`TieredRunner`. Imports: jit.py (prepare/finish), not numba directly.

Why: a cold Numba compile of a training step takes seconds (docs/codegen.md,
"Compile time"), while the NumPy interpreter answers at once. Everything
after the simplifier happens in a background thread once the first call has
answered: schedule and codegen (~0.08 s for 3000 nodes), the import of the
generated module (which imports numba, ~0.4 s) and the Numba compile, which
also fills the disk cache for the next process. `f.source` is the code the
Numba tier runs: reading it before the thread got there generates it then.
Each call is served entirely by one tier,
chosen once at the start of the call: no call mixes tiers. The tiers agree to
rounding (the op-contract tests hold both to rtol 1e-12 in float64), not
bit for bit. If the Numba compile fails, every call keeps using NumPy and
`stats["tier_error"]` says why. The thread is not a daemon: a process that
exits early waits for the compile, so the machine code reaches the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Node
from .jit import Prepared, finish, prepare

Runner = Callable[[list[np.ndarray], dict[str, int]], list[np.ndarray]]
FIRST_CALL_GRACE = 0.5  # seconds the compile thread waits for the first call to finish


class TieredRunner:
    """Runs the NumPy tier until the Numba tier is ready, then the Numba tier.

    `stats` is the Function's stats dict: "tier" names the tier that served
    the last call, "calls" counts calls per tier; the Numba compile's own stats
    (seconds, cache_hit, ...) are merged in when it finishes.
    """

    def __init__(self, prepare_now: Callable[[], Prepared], structure: str,
                 requirements: Sequence[Any] | None, numpy_runner: Runner,
                 stats: dict[str, Any]) -> None:
        self._prepare_now = prepare_now
        self._prepared: Prepared | None = None
        self._preparing = threading.Lock()
        self._structure = structure
        self._requirements = requirements
        self._numpy = numpy_runner
        self._numba: Runner | None = None
        self._ready = threading.Event()
        self._first_call = threading.Event()
        self._example: tuple[list[np.ndarray], dict[str, int]] | None = None  # a first call's inputs
        self.stats = stats
        stats.update({"backend": "numba", "tiered": True, "tier": None,
                      "calls": {"numpy": 0, "numba": 0}, "numba_ready": False})
        self._thread = threading.Thread(target=self._compile, name="graphc-numba-compile")
        self._thread.start()

    def _compile(self) -> None:
        # Importing numba is Python work that holds the GIL: let the first call
        # answer first (docs/codegen.md, "Tiered execution"), unless it does
        # not come soon.
        self._first_call.wait(FIRST_CALL_GRACE)
        try:
            compiled = finish(self.prepared(), self._structure, self._requirements)
        except Exception as exc:  # noqa: BLE001 - reported in stats; NumPy keeps serving
            self.stats["tier_error"] = f"{type(exc).__name__}: {exc}"
        else:
            if compiled.stats.kernels and self._example is not None:
                try:  # kernel mode compiles its kernels on the first call: make it this one
                    compiled.runner(*self._example)
                except Exception:  # noqa: BLE001 - the caller's own call reports it
                    pass
            numba_stats = compiled.stats.as_dict()
            numba_stats.pop("backend", None)
            self.stats.update(numba_stats)
            self._numba = compiled.runner
            self.stats["numba_ready"] = True
        finally:
            self._ready.set()

    def prepared(self) -> Prepared:
        """The generated module (scheduled, generated, written): made once, by whoever asks first."""
        with self._preparing:
            if self._prepared is None:
                self._prepared = self._prepare_now()
            return self._prepared

    def source(self) -> str:
        return self.prepared().generated.source

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the Numba compile has finished (or failed); True if it is done."""
        return self._ready.wait(timeout)

    def __call__(self, arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        numba_runner = self._numba  # read once: the whole call uses one tier
        if numba_runner is not None:
            tier, results = "numba", numba_runner(arrays, binding)
        else:
            tier, results = "numpy", self._numpy(arrays, binding)
            if self._example is None:
                self._example = (arrays, binding)
        self.stats["calls"][tier] += 1
        self.stats["tier"] = tier
        self._first_call.set()
        return results


def compile_tiered(inputs: Sequence[Node], outputs: Sequence[Node],
                   output_names: Sequence[str | None] | None, structure: str,
                   requirements: Sequence[Any] | None, numpy_runner: Runner,
                   stats: dict[str, Any], parallel: bool = False,
                   ) -> tuple[TieredRunner, Callable[[], str]]:
    """Serve calls with NumPy now; generate and Numba-compile in a thread: (runner, source)."""
    def prepare_now() -> Prepared:
        return prepare(inputs, outputs, output_names, parallel, load=False)  # no numba import

    runner = TieredRunner(prepare_now, structure, requirements, numpy_runner, stats)
    return runner, runner.source
