"""A damaged, foreign, misplaced, read-only or full disk cache never gives a traceback.

Each fault either compiles again and works (with a CacheWarning) or falls
back to a private directory; results are checked against NumPy and the
analytic derivative, and no half-written entry is left to poison the next
run. The tmpfs cases mount small file systems (root only; skipped where
mount is refused).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cache_support
import numpy as np
import pytest
from cache_support import (
    check,
    compile_and_check,
    fill,
    graph,
    leftovers,
    numba_files,
    run_as_unprivileged,
    tmpfs,
)

import graphc as gc
from graphc.backend import trust

own_cache = cache_support.own_cache  # fixtures shared with the other cache tests
unprivileged_home = cache_support.unprivileged_home


def _private(function: gc.Function, configured: Path) -> None:
    """The function was compiled somewhere other than the refused directory."""
    assert not Path(function.stats["cache_path"]).is_relative_to(configured)


@pytest.mark.parametrize("suffix", [".nbc", ".nbi"])
def test_random_bytes_in_numba_files_recompile(own_cache: Path, suffix: str) -> None:
    compile_and_check()
    files = numba_files(own_cache, suffix)
    assert files
    rng = np.random.default_rng(7)
    for path in files:
        path.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with _maybe_warns(suffix):
        function = compile_and_check()
    assert not function.stats["cache_hit"]
    assert compile_and_check().stats["cache_hit"]  # the entry was rewritten whole


def _maybe_warns(suffix: str) -> contextlib.AbstractContextManager[object]:
    """Random bytes in a data file are an error: recompiled with a warning. In an index
    they most often read as "another Numba version's index": a quiet miss."""
    if suffix == ".nbc":
        return pytest.warns(gc.CacheWarning, match="could not use the cached machine code")
    return contextlib.nullcontext()


def test_swapped_data_files_of_two_graphs_are_not_run(own_cache: Path) -> None:
    compile_and_check("sin")
    compile_and_check("cos")
    first, second = numba_files(own_cache, ".nbc")
    swapped = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(swapped)
    with pytest.warns(gc.CacheWarning, match="machine code of graphc_"):
        compile_and_check("sin")  # same signature: without the check, cos's code would run
    compile_and_check("cos")


def test_cache_dir_is_a_regular_file(own_cache: Path) -> None:
    own_cache.write_text("not a directory")
    with pytest.warns(gc.CacheWarning, match="is not a directory"):
        function = compile_and_check()
    _private(function, own_cache)
    assert own_cache.read_text() == "not a directory"


def test_cache_dir_under_a_regular_file(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own_cache.write_text("a file")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(own_cache / "sub" / "dir"))
    with pytest.warns(gc.CacheWarning, match="cannot be created"):
        compile_and_check()


def test_cache_dir_cannot_be_created(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "/proc/graphc-cannot-exist/cache")
    with pytest.warns(gc.CacheWarning, match="cannot be created"):
        compile_and_check()


def _mlp(offset: float) -> tuple[list[gc.Tensor], list[gc.Tensor], Any]:
    """A graph compiled in kernel mode (its fused kernels compile on the first call), and
    its NumPy reference; `offset` makes its kernels new to this process."""
    x, w = gc.input("x", shape=("n", 4)), gc.input("w", shape=(4, 4))
    h = x
    for _ in range(4):
        h = gc.tanh(h @ w + offset) * 0.5
    y = gc.sum(h)

    def reference(xv: np.ndarray, wv: np.ndarray) -> float:
        hv = xv
        for _ in range(4):
            hv = np.tanh(hv @ wv + offset) * 0.5
        return float(np.sum(hv))

    return [x, w], [y, gc.grad(y, w)], reference


def _call_mlp(function: gc.Function, reference: Any) -> None:
    xv = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    wv = np.linspace(-0.5, 0.7, 16).reshape(4, 4)
    value, gradient = function(xv, wv)
    np.testing.assert_allclose(value, reference(xv, wv), rtol=1e-12)
    step = 1e-6 * np.eye(16)[5].reshape(4, 4)  # one entry, by central differences
    numeric = (reference(xv, wv + step) - reference(xv, wv - step)) / 2e-6
    np.testing.assert_allclose(gradient[1, 1], numeric, rtol=1e-6)


def _numba_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where Numba caches when it cannot write beside a module (must stay empty)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    return tmp_path / "user-cache"


def test_read_only_cache_dir(tmp_path: Path, own_cache: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The file system turns read-only after a good compile in the same process (root
    ignores mode bits, so a remounted tmpfs): a kernel compiled on its first call, the
    same graph again and a new one all work, with a warning, and Numba never falls back
    to caching in its own per-user directory."""
    user_cache = _numba_user_cache(tmp_path, monkeypatch)
    with tmpfs(tmp_path / "mnt", "2m") as mount:
        monkeypatch.setenv("GRAPHC_CACHE_DIR", str(mount))
        compile_and_check()
        *mlp, reference = _mlp(0.2517)
        uncalled = gc.compile(*mlp)
        assert uncalled.stats["kernels"] > 0, uncalled.stats
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.warns(gc.CacheWarning, match="Read-only file system"):
            _call_mlp(uncalled, reference)  # its kernels compile now: saving them fails
        _private(compile_and_check("sin"), mount)  # compiled before: in a private directory
        _private(compile_and_check("cos"), mount)  # a new graph, likewise
        trust.reset()  # as a fresh process sees it
        with pytest.warns(gc.CacheWarning, match="is not writable .Read-only file system"):
            _private(compile_and_check("sin"), mount)
        assert not leftovers(mount)
    assert not user_cache.exists() or not any(user_cache.rglob("*.nb*"))


def test_cache_dir_vanishes_mid_process(tmp_path: Path, own_cache: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache directory is removed after a good compile (a cleaner, `rm -rf`): it is
    made again (0700) and everything works, quietly; nothing goes to Numba's own cache."""
    user_cache = _numba_user_cache(tmp_path, monkeypatch)
    compile_and_check("sin")
    *mlp, reference = _mlp(0.3183)
    uncalled = gc.compile(*mlp)
    shutil.rmtree(own_cache)
    _call_mlp(uncalled, reference)  # its kernels compile now, into a vanished directory
    function = compile_and_check("cos")
    assert Path(function.stats["cache_path"]).parent == own_cache
    assert compile_and_check("sin").stats["cache_path"].startswith(str(own_cache))
    for path in (own_cache, own_cache / "__pycache__", own_cache / "graphs"):
        assert oct(path.stat().st_mode & 0o777) == "0o700", path
    assert not leftovers(own_cache)
    assert not user_cache.exists() or not any(user_cache.rglob("*.nb*"))


def test_read_only_cache_dir_for_an_ordinary_user(unprivileged_home: Path) -> None:
    """Mode 0500 for a non-root user (a subprocess that drops to uid/gid 65534).

    The NumPy backend: the saved-graph cache meets the same directory checks,
    and the unprivileged process cannot read Numba's lazily imported modules
    under root's home.
    """
    os.chmod(unprivileged_home / "cache", 0o500)
    result = run_as_unprivileged("cache_support.compile_and_check(backend='numpy')",
                                 unprivileged_home)
    assert result.returncode == 0, result.stderr
    assert "is not writable" in result.stdout


@pytest.mark.parametrize("size", ["64k", "1k"])
def test_full_disk(tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch,
                   size: str) -> None:
    with tmpfs(tmp_path / "mnt", size) as mount:
        monkeypatch.setenv("GRAPHC_CACHE_DIR", str(mount))
        with pytest.warns(gc.CacheWarning):
            compile_and_check()
        assert not leftovers(mount)
        compile_and_check("cos")  # later graphs: private directory, quietly


def test_disk_fills_after_a_good_run(tmp_path: Path, own_cache: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mount:
        monkeypatch.setenv("GRAPHC_CACHE_DIR", str(mount))
        compile_and_check("sin")
        filler = fill(mount)
        assert compile_and_check("sin").stats["cache_hit"]  # loading needs no space
        with pytest.warns(gc.CacheWarning):
            compile_and_check("cos")
        assert not leftovers(mount)
        filler.unlink()

        trust.reset()  # space is back: the next process would use the directory again
        assert compile_and_check("sin").stats["cache_hit"]
        function = compile_and_check("cos")  # nothing half-written poisoned this entry
        check(function, "cos")
        assert Path(function.stats["cache_path"]).parent == mount


def test_a_removed_pycache_is_made_again(own_cache: Path) -> None:
    compile_and_check()
    shutil.rmtree(own_cache / "__pycache__")
    assert not compile_and_check().stats["cache_hit"]
    assert oct((own_cache / "__pycache__").stat().st_mode & 0o777) == "0o700"


def test_no_directory_anywhere_is_a_clear_error(own_cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache path and the temporary directory both unusable: a GraphcError naming both."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocked))
    monkeypatch.setattr("tempfile.tempdir", str(blocked / "tmp"))
    monkeypatch.setattr(trust, "_private", [])
    with pytest.warns(gc.CacheWarning, match="no temporary directory could be made"), \
            pytest.raises(gc.GraphcError, match="cannot write the generated code anywhere.*a-file"):
        gc.compile(*graph("sin"))
    monkeypatch.undo()
    trust.reset()


def test_damaged_pyc_of_a_generated_module(own_cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A .pyc with a valid header and a damaged body (CPython checks only the header)."""
    monkeypatch.setattr("sys.dont_write_bytecode", False)
    compile_and_check()
    (pyc,) = (own_cache / "__pycache__").glob("graphc_*.pyc")
    data = pyc.read_bytes()
    pyc.write_bytes(data[:16] + bytes(range(256)) * (len(data) // 256 + 1))
    compile_and_check()
    assert not pyc.exists() or pyc.read_bytes()[16:] == data[16:]
