"""Helpers for the cache tests: a cache of one's own, a graph with a NumPy reference, tmpfs.

Each test that uses `own_cache` gets a fresh cache directory and a fresh
per-user key directory (GRAPHC_CACHE_DIR, XDG_CONFIG_HOME), and graphc's
per-process cache verdicts are forgotten before and after, so one test's
refusal or full disk does not leak into the next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import trust

ROOT = Path(__file__).resolve().parent.parent
VALUES = np.linspace(-1.5, 2.0, 301)


def graph(kind: str = "sin") -> tuple[list[Any], list[Any]]:
    """sum(2 f(x)) and its gradient, f = sin or cos: two graphs of the same signature."""
    x = gc.input("x", shape=("n",))
    y = gc.sum(getattr(gc, kind)(x) * 2.0)
    return [x], [y, gc.grad(y, x)]


def expected(kind: str = "sin", values: np.ndarray = VALUES) -> list[Any]:
    """The independent reference: NumPy and the analytic derivative."""
    if kind == "sin":
        return [np.sum(2.0 * np.sin(values)), 2.0 * np.cos(values)]
    return [np.sum(2.0 * np.cos(values)), -2.0 * np.sin(values)]


def check(function: Any, kind: str = "sin") -> None:
    got = function(VALUES)
    want = expected(kind)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def compile_and_check(kind: str = "sin", backend: str = "numba") -> Any:
    function = gc.compile(*graph(kind), backend=backend)
    check(function, kind)
    return function


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    trust.reset()
    yield directory
    trust.reset()


def numba_files(directory: Path, suffix: str) -> list[Path]:
    return sorted((directory / "__pycache__").glob(f"graphc_*{suffix}"))


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (mode 0700), or skip the test if mount is refused."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the file system under `directory` to the last byte; returns the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as stream:  # unbuffered: nothing left to flush
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while stream.write(b"\0" * size):
                    pass
    return filler


def run_python(code: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with the worktree's graphc (aborts stay there)."""
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=timeout)


def leftovers(directory: Path) -> list[Path]:
    """Temporary files a failed write would leave behind (there must be none)."""
    return [p for p in directory.rglob("*") if ".tmp" in p.name]


UNPRIVILEGED = 65534  # nobody/nogroup


@pytest.fixture
def unprivileged_home() -> Iterator[Path]:
    """A home with a cache directory (0700), both owned by the unprivileged user.

    Made under /tmp, not pytest's tmp_path, whose parents root keeps private.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    top = Path(tempfile.mkdtemp(prefix="graphc-test-"))
    os.chmod(top, 0o755)
    home = top / "user"
    (home / "cache").mkdir(parents=True)
    for path in (home, home / "cache"):
        os.chmod(path, 0o700)
        os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
    yield home
    shutil.rmtree(top, ignore_errors=True)


def run_as_unprivileged(statement: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Import graphc as root, drop to the unprivileged user, run `statement`; stdout holds
    the warnings' messages joined by "|"."""
    code = f"""
import sys, warnings
sys.path.insert(0, {str(Path(__file__).parent)!r})
import cache_support, graphc as gc
import graphc.backend.signed, graphc.backend.trust, pwd, tempfile, hmac, secrets
cache_support.compile_and_check(backend="numpy")  # every lazy import, as root
import os
os.environ["GRAPHC_CACHE_DIR"] = {str(home / "cache")!r}
os.environ["XDG_CONFIG_HOME"] = {str(home / "config")!r}
os.environ["HOME"] = {str(home)!r}
graphc.backend.trust.reset()
os.setgid({UNPRIVILEGED}); os.setuid({UNPRIVILEGED})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    {statement}
print("|".join(str(w.message) for w in caught))
"""
    private = tempfile.mkdtemp(prefix="graphc-root-")  # the root pass's own cache
    try:
        return run_python(code, {"GRAPHC_CACHE_DIR": private,
                                 "XDG_CONFIG_HOME": os.path.join(private, "config")})
    finally:
        shutil.rmtree(private, ignore_errors=True)
