"""Slow compiles say so (graphc/notices.py): on stderr by default, through logging when configured.

References: the wall clock (a compile made slow on purpose), the logging
module's own record capture, and the graph's node count from toposort.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

import graphc as gc
from graphc import notices


@pytest.fixture
def quick_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notices, "SLOW", 0.05)


def _slow_compile(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make the numpy backend's compile take `seconds` (as a cold Numba compile would)."""
    from graphc import api

    original = api.numpy_runner

    def slow(*args: object) -> object:
        time.sleep(seconds)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "numpy_runner", slow)


def _graph() -> tuple[gc.Tensor, gc.Tensor]:
    x = gc.input("x", shape=("n",))
    return x, gc.sum(gc.exp(x) * 2.0)


PROGRAM = """
import sys, time
import numpy as np
import graphc as gc
from graphc import api, notices
notices.SLOW = float(sys.argv[3])
original = api.numpy_runner
def slow(*args):
    time.sleep(float(sys.argv[1]))  # as slow as a cold Numba compile, in miniature
    return original(*args)
api.numpy_runner = slow
x = gc.input("x", shape=("n",))
y = gc.sum(gc.exp(x) * 2.0)
verbose = {"default": None, "on": True, "off": False}[sys.argv[2]]
f = gc.compile([x], y, backend="numpy", verbose=verbose)
print(f(np.zeros(2)), len(gc.Tensor.__mro__) and len(__import__("graphc.ir").ir.toposort([y])))
"""


def run(seconds: float, verbose: str, slow: float = 0.05) -> tuple[list[str], list[str]]:
    """A program with logging left unconfigured, as most scripts are: (stdout, stderr) lines.

    `slow` is the notice threshold; a fast compile is one well under it (a real compile on a
    fresh cache, trust checks and key creation included, can take 0.1 s)."""
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(seconds), verbose, str(slow)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split(), done.stderr.splitlines()


def test_a_slow_compile_says_so_once_on_stderr() -> None:
    (value, nodes), err = run(0.4, "default")
    assert float(value) == 4.0
    assert len(err) == 2, err
    assert err[0].startswith(f"graphc: compiling a graph of {nodes} nodes, 1 output, for <string>:")
    assert err[0].endswith("(backend numpy) ...")
    seconds = float(err[1].split(" in ")[1].split(" s")[0])
    assert err[1].startswith("graphc: compiled in ") and 0.35 <= seconds < 10


def test_a_fast_compile_is_silent_unless_verbose() -> None:
    assert run(0.0, "default", slow=5.0)[1] == []
    err = run(0.0, "on", slow=5.0)[1]
    assert len(err) == 2 and "1 output" in err[0] and err[1].startswith("graphc: compiled in")


def test_verbose_false_silences_even_a_slow_compile() -> None:
    assert run(0.3, "off")[1] == []


def test_configured_logging_gets_records_not_stderr(quick_notices: None,
                                                    capsys: pytest.CaptureFixture,
                                                    caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_compile(monkeypatch, 0.2)
    x, y = _graph()
    with caplog.at_level(logging.INFO, logger="graphc"):
        gc.compile([x], y, backend="numpy")
    records = [r for r in caplog.records if r.name == "graphc"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert records[0].getMessage().startswith("compiling a graph of")
    assert capsys.readouterr().err == ""
    logging.getLogger("graphc").setLevel(logging.WARNING)  # a user silencing graphc
    try:
        caplog.clear()
        gc.compile([x], y, backend="numpy")
        assert not [r for r in caplog.records if r.name == "graphc"]
        assert capsys.readouterr().err == ""
    finally:
        logging.getLogger("graphc").setLevel(logging.NOTSET)


def test_first_kernel_compile_is_named(caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend import cache

    x = gc.input("x", shape=("n",))
    y = gc.sum(gc.sin(x) * 3.0)
    for cached in (False, True):
        monkeypatch.setattr(cache, "kernels_cached", lambda cached=cached: cached)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="graphc"):
            gc.compile([x], y, verbose=True)
        text = " ".join(r.getMessage() for r in caplog.records if r.name == "graphc")
        first = "graphc's own kernels are being compiled for the first time" in text
        assert first == (not cached), text
        assert ("graphc warmup" in text) == (not cached)
