"""The cache trusts only its owner: refused directories, private modes, authenticated graphs.

Each untrusted setup is refused with one CacheWarning naming the directory,
what is wrong and how to fix it, and the compile is still correct (checked
against NumPy and the analytic derivative). Saved graphs carry an HMAC
under a per-user key and are verified before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import warnings
from pathlib import Path

import cache_support
import pytest
from cache_support import (
    compile_and_check,
    graph,
    run_as_unprivileged,
)

import graphc as gc
from graphc import serialize
from graphc.backend import signed, trust

own_cache = cache_support.own_cache  # fixtures shared with the other cache tests
unprivileged_home = cache_support.unprivileged_home


def _refused(match: str, backend: str = "numpy") -> gc.Function:
    with pytest.warns(gc.CacheWarning, match=match) as caught:
        function = compile_and_check(backend=backend)
    assert len([w for w in caught if issubclass(w.category, gc.CacheWarning)]) == 1
    return function


def _quiet(backend: str = "numpy") -> gc.Function:
    with warnings.catch_warnings():
        warnings.simplefilter("error", gc.CacheWarning)
        return compile_and_check(backend=backend)


def _fake_status(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


def test_the_check_names_what_is_wrong() -> None:
    """check() over a fake stat: any owner and mode, no root needed."""
    directory = stat.S_IFDIR | 0o700
    me = 1000

    def lstat(owner: int, mode: int = directory) -> trust.Lstat:
        return lambda path: _fake_status(mode if path == Path("/c") else directory,
                                         owner if path == Path("/c") else me)

    assert trust.check(Path("/c"), lstat(me), uid=me) is None
    what, fix = trust.check(Path("/c"), lstat(1001), uid=me) or ("", "")
    assert "owned by uid 1001" in what and "GRAPHC_CACHE_DIR" in fix
    what, fix = trust.check(Path("/c"), lstat(me, stat.S_IFDIR | 0o777), uid=me) or ("", "")
    assert "writable by group and others (mode 0777)" in what and fix == "chmod go-w /c"
    what, _ = trust.check(Path("/c"), lstat(me, stat.S_IFLNK | 0o777), uid=me) or ("", "")
    assert "symbolic link" in what
    what, _ = trust.check(Path("/c"), lstat(me, stat.S_IFREG | 0o600), uid=me) or ("", "")
    assert "not a directory" in what


def test_the_suite_cache_is_trusted() -> None:
    """conftest's .pytest_cache/d/graphc-numba (made by pytest, umask 022) passes."""
    assert trust.check(Path(os.environ["GRAPHC_CACHE_DIR"])) is None


def test_directory_owned_by_another_user(own_cache: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    own_cache.mkdir(mode=0o755)
    os.chown(own_cache, 65534, 65534)
    _refused(r"cache directory .*cache: it is owned by .*uid 65534.*not by you")
    assert not any(own_cache.iterdir())


def test_directory_of_root_for_an_ordinary_user(unprivileged_home: Path) -> None:
    """The other way round, for real: the unprivileged user meets root's directory."""
    os.chown(unprivileged_home / "cache", 0, 0)
    os.chmod(unprivileged_home / "cache", 0o755)
    result = run_as_unprivileged("cache_support.compile_and_check(backend='numpy')",
                                 unprivileged_home)
    assert result.returncode == 0, result.stderr
    assert "is owned by root (uid 0), not by you" in result.stdout


def test_world_writable_directory_is_refused_numba_still_correct(own_cache: Path) -> None:
    own_cache.mkdir()
    os.chmod(own_cache, 0o777)
    function = _refused(r"writable by group and others \(mode 0777\). To fix: chmod go-w",
                        backend="numba")
    assert not Path(function.stats["cache_path"]).is_relative_to(own_cache)
    assert not list(own_cache.glob("graphc_*"))


def test_writable_parent_is_refused_unless_sticky(own_cache: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(shared / "cache"))
    _refused(r"inside .*shared, which is writable by group and others .* without the sticky")
    os.chmod(shared, 0o1777)  # like /tmp: others cannot rename what is in it
    trust.reset()
    _quiet()


def test_umask_000_still_gives_private_modes(own_cache: Path) -> None:
    nested = own_cache / "a" / "b"
    os.environ["GRAPHC_CACHE_DIR"] = str(nested)  # own_cache's monkeypatch restores it
    previous = os.umask(0)
    try:
        function = _quiet(backend="numba")
    finally:
        os.umask(previous)
    for directory in (own_cache, own_cache / "a", nested, nested / "__pycache__",
                      nested / "graphs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(Path(function.stats["cache_path"]).stat().st_mode) == 0o600
    assert stat.S_IMODE((nested / "graphs").stat().st_mode) == 0o700


@pytest.mark.parametrize("entry", ["__pycache__", "graphs"])
def test_symlinked_entry_is_refused(own_cache: Path, tmp_path: Path, entry: str) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    own_cache.mkdir(mode=0o700)
    (own_cache / entry).symlink_to(elsewhere)
    _refused(rf"has an entry {entry} that is a symbolic link. To fix: remove")
    assert not any(elsewhere.iterdir())  # nothing was written through the link


def test_symlinked_directory_is_refused(own_cache: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    own_cache.symlink_to(real)
    _refused("it is a symbolic link")


def _saved_graph(directory: Path) -> Path:
    (path,) = (directory / "graphs").glob("*.pickle")
    return path


def test_forged_saved_graph_with_recomputed_checksum_is_rejected(own_cache: Path) -> None:
    """Replace the sin graph's entry by the cos graph's simplified form, checksummed."""
    first = _quiet()
    assert not first.stats["simplify"]["cached"]
    assert _quiet().stats["simplify"]["cached"]  # an authentic entry is used
    entry = _saved_graph(own_cache)
    cos_inputs, cos_outputs = graph("cos")
    payload = serialize.dumps(cos_inputs, cos_outputs, {})
    name = entry.stem
    forgeries = [
        pickle.dumps((name, payload, hashlib.sha256(payload).hexdigest())),  # the old format
        signed.MAGIC + hashlib.sha256(name.encode() + b"\0" + payload).digest() + payload,
        signed.seal(name, payload, b"\1" * signed.KEY_BYTES),  # an HMAC under another key
    ]
    for forged in forgeries:
        entry.write_bytes(forged)
        function = _quiet()  # checked against sin's reference values inside
        assert not function.stats["simplify"]["cached"]


def test_planted_pickle_is_never_unpickled(own_cache: Path, tmp_path: Path) -> None:
    _quiet()
    entry = _saved_graph(own_cache)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    planted = pickle.dumps(Payload())
    for data in (planted, signed.MAGIC + b"\0" * 32 + planted):
        entry.write_bytes(data)
        assert not _quiet().stats["simplify"]["cached"]
        assert not marker.exists()


def test_key_is_private_and_outside_the_cache(own_cache: Path, tmp_path: Path) -> None:
    _quiet()
    key = tmp_path / "config" / "graphc" / "cache-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not key.is_relative_to(own_cache)


@pytest.mark.parametrize("damage", ["readable by others", "symlink", "short"])
def test_a_bad_key_disables_saved_graphs(own_cache: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    config = tmp_path / f"config-{damage.replace(' ', '-')}"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    key = config / "graphc" / "cache-key"
    key.parent.mkdir(parents=True, mode=0o700)
    if damage == "symlink":
        target = tmp_path / "planted-key"
        target.write_bytes(b"k" * 32)
        os.chmod(target, 0o600)
        key.symlink_to(target)
    else:
        key.write_bytes(b"k" * (32 if damage == "readable by others" else 5))
        os.chmod(key, 0o644 if damage == "readable by others" else 0o600)
    with pytest.warns(gc.CacheWarning, match="cannot use the key that authenticates"):
        compile_and_check(backend="numpy")
    assert not compile_and_check(backend="numpy").stats["simplify"]["cached"]
    assert not list((own_cache / "graphs").iterdir())


@pytest.mark.parametrize("entry", ["__pycache__", "graphs"])
def test_entry_writable_by_others_or_owned_by_another_user(own_cache: Path, entry: str) -> None:
    own_cache.mkdir(mode=0o700)
    (own_cache / entry).mkdir(mode=0o700)
    os.chmod(own_cache / entry, 0o777)
    _refused(rf"has an entry {entry} that is writable by group and others.*chmod go-w")
    if os.geteuid() == 0:
        os.chmod(own_cache / entry, 0o700)
        os.chown(own_cache / entry, 65534, 65534)
        trust.reset()
        _refused(rf"has an entry {entry} that is owned by .*uid 65534")
